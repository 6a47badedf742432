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
