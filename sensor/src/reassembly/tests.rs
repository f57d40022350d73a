//! Targeted tests and a naive-model comparison over random scenarios with fixed seeds.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Owned copy of what a stream emitted, adjacent data merged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Data(Vec<u8>),
    Gap(usize),
}

fn push(v: &mut Vec<Out>, c: Chunk<'_>) {
    match c {
        Chunk::Data(d) => {
            assert!(!d.is_empty(), "empty data chunk");
            if let Some(Out::Data(last)) = v.last_mut() {
                last.extend_from_slice(d);
            } else {
                v.push(Out::Data(d.to_vec()));
            }
        }
        Chunk::Gap(n) => {
            assert!(n > 0, "empty gap");
            v.push(Out::Gap(n));
        }
    }
}

/// A stream with its budget, stats and collected output.
struct Harness {
    s: Stream,
    budget: Budget,
    stats: ReassemblyStats,
    out: Vec<Out>,
}

impl Harness {
    fn new() -> Self {
        Self::with_budget(Budget::default())
    }

    fn with_budget(budget: Budget) -> Self {
        Harness {
            s: Stream::new(),
            budget,
            stats: ReassemblyStats::default(),
            out: Vec::new(),
        }
    }

    fn seg(&mut self, seq: u32, syn: bool, fin: bool, payload: &[u8]) {
        let out = &mut self.out;
        self.s.segment(
            seq,
            syn,
            fin,
            payload,
            &mut self.budget,
            &mut self.stats,
            &mut |c| push(out, c),
        );
    }

    fn data(&mut self, seq: u32, payload: &[u8]) {
        self.seg(seq, false, false, payload);
    }

    fn ack(&mut self, ack: u32) {
        let out = &mut self.out;
        self.s
            .acked(ack, &mut self.budget, &mut self.stats, &mut |c| {
                push(out, c)
            });
    }

    fn flush(&mut self) {
        let out = &mut self.out;
        self.s
            .flush(&mut self.budget, &mut self.stats, &mut |c| push(out, c));
    }

    fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }
}

fn d(b: &[u8]) -> Out {
    Out::Data(b.to_vec())
}

#[test]
fn in_order_passes_through_without_copy() {
    let mut s = Stream::new();
    let mut budget = Budget::default();
    let mut stats = ReassemblyStats::default();
    let payload = b"hello world".to_vec();
    let mut seen = Vec::new();
    s.segment(100, true, false, &[], &mut budget, &mut stats, &mut |_| {
        panic!("no data")
    });
    s.segment(
        101,
        false,
        false,
        &payload,
        &mut budget,
        &mut stats,
        &mut |c| {
            if let Chunk::Data(x) = c {
                seen.push((x.as_ptr(), x.len()));
            }
        },
    );
    assert_eq!(seen, vec![(payload.as_ptr(), payload.len())]);
    assert_eq!(stats, ReassemblyStats::default());
    assert_eq!(budget.pool_allocations(), 0);
    assert_eq!(s.next_seq(), Some(112));
}

#[test]
fn syn_consumes_one_and_midstream_starts_at_first_segment() {
    let mut h = Harness::new();
    h.seg(9, true, false, &[]);
    h.data(10, b"ab");
    assert_eq!(h.take(), vec![d(b"ab")]);

    let mut h = Harness::new();
    h.data(5000, b"xyz");
    h.data(5003, b"w");
    assert_eq!(h.take(), vec![d(b"xyzw")]);
    // Bytes before the pick-up point are retransmissions.
    h.data(4990, b"0123456789");
    assert_eq!(h.stats.retransmissions, 1);
    assert!(h.take().is_empty());
}

#[test]
fn syn_with_data_delivers_it() {
    let mut h = Harness::new();
    h.seg(41, true, false, b"tfo");
    h.data(45, b"more");
    assert_eq!(h.take(), vec![d(b"tfomore")]);
}

#[test]
fn reorder_is_not_a_gap() {
    let mut h = Harness::new();
    h.data(1000, b"aaaa");
    h.data(1008, b"cccc");
    h.data(1012, b"dddd");
    assert_eq!(h.take(), vec![d(b"aaaa")]);
    assert_eq!(h.s.buffered(), 8);
    assert!(h.budget.in_use >= 8);
    h.data(1004, b"bbbb");
    assert_eq!(h.take(), vec![d(b"bbbbccccdddd")]);
    assert_eq!(h.s.buffered(), 0);
    assert_eq!(h.budget.in_use, 0);
    assert_eq!(h.stats.out_of_order, 2);
    assert_eq!(h.stats.gaps, 0);
}

#[test]
fn retransmission_and_overlap_are_trimmed() {
    let mut h = Harness::new();
    h.data(0, b"abcdef");
    h.data(2, b"cd");
    assert_eq!(h.stats.retransmissions, 1);
    h.data(4, b"EFgh");
    assert_eq!(h.stats.overlaps, 1);
    assert_eq!(h.take(), vec![d(b"abcdefgh")]);
}

#[test]
fn first_seen_wins_over_buffered() {
    let mut h = Harness::new();
    h.data(0, b"ab");
    h.data(4, b"EF");
    // In order, but bytes 4..6 were buffered first and win; 6..8 are new.
    h.data(2, b"cdxyGH");
    assert_eq!(h.take(), vec![d(b"abcdEFGH")]);
    assert_eq!(h.stats.overlaps, 1);
    // Out of order segment spanning two buffered runs keeps them.
    h.data(12, b"MM");
    h.data(16, b"QQ");
    h.data(10, b"kkllmmnnoopp");
    assert_eq!(h.stats.overlaps, 2);
    h.data(8, b"ij");
    assert_eq!(h.take(), vec![d(b"ijkkMMmmQQoopp")]);
}

#[test]
fn duplicate_of_buffered_is_a_retransmission() {
    let mut h = Harness::new();
    h.data(0, b"a");
    h.data(5, b"fgh");
    h.data(6, b"g");
    assert_eq!(h.stats.retransmissions, 1);
    assert_eq!(h.stats.out_of_order, 1);
    assert_eq!(h.s.buffered(), 3);
}

#[test]
fn ack_past_hole_reports_gap() {
    let mut h = Harness::new();
    h.data(100, b"aaaa");
    h.data(110, b"cccc");
    h.data(120, b"eeee");
    // ACK not past the hole: nothing.
    h.ack(104);
    assert_eq!(h.take(), vec![d(b"aaaa")]);
    // ACK past the first hole only.
    h.ack(106);
    assert_eq!(h.take(), vec![Out::Gap(6), d(b"cccc")]);
    assert_eq!(h.s.buffered(), 4);
    // ACK past everything.
    h.ack(124);
    assert_eq!(h.take(), vec![Out::Gap(6), d(b"eeee")]);
    assert_eq!(h.stats.gaps, 2);
    assert_eq!(h.stats.gap_bytes, 12);
    assert_eq!(h.budget.in_use, 0);
    // ACK beyond next with nothing buffered waits for data.
    h.ack(200);
    assert!(h.take().is_empty());
    // Late data for the first hole is a retransmission now.
    h.data(104, b"bbbbbb");
    assert_eq!(h.stats.retransmissions, 1);
}

#[test]
fn flush_releases_holes_and_fin() {
    let mut h = Harness::new();
    h.seg(0, true, false, &[]);
    h.data(1, b"ab");
    h.data(5, b"ef");
    h.seg(10, false, true, b"jk");
    assert!(!h.s.fin_reached());
    h.flush();
    assert_eq!(
        h.take(),
        vec![d(b"ab"), Out::Gap(2), d(b"ef"), Out::Gap(3), d(b"jk")]
    );
    assert!(h.s.fin_reached());
    assert_eq!(h.budget.in_use, 0);

    // FIN beyond delivered data with nothing buffered: a trailing gap.
    let mut h = Harness::new();
    h.data(0, b"abc");
    h.seg(10, false, true, &[]);
    assert!(!h.s.fin_reached());
    h.flush();
    assert_eq!(h.take(), vec![d(b"abc"), Out::Gap(7)]);
    assert!(h.s.fin_reached());
}

#[test]
fn fin_reached_when_data_catches_up() {
    let mut h = Harness::new();
    h.data(0, b"ab");
    h.seg(4, false, true, b"ef");
    assert!(!h.s.fin_reached());
    h.data(2, b"cd");
    assert!(h.s.fin_reached());
    assert_eq!(h.take(), vec![d(b"abcdef")]);
    // Empty FIN in order.
    let mut h = Harness::new();
    h.data(0, b"ab");
    h.seg(2, false, true, &[]);
    assert!(h.s.fin_reached());
}

#[test]
fn ack_of_fin_releases_everything() {
    let mut h = Harness::new();
    h.data(0, b"ab");
    h.seg(6, false, true, b"gh");
    h.ack(9);
    assert_eq!(h.take(), vec![d(b"ab"), Out::Gap(4), d(b"gh")]);
    assert!(h.s.fin_reached());
}

#[test]
fn wraps_around_u32() {
    let mut h = Harness::new();
    let isn = u32::MAX - 2;
    h.seg(isn, true, false, &[]);
    h.data(u32::MAX.wrapping_add(3), b"EFGH");
    h.data(u32::MAX - 1, b"abc");
    assert_eq!(h.take(), vec![d(b"abc")]);
    h.data(1, b"dEF");
    assert_eq!(h.take(), vec![d(b"dEFGH")]);
    assert_eq!(h.s.next_seq(), Some(6));
    assert_eq!(h.stats.overlaps, 1);
}

#[test]
fn segment_cap_releases_oldest_hole() {
    let mut h = Harness::new();
    h.data(0, b"x");
    // Every other byte: each one is its own buffered segment (nothing to append to).
    for i in 0..MAX_STREAM_SEGMENTS as u32 {
        h.data(2 + 2 * i, b"y");
    }
    assert!(h.s.memory() <= MAX_STREAM_BYTES);
    let before = h.stats.cap_drops;
    assert!(
        before > 0,
        "byte cap hits before the segment cap with 2 KiB buffers"
    );
    let out = h.take();
    assert_eq!(out.first(), Some(&d(b"x")));
    assert_eq!(out.get(1), Some(&Out::Gap(1)));
    h.flush();
    assert_eq!(h.budget.in_use, 0);
    assert_eq!(h.s.buffered(), 0);
}

#[test]
fn budget_cap_releases_oldest_hole() {
    let mut h = Harness::with_budget(Budget::new(3 * POOL_MIN_BUFFER));
    h.data(0, b"a");
    h.data(10, b"k");
    h.data(20, b"u");
    h.data(30, b"E");
    assert_eq!(h.stats.cap_drops, 0);
    h.data(40, b"O");
    assert_eq!(h.stats.cap_drops, 1);
    assert_eq!(h.take(), vec![d(b"a"), Out::Gap(9), d(b"k")]);
    assert!(h.budget.in_use <= h.budget.max);
    // A budget too small for any buffer: straight to a gap and the data.
    let mut h = Harness::with_budget(Budget::new(10));
    h.data(0, b"a");
    h.data(5, b"f");
    assert_eq!(h.take(), vec![d(b"a"), Out::Gap(4), d(b"f")]);
    assert_eq!(h.stats.cap_drops, 1);
}

#[test]
fn stream_byte_cap_with_large_segments() {
    let mut h = Harness::new();
    h.data(0, b"a");
    let big = vec![7u8; 300_000];
    let mut seq = 2u32;
    for _ in 0..4 {
        h.data(seq, &big);
        seq += big.len() as u32;
    }
    assert_eq!(h.stats.cap_drops, 1);
    assert!(h.s.memory() <= MAX_STREAM_BYTES);
    assert_eq!(h.take().get(1), Some(&Out::Gap(1)));
}

#[test]
fn out_of_window_is_ignored_then_resyncs() {
    let mut h = Harness::new();
    h.data(0, b"abc");
    h.data(MAX_WINDOW + 100, b"junk");
    h.data(3u32.wrapping_sub(MAX_WINDOW + 100), b"junk");
    assert_eq!(h.stats.out_of_window, 2);
    h.data(3, b"d");
    assert_eq!(h.take(), vec![d(b"abcd")]);
    let far = 1 << 30;
    h.data(far, b"1");
    h.data(far + 1, b"2");
    h.data(far + 2, b"3");
    assert_eq!(h.stats.resyncs, 1);
    assert_eq!(h.take(), vec![Out::Gap(far as usize + 2 - 4), d(b"3")]);
    h.data(far + 3, b"4");
    assert_eq!(h.take(), vec![d(b"4")]);
}

#[test]
fn clear_returns_memory() {
    let mut h = Harness::new();
    h.data(0, b"a");
    h.data(5, b"f");
    assert!(h.budget.in_use > 0);
    h.s.clear(&mut h.budget);
    assert_eq!(h.budget.in_use, 0);
    assert_eq!(h.s.buffered(), 0);
    assert!(h.budget.pool_retained() > 0);
}

#[test]
fn steady_reordering_reuses_pool() {
    let mut h = Harness::new();
    let payload = [1u8; 1400];
    let mut seq = 0u32;
    h.data(seq, &payload);
    seq += 1400;
    let mut allocs_after_warmup = 0;
    for round in 0..10_000 {
        // Swap every pair of segments.
        h.data(seq + 1400, &payload);
        h.data(seq, &payload);
        seq = seq.wrapping_add(2800);
        if round == 10 {
            allocs_after_warmup = h.budget.pool_allocations();
        }
    }
    assert_eq!(h.budget.pool_allocations(), allocs_after_warmup);
    assert!(allocs_after_warmup <= 1);
    assert_eq!(h.stats.out_of_order, 10_000);
    assert_eq!(h.budget.in_use, 0);
}

#[test]
fn tiny_segments_share_a_buffer() {
    let mut h = Harness::new();
    h.data(0, b"a");
    for i in 0..1000u32 {
        h.data(2 + i, b"z");
    }
    assert_eq!(h.s.buffered(), 1000);
    assert_eq!(h.s.memory(), POOL_MIN_BUFFER);
    assert_eq!(h.stats.cap_drops, 0);
}

// ---------------------------------------------------------------------------------------------
// Naive model: a byte map filled by every segment (first writer wins), delivered from the start.

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
