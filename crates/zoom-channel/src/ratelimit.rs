//! Client-side sliding-window rate limits per target, and the planning that
//! checks a multi-part reply against them before its first part is posted.
//!
//! Zoom documents these windows on `to_channel` of the Team Chat send API
//! (per channel); none are documented for `to_contact` (DMs) or the Chatbot
//! API, so only channel posts of `sendAs = "user"` are counted (see
//! `docs/architecture.md`, "Outbound rate limits").

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use moltbot_channel::ChannelError;
use tokio::time::Instant;

/// Zoom's per-channel send limits: (messages, window).
pub(crate) const ZOOM_CHANNEL_WINDOWS: [(usize, Duration); 4] = [
    (10, Duration::from_secs(1)),
    (30, Duration::from_secs(10)),
    (60, Duration::from_secs(100)),
    (450, Duration::from_secs(1000)),
];

/// Sliding windows per key; holds at most the largest window's count of send
/// times per key, and forgets keys with no recent sends.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    windows: Vec<(usize, Duration)>,
    sends: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(windows: &[(usize, Duration)]) -> Self {
        Self {
            windows: windows.to_vec(),
            sends: HashMap::new(),
        }
    }

    /// Takes a slot for `key` at `now`, or tells how long until one frees up.
    pub(crate) fn try_acquire(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let longest = self.windows.iter().map(|w| w.1).max().unwrap_or_default();
        self.sends.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= longest)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = self.sends.entry(key.to_owned()).or_default();
        let wait = wait_for_slot(&self.windows, times, now);
        if wait > Duration::ZERO {
            return Err(wait);
        }
        push_bounded(&self.windows, times, now);
        Ok(())
    }

    /// When the last of `parts` sends to `key` could go if each went as early
    /// as the windows allow from `now`, given the sends already counted; and
    /// the same from empty windows (what no amount of waiting improves on).
    pub(crate) fn plan(&self, key: &str, parts: usize, now: Instant) -> (Instant, Instant) {
        let current = self.sends.get(key).cloned().unwrap_or_default();
        (
            plan_from(&self.windows, current, parts, now),
            plan_from(&self.windows, VecDeque::new(), parts, now),
        )
    }

    /// Moves the slot taken at `taken` to `done`, when its request completed:
    /// the server counted it no later than that, so the windows stay
    /// conservative whatever the request latency.
    pub(crate) fn settle(&mut self, key: &str, taken: Instant, done: Instant) {
        let Some(times) = self.sends.get_mut(key) else {
            return;
        };
        if let Some(i) = times.iter().rposition(|t| *t == taken) {
            times.remove(i);
            let at = times.partition_point(|t| *t <= done);
            times.insert(at, done);
        }
    }
}

/// How long after `now` one more send fits every window.
fn wait_for_slot(
    windows: &[(usize, Duration)],
    times: &VecDeque<Instant>,
    now: Instant,
) -> Duration {
    let mut wait = Duration::ZERO;
    for &(limit, window) in windows {
        let in_window = times
            .iter()
            .rev()
            .take_while(|t| now.saturating_duration_since(**t) < window)
            .count();
        if limit > 0 && in_window >= limit {
            // The send that must leave the window before one more fits.
            let oldest_blocking = times[times.len() - limit];
            wait = wait.max((oldest_blocking + window).saturating_duration_since(now));
        }
    }
    wait
}

fn push_bounded(windows: &[(usize, Duration)], times: &mut VecDeque<Instant>, at: Instant) {
    let most = windows.iter().map(|w| w.0).max().unwrap_or_default();
    times.push_back(at);
    while times.len() > most {
        times.pop_front();
    }
}

/// When the last of `parts` sends could go after `times`, each as early as allowed.
fn plan_from(
    windows: &[(usize, Duration)],
    mut times: VecDeque<Instant>,
    parts: usize,
    now: Instant,
) -> Instant {
    let mut at = now;
    for _ in 0..parts {
        // Each wait moves past a blocking send, so this ends.
        loop {
            let wait = wait_for_slot(windows, &times, at);
            if wait == Duration::ZERO {
                break;
            }
            at += wait;
        }
        push_bounded(windows, &mut times, at);
    }
    at
}

/// One queue per target: sends to one target go one at a time, in order.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    lanes: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl Lanes {
    /// Waits for `key`'s turn until `deadline`; runs `f` in it.
    ///
    /// # Errors
    /// [`ChannelError::RateLimited`] when the turn does not come by `deadline`
    /// (the sends ahead need longer), else `f`'s error.
    pub(crate) async fn run<T>(
        &self,
        key: &str,
        deadline: Instant,
        f: impl std::future::Future<Output = Result<T, ChannelError>>,
    ) -> Result<T, ChannelError> {
        let lane = self
            .lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = match tokio::time::timeout_at(deadline, lane.lock()).await {
            Ok(_turn) => f.await,
            Err(_) => Err(ChannelError::RateLimited {
                retry_after: Some(QUEUE_RETRY_AFTER),
            }),
        };
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        // The map's and ours: nobody else waits on this lane.
        if std::sync::Arc::strong_count(&lane) == 2 {
            lanes.remove(key);
        }
        result
    }
}

/// `Retry-After` when a send gave up waiting behind others to the same target.
const QUEUE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Waits for a slot for `key` and returns when it was taken, giving up with
/// [`ChannelError::RateLimited`] when the wait would end after `deadline`.
pub(crate) async fn acquire(
    limiter: &Mutex<RateLimiter>,
    key: &str,
    deadline: Instant,
) -> Result<Instant, ChannelError> {
    loop {
        let now = Instant::now();
        let attempt = limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_acquire(key, now);
        let Err(wait) = attempt else {
            return Ok(now);
        };
        if now + wait > deadline {
            return Err(ChannelError::RateLimited {
                retry_after: Some(wait),
            });
        }
        tracing::debug!(
            key,
            wait_ms = wait.as_millis() as u64,
            "rate limited locally"
        );
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_windows() {
        let mut rl = RateLimiter::new(&ZOOM_CHANNEL_WINDOWS);
        let t0 = Instant::now();
        for i in 0..10 {
            rl.try_acquire("c1", t0 + Duration::from_millis(i * 10))
                .unwrap();
        }
        // 11th within the same second waits until the first leaves the 1 s window.
        let at = t0 + Duration::from_millis(100);
        assert_eq!(rl.try_acquire("c1", at), Err(Duration::from_millis(900)));
        // Another channel is independent.
        rl.try_acquire("c2", at).unwrap();
        // After the wait it fits.
        rl.try_acquire("c1", t0 + Duration::from_secs(1)).unwrap();

        // 30 per 10 s: fill at 10 per second for 3 s.
        let mut rl = RateLimiter::new(&ZOOM_CHANNEL_WINDOWS);
        for s in 0..3u64 {
            for i in 0..10u64 {
                rl.try_acquire("c", t0 + Duration::from_secs(s) + Duration::from_millis(i))
                    .unwrap();
            }
        }
        let at = t0 + Duration::from_secs(4);
        assert_eq!(rl.try_acquire("c", at), Err(Duration::from_secs(6)));
        rl.try_acquire("c", t0 + Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn settled_slots_count_from_completion() {
        let mut rl = RateLimiter::new(&ZOOM_CHANNEL_WINDOWS);
        let t0 = Instant::now();
        rl.try_acquire("c", t0).unwrap();
        // The request took 300 ms.
        rl.settle("c", t0, t0 + Duration::from_millis(300));
        for i in 1..10 {
            rl.try_acquire("c", t0 + Duration::from_millis(400 + i))
                .unwrap();
        }
        // The first slot now leaves the 1 s window at 1.3 s, not 1.0 s.
        assert_eq!(
            rl.try_acquire("c", t0 + Duration::from_secs(1)),
            Err(Duration::from_millis(300))
        );
        let times: Vec<_> = rl.sends["c"].iter().copied().collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "kept sorted");
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_waits_within_the_budget_then_gives_up() {
        let limiter = Mutex::new(RateLimiter::new(&ZOOM_CHANNEL_WINDOWS));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(8);
        for _ in 0..10 {
            acquire(&limiter, "chan", deadline).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The 11th waits for the 1 s window.
        acquire(&limiter, "chan", deadline).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        // Fill the 30 / 10 s window: the 31st would wait until start + 10 s,
        // beyond the 8 s budget, so it fails at once with the wait.
        for _ in 11..30 {
            acquire(&limiter, "chan", deadline).await.unwrap();
        }
        let before = Instant::now();
        let err = acquire(&limiter, "chan", deadline).await.unwrap_err();
        assert_eq!(before.elapsed(), Duration::ZERO);
        let ChannelError::RateLimited {
            retry_after: Some(wait),
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(before + wait, start + Duration::from_secs(10));
        // A generous budget waits it out.
        acquire(&limiter, "chan", start + Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[test]
    fn plans_a_multi_part_reply_against_the_windows() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(&ZOOM_CHANNEL_WINDOWS);
        // Ten parts fit at once; the eleventh waits for the 1 s window.
        assert_eq!(rl.plan("c", 10, t0), (t0, t0));
        assert_eq!(
            rl.plan("c", 11, t0),
            (t0 + Duration::from_secs(1), t0 + Duration::from_secs(1))
        );
        // 31 parts need the 30 / 10 s window to slide, even from empty windows.
        assert_eq!(rl.plan("c", 31, t0).1, t0 + Duration::from_secs(10));
        // Counted sends push the plan later; other keys are not affected.
        for _ in 0..9 {
            rl.try_acquire("c", t0).unwrap();
        }
        assert_eq!(rl.plan("c", 2, t0).0, t0 + Duration::from_secs(1));
        assert_eq!(rl.plan("c", 1, t0).0, t0);
        assert_eq!(rl.plan("d", 2, t0).0, t0);
        // Planning takes nothing.
        rl.try_acquire("c", t0).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_queue_in_order_and_give_up_at_the_deadline() {
        let lanes = std::sync::Arc::new(Lanes::default());
        let start = Instant::now();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3u64 {
            let (lanes, order) = (lanes.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                lanes
                    .run("k", start + Duration::from_secs(5), async {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        order.lock().unwrap().push((i, start.elapsed()));
                        Ok(i)
                    })
                    .await
            }));
            // Arrival order is the order of turns.
            tokio::task::yield_now().await;
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        assert!(matches!(results[0], Ok(0)) && matches!(results[1], Ok(1)));
        // The third's turn would start at 4 s and end at 6 s; it may not wait past 5 s
        // for its turn, but its turn came at 4 s, so it ran.
        assert!(matches!(results[2], Ok(2)));
        assert_eq!(
            *order.lock().unwrap(),
            [
                (0, Duration::from_secs(2)),
                (1, Duration::from_secs(4)),
                (2, Duration::from_secs(6))
            ]
        );
        // A send whose turn would come after its deadline gives up then.
        let busy = {
            let lanes = lanes.clone();
            tokio::spawn(async move {
                lanes
                    .run("k", Instant::now() + Duration::from_secs(60), async {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        Ok(())
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        let before = Instant::now();
        let err = lanes
            .run("k", before + Duration::from_secs(3), async { Ok(()) })
            .await
            .unwrap_err();
        assert_eq!(before.elapsed(), Duration::from_secs(3));
        assert!(
            matches!(
                err,
                ChannelError::RateLimited {
                    retry_after: Some(_)
                }
            ),
            "{err}"
        );
        // Another target is not held up.
        lanes
            .run("other", Instant::now(), async { Ok(()) })
            .await
            .unwrap();
        busy.await.unwrap().unwrap();
        assert!(
            lanes.lanes.lock().unwrap().is_empty(),
            "idle lanes are forgotten"
        );
    }

    #[test]
    fn long_windows_and_memory_bound() {
        let t0 = Instant::now();
        // One send every 1.5 s stays under 10/1 s and 30/10 s; 60/100 s stops the 61st.
        let mut rl = RateLimiter::new(&ZOOM_CHANNEL_WINDOWS);
        let mut t = t0;
        let mut sent = 0;
        loop {
            match rl.try_acquire("c", t) {
                Ok(()) => sent += 1,
                Err(wait) => {
                    assert_eq!(sent, 60);
                    assert_eq!(t + wait, t0 + Duration::from_secs(100));
                    break;
                }
            }
            t += Duration::from_millis(1500);
        }
        // Keys with nothing recent are forgotten.
        rl.try_acquire("other", t0 + Duration::from_secs(5000))
            .unwrap();
        assert_eq!(rl.sends.len(), 1);
        assert!(rl.sends.values().all(|v| v.len() <= 450));
    }
}
