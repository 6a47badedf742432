use std::{
    collections::{HashSet, VecDeque},
    hash::{DefaultHasher, Hash, Hasher},
    time::Duration,
};

use tokio::time::Instant;

/// Bounded, time-windowed memory of raw event contents seen, used to drop the
/// copies that arrive on two connections during a make-before-break overlap
/// (and any duplicate the server sends). Zoom events have no id, so the key is
/// a hash of the raw `content`.
pub(crate) struct Dedup {
    window: Duration,
    capacity: usize,
    seen: HashSet<u64>,
    order: VecDeque<(Instant, u64)>,
}

impl Dedup {
    /// Remembers up to `capacity` contents for `window` each.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `raw`; true when it was not seen within the window.
    pub(crate) fn first_sighting(&mut self, raw: &str, now: Instant) -> bool {
        while let Some(&(at, key)) = self.order.front() {
            if now.saturating_duration_since(at) < self.window && self.order.len() < self.capacity {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
        let mut hasher = DefaultHasher::new();
        raw.hash(&mut hasher);
        let key = hasher.finish();
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back((now, key));
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_repeats_within_the_window_only() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(300), 100);
        assert!(d.first_sighting("a", t0));
        assert!(!d.first_sighting("a", t0 + Duration::from_secs(10)));
        assert!(d.first_sighting("b", t0 + Duration::from_secs(10)));
        assert!(!d.first_sighting("a", t0 + Duration::from_secs(299)));
        assert!(d.first_sighting("a", t0 + Duration::from_secs(300)));
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(300), 3);
        for i in 0..10 {
            assert!(d.first_sighting(&i.to_string(), t0));
            assert!(d.len() <= 3);
        }
        // The oldest were evicted; the newest are still remembered.
        assert!(!d.first_sighting("9", t0));
        assert!(d.first_sighting("0", t0));
    }
}
