//! The measured phases, each run once for the sidecar and once for the
//! baseline on the same frames: blast, fixed rates, and backlog drain. Every
//! wait is bounded; a phase that runs out of time says so in its result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use crate::baseline::Baseline;
use crate::cpu_load::CpuLoad;
use crate::disk_load::{DiskLoad, Load};
use crate::machine::CpuTimes;
use crate::receiver::Receiver;
use crate::sidecar::{Endpoints, Rss, Sidecar};
use crate::stats::{per_sec, quantile};
use crate::stream::Frames;
use crate::ws_server::{Pace, Pushed, WsServer};

/// Which relay a phase measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// `moltbot-zoom run`.
    Sidecar,
    /// The minimal durable relay (a process of its own).
    Baseline,
}

impl Subject {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Subject::Sidecar => "sidecar",
            Subject::Baseline => "baseline",
        }
    }
}

/// What every phase needs.
pub(crate) struct Env {
    pub(crate) ws: WsServer,
    pub(crate) receiver: Receiver,
    pub(crate) zoom_base: String,
    pub(crate) binary: PathBuf,
    pub(crate) dir: PathBuf,
    /// Upper bound of each wait for deliveries (and of a backlog fill).
    pub(crate) timeout: Duration,
    /// Quiet time after connecting before the idle RSS is read.
    pub(crate) settle: Duration,
    /// Folder for each fixed rate's per-event latencies (`--latencies`).
    pub(crate) latencies: Option<PathBuf>,
    /// A competing writer on the disk during each fixed rate (`--disk-load`).
    pub(crate) disk_load: bool,
    /// Busy threads competing for the CPUs during each fixed rate
    /// (`--cpu-load`; 0 for none).
    pub(crate) cpu_load: usize,
    runs: std::sync::atomic::AtomicUsize,
}

/// A started relay.
pub(crate) enum Running {
    Sidecar(Sidecar),
    Baseline(Baseline),
}

impl Running {
    fn rss(&self) -> Rss {
        match self {
            Running::Sidecar(s) => s.rss(),
            Running::Baseline(b) => b.rss(),
        }
    }

    /// Stops the relay (SIGKILL).
    pub(crate) async fn stop(self) {
        match self {
            Running::Sidecar(s) => s.stop().await,
            Running::Baseline(b) => b.stop().await,
        }
    }

    /// Events stored and awaiting delivery, as far as the relay says.
    async fn stored(&self) -> Option<u64> {
        match self {
            Running::Sidecar(s) => s.outbox_depth().await,
            Running::Baseline(b) => Some(b.journaled()),
        }
    }
}

impl Env {
    pub(crate) fn new(
        ws: WsServer,
        receiver: Receiver,
        zoom_base: String,
        binary: PathBuf,
        dir: PathBuf,
        timeout: Duration,
        settle: Duration,
    ) -> Self {
        Self {
            ws,
            receiver,
            zoom_base,
            binary,
            dir,
            timeout,
            settle,
            latencies: None,
            disk_load: false,
            cpu_load: 0,
            runs: 0.into(),
        }
    }

    /// Starts `subject` with a fresh database / journal folder and waits
    /// (bounded) for its WebSocket connection. What earlier phases left for
    /// the kernel to write back (deleted folders, unsynced files) is flushed
    /// first (`sync`), so it does not land in this phase's fsyncs.
    pub(crate) async fn start(&self, subject: Subject, phase: &str) -> anyhow::Result<Running> {
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.dir.join(format!("{n:02}-{}-{phase}", subject.name()));
        let _ = std::fs::remove_dir_all(&dir);
        // Best effort: without `sync` the phase runs as before.
        let _ = tokio::process::Command::new("sync").status().await;
        self.ws.set_label(&format!("{}:{phase}", subject.name()));
        let before = self.ws.connects();
        let hook = self.receiver.url();
        let running = match subject {
            Subject::Sidecar => {
                let endpoints = Endpoints {
                    zoom_base: &self.zoom_base,
                    ws_url: self.ws.url(),
                    webhook_url: &hook,
                };
                Running::Sidecar(Sidecar::start(&self.binary, &dir, &endpoints, "").await?)
            }
            Subject::Baseline => {
                Running::Baseline(Baseline::start(self.ws.url(), &hook, &dir).await?)
            }
        };
        if !self.ws.wait_connect(before, Duration::from_secs(30)).await {
            running.stop().await;
            anyhow::bail!(
                "the {} did not connect to the WebSocket within 30 s (see {})",
                subject.name(),
                dir.display()
            );
        }
        Ok(running)
    }
}

/// Result of a blast.
#[derive(Debug, Clone)]
pub(crate) struct Blast {
    pub(crate) events: u64,
    pub(crate) delivered: u64,
    pub(crate) duplicates: u64,
    /// Accepted webhooks that named no event of the run (should be 0).
    pub(crate) unknown: u64,
    /// First frame written → last event delivered (or the deadline).
    pub(crate) elapsed: Duration,
    pub(crate) finished: bool,
    pub(crate) rss_idle: Rss,
    pub(crate) rss_peak: Rss,
}

impl Blast {
    /// Delivered events per second.
    pub(crate) fn rate(&self) -> f64 {
        per_sec(self.delivered, self.elapsed)
    }
}

/// Pushes all `frames` as fast as the relay reads them, waits for delivery.
pub(crate) async fn blast(env: &Env, subject: Subject, frames: &Frames) -> anyhow::Result<Blast> {
    let running = env.start(subject, "blast").await?;
    tokio::time::sleep(env.settle).await;
    let rss_idle = running.rss();
    let n = frames.len();
    let rec = env.receiver.begin(n);
    env.receiver.set_accept(true);
    let deadline = Instant::now() + env.timeout;
    let pushed = env.ws.push(frames.clone(), Pace::Blast, deadline).await?;
    let finished = rec.wait_delivered(n as u64, deadline).await;
    let rss_peak = running.rss();
    running.stop().await;
    let last = rec.arrivals().into_iter().flatten().max();
    let end = if finished {
        last.unwrap_or(pushed.end)
    } else {
        deadline
    };
    Ok(Blast {
        events: n as u64,
        delivered: rec.delivered(),
        duplicates: rec.duplicates(),
        unknown: rec.unknown(),
        elapsed: end.saturating_duration_since(pushed.start),
        finished,
        rss_idle,
        rss_peak,
    })
}

/// Result of a fixed-rate run.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    pub(crate) rate: f64,
    pub(crate) offered: u64,
    pub(crate) delivered: u64,
    /// `None`: the quantile falls among events not delivered in time.
    pub(crate) p50: Option<Duration>,
    pub(crate) p99: Option<Duration>,
    pub(crate) max: Option<Duration>,
    /// Events pushed but not yet delivered when the push ended.
    pub(crate) backlog_at_end: u64,
    /// Worst lag of the push behind its schedule (TCP backpressure).
    pub(crate) push_behind: Duration,
    /// Median latency of the last tenth of the events minus that of the
    /// first tenth (`None` when the last tenth did not all arrive).
    pub(crate) growth: Option<Duration>,
    pub(crate) finished: bool,
    /// How long the bench waited after the push for the rest.
    pub(crate) waited: Duration,
    /// The competing writer's rate (`--disk-load`).
    pub(crate) disk_load: Option<Load>,
    /// Busy threads that competed for the CPUs (`--cpu-load`).
    pub(crate) cpu_load: usize,
    /// Shares of the machine's CPU time during the push and the wait:
    /// (steal, iowait), where `/proc/stat` can be read.
    pub(crate) cpu: Option<(f64, f64)>,
}

impl Rate {
    /// The queue ran away: latency grew by more than half a second from the
    /// first to the last tenth of the run, the push itself fell a second
    /// behind, or not all events arrived in time.
    pub(crate) fn runaway(&self) -> bool {
        self.growth.is_none_or(|g| g > Duration::from_millis(500))
            || self.push_behind > Duration::from_secs(1)
            || !self.finished
    }
}

/// Pushes `frames` at `rate` per second; latency is measured from each
/// frame's scheduled time, so a relay that stops reading is charged for it.
pub(crate) async fn fixed_rate(
    env: &Env,
    subject: Subject,
    frames: &Frames,
    rate: f64,
) -> anyhow::Result<Rate> {
    let running = env.start(subject, &format!("rate{rate}")).await?;
    tokio::time::sleep(env.settle).await;
    let n = frames.len();
    let rec = env.receiver.begin(n);
    env.receiver.set_accept(true);
    let load = env
        .disk_load
        .then(|| DiskLoad::start(&env.dir))
        .transpose()?;
    let spin = (env.cpu_load > 0)
        .then(|| CpuLoad::start(env.cpu_load))
        .transpose()?;
    let cpu_before = CpuTimes::now();
    // One deadline for the push and the deliveries: the offered time plus the cap.
    let deadline = Instant::now() + Duration::from_secs_f64(n as f64 / rate) + env.timeout;
    let pushed = env
        .ws
        .push(frames.clone(), Pace::Rate(rate), deadline)
        .await?;
    let delivered_by_end = rec
        .arrivals()
        .iter()
        .flatten()
        .filter(|t| **t <= pushed.end)
        .count() as u64;
    let wait_from = Instant::now();
    let finished = rec.wait_delivered(pushed.frames as u64, deadline).await && !pushed.cut_short;
    let waited = wait_from.elapsed();
    let cpu = cpu_before
        .zip(CpuTimes::now())
        .and_then(|(b, a)| b.shares(a));
    let disk_load = load.map(DiskLoad::stop);
    let cpu_load = spin.map_or(0, CpuLoad::stop);
    running.stop().await;
    let disk_load = disk_load.transpose()?;
    let arrivals = rec.arrivals();
    let latency = |i: usize| {
        let due = pushed.start + Duration::from_secs_f64(i as f64 / rate);
        arrivals[i].map(|t| t.saturating_duration_since(due))
    };
    if let Some(dir) = &env.latencies {
        write_latencies(dir, subject, rate, &pushed, n, latency)?;
    }
    let mut latencies: Vec<Duration> = (0..n).filter_map(latency).collect();
    latencies.sort();
    let missing = n - latencies.len();
    let tenth_median = |range: std::ops::Range<usize>| {
        let mut part: Vec<Duration> = range.map(latency).collect::<Option<_>>()?;
        part.sort();
        quantile(&part, 0, 0.5)
    };
    let tenth = (n / 10).max(1);
    let growth = tenth_median(n - tenth..n)
        .zip(tenth_median(0..tenth))
        .map(|(last, first)| last.saturating_sub(first));
    Ok(Rate {
        rate,
        offered: n as u64,
        delivered: rec.delivered(),
        p50: quantile(&latencies, missing, 0.5),
        p99: quantile(&latencies, missing, 0.99),
        max: quantile(&latencies, missing, 1.0),
        backlog_at_end: (pushed.frames as u64).saturating_sub(delivered_by_end),
        push_behind: pushed.max_behind,
        growth,
        finished,
        waited,
        disk_load,
        cpu_load,
        cpu,
    })
}

/// Writes one line per event of a fixed rate to `<dir>/<subject>-<rate>.tsv`:
/// its index, when it was due (µs after the push started) and its latency
/// (µs, `-` when it never arrived). The header gives the push's start as
/// Unix time, to line the events up with the sidecar's log.
fn write_latencies(
    dir: &Path,
    subject: Subject,
    rate: f64,
    pushed: &Pushed,
    n: usize,
    latency: impl Fn(usize) -> Option<Duration>,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let started = std::time::SystemTime::now()
        .checked_sub(pushed.start.elapsed())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let mut out = format!(
        "# push started at {} µs (Unix time); index, due (µs after the start), latency (µs)\n",
        started.as_micros()
    );
    for i in 0..n {
        let due = Duration::from_secs_f64(i as f64 / rate).as_micros();
        let _ = match latency(i) {
            Some(l) => writeln!(out, "{i}\t{due}\t{}", l.as_micros()),
            None => writeln!(out, "{i}\t{due}\t-"),
        };
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}-{rate}.tsv", subject.name()));
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Result of a backlog drain.
#[derive(Debug, Clone)]
pub(crate) struct Drain {
    pub(crate) backlog: u64,
    /// Events stored when the receiver opened (the backlog actually built).
    pub(crate) stored: u64,
    pub(crate) fill: Duration,
    pub(crate) filled: bool,
    /// Webhooks answered 503 while the backlog built.
    pub(crate) rejected: u64,
    pub(crate) delivered: u64,
    /// Receiver open → first delivery (the relay's retry backoff).
    pub(crate) first_after: Option<Duration>,
    /// Receiver open → last delivery (or the deadline).
    pub(crate) drain: Duration,
    pub(crate) finished: bool,
    /// Delivery rate over the first and the last tenth of the drain.
    pub(crate) first_tenth_rate: Option<f64>,
    pub(crate) last_tenth_rate: Option<f64>,
}

impl Drain {
    /// Delivered per second from the open to the last delivery.
    pub(crate) fn rate(&self) -> f64 {
        per_sec(self.delivered, self.drain)
    }

    /// Delivered per second from the first to the last delivery (without
    /// the backoff wait).
    pub(crate) fn flow_rate(&self) -> Option<f64> {
        let first = self.first_after?;
        Some(per_sec(self.delivered, self.drain.saturating_sub(first)))
    }
}

/// Builds a backlog of `frames` with the receiver answering 503, then opens
/// it and times the drain.
pub(crate) async fn drain(env: &Env, subject: Subject, frames: &Frames) -> anyhow::Result<Drain> {
    let n = frames.len() as u64;
    let running = env.start(subject, &format!("drain{n}")).await?;
    let rec = env.receiver.begin(frames.len());
    env.receiver.set_accept(false);
    let fill_start = Instant::now();
    let deadline = fill_start + env.timeout;
    let pushed = env.ws.push(frames.clone(), Pace::Blast, deadline).await;
    let mut stored = 0;
    let filled = loop {
        stored = running.stored().await.unwrap_or(stored);
        if stored >= n {
            break pushed.is_ok();
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fill = fill_start.elapsed();
    let rejected = rec.rejected();
    let open = Instant::now();
    env.receiver.set_accept(true);
    let target = stored.min(n);
    let finished = rec.wait_delivered(target, open + env.timeout).await;
    running.stop().await;
    env.receiver.set_accept(true);
    let mut times: Vec<Instant> = rec.arrivals().into_iter().flatten().collect();
    times.sort();
    let drain = if finished {
        times
            .last()
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(open))
    } else {
        env.timeout
    };
    Ok(Drain {
        backlog: n,
        stored,
        fill,
        filled,
        rejected,
        delivered: rec.delivered(),
        first_after: times.first().map(|t| t.saturating_duration_since(open)),
        drain,
        finished,
        first_tenth_rate: tenth_rate(&times, true),
        last_tenth_rate: tenth_rate(&times, false),
    })
}

/// Deliveries per second within the first (or last) tenth of `sorted`.
fn tenth_rate(sorted: &[Instant], first: bool) -> Option<f64> {
    let tenth = sorted.len() / 10;
    if tenth < 2 {
        return None;
    }
    let part = if first {
        &sorted[..tenth]
    } else {
        &sorted[sorted.len() - tenth..]
    };
    let span = part[tenth - 1].saturating_duration_since(part[0]);
    Some(per_sec(tenth as u64 - 1, span))
}
