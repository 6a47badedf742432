//! What the benchmark ran on: cores, CPU model, kernel, and the file system
//! holding the databases (tmpfs would flatter every fsync).

use std::path::Path;

/// The machine and the temp folder's file system.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) nproc: usize,
    pub(crate) cpu: String,
    pub(crate) kernel: String,
    /// `device (fstype) mounted on mountpoint` of the temp folder.
    pub(crate) disk: String,
    /// The temp folder sits on a RAM file system.
    pub(crate) in_memory: bool,
    /// `/proc/loadavg` when probed (other work on the machine skews results).
    pub(crate) load: String,
}

impl Machine {
    /// Reads `/proc` for the machine and the mount holding `dir`.
    pub(crate) fn probe(dir: &Path) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        // The longest mount point that is a prefix of `dir`.
        let mounts = read("/proc/self/mounts");
        let best = mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?, f.next()?, f.next()?))
            })
            .filter(|(_, mnt, _)| dir.starts_with(mnt))
            .max_by_key(|(_, mnt, _)| mnt.len());
        let (disk, in_memory) = match best {
            Some((dev, mnt, fs)) => (
                format!("{dev} ({fs}) mounted on {mnt}"),
                matches!(fs, "tmpfs" | "ramfs"),
            ),
            None => ("unknown".into(), false),
        };
        Self {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            kernel: if kernel.is_empty() {
                "unknown".into()
            } else {
                kernel
            },
            disk,
            in_memory,
            load: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The machine's CPU time so far, from the first line of `/proc/stat`, in
/// clock ticks: what a phase got, and what the hypervisor took (steal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    /// Every state's ticks together.
    pub(crate) total: u64,
    /// Ticks a virtual CPU waited for the host (`steal`).
    pub(crate) steal: u64,
    /// Ticks idle with I/O outstanding (`iowait`).
    pub(crate) iowait: u64,
}

impl CpuTimes {
    /// Now, or `None` where `/proc/stat` cannot be read.
    pub(crate) fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    fn parse(stat: &str) -> Option<Self> {
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal [guest guest_nice],
        // where guest time is counted in user time already.
        Some(Self {
            total: ticks.iter().take(8).sum(),
            iowait: *ticks.get(4)?,
            steal: ticks.get(7).copied().unwrap_or(0),
        })
    }

    /// Shares of the time between `self` and `later`: (steal, iowait).
    pub(crate) fn shares(self, later: Self) -> Option<(f64, f64)> {
        let total = later.total.checked_sub(self.total).filter(|t| *t > 0)? as f64;
        let part = |a: u64, b: u64| b.saturating_sub(a) as f64 / total;
        Some((
            part(self.steal, later.steal),
            part(self.iowait, later.iowait),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_read_proc_stat_and_give_shares() {
        let before = CpuTimes::parse("cpu  100 0 50 800 20 0 5 25 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(
            before,
            CpuTimes {
                total: 1000,
                steal: 25,
                iowait: 20
            }
        );
        let after = CpuTimes::parse("cpu  150 0 70 1430 120 0 5 225 0 0").unwrap();
        let (steal, iowait) = before.shares(after).unwrap();
        assert!((steal - 0.2).abs() < 1e-9, "{steal}");
        assert!((iowait - 0.1).abs() < 1e-9, "{iowait}");
        assert_eq!(before.shares(before), None, "no time passed");
        assert_eq!(CpuTimes::parse("intr 1 2 3"), None);
    }
}
