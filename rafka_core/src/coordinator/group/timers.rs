//! The coordinator's delayed operations (Kafka's heartbeat and rebalance purgatories): at
//! most one deadline per key, replaced when rescheduled, cancelled when completed early.
//! Time is in wall-clock milliseconds given by the caller, so the state machine can be
//! driven by tests without sleeping.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Deadlines keyed by `K`, each carrying a `V`.
#[derive(Debug)]
pub struct DeadlineQueue<K, V> {
    by_key: HashMap<K, (i64, u64, V)>,
    by_deadline: BTreeMap<(i64, u64), K>,
    next_seq: u64,
}

impl<K: Clone + Eq + Hash, V> Default for DeadlineQueue<K, V> {
    fn default() -> Self {
        DeadlineQueue {
            by_key: HashMap::new(),
            by_deadline: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<K: Clone + Eq + Hash, V> DeadlineQueue<K, V> {
    /// Sets `key`'s deadline (replacing an existing one).
    pub fn schedule(&mut self, key: K, deadline: i64, value: V) {
        self.cancel(&key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_deadline.insert((deadline, seq), key.clone());
        self.by_key.insert(key, (deadline, seq, value));
    }

    /// Removes `key`'s deadline; returns its value if it had one.
    pub fn cancel(&mut self, key: &K) -> Option<V> {
        let (deadline, seq, value) = self.by_key.remove(key)?;
        self.by_deadline.remove(&(deadline, seq));
        Some(value)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.by_key.get(key).map(|(_, _, v)| v)
    }

    pub fn deadline(&self, key: &K) -> Option<i64> {
        self.by_key.get(key).map(|(d, _, _)| *d)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.by_deadline.keys().next().map(|(d, _)| *d)
    }

    /// Removes and returns the earliest entry due at `now`, if any.
    pub fn pop_due(&mut self, now: i64) -> Option<(K, V)> {
        let (&(deadline, seq), _) = self.by_deadline.iter().next()?;
        if deadline > now {
            return None;
        }
        let key = self.by_deadline.remove(&(deadline, seq))?;
        let (_, _, value) = self.by_key.remove(&key)?;
        Some((key, value))
    }

    /// Cancels every entry whose key matches.
    pub fn cancel_where(&mut self, mut f: impl FnMut(&K) -> bool) {
        let keys: Vec<K> = self.by_key.keys().filter(|k| f(k)).cloned().collect();
        for k in keys {
            self.cancel(&k);
        }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reschedule_replaces_and_pops_in_order() {
        let mut q: DeadlineQueue<&str, u8> = DeadlineQueue::default();
        q.schedule("a", 10, 1);
        q.schedule("b", 5, 2);
        q.schedule("a", 20, 3);
        assert_eq!(q.len(), 2);
        assert_eq!(q.next_deadline(), Some(5));
        assert_eq!(q.pop_due(4), None);
        assert_eq!(q.pop_due(30), Some(("b", 2)));
        assert_eq!(q.pop_due(30), Some(("a", 3)));
        assert!(q.is_empty());
        q.schedule("c", 1, 0);
        assert_eq!(q.cancel(&"c"), Some(0));
        assert_eq!(q.pop_due(100), None);
    }
}
