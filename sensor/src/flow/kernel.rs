//! Flow records in live mode come from the kernel's flow map (every IP packet is counted there,
//! also traffic that is never redirected to user space). This module turns periodic snapshots of
//! that map into flow events with the same semantics as replay: `period` reports with running
//! totals, `timeout` → final report and the entry is deleted from the map, and at shutdown every
//! flow gets its final report.
//!
//! Kernel and worker views are merged like this: the kernel map is the only source of flow
//! records (the workers' own flow tables only track sessions and report nothing); workers own the
//! transactions. `flow.id` is stable for a map entry's life.

use rustc_hash::FxHashMap;
use sensor_common::FlowKey;

use super::{Flow, FlowsConfig};
use crate::time::Ts;

struct Known {
    seq: u64,
}

/// Reporter state: which map entries have been seen, and when the next periodic report is due.
#[derive(Default)]
pub struct KernelFlows {
    known: FxHashMap<FlowKey, Known>,
    next_seq: u64,
    next_report: Option<Ts>,
    /// Entries that vanished from the map without a final report (LRU eviction under pressure).
    pub evicted: u64,
    /// Final reports published.
    pub finals: u64,
}

impl KernelFlows {
    /// An empty reporter.
    pub fn new() -> Self {
        KernelFlows::default()
    }

    /// Process one snapshot of the map taken at `now`. `emit(flow, final)` publishes a report;
    /// the returned keys must be deleted from the map (their flows ended).
    pub fn tick(
        &mut self,
        now: Ts,
        snapshot: Vec<(FlowKey, Flow)>,
        cfg: &FlowsConfig,
        emit: &mut dyn FnMut(&Flow, bool),
    ) -> Vec<FlowKey> {
        let periodic = match (self.next_report, cfg.period) {
            (None, Some(p)) => {
                self.next_report = Some(now.add(p));
                false
            }
            (Some(t), Some(p)) if now >= t => {
                self.next_report = Some(now.add(p));
                true
            }
            _ => false,
        };
        let mut seen: FxHashMap<FlowKey, ()> = FxHashMap::default();
        let mut ended = Vec::new();
        let mut snapshot = snapshot;
        snapshot.sort_by_key(|(_, f)| f.first_ts);
        for (key, mut flow) in snapshot {
            let next_seq = &mut self.next_seq;
            let known = self.known.entry(key).or_insert_with(|| {
                *next_seq += 1;
                Known { seq: *next_seq }
            });
            flow.seq = known.seq;
            if flow.last_ts.add(cfg.timeout) <= now {
                emit(&flow, true);
                self.finals += 1;
                self.known.remove(&key);
                ended.push(key);
                continue;
            }
            seen.insert(key, ());
            if periodic {
                emit(&flow, false);
            }
        }
        let before = self.known.len();
        self.known.retain(|k, _| seen.contains_key(k));
        self.evicted += (before - self.known.len()) as u64;
        ended
    }

    /// Shutdown: a final report for every flow of the last snapshot.
    pub fn finish(&mut self, snapshot: Vec<(FlowKey, Flow)>, emit: &mut dyn FnMut(&Flow, bool)) {
        let mut snapshot = snapshot;
        snapshot.sort_by_key(|(_, f)| f.first_ts);
        for (key, mut flow) in snapshot {
            if let Some(k) = self.known.get(&key) {
                flow.seq = k.seq;
            }
            emit(&flow, true);
            self.finals += 1;
        }
        self.known.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Vlans;
    use crate::flow::flow_key;
    use std::time::Duration;

    fn flow(first: u64, last: u64, packets: u64) -> (FlowKey, Flow) {
        let a = "198.18.0.1:40000".parse().unwrap();
        let b = "198.18.0.2:80".parse().unwrap();
        let (key, _) = flow_key(6, a, b, &Vlans::default());
        let mut f = Flow::new(0, key, a, b, Vlans::default(), Ts(first));
        f.last_ts = Ts(last);
        f.src.packets = packets;
        (key, f)
    }

    #[test]
    fn periodic_then_final_and_delete() {
        let cfg = FlowsConfig {
            period: Some(Duration::from_secs(10)),
            timeout: Duration::from_secs(30),
            ..Default::default()
        };
        let s = 1_000_000_000u64;
        let mut k = KernelFlows::new();
        let mut out = Vec::new();
        let del = k.tick(Ts(s), vec![flow(s, s, 1)], &cfg, &mut |f, fin| {
            out.push((f.seq, fin, f.src.packets))
        });
        assert!(del.is_empty() && out.is_empty());
        k.tick(Ts(11 * s), vec![flow(s, 11 * s, 5)], &cfg, &mut |f, fin| {
            out.push((f.seq, fin, f.src.packets))
        });
        assert_eq!(out, vec![(1, false, 5)]);
        let del = k.tick(Ts(45 * s), vec![flow(s, 11 * s, 5)], &cfg, &mut |f, fin| {
            out.push((f.seq, fin, f.src.packets))
        });
        assert_eq!(del.len(), 1);
        assert_eq!(out.last(), Some(&(1, true, 5)));
    }
}
