//! Small statistics over measured durations.

use std::time::Duration;

/// The `q` quantile (0..=1, nearest rank) of `sorted`, where `missing` more
/// samples are known to be larger than any measured one (events that never
/// arrived). `None` when the rank falls among the missing ones.
pub(crate) fn quantile(sorted: &[Duration], missing: usize, q: f64) -> Option<Duration> {
    let total = sorted.len() + missing;
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as usize).clamp(1, total);
    sorted.get(rank - 1).copied()
}

/// Events per second for `n` events over `d`.
pub(crate) fn per_sec(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        return 0.0;
    }
    n as f64 / d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_count_missing_samples_as_largest() {
        let ms = |v: u64| Duration::from_millis(v);
        let sorted: Vec<_> = (1..=100).map(ms).collect();
        assert_eq!(quantile(&sorted, 0, 0.5), Some(ms(50)));
        assert_eq!(quantile(&sorted, 0, 0.99), Some(ms(99)));
        assert_eq!(quantile(&sorted, 0, 1.0), Some(ms(100)));
        assert_eq!(quantile(&sorted, 100, 0.5), Some(ms(100)));
        assert_eq!(quantile(&sorted, 100, 0.99), None);
        assert_eq!(quantile(&[], 0, 0.5), None);
        assert_eq!(per_sec(10, Duration::from_secs(2)), 5.0);
        assert_eq!(per_sec(10, Duration::ZERO), 0.0);
    }
}
