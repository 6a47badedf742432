//! `moltbot-zoom-bench`: the sidecar (the release `moltbot-zoom run`, as a
//! black box) and a minimal durable relay, side by side on the same generated
//! Zoom WebSocket stream, in one invocation. Prints markdown tables: blast
//! throughput, latency at fixed rates, backlog drain, RSS, heartbeats and the
//! reply path. See docs/performance.md.

mod baseline;
mod cpu_load;
mod disk_load;
mod machine;
mod phases;
mod receiver;
mod report;
mod shim;
mod sidecar;
mod stats;
mod stream;
mod ws_server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use fake_zoom::{FakeConfig, FakeZoom};

use crate::phases::{Env, Subject};
use crate::report::Report;

/// Benchmark of the moltbot-zoom sidecar against a minimal durable relay.
#[derive(Parser, Debug)]
#[command(name = "moltbot-zoom-bench")]
struct Args {
    /// A CI sample: few events and short caps (under a minute in all).
    #[arg(long)]
    quick: bool,
    /// Events in the blast [default: 100000, quick 2000].
    #[arg(long)]
    events: Option<u64>,
    /// Fixed rates to measure, events/s.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    rates: Vec<u32>,
    /// How long each fixed rate is offered, seconds [default: 30, quick 1].
    #[arg(long)]
    rate_secs: Option<f64>,
    /// Backlog sizes to drain [default: 10000,100000, quick 1000].
    #[arg(long, value_delimiter = ',')]
    backlogs: Option<Vec<u64>>,
    /// Replies in the shim burst [default: 1000, quick 200].
    #[arg(long)]
    replies: Option<usize>,
    /// Upper bound of every wait for deliveries and of each backlog fill,
    /// seconds [default: 300, quick 8].
    #[arg(long)]
    timeout_secs: Option<u64>,
    /// Only the sidecar or only the baseline (default both).
    #[arg(long, value_parser = ["sidecar", "baseline"])]
    only: Option<String>,
    /// Skip phases (comma-separated: blast, rate, drain, shim).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Folder for databases and journals; must be on disk, not tmpfs
    /// [default: target/bench-tmp next to this executable's folder].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The sidecar binary [default: target/release/moltbot-zoom, built first].
    #[arg(long)]
    sidecar: Option<PathBuf>,
    /// Do not run `cargo build --release -p moltbot-zoom` first.
    #[arg(long)]
    no_build: bool,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write each fixed rate's per-event latencies into this folder
    /// (`<relay>-<rate>.tsv`), to find where the slow events fall.
    #[arg(long)]
    latencies: Option<PathBuf>,
    /// During each fixed rate, a competing writer on the same disk: 64 KiB
    /// blocks, each synced, into a file truncated every 4 MiB (a noisy
    /// neighbour on purpose).
    #[arg(long)]
    disk_load: bool,
    /// During each fixed rate, this many threads spinning on the CPUs (a
    /// noisy neighbour standing in for the host's CPU steal; `nproc` is one
    /// per core).
    #[arg(long, default_value_t = 0)]
    cpu_load: usize,
    /// Run as the baseline relay (`WS_URL WEBHOOK_URL DIR`): how the bench
    /// starts the baseline as a process of its own.
    #[arg(long, hide = true, num_args = 3, value_names = ["WS_URL", "WEBHOOK_URL", "DIR"])]
    baseline_relay: Option<Vec<String>>,
}

impl Args {
    fn pick<T>(&self, quick: T, full: T, given: Option<T>) -> T {
        given.unwrap_or(if self.quick { quick } else { full })
    }

    fn runs(&self, phase: &str) -> bool {
        !self.skip.iter().any(|s| s == phase)
    }

    fn subjects(&self) -> Vec<Subject> {
        match self.only.as_deref() {
            Some("sidecar") => vec![Subject::Sidecar],
            Some("baseline") => vec![Subject::Baseline],
            _ => vec![Subject::Sidecar, Subject::Baseline],
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some([ws, hook, dir]) = args.baseline_relay.as_deref() {
        return runtime.block_on(baseline::relay(ws, hook, std::path::Path::new(dir)));
    }
    let binary = sidecar::locate_binary(args.sidecar.clone(), args.no_build)?;
    runtime.block_on(run(args, binary))
}

async fn run(args: Args, binary: PathBuf) -> anyhow::Result<()> {
    let events = args.pick(2_000, 100_000, args.events);
    let rate_secs = args.pick(1.0, 30.0, args.rate_secs);
    let backlogs = args.pick(vec![1_000], vec![10_000, 100_000], args.backlogs.clone());
    let replies = args.pick(200, 1_000, args.replies);
    let sequential = if args.quick { 30 } else { 100 };
    let timeout = Duration::from_secs(args.pick(8, 300, args.timeout_secs));
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => default_dir()?,
    };
    std::fs::create_dir_all(&dir)?;
    let machine = machine::Machine::probe(&dir);
    if machine.in_memory {
        eprintln!(
            "warning: {} is on {}; fsync costs nothing there, pass --dir on a disk",
            dir.display(),
            machine.disk
        );
    }

    let most_rate = args
        .rates
        .iter()
        .map(|r| (f64::from(*r) * rate_secs) as u64)
        .max()
        .unwrap_or(0);
    let most = [
        events,
        most_rate,
        backlogs.iter().copied().max().unwrap_or(0),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    eprintln!("generating {most} events");
    let all = stream::frames(most);
    let prefix = |n: u64| -> stream::Frames {
        Arc::new(all[..usize::try_from(n).unwrap_or(usize::MAX).min(all.len())].to_vec())
    };

    let fake = Arc::new(
        FakeZoom::start(FakeConfig {
            channels: shim::channels(replies, sequential),
            ..FakeConfig::default()
        })
        .await?,
    );
    let ws = ws_server::WsServer::start().await?;
    let receiver = receiver::Receiver::start().await?;
    let settle = if args.quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(1)
    };
    let mut env = Env::new(
        ws.clone(),
        receiver,
        fake.base_url(),
        binary.clone(),
        dir.clone(),
        timeout,
        settle,
    );
    env.latencies = args.latencies.clone();
    env.disk_load = args.disk_load;
    env.cpu_load = args.cpu_load;
    let mut report = Report::new(machine, binary, dir.clone(), timeout, args.quick);
    let subjects = args.subjects();

    if args.runs("blast") {
        let frames = prefix(events);
        for &s in &subjects {
            eprintln!("blast: {} × {events}", s.name());
            report
                .blast
                .push((s, phases::blast(&env, s, &frames).await?));
        }
    }
    if args.runs("rate") {
        for &rate in &args.rates {
            let frames = prefix((f64::from(rate) * rate_secs) as u64);
            for &s in &subjects {
                eprintln!("rate: {} at {rate}/s for {rate_secs} s", s.name());
                let r = phases::fixed_rate(&env, s, &frames, f64::from(rate)).await?;
                report.rates.push((s, r));
            }
        }
    }
    if args.runs("drain") {
        for &n in &backlogs {
            let frames = prefix(n);
            for &s in &subjects {
                eprintln!("drain: {} × {n}", s.name());
                report
                    .drains
                    .push((s, phases::drain(&env, s, &frames).await?));
            }
        }
    }
    if args.runs("shim") && subjects.contains(&Subject::Sidecar) {
        eprintln!("shim: {replies} replies");
        let running = env.start(Subject::Sidecar, "shim").await?;
        if let phases::Running::Sidecar(sidecar) = &running {
            report.shim = Some(shim::run(sidecar, &fake, replies, sequential).await?);
        }
        running.stop().await;
    }
    report.heartbeats = ws.records();

    let text = report.render();
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text)?;
    }
    fake.shutdown();
    Ok(())
}

/// `target/bench-tmp`: the executable lives in `target/release`.
fn default_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or_else(|| anyhow::anyhow!("cannot place the temp folder; pass --dir"))?;
    Ok(target.join("bench-tmp"))
}
