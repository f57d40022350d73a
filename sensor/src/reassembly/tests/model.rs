//! Naive model: a byte map filled by every segment (first writer wins), delivered from the
//! start; compared with [`Stream`] over random scenarios with fixed seeds.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{push, Harness, Out};
use crate::reassembly::*;

struct Model {
    started: bool,
    next: u64,
    bytes: BTreeMap<u64, u8>,
    fin: Option<u64>,
    out: Vec<Out>,
}

impl Model {
    fn new() -> Self {
        Model {
            started: false,
            next: 0,
            bytes: BTreeMap::new(),
            fin: None,
            out: Vec::new(),
        }
    }

    fn segment(&mut self, off: u64, fin: bool, data: &[u8]) {
        if !self.started {
            self.started = true;
            self.next = off;
        }
        if fin && self.fin.is_none() {
            self.fin = Some(off + data.len() as u64);
        }
        for (i, b) in data.iter().enumerate() {
            let p = off + i as u64;
            if p >= self.next {
                self.bytes.entry(p).or_insert(*b);
            }
        }
        self.drain();
    }

    fn drain(&mut self) {
        let mut run = Vec::new();
        while let Some(b) = self.bytes.remove(&self.next) {
            run.push(b);
            self.next += 1;
        }
        if !run.is_empty() {
            push(&mut self.out, Chunk::Data(&run));
        }
    }

    fn release_hole(&mut self) -> bool {
        let Some((&k, _)) = self.bytes.iter().next() else {
            return false;
        };
        self.out.push(Out::Gap((k - self.next) as usize));
        self.next = k;
        self.drain();
        true
    }

    fn ack(&mut self, a: u64) {
        while self.started && a > self.next && self.release_hole() {}
    }

    fn flush(&mut self) {
        while self.release_hole() {}
        if let Some(f) = self.fin {
            if f > self.next {
                self.out.push(Out::Gap((f - self.next) as usize));
                self.next = f;
            }
        }
    }

    fn fin_reached(&self) -> bool {
        self.fin.is_some_and(|f| self.next >= f)
    }
}

#[derive(Debug, Clone)]
enum Ev {
    Syn,
    Seg {
        off: u64,
        len: usize,
        fin: bool,
        garbage: bool,
        lost: bool,
    },
    Ack(u64),
}

struct Scenario {
    base: u32,
    data: Vec<u8>,
    events: Vec<Ev>,
}

fn scenario(rng: &mut SmallRng, big: bool, acks: bool) -> Scenario {
    let n = if big {
        rng.random_range(0..300_000)
    } else {
        rng.random_range(0..4000)
    };
    let data: Vec<u8> = (0..n).map(|_| rng.random()).collect();
    let base = match rng.random_range(0..3) {
        0 => u32::MAX - rng.random_range(0..(n as u32 + 2)),
        1 => rng.random_range(0..16),
        _ => rng.random(),
    };
    let max_seg = if rng.random_bool(0.3) {
        8
    } else {
        rng.random_range(1..1600)
    };
    let p_loss = if rng.random_bool(0.5) {
        0.0
    } else {
        rng.random_range(0.0..0.2)
    };
    let p_dup = rng.random_range(0.0..0.3);
    let p_overlap = rng.random_range(0.0..0.3);
    let garbage = rng.random_bool(0.3);
    let displacement = rng.random_range(0..if big { 40 } else { 20 });
    let syn = rng.random_bool(0.7);
    let p_ack = if acks {
        rng.random_range(0.0..0.5)
    } else {
        0.0
    };

    // Segments in sending order, with keys for local reordering.
    let mut sent: Vec<(f64, Ev)> = Vec::new();
    let mut off = 0usize;
    let mut i = 0usize;
    while off < n {
        let len = rng.random_range(1..=max_seg).min(n - off);
        let fin = off + len == n;
        let lost = rng.random_bool(p_loss);
        sent.push((
            i as f64,
            Ev::Seg {
                off: off as u64,
                len,
                fin,
                garbage: false,
                lost,
            },
        ));
        if rng.random_bool(p_dup) {
            let at = i as f64 + rng.random_range(0.0..30.0);
            sent.push((
                at,
                Ev::Seg {
                    off: off as u64,
                    len,
                    fin,
                    garbage: false,
                    lost: false,
                },
            ));
        }
        if rng.random_bool(p_overlap) {
            let a = off.saturating_sub(rng.random_range(0..max_seg * 2));
            let b = (off + len + rng.random_range(0..max_seg * 2)).min(n);
            let at = i as f64 + rng.random_range(-5.0..30.0);
            let ev = Ev::Seg {
                off: a as u64,
                len: b - a,
                fin: b == n,
                garbage,
                lost: false,
            };
            sent.push((at, ev));
        }
        off += len;
        i += 1;
    }
    if n == 0 || rng.random_bool(0.2) {
        sent.push((
            i as f64,
            Ev::Seg {
                off: n as u64,
                len: 0,
                fin: true,
                garbage: false,
                lost: false,
            },
        ));
    }
    for (k, _) in &mut sent {
        *k += rng.random_range(0.0..=displacement as f64);
    }
    sent.sort_by(|a, b| a.0.total_cmp(&b.0));

    // Acks: cumulative over everything the sender sent so far (the receiver got it all).
    let mut events = Vec::new();
    if syn {
        events.push(Ev::Syn);
    }
    // Segments starting after the acknowledged point, by offset (longest end kept).
    let mut pending: BTreeMap<u64, u64> = BTreeMap::new();
    let mut acked = 0u64;
    for (_, ev) in sent {
        if let Ev::Seg { off, len, .. } = ev {
            let end = off + len as u64;
            if off <= acked {
                acked = acked.max(end);
            } else {
                let e = pending.entry(off).or_insert(end);
                *e = (*e).max(end);
            }
            while let Some((&o, &e)) = pending.first_key_value() {
                if o > acked {
                    break;
                }
                acked = acked.max(e);
                pending.remove(&o);
            }
        }
        events.push(ev);
        if rng.random_bool(p_ack) {
            let a = if rng.random_bool(0.8) {
                acked
            } else {
                rng.random_range(0..=acked)
            };
            events.push(Ev::Ack(a));
        }
        if syn && rng.random_bool(0.01) {
            events.push(Ev::Syn);
        }
    }
    Scenario { base, data, events }
}

/// Output positions must carry the original bytes (when no garbage was sent).
fn check_positions(out: &[Out], start: u64, data: &[u8]) -> u64 {
    let mut p = start;
    for o in out {
        match o {
            Out::Data(b) => {
                let want = &data[p as usize..p as usize + b.len()];
                assert_eq!(b.as_slice(), want, "data at {p}");
                p += b.len() as u64;
            }
            Out::Gap(n) => p += *n as u64,
        }
    }
    p
}

fn run(seed: u64, big: bool, acks: bool, budget: usize) -> bool {
    let mut rng = SmallRng::seed_from_u64(seed);
    let sc = scenario(&mut rng, big, acks);
    let mut h = Harness::with_budget(Budget::new(budget));
    let mut m = Model::new();
    let mut garbage_sent = false;
    let mut start = None;
    let seq = |off: u64| sc.base.wrapping_add(off as u32);
    for ev in &sc.events {
        match *ev {
            Ev::Syn => {
                h.seg(sc.base.wrapping_sub(1), true, false, &[]);
                if !m.started {
                    m.started = true;
                    m.next = 0;
                    start = Some(0);
                }
            }
            Ev::Seg { lost: true, .. } => {}
            Ev::Seg {
                off,
                len,
                fin,
                garbage,
                lost: false,
            } => {
                let real = &sc.data[off as usize..off as usize + len];
                let bytes: Vec<u8> = if garbage {
                    garbage_sent = true;
                    real.iter().map(|b| b ^ 0x5a).collect()
                } else {
                    real.to_vec()
                };
                start.get_or_insert(off);
                h.seg(seq(off), false, fin, &bytes);
                m.segment(off, fin, &bytes);
            }
            Ev::Ack(a) => {
                h.ack(seq(a));
                m.ack(a);
            }
        }
        assert!(h.budget.in_use <= budget, "seed {seed}");
        assert!(h.s.memory() <= MAX_STREAM_BYTES, "seed {seed}");
        if h.stats.cap_drops == 0 {
            assert_eq!(h.s.buffered(), m.bytes.len(), "seed {seed}");
            if m.started {
                assert_eq!(h.s.next_seq(), Some(seq(m.next)), "seed {seed}");
            }
            assert_eq!(h.s.fin_reached(), m.fin_reached(), "seed {seed}");
        }
    }
    h.flush();
    m.flush();
    assert_eq!(h.budget.in_use, 0, "seed {seed}");
    assert_eq!(h.s.buffered(), 0, "seed {seed}");
    let exact = h.stats.cap_drops == 0;
    if exact {
        assert_eq!(h.out, m.out, "seed {seed}");
        assert_eq!(h.s.fin_reached(), m.fin_reached(), "seed {seed}");
        let gaps = m.out.iter().filter(|o| matches!(o, Out::Gap(_))).count() as u64;
        assert_eq!(h.stats.gaps, gaps, "seed {seed}");
    }
    if !garbage_sent {
        if let Some(s) = start {
            let end = check_positions(&h.out, s, &sc.data);
            if m.fin.is_some() {
                assert_eq!(end, m.fin.unwrap_or(0), "seed {seed}");
            }
        }
    }
    exact
}

#[test]
fn model_small_scenarios() {
    let mut exact = 0;
    for seed in 0..3000 {
        exact += usize::from(run(seed, false, true, DEFAULT_WORKER_BUDGET));
    }
    assert!(exact > 2900, "only {exact} scenarios compared exactly");
}

#[test]
fn model_large_scenarios() {
    let mut exact = 0;
    for seed in 10_000..10_060 {
        exact += usize::from(run(seed, true, true, DEFAULT_WORKER_BUDGET));
    }
    assert!(exact > 30, "only {exact} scenarios compared exactly");
}

#[test]
fn model_scenarios_hitting_caps() {
    // No acknowledgements and a small worker budget: losses are only released by the caps, and
    // the output must still place every byte where it belongs.
    let mut capped = 0;
    for seed in 20_000..20_040 {
        let exact = run(seed, true, false, 64 << 10);
        capped += usize::from(!exact);
    }
    assert!(capped > 10, "only {capped} scenarios hit a cap");
}
