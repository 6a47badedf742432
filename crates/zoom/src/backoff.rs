use std::time::Duration;

/// Reconnect backoff: exponential from `base`, capped at `max`, with "equal
/// jitter" (the delay lies in `[d/2, d)` where `d` is the capped exponential), so
/// it is never zero and never above `max`.
///
/// Pure: the caller supplies the random number, which keeps it testable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay scale of the first attempt.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Delay before reconnect attempt `attempt` (1-based; 0 counts as 1), given a
    /// random `jitter` in `[0, 1)` (values outside are clamped).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let full = self
            .base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max);
        let half = full / 2;
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        half + (full - half).mul_f64(jitter).min(full - half)
    }
}

/// The next reconnect attempt number after a failure: back to 1 when the
/// connection that just ended had been up for at least `stable_after`,
/// otherwise one more than `attempt`.
pub(crate) fn next_attempt(
    attempt: u32,
    connected_for: Option<Duration>,
    stable_after: Duration,
) -> u32 {
    match connected_for {
        Some(up) if up >= stable_after => 1,
        _ => attempt.saturating_add(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff::default()
    }

    #[test]
    fn grows_exponentially_from_base() {
        let low: Vec<_> = (1..=6).map(|a| b().delay(a, 0.0)).collect();
        let secs: Vec<_> = low.iter().map(Duration::as_millis).collect();
        assert_eq!(secs, [500, 1000, 2000, 4000, 8000, 16000]);
        assert_eq!(b().delay(0, 0.0), b().delay(1, 0.0));
    }

    #[test]
    fn is_capped_at_max() {
        for attempt in [7, 10, 31, 32, 1000, u32::MAX] {
            for jitter in [0.0, 0.5, 0.999_999, 1.0, 7.0] {
                let d = b().delay(attempt, jitter);
                assert!(d <= Duration::from_secs(60), "{attempt} {jitter} {d:?}");
                assert!(d >= Duration::from_secs(30), "{attempt} {jitter} {d:?}");
            }
        }
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let d0 = b().delay(3, 0.0);
        let d5 = b().delay(3, 0.5);
        let d9 = b().delay(3, 0.99);
        assert_eq!(d0, Duration::from_secs(2));
        assert_eq!(d5, Duration::from_secs(3));
        assert!(d9 > d5 && d9 < Duration::from_secs(4));
        // Junk jitter never panics or escapes the bounds.
        assert_eq!(b().delay(3, -1.0), d0);
        assert_eq!(b().delay(3, f64::NAN), d0);
    }

    #[test]
    fn never_zero() {
        let tiny = Backoff {
            base: Duration::from_millis(2),
            max: Duration::from_millis(2),
        };
        assert!(tiny.delay(1, 0.0) > Duration::ZERO);
    }

    #[test]
    fn attempts_reset_after_a_stable_connection() {
        let stable = Duration::from_secs(60);
        // Failed connects keep growing the attempt (and so the delay).
        assert_eq!(next_attempt(0, None, stable), 1);
        assert_eq!(next_attempt(3, None, stable), 4);
        // A short-lived connection does not reset.
        assert_eq!(next_attempt(3, Some(Duration::from_secs(59)), stable), 4);
        // A stable one does: the next delay is the base one again.
        assert_eq!(next_attempt(9, Some(stable), stable), 1);
        assert_eq!(next_attempt(u32::MAX, None, stable), u32::MAX);
        let after_reset = next_attempt(9, Some(stable), stable);
        assert!(b().delay(after_reset, 0.99) < Duration::from_secs(1));
    }
}
