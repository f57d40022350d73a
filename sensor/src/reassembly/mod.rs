//! TCP reassembly, one [`Stream`] per direction of a connection.
//!
//! In-order data passes straight through to the caller (no copy); out-of-order segments are
//! buffered (capped per stream and per worker through a shared [`Budget`]) and released in order;
//! retransmissions and overlaps are trimmed; a hole becomes a [`Chunk::Gap`] only when it is real:
//! the peer acknowledged past it, the buffer caps were hit, or the stream is flushed at close.
//! Connections picked up mid-stream (no SYN) start at the first segment seen.
//!
//! Packetbeat treats every reordered segment as a gap; we wait for evidence instead.
//!
//! Rules, in the order they apply to a segment (sequence numbers are u32 serial numbers, compared
//! relative to the next expected one, so wrap-around is transparent):
//! - more than [`MAX_WINDOW`] away from the next expected byte (either way): ignored and counted
//!   in `out_of_window` (garbage, or a reused port); after [`RESYNC_AFTER`] such segments in a row
//!   *ahead* of it, the stream resynchronises on the last one (everything buffered is released,
//!   then a gap up to it), so a stream whose capture lost more than a window does not stall
//!   forever (far *behind* never resynchronises: TCP does not go back, so that is junk);
//! - entirely before the next expected byte: a retransmission, dropped;
//! - starting before it: the old part is trimmed (an overlap), the rest is in order;
//! - in order: handed out as is; bytes already buffered win over the new ones (first seen wins),
//!   then buffered segments that became in order are released;
//! - ahead: the bytes not yet buffered are copied into pooled buffers. When a cap is hit (segments
//!   or bytes of the stream, or the worker budget) the oldest hole is released as a gap; when
//!   the stream holds nothing and the worker budget is spent by other streams, the segment
//!   itself is delivered after a gap (Packetbeat's behaviour, but only under memory pressure).
//! - acknowledgements: an ACK past the next expected byte releases holes (gap + data after it)
//!   while the ACK is still past it. With nothing buffered it does nothing: the lost bytes
//!   surface as a gap when the following data arrives and is acknowledged, or at `flush`.
//!
//! Overlapping data that disagrees is resolved by "first seen wins" everywhere.
//!
//! A stream must be [`Stream::flush`]ed or [`Stream::clear`]ed before it is dropped, or the
//! memory it held stays charged to the [`Budget`].

mod pool;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use pool::Pool;
pub use pool::{POOL_MAX_RETAINED, POOL_MIN_BUFFER};

/// Per-worker reassembly counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Segments that arrived ahead of the expected sequence number and were buffered.
    pub out_of_order: u64,
    /// Segments entirely before the expected sequence number or entirely already buffered
    /// (retransmissions and duplicates).
    pub retransmissions: u64,
    /// Segments partly overlapping data already delivered or buffered (trimmed).
    pub overlaps: u64,
    /// Gaps reported to dissectors.
    pub gaps: u64,
    /// Bytes reported missing in gaps.
    pub gap_bytes: u64,
    /// Times a cap (segments or bytes of a stream, worker budget) forced the oldest hole of a
    /// stream to be released as a gap instead of waiting for the missing data.
    pub cap_drops: u64,
    /// Segments ignored because they were more than [`MAX_WINDOW`] away from the expected byte.
    pub out_of_window: u64,
    /// Streams resynchronised after [`RESYNC_AFTER`] out-of-window segments in a row.
    pub resyncs: u64,
}

/// Worker-wide budget for buffered out-of-order bytes, and the pool their buffers come from.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Buffer memory (capacity in bytes) currently held by all streams of the worker.
    pub in_use: usize,
    /// Maximum for all streams of the worker.
    pub max: usize,
    pool: Pool,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_WORKER_BUDGET)
    }
}

impl Budget {
    /// A budget of `max` bytes with an empty pool.
    pub fn new(max: usize) -> Self {
        Budget {
            in_use: 0,
            max,
            pool: Pool::default(),
        }
    }

    /// Segment buffers allocated (or grown) so far; stays flat in steady state.
    pub fn pool_allocations(&self) -> u64 {
        self.pool.allocations()
    }

    /// Capacity of the free buffers kept for reuse.
    pub fn pool_retained(&self) -> usize {
        self.pool.retained()
    }
}

/// Out-of-order bytes a worker may hold in all: 64 MiB keeps memory bounded on busy links
/// while covering several thousand connections with a full reorder window each.
pub const DEFAULT_WORKER_BUDGET: usize = 64 << 20;

/// Buffer memory one stream may hold: 1 MiB covers a bandwidth-delay product of ~80 Mbit/s ×
/// 100 ms of reordering, beyond which waiting for a lost segment is not worth the memory.
pub const MAX_STREAM_BYTES: usize = 1 << 20;

/// Buffered segments one stream may hold: 1 MiB of full-size segments is ~720 of them; the cap
/// bounds bookkeeping against floods of tiny segments.
pub const MAX_STREAM_SEGMENTS: usize = 1024;

/// How far from the next expected byte a segment may be: 16 MiB is past any reorder buffer we
/// keep (and past common receive windows), so a segment further away is garbage or another
/// connection on the same ports.
pub const MAX_WINDOW: u32 = 16 << 20;

/// Out-of-window segments in a row after which the stream jumps to them: one or two are junk,
/// a run means the capture lost more than a window of this stream.
pub const RESYNC_AFTER: u32 = 3;

/// What a stream hands to the dissector, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// In-order bytes.
    Data(&'a [u8]),
    /// `n` bytes are missing.
    Gap(usize),
}

/// One buffered out-of-order run of bytes starting at `seq`.
#[derive(Debug)]
struct Seg {
    seq: u32,
    data: Vec<u8>,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Next expected sequence number; `None` until the first segment.
    next: Option<u32>,
    /// Sequence number of the FIN (the byte after the last data byte).
    fin_seq: Option<u32>,
    fin_reached: bool,
    /// Buffered runs: sorted, non-overlapping, all strictly after `next`.
    segs: VecDeque<Seg>,
    /// Data bytes buffered.
    data_bytes: usize,
    /// Buffer capacity charged to the budget.
    mem_bytes: usize,
    /// Out-of-window segments in a row.
    oow_run: u32,
}

/// Signed distance from `next` to `seq` (serial-number arithmetic).
fn rel(seq: u32, next: u32) -> i64 {
    i64::from(seq.wrapping_sub(next) as i32)
}

/// `next` moved forward by `n` bytes (`n` fits a window).
fn advance(next: u32, n: usize) -> u32 {
    next.wrapping_add(u32::try_from(n).unwrap_or(u32::MAX))
}

/// `i64` to `usize`, 0 for negatives.
fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// `usize` to `i64`, saturating.
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What buffering a segment needs: new buffers, their cost, and whether bytes were covered.
#[derive(Default)]
struct Plan {
    new_segs: usize,
    new_mem: usize,
    stored: usize,
    covered: bool,
}

impl Stream {
    /// A stream that has seen nothing yet.
    pub fn new() -> Self {
        Stream::default()
    }

    /// Feed one segment sent in this direction. `out` receives the in-order data and gaps.
    #[allow(
        clippy::too_many_arguments,
        reason = "fixed pipeline API: segment fields + context"
    )]
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let start = if syn { seq.wrapping_add(1) } else { seq };
        let next = *self.next.get_or_insert(start);
        let r = rel(start, next);
        let len = to_i64(payload.len());
        let window = i64::from(MAX_WINDOW);
        if r > window || r.saturating_add(len) < -window || len > window {
            if !payload.is_empty() || fin {
                self.out_of_window(start, r > window, payload, budget, stats, out);
            }
            return;
        }
        if fin && self.fin_seq.is_none() {
            self.fin_seq = Some(advance(start, payload.len()));
        }
        if !payload.is_empty() {
            self.oow_run = 0;
            self.data(start, payload, budget, stats, out);
        }
        self.check_fin();
    }

    /// The peer acknowledged up to `ack` (from a segment of the other direction).
    ///
    /// An acknowledgement beyond the next expected byte proves the bytes were sent and the
    /// capture lost them: holes before it are released as gaps (with the data after them).
    pub fn acked(
        &mut self,
        ack: u32,
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        loop {
            let Some(next) = self.next else { return };
            let r = rel(ack, next);
            if r <= 0 || r > i64::from(MAX_WINDOW) {
                break;
            }
            if !self.release_oldest_hole(budget, stats, out) {
                break;
            }
        }
        self.check_fin();
    }

    /// Release everything buffered (gaps for holes), e.g. at close. A FIN seen beyond the data
    /// delivered also becomes a gap, so the stream ends at the FIN.
    pub fn flush(
        &mut self,
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        while self.release_oldest_hole(budget, stats, out) {}
        if let (Some(next), Some(fin)) = (self.next, self.fin_seq) {
            let r = rel(fin, next);
            if r > 0 && r <= i64::from(MAX_WINDOW) {
                self.gap(to_usize(r), stats, out);
                self.next = Some(fin);
            }
        }
        self.check_fin();
    }

    /// Drop everything buffered without reporting it, returning the memory to the budget.
    pub fn clear(&mut self, budget: &mut Budget) {
        while let Some(seg) = self.segs.pop_front() {
            self.free(seg, budget);
        }
    }

    /// True once the FIN of this direction was reached in order.
    pub fn fin_reached(&self) -> bool {
        self.fin_reached
    }

    /// Bytes buffered out of order.
    pub fn buffered(&self) -> usize {
        self.data_bytes
    }

    /// Buffer memory this stream holds (charged to the budget).
    pub fn memory(&self) -> usize {
        self.mem_bytes
    }

    /// Next expected sequence number, once the stream started.
    pub fn next_seq(&self) -> Option<u32> {
        self.next
    }

    fn check_fin(&mut self) {
        if let (Some(next), Some(fin)) = (self.next, self.fin_seq) {
            if rel(fin, next) <= 0 {
                self.fin_reached = true;
            }
        }
    }

    fn gap(&self, n: usize, stats: &mut ReassemblyStats, out: &mut dyn FnMut(Chunk<'_>)) {
        if n > 0 {
            stats.gaps += 1;
            stats.gap_bytes = stats.gap_bytes.saturating_add(n as u64);
            out(Chunk::Gap(n));
        }
    }

    /// A segment far from the expected byte: ignored, unless it is the last of a run.
    fn out_of_window(
        &mut self,
        start: u32,
        ahead: bool,
        payload: &[u8],
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        stats.out_of_window += 1;
        if !ahead || payload.is_empty() || payload.len() > MAX_WINDOW as usize {
            return;
        }
        self.oow_run = self.oow_run.saturating_add(1);
        if self.oow_run < RESYNC_AFTER {
            return;
        }
        self.oow_run = 0;
        stats.resyncs += 1;
        while self.release_oldest_hole(budget, stats, out) {}
        if let Some(next) = self.next {
            self.gap(start.wrapping_sub(next) as usize, stats, out);
        }
        self.next = Some(start);
        self.fin_seq = None;
        self.fin_reached = false;
        self.deliver(payload, budget, out);
    }

    /// Data of a segment starting at `start`, within the window.
    fn data(
        &mut self,
        start: u32,
        payload: &[u8],
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let len = to_i64(payload.len());
        // Each turn either finishes or releases at least one buffered segment.
        loop {
            let Some(next) = self.next else { return };
            let r = rel(start, next);
            if r.saturating_add(len) <= 0 {
                stats.retransmissions += 1;
                return;
            }
            if r <= 0 {
                let rest = payload.get(to_usize(-r)..).unwrap_or(&[]);
                if self.deliver(rest, budget, out) || r < 0 {
                    stats.overlaps += 1;
                }
                return;
            }
            if self.store(next, r, payload, budget, stats) {
                return;
            }
            stats.cap_drops += 1;
            if !self.release_oldest_hole(budget, stats, out) {
                // Nothing left to give up but the hole before this very segment.
                self.gap(to_usize(r), stats, out);
                self.next = Some(start);
                self.deliver(payload, budget, out);
                return;
            }
        }
    }

    /// Hand out `data`, which starts at `next`, then whatever buffered data follows it.
    /// True when part of `data` was already buffered (an overlap).
    fn deliver(
        &mut self,
        mut data: &[u8],
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>),
    ) -> bool {
        let mut overlapped = false;
        while !data.is_empty() {
            let Some(next) = self.next else { break };
            // Buffered bytes were seen first: they win over the overlapping part of `data`.
            let limit = match self.segs.front() {
                Some(s) => to_usize(rel(s.seq, next)).min(data.len()),
                None => data.len(),
            };
            let (now, later) = data.split_at_checked(limit).unwrap_or((data, &[]));
            if !now.is_empty() {
                out(Chunk::Data(now));
                self.next = Some(advance(next, now.len()));
            }
            let before = self.next.unwrap_or(next);
            self.release_ready(budget, out);
            if later.is_empty() {
                break;
            }
            overlapped = true;
            // `later` starts at `before`; skip what the released segments covered.
            let skip = self.next.map_or(0, |n| to_usize(rel(n, before)));
            data = later.get(skip..).unwrap_or(&[]);
        }
        overlapped
    }

    /// Release buffered segments that start at (or before) `next`, in order.
    fn release_ready(&mut self, budget: &mut Budget, out: &mut dyn FnMut(Chunk<'_>)) {
        loop {
            let Some(next) = self.next else { return };
            let ready = self.segs.front().is_some_and(|s| rel(s.seq, next) <= 0);
            if !ready {
                return;
            }
            let Some(seg) = self.segs.pop_front() else {
                return;
            };
            let skip = to_usize(-rel(seg.seq, next));
            if let Some(rest) = seg.data.get(skip..) {
                if !rest.is_empty() {
                    out(Chunk::Data(rest));
                    self.next = Some(advance(next, rest.len()));
                }
            }
            self.free(seg, budget);
        }
    }

    /// Report the hole before the first buffered segment as a gap and release what follows it.
    /// False when nothing is buffered.
    fn release_oldest_hole(
        &mut self,
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) -> bool {
        let (Some(next), Some(first)) = (self.next, self.segs.front()) else {
            return false;
        };
        let seq = first.seq;
        self.gap(to_usize(rel(seq, next)), stats, out);
        self.next = Some(seq);
        self.release_ready(budget, out);
        true
    }

    fn free(&mut self, seg: Seg, budget: &mut Budget) {
        let cap = seg.data.capacity();
        self.data_bytes = self.data_bytes.saturating_sub(seg.data.len());
        self.mem_bytes = self.mem_bytes.saturating_sub(cap);
        budget.in_use = budget.in_use.saturating_sub(cap);
        budget.pool.give(seg.data);
    }

    /// The next stretch of `[cursor, end)` (relative to `next`) not covered by buffered data,
    /// with the index where a segment for it goes.
    fn next_piece(&self, next: u32, mut cursor: i64, end: i64) -> Option<(i64, i64, usize)> {
        while cursor < end {
            let seg_end = |s: &Seg| rel(s.seq, next).saturating_add(to_i64(s.data.len()));
            let idx = self.segs.partition_point(|s| seg_end(s) <= cursor);
            match self.segs.get(idx) {
                None => return Some((cursor, end, idx)),
                Some(s) => {
                    let a = rel(s.seq, next);
                    if a > cursor {
                        return Some((cursor, end.min(a), idx));
                    }
                    cursor = seg_end(s);
                }
            }
        }
        None
    }

    /// Room at the end of the segment before `idx` if it ends exactly at `at`.
    fn appendable(&self, next: u32, idx: usize, at: i64) -> Option<usize> {
        let prev = self.segs.get(idx.checked_sub(1)?)?;
        let end = rel(prev.seq, next).saturating_add(to_i64(prev.data.len()));
        (end == at).then(|| prev.data.capacity().saturating_sub(prev.data.len()))
    }

    fn plan(&self, next: u32, r: i64, len: i64, budget: &Budget) -> Plan {
        let mut plan = Plan::default();
        let mut cursor = r;
        let end = r.saturating_add(len);
        while let Some((a, b, idx)) = self.next_piece(next, cursor, end) {
            plan.covered |= a > cursor;
            let n = to_usize(b - a);
            plan.stored += n;
            if self.appendable(next, idx, a).is_none_or(|room| room < n) {
                plan.new_segs += 1;
                plan.new_mem = plan.new_mem.saturating_add(budget.pool.cost(n));
            }
            cursor = b;
        }
        plan.covered |= cursor < end;
        plan
    }

    /// Buffer the new bytes of a segment `r` bytes ahead; false when a cap is in the way.
    fn store(
        &mut self,
        next: u32,
        r: i64,
        payload: &[u8],
        budget: &mut Budget,
        stats: &mut ReassemblyStats,
    ) -> bool {
        let len = to_i64(payload.len());
        let plan = self.plan(next, r, len, budget);
        if plan.stored == 0 {
            stats.retransmissions += 1;
            return true;
        }
        let mem = self.mem_bytes.saturating_add(plan.new_mem);
        if self.segs.len().saturating_add(plan.new_segs) > MAX_STREAM_SEGMENTS
            || mem > MAX_STREAM_BYTES
            || budget.in_use.saturating_add(plan.new_mem) > budget.max
        {
            return false;
        }
        stats.out_of_order += 1;
        if plan.covered {
            stats.overlaps += 1;
        }
        let mut cursor = r;
        let end = r.saturating_add(len);
        while let Some((a, b, idx)) = self.next_piece(next, cursor, end) {
            let bytes = payload.get(to_usize(a - r)..to_usize(b - r)).unwrap_or(&[]);
            let room = self.appendable(next, idx, a).unwrap_or(0);
            let prev = idx.checked_sub(1).and_then(|i| self.segs.get_mut(i));
            match prev {
                Some(prev) if room >= bytes.len() => prev.data.extend_from_slice(bytes),
                _ => {
                    let mut data = budget.pool.take(bytes.len());
                    data.extend_from_slice(bytes);
                    let cap = data.capacity();
                    self.mem_bytes = self.mem_bytes.saturating_add(cap);
                    budget.in_use = budget.in_use.saturating_add(cap);
                    let seq = advance(next, to_usize(a));
                    self.segs.insert(idx, Seg { seq, data });
                }
            }
            self.data_bytes = self.data_bytes.saturating_add(bytes.len());
            cursor = b;
        }
        true
    }
}
