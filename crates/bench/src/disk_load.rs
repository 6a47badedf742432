//! A competing writer on the bench's disk (`--disk-load`): a noisy
//! neighbour made on purpose. It writes 64 KiB blocks into a file it
//! truncates every 4 MiB, each block synced before the next (a loop of
//! `dd bs=64K count=64 oflag=dsync`), back to back: every synced block
//! allocates blocks, so it also commits the file system's journal, which
//! the relays' own syncs then queue behind. (Rewriting the file in place
//! instead, at 220–290 MB/s, barely moved either relay.) Runs of the same build
//! on this VM moved between quiet and noisy spells; this makes the noisy
//! spell a condition one can ask for and compare both relays under.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes per synced write.
const BLOCK: usize = 64 << 10;
/// The file starts over after this many bytes.
const FILE: u64 = 4 << 20;

/// A running writer; [`DiskLoad::stop`] ends it and reports its rate.
pub(crate) struct DiskLoad {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<u64>>,
    started: Instant,
    path: PathBuf,
}

/// What the writer did while it ran.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    /// Bytes written and synced per second.
    pub(crate) bytes_per_sec: f64,
}

impl DiskLoad {
    /// Starts writing into `dir/disk-load.tmp`.
    ///
    /// # Errors
    /// The file cannot be created or the thread cannot start.
    pub(crate) fn start(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("disk-load.tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("disk-load".into())
            .spawn(move || {
                let block = vec![0x5a_u8; BLOCK];
                let mut written = 0_u64;
                while !stopped.load(Ordering::Relaxed) {
                    if written % FILE == 0 {
                        // Freed and allocated again: each synced block
                        // also commits the file system's journal.
                        file.set_len(0)?;
                        file.seek(SeekFrom::Start(0))?;
                    }
                    file.write_all(&block)?;
                    file.sync_data()?;
                    written += BLOCK as u64;
                }
                Ok(written)
            })?;
        Ok(Self {
            stop,
            thread,
            started: Instant::now(),
            path,
        })
    }

    /// Stops the writer, removes its file and reports its rate.
    ///
    /// # Errors
    /// A write or sync failed (the disk is full, say).
    pub(crate) fn stop(self) -> anyhow::Result<Load> {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed().max(Duration::from_millis(1));
        let written = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the disk-load thread panicked"))?;
        let _ = std::fs::remove_file(&self.path);
        Ok(Load {
            bytes_per_sec: written? as f64 / elapsed.as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer writes and syncs until stopped, then removes its file.
    #[test]
    fn the_writer_writes_until_stopped_and_cleans_up() {
        let dir = std::env::temp_dir().join(format!("disk-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let load = DiskLoad::start(&dir).unwrap();
        let path = load.path.clone();
        // Bounded: 10 s for the first synced block.
        for _ in 0..1_000 {
            if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let done = load.stop().unwrap();
        assert!(done.bytes_per_sec > 0.0, "nothing written");
        assert!(!path.exists(), "the file stayed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
