use std::time::Duration;

/// Retry backoff (reconnects, redeliveries): exponential from `base`, capped at `max`, with "equal
/// jitter" (the delay lies in `[d/2, d)` where `d` is the capped exponential), so
/// it is never zero and never above `max`.
///
/// Pure: the caller supplies the random number, which keeps it testable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Delay before attempt `attempt` (1-based; 0 counts as 1), given a
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
    fn doubles_caps_and_jitters_within_the_upper_half() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(300));
        assert_eq!(b.delay(4, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(5, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(1));
        for n in 1..40 {
            assert!(b.delay(n, 0.99) >= b.delay(n, 0.0));
            assert!(b.delay(n, 0.99) <= b.max);
        }
    }
}
