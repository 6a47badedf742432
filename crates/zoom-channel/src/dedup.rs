//! Bounded memory of recent ids (oldest forgotten first), optionally with a value.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// What is kept of an id: the first 128 bits of its SHA-256. Two ids of one
/// window collide with a probability of about n²/2¹²⁹ (1e-31 for 10,000), so
/// no message is mistaken for another; an entry costs about 40 bytes instead
/// of two heap copies of the id (about 150 bytes with the allocator's
/// overhead), which is most of these sets' memory once they are full.
type Key = u128;

fn key(id: &str) -> Key {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

/// Remembers up to `capacity` keys and their values.
#[derive(Debug)]
pub(crate) struct Recent<V = ()> {
    capacity: usize,
    order: VecDeque<Key>,
    map: HashMap<Key, V>,
}

impl<V> Recent<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            map: HashMap::new(),
        }
    }

    /// Records `key`; false (and nothing changes) when it is already present.
    pub(crate) fn insert_with(&mut self, key: &str, value: V) -> bool {
        let key = self::key(key);
        if self.map.contains_key(&key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.order.push_back(key);
        self.map.insert(key, value);
        true
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(&self::key(key))
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.map.contains_key(&self::key(key))
    }

    /// Forgets `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        let key = self::key(key);
        if self.map.remove(&key).is_some() {
            self.order.retain(|k| *k != key);
        }
    }
}

impl Recent<()> {
    /// Records `key`; false when it was already present.
    pub(crate) fn insert(&mut self, key: &str) -> bool {
        self.insert_with(key, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_capacity() {
        let mut ids = Recent::new(2);
        assert!(ids.insert("a"));
        assert!(!ids.insert("a"));
        assert!(ids.insert("b"));
        assert!(ids.insert("c"));
        assert!(!ids.contains("a"));
        assert!(ids.contains("b") && ids.contains("c"));
        assert!(ids.insert("a"));
        assert_eq!(ids.order.len(), 2);
        assert_eq!(ids.map.len(), 2);
        ids.remove("c");
        assert!(!ids.contains("c") && ids.insert("c"));
        assert_eq!(ids.order.len(), 2);

        let mut roots = Recent::new(1);
        assert!(roots.insert_with("m1", "root".to_string()));
        assert_eq!(roots.get_mut("m1").map(|s| s.as_str()), Some("root"));
        assert!(roots.insert_with("m2", "other".to_string()));
        assert_eq!(roots.get_mut("m1"), None);
    }

    #[test]
    fn ids_that_differ_by_one_character_are_distinct() {
        let mut ids = Recent::new(100);
        for id in [
            "zoom-ev-1",
            "zoom-ev-2",
            "zoom-ev-10",
            "zoom-ev-1 ",
            "Zoom-ev-1",
            "",
        ] {
            assert!(ids.insert(id), "{id:?} mistaken for an earlier id");
        }
        assert!(ids.contains("zoom-ev-1") && !ids.contains("zoom-ev-3"));
        assert!(!ids.insert("zoom-ev-10"));
        let mut values = Recent::new(4);
        values.insert_with("a", 1);
        values.insert_with("b", 2);
        *values.get_mut("a").expect("present") += 10;
        assert_eq!(values.get_mut("a"), Some(&mut 11));
        assert_eq!(values.get_mut("b"), Some(&mut 2));
    }
}
