//! Bounded memory of recent ids (oldest forgotten first), optionally with a value.

use std::collections::{HashMap, VecDeque};

/// Remembers up to `capacity` keys and their values.
#[derive(Debug)]
pub(crate) struct Recent<V = ()> {
    capacity: usize,
    order: VecDeque<String>,
    map: HashMap<String, V>,
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
        if self.map.contains_key(key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.order.push_back(key.to_owned());
        self.map.insert(key.to_owned(), value);
        true
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Forgets `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        if self.map.remove(key).is_some() {
            self.order.retain(|k| k != key);
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
        assert_eq!(roots.get("m1").map(String::as_str), Some("root"));
        assert!(roots.insert_with("m2", "other".to_string()));
        assert_eq!(roots.get("m1"), None);
    }
}
