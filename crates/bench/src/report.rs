//! The markdown report: one table per measurement, sidecar vs baseline and
//! their ratio, plus the machine.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::machine::Machine;
use crate::phases::{Blast, Drain, Rate, Subject};
use crate::shim::{CONCURRENCY, ShimResult};
use crate::ws_server::ConnRecord;

/// A heartbeat gap over this is late: the session beats every 25 s, the
/// first one up to 2 s later (`zoom::SessionConfig`), plus 1 s of slack.
/// Zoom asks for about 30 s.
const HEARTBEAT_LATE: Duration = Duration::from_secs(28);

/// Everything measured in one invocation.
pub(crate) struct Report {
    machine: Machine,
    binary: PathBuf,
    dir: PathBuf,
    timeout: Duration,
    quick: bool,
    pub(crate) blast: Vec<(Subject, Blast)>,
    pub(crate) rates: Vec<(Subject, Rate)>,
    pub(crate) drains: Vec<(Subject, Drain)>,
    pub(crate) shim: Option<ShimResult>,
    pub(crate) heartbeats: Vec<ConnRecord>,
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}/s")
    } else {
        format!("{r:.1}/s")
    }
}

fn ratio(sidecar: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:.1} %", 100.0 * sidecar / baseline)
    } else {
        "–".into()
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn pair<T: Clone>(rows: &[(Subject, T)], pick: impl Fn(&T) -> bool) -> (Option<T>, Option<T>) {
    let find = |s: Subject| {
        rows.iter()
            .find(|(subject, r)| *subject == s && pick(r))
            .map(|(_, r)| r.clone())
    };
    (find(Subject::Sidecar), find(Subject::Baseline))
}

impl Report {
    pub(crate) fn new(
        machine: Machine,
        binary: PathBuf,
        dir: PathBuf,
        timeout: Duration,
        quick: bool,
    ) -> Self {
        Self {
            machine,
            binary,
            dir,
            timeout,
            quick,
            blast: Vec::new(),
            rates: Vec::new(),
            drains: Vec::new(),
            shim: None,
            heartbeats: Vec::new(),
        }
    }

    /// The whole report as markdown.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "## moltbot-zoom-bench{}\n",
            if self.quick { " (quick)" } else { "" }
        );
        let _ = writeln!(out, "| machine | |\n|---|---|");
        let _ = writeln!(out, "| cores (nproc) | {} |", m.nproc);
        let _ = writeln!(out, "| CPU | {} |", m.cpu);
        let _ = writeln!(out, "| kernel | {} |", m.kernel);
        let _ = writeln!(out, "| load average at start (1/5/15 min) | {} |", m.load);
        let _ = writeln!(
            out,
            "| load average at end | {} |",
            Machine::probe(&self.dir).load
        );
        let _ = writeln!(
            out,
            "| temp folder | `{}` on {}{} |",
            self.dir.display(),
            m.disk,
            if m.in_memory {
                " **(RAM: fsync is free)**"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "| sidecar | `{}` |", self.binary.display());
        let _ = writeln!(
            out,
            "| wait cap | {} s per phase |\n",
            self.timeout.as_secs()
        );
        self.render_blast(&mut out);
        self.render_rates(&mut out);
        self.render_drains(&mut out);
        self.render_rss(&mut out);
        self.render_heartbeats(&mut out);
        self.render_shim(&mut out);
        out
    }

    fn render_blast(&self, out: &mut String) {
        let Some((_, first)) = self.blast.first() else {
            return;
        };
        let _ = writeln!(
            out,
            "### Blast: {} events over {} conversations, end to end (durable, on disk)\n",
            first.events,
            crate::stream::conversations(first.events)
        );
        let _ = writeln!(
            out,
            "| | sidecar | baseline | sidecar / baseline |\n|---|---|---|---|"
        );
        let (s, b) = pair(&self.blast, |_| true);
        let cell = |r: &Option<Blast>| match r {
            None => "not run".to_owned(),
            Some(r) if r.finished => {
                format!("{} ({:.1} s)", rate(r.rate()), r.elapsed.as_secs_f64())
            }
            Some(r) => format!(
                "{} — **did not finish within {} s**: {} of {} delivered",
                rate(r.rate()),
                self.timeout.as_secs(),
                r.delivered,
                r.events
            ),
        };
        let ratio_cell = match (&s, &b) {
            (Some(s), Some(b)) => ratio(s.rate(), b.rate()),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| throughput | {} | {} | {ratio_cell} |",
            cell(&s),
            cell(&b)
        );
        let dups =
            |r: &Option<Blast>| r.as_ref().map_or("–".into(), |r| r.duplicates.to_string());
        let _ = writeln!(
            out,
            "| duplicate deliveries | {} | {} | |",
            dups(&s),
            dups(&b)
        );
        let unknown =
            |r: &Option<Blast>| r.as_ref().map_or("–".into(), |r| r.unknown.to_string());
        let _ = writeln!(
            out,
            "| webhooks naming no event of the run | {} | {} | |\n",
            unknown(&s),
            unknown(&b)
        );
    }

    fn render_rates(&self, out: &mut String) {
        if self.rates.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Latency frame → webhook at fixed rates\n\nMeasured from each frame's scheduled send time, so a relay that stops \
             reading the socket is charged for it. \"Backlog at end\" counts events pushed but not yet delivered when the \
             push ended. The queue ran away when the latency grew by more than 0.5 s from the first to the last \
             tenth of the run (\"growth\"), the push fell a second behind, or not everything arrived within the cap.\n"
        );
        let _ = writeln!(
            out,
            "| rate | relay | delivered | p50 | p99 | max | backlog at end | push behind | growth | queue |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        let q = |d: Option<Duration>, r: &Rate| match d {
            Some(d) => ms(d),
            None if r.waited.is_zero() => "not delivered within the cap".to_owned(),
            None => format!("> {} (not delivered)", ms(r.waited)),
        };
        for (s, r) in &self.rates {
            let _ = writeln!(
                out,
                "| {}/s × {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {} |",
                r.rate,
                r.offered,
                s.name(),
                r.delivered,
                r.offered,
                q(r.p50, r),
                q(r.p99, r),
                q(r.max, r),
                r.backlog_at_end,
                ms(r.push_behind),
                r.growth.map_or("–".into(), ms),
                if r.runaway() {
                    "**ran away**"
                } else {
                    "stable"
                }
            );
        }
        let cpu: Vec<String> = self
            .rates
            .iter()
            .filter_map(|(s, r)| {
                let (steal, iowait) = r.cpu?;
                Some(format!(
                    "{}/s {}: steal {:.1} %, iowait {:.1} %",
                    r.rate,
                    s.name(),
                    steal * 100.0,
                    iowait * 100.0
                ))
            })
            .collect();
        if !cpu.is_empty() {
            let _ = writeln!(
                out,
                "\nThe machine's CPU time during each run (`/proc/stat`; steal is time the \
                 host gave the VM's CPUs to others, which delays every relay): {}.",
                cpu.join("; ")
            );
        }
        for (s, r) in &self.rates {
            if r.cpu_load > 0 {
                let _ = writeln!(
                    out,
                    "\nWith `--cpu-load` at {}/s, {}: {} busy threads competed for the CPUs.",
                    r.rate,
                    s.name(),
                    r.cpu_load
                );
            }
            if let Some(load) = r.disk_load {
                let _ = writeln!(
                    out,
                    "\nWith `--disk-load` at {}/s, {}: the competing writer synced {:.1} MB/s.",
                    r.rate,
                    s.name(),
                    load.bytes_per_sec / 1e6
                );
            }
        }
        let rates: std::collections::BTreeSet<u64> =
            self.rates.iter().map(|(_, r)| r.rate as u64).collect();
        for rate_value in rates {
            let (s, b) = pair(&self.rates, |r| r.rate as u64 == rate_value);
            if let (Some(s), Some(b)) = (s, b) {
                if let (Some(sp), Some(bp)) = (s.p99, b.p99) {
                    let _ = writeln!(
                        out,
                        "\np99 at {rate_value}/s: sidecar {} vs baseline {} ({:.1}×).",
                        ms(sp),
                        ms(bp),
                        sp.as_secs_f64() / bp.as_secs_f64().max(1e-9)
                    );
                }
            }
        }
        out.push('\n');
    }

    fn render_drains(&self, out: &mut String) {
        if self.drains.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Backlog drain\n\nThe receiver answers 503 while the backlog is pushed, until the relay reports it stored \
             (the sidecar's `/status` `outbox.depth`, the baseline's journal count); then it answers 200. \"Wait\" is the \
             time to the first delivery after the open (the relay's retry backoff); \"rate\" counts from the open, \"flow\" \
             from the first delivery; the tenths compare the first and the last 10 % of the drain (flat = cost per event \
             independent of the backlog).\n"
        );
        let _ = writeln!(
            out,
            "| backlog | relay | stored (fill time) | 503s while filling | delivered | wait | drain time | rate | flow | first 10 % | last 10 % |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        let opt_rate = |r: Option<f64>| r.map_or("–".into(), rate);
        for (s, d) in &self.drains {
            let stored = if d.filled {
                format!("{} ({:.1} s)", d.stored, d.fill.as_secs_f64())
            } else {
                format!(
                    "**{} of {} within {} s**",
                    d.stored,
                    d.backlog,
                    self.timeout.as_secs()
                )
            };
            let drain = if d.finished {
                format!("{:.1} s", d.drain.as_secs_f64())
            } else {
                format!("**did not finish within {} s**", self.timeout.as_secs())
            };
            let _ = writeln!(
                out,
                "| {} | {} | {stored} | {} | {} | {} | {drain} | {} | {} | {} | {} |",
                d.backlog,
                s.name(),
                d.rejected,
                d.delivered,
                d.first_after.map_or("–".into(), ms),
                rate(d.rate()),
                opt_rate(d.flow_rate()),
                opt_rate(d.first_tenth_rate),
                opt_rate(d.last_tenth_rate),
            );
        }
        for size in self
            .drains
            .iter()
            .map(|(_, d)| d.backlog)
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (s, b) = pair(&self.drains, |d| d.backlog == size);
            if let (Some(s), Some(b)) = (s, b) {
                let _ = writeln!(
                    out,
                    "\nDrain of {size}: sidecar / baseline = {}.",
                    ratio(s.rate(), b.rate())
                );
            }
        }
        out.push('\n');
    }

    fn render_rss(&self, out: &mut String) {
        if self.blast.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Memory (`/proc/<pid>/status`)\n\n| relay | idle (VmRSS after connecting) | peak during the blast (VmHWM) |\n|---|---|---|"
        );
        for (s, b) in &self.blast {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                s.name(),
                mb(b.rss_idle.now_kb),
                mb(b.rss_peak.peak_kb)
            );
        }
        out.push('\n');
    }

    fn render_heartbeats(&self, out: &mut String) {
        let now = Instant::now();
        let sidecar: Vec<&ConnRecord> = self
            .heartbeats
            .iter()
            .filter(|c| c.label.starts_with("sidecar"))
            .collect();
        if sidecar.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Heartbeats of the sidecar's WebSocket session\n\nLongest time without a heartbeat on each connection \
             (from the connect, between heartbeats, to the close); late = over {} s.\n",
            HEARTBEAT_LATE.as_secs()
        );
        let _ = writeln!(
            out,
            "| connection | lasted | heartbeats | max gap | |\n|---|---|---|---|---|"
        );
        for c in sidecar {
            let lasted = c.closed.unwrap_or(now).saturating_duration_since(c.opened);
            let gap = c.max_gap(now);
            let verdict = if gap > HEARTBEAT_LATE {
                "**late**"
            } else if lasted < HEARTBEAT_LATE {
                "too short to judge"
            } else {
                "on time"
            };
            let _ = writeln!(
                out,
                "| {} | {:.1} s | {} | {:.1} s | {verdict} |",
                c.label,
                lasted.as_secs_f64(),
                c.heartbeats.len(),
                gap.as_secs_f64()
            );
        }
        out.push('\n');
    }

    fn render_shim(&self, out: &mut String) {
        let Some(r) = &self.shim else {
            return;
        };
        let _ = writeln!(
            out,
            "### Reply path: `POST /api/v1/message/text` vs a direct Team Chat call\n\nOne client address (127.0.0.1), \
             across channels ({} replies per channel in the burst, within Zoom's 10/s window). Burst: {} in flight. \
             One at a time: one request every 20 ms.\n",
            crate::shim::PER_CHANNEL,
            CONCURRENCY
        );
        let _ = writeln!(
            out,
            "| series | path | ok / sent | failures | rate | p50 | p99 |\n|---|---|---|---|---|---|---|"
        );
        let opt = |d: Option<Duration>| d.map_or("–".into(), ms);
        for (series, path, s) in [
            ("burst", "shim", &r.shim_burst),
            ("burst", "direct", &r.direct_burst),
            ("one at a time", "shim", &r.shim_sequential),
            ("one at a time", "direct", &r.direct_sequential),
        ] {
            let _ = writeln!(
                out,
                "| {series} | {path} | {} / {} | {} | {} | {} | {} |",
                s.ok,
                s.requests,
                s.failure_text(),
                rate(s.rate()),
                opt(s.p50),
                opt(s.p99)
            );
        }
        if let (Some(a), Some(b)) = (r.shim_sequential.p50, r.direct_sequential.p50) {
            let overhead = a.as_secs_f64() - b.as_secs_f64();
            let _ = writeln!(
                out,
                "\nShim overhead p50 (one at a time): {:.2} ms. Burst: {} of successful replies vs {} direct.",
                overhead * 1000.0,
                rate(r.shim_burst.rate()),
                rate(r.direct_burst.rate())
            );
        }
        out.push('\n');
    }
}
