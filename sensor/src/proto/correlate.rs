//! Request/response correlation helpers: FIFO (HTTP, Redis, ...) and keyed (DNS id, ICMP id+seq,
//! RPC xid, ...). Both are bounded and know `transaction_timeout`; what falls out (evicted,
//! expired, duplicate) is returned to the dissector, which publishes it as unmatched with a note,
//! as Packetbeat does.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use crate::time::Ts;

/// Pending requests in arrival order, answered in the same order.
#[derive(Debug)]
pub struct Fifo<T> {
    q: VecDeque<(Ts, T)>,
    cap: usize,
}

impl<T> Fifo<T> {
    /// At most `cap` pending entries (at least 1).
    pub fn new(cap: usize) -> Self {
        Fifo {
            q: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Queue `item`; when full, the oldest entry is pushed out and returned.
    pub fn push(&mut self, ts: Ts, item: T) -> Option<(Ts, T)> {
        let evicted = if self.q.len() >= self.cap {
            self.q.pop_front()
        } else {
            None
        };
        self.q.push_back((ts, item));
        evicted
    }

    /// The oldest pending entry. When the queue empties, its buffer is freed: most
    /// connections are idle most of the time, and an idle one should cost no pending storage.
    pub fn pop(&mut self) -> Option<(Ts, T)> {
        let r = self.q.pop_front();
        if self.q.is_empty() && self.q.capacity() > 0 {
            self.q = VecDeque::new();
        }
        r
    }

    /// The oldest pending entry, without removing it.
    pub fn front_mut(&mut self) -> Option<&mut (Ts, T)> {
        self.q.front_mut()
    }

    /// The newest pending entry.
    pub fn back_mut(&mut self) -> Option<&mut (Ts, T)> {
        self.q.back_mut()
    }

    /// Number pending.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Remove and hand to `f` every entry older than `timeout` at `now`, oldest first.
    pub fn expire(&mut self, now: Ts, timeout: Duration, mut f: impl FnMut(Ts, T)) {
        while let Some((ts, _)) = self.q.front() {
            if ts.add(timeout) > now {
                break;
            }
            if let Some((ts, item)) = self.q.pop_front() {
                f(ts, item);
            }
        }
    }

    /// Remove everything, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = (Ts, T)> + '_ {
        self.q.drain(..)
    }
}

/// Pending requests by key; answers may come in any order.
#[derive(Debug)]
pub struct Keyed<K, T> {
    map: HashMap<K, (Ts, T)>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, T> Keyed<K, T> {
    /// At most `cap` pending entries (at least 1).
    pub fn new(cap: usize) -> Self {
        Keyed {
            map: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// Insert `item` under `key`. Returns the entry it displaced: the previous one with the same
    /// key (a duplicate request), or, when full, the oldest entry.
    pub fn insert(&mut self, key: K, ts: Ts, item: T) -> Option<(Ts, T)> {
        if let Some(old) = self.map.insert(key.clone(), (ts, item)) {
            return Some(old);
        }
        if self.map.len() > self.cap {
            let oldest = self
                .map
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                return self.map.remove(&k);
            }
        }
        None
    }

    /// Take the entry for `key`.
    pub fn remove(&mut self, key: &K) -> Option<(Ts, T)> {
        let r = self.map.remove(key);
        if self.map.is_empty() && self.map.capacity() > 0 {
            // Idle connections keep no table (thousands of idle DNS flows add up).
            self.map = HashMap::new();
        }
        r
    }

    /// Look at the entry for `key`.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut (Ts, T)> {
        self.map.get_mut(key)
    }

    /// Number pending.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Remove and hand to `f` every entry older than `timeout` at `now`, oldest first.
    pub fn expire(&mut self, now: Ts, timeout: Duration, mut f: impl FnMut(K, Ts, T)) {
        let mut old: Vec<(Ts, K)> = self
            .map
            .iter()
            .filter(|(_, (ts, _))| ts.add(timeout) <= now)
            .map(|(k, (ts, _))| (*ts, k.clone()))
            .collect();
        if old.is_empty() {
            return;
        }
        old.sort_by_key(|(ts, _)| *ts);
        for (_, k) in old {
            if let Some((ts, item)) = self.map.remove(&k) {
                f(k, ts, item);
            }
        }
    }

    /// Remove everything, oldest first.
    pub fn drain_sorted(&mut self) -> Vec<(K, Ts, T)> {
        let mut all: Vec<(K, Ts, T)> = self.map.drain().map(|(k, (ts, t))| (k, ts, t)).collect();
        all.sort_by_key(|(_, ts, _)| *ts);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_bounded_and_expiring() {
        let mut f = Fifo::new(2);
        assert!(f.push(Ts(1), 'a').is_none());
        assert!(f.push(Ts(2), 'b').is_none());
        assert_eq!(f.push(Ts(3), 'c'), Some((Ts(1), 'a')));
        let mut out = vec![];
        f.expire(Ts(12), Duration::from_nanos(10), |_, x| out.push(x));
        assert_eq!(out, vec!['b']);
        assert_eq!(f.pop(), Some((Ts(3), 'c')));
    }

    #[test]
    fn keyed_duplicates_and_cap() {
        let mut k = Keyed::new(2);
        assert!(k.insert(1, Ts(1), "a").is_none());
        assert_eq!(k.insert(1, Ts(2), "b"), Some((Ts(1), "a")));
        assert!(k.insert(2, Ts(3), "c").is_none());
        assert_eq!(k.insert(3, Ts(4), "d"), Some((Ts(2), "b")));
        assert_eq!(k.remove(&3), Some((Ts(4), "d")));
        let mut out = vec![];
        k.expire(Ts(100), Duration::from_nanos(1), |key, _, _| out.push(key));
        assert_eq!(out, vec![2]);
    }
}
