//! TCP reassembly, one [`Stream`] per direction of a connection.
//!
//! In-order data passes straight through to the caller (no copy); out-of-order segments are
//! buffered (capped per stream and per worker through a shared [`Budget`]) and released in order;
//! retransmissions and overlaps are trimmed; a hole becomes a [`Chunk::Gap`] only when it is real:
//! the peer acknowledged past it, the buffer caps were hit, or the stream is flushed at close.
//! Connections picked up mid-stream (no SYN) start at the first segment seen.

// PLACEHOLDER API (the full implementation is being written): in-order pass-through only.

/// Per-worker reassembly counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Segments that arrived ahead of the expected sequence number and were buffered.
    pub out_of_order: u64,
    /// Segments entirely before the expected sequence number (retransmissions).
    pub retransmissions: u64,
    /// Segments partly overlapping data already delivered (trimmed).
    pub overlaps: u64,
    /// Gaps reported to dissectors.
    pub gaps: u64,
    /// Bytes reported missing in gaps.
    pub gap_bytes: u64,
    /// Out-of-order segments dropped because a cap was hit.
    pub cap_drops: u64,
}

/// Worker-wide budget for buffered out-of-order bytes.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Bytes currently buffered by all streams of the worker.
    pub in_use: usize,
    /// Maximum for all streams of the worker.
    pub max: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { in_use: 0, max: DEFAULT_WORKER_BUDGET }
    }
}

/// Out-of-order bytes a worker may hold in all: 64 MiB keeps memory bounded on busy links
/// while covering several thousand connections with a full reorder window each.
pub const DEFAULT_WORKER_BUDGET: usize = 64 << 20;

/// What a stream hands to the dissector, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// In-order bytes.
    Data(&'a [u8]),
    /// `n` bytes are missing.
    Gap(usize),
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    next: Option<u32>,
    fin: bool,
}

impl Stream {
    /// A stream that has seen nothing yet.
    pub fn new() -> Self {
        Stream::default()
    }

    /// Feed one segment sent in this direction. `out` receives the in-order data and gaps.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        _budget: &mut Budget,
        stats: &mut ReassemblyStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let start = if syn { seq.wrapping_add(1) } else { seq };
        let next = *self.next.get_or_insert(start);
        if !payload.is_empty() {
            let off = start.wrapping_sub(next) as i32;
            if off == 0 {
                out(Chunk::Data(payload));
                self.next = Some(next.wrapping_add(payload.len() as u32));
            } else if off < 0 {
                stats.retransmissions += 1;
            } else {
                stats.gaps += 1;
                out(Chunk::Gap(off as usize));
                out(Chunk::Data(payload));
                self.next = Some(start.wrapping_add(payload.len() as u32));
            }
        }
        if fin {
            self.fin = true;
        }
    }

    /// The peer acknowledged up to `ack` (from a segment of the other direction).
    pub fn acked(
        &mut self,
        _ack: u32,
        _budget: &mut Budget,
        _stats: &mut ReassemblyStats,
        _out: &mut dyn FnMut(Chunk<'_>),
    ) {
    }

    /// Release everything buffered (gaps for holes), e.g. at close.
    pub fn flush(
        &mut self,
        _budget: &mut Budget,
        _stats: &mut ReassemblyStats,
        _out: &mut dyn FnMut(Chunk<'_>),
    ) {
    }

    /// True once the FIN of this direction was reached in order.
    pub fn fin_reached(&self) -> bool {
        self.fin
    }

    /// Bytes buffered out of order.
    pub fn buffered(&self) -> usize {
        0
    }
}
