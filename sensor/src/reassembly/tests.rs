//! Targeted tests; the naive-model comparison is in `model`.

mod model;

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
    // Far behind never resynchronises.
    for _ in 0..5 {
        h.data(4u32.wrapping_sub(MAX_WINDOW + 100), b"old");
    }
    assert_eq!(h.stats.resyncs, 0);
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
