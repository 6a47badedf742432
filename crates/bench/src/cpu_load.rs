//! Busy threads competing for the CPUs (`--cpu-load`): a noisy neighbour
//! made on purpose, one spinning thread per core, so every wake-up of a
//! relay's threads waits for the scheduler to take a core from them. It
//! stands in for the host's CPU steal, which came and went on this VM and
//! could not be asked for; both relays run under the same load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The running threads; [`CpuLoad::stop`] ends them.
pub(crate) struct CpuLoad {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl CpuLoad {
    /// Starts `threads` spinning threads.
    ///
    /// # Errors
    /// A thread cannot start.
    pub(crate) fn start(threads: usize) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Self {
            stop,
            threads: Vec::with_capacity(threads),
        };
        for i in 0..threads {
            let stopped = Arc::clone(&load.stop);
            let thread = std::thread::Builder::new()
                .name(format!("cpu-load-{i}"))
                .spawn(move || {
                    while !stopped.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                });
            match thread {
                Ok(t) => load.threads.push(t),
                Err(e) => {
                    load.stop();
                    return Err(e.into());
                }
            }
        }
        Ok(load)
    }

    /// Stops the threads; how many there were.
    pub(crate) fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let n = self.threads.len();
        for t in self.threads {
            let _ = t.join();
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threads start, and stop when asked (the test would hang if not).
    #[test]
    fn the_threads_spin_until_stopped() {
        let load = CpuLoad::start(2).unwrap();
        assert!(load.threads.iter().all(|t| !t.is_finished()));
        assert_eq!(load.stop(), 2);
    }
}
