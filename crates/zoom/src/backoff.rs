use std::time::Duration;

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
    use moltbot_channel::Backoff;

    use super::*;

    fn b() -> Backoff {
        Backoff::default()
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
