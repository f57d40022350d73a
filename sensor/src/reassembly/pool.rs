//! The worker's free list of segment buffers, so steady out-of-order traffic reuses memory
//! instead of allocating for every buffered segment.

/// Smallest buffer the pool hands out: a full-size Ethernet segment (MSS ≤ 1460) fits, so
/// typical segments never grow a pooled buffer, and tiny segments can be appended to it.
pub const POOL_MIN_BUFFER: usize = 2048;

/// Capacity of free buffers the pool keeps per worker: enough to refill a few fully buffered
/// streams without allocating, small next to the default worker budget.
pub const POOL_MAX_RETAINED: usize = 4 << 20;

/// Free segment buffers of one worker.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    free: Vec<Vec<u8>>,
    retained: usize,
    allocations: u64,
}

impl Pool {
    /// The capacity [`Pool::take`] would return for `len` bytes (what a new segment costs).
    pub(crate) fn cost(&self, len: usize) -> usize {
        match self.free.last() {
            Some(b) => b.capacity().max(len),
            None => len.max(POOL_MIN_BUFFER),
        }
    }

    /// An empty buffer with room for at least `len` bytes.
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut b) => {
                self.retained = self.retained.saturating_sub(b.capacity());
                b.clear();
                if b.capacity() < len {
                    self.allocations += 1;
                    b.reserve_exact(len);
                }
                b
            }
            None => {
                self.allocations += 1;
                Vec::with_capacity(len.max(POOL_MIN_BUFFER))
            }
        }
    }

    /// Return a buffer; it is kept for reuse unless the pool already holds enough.
    pub(crate) fn give(&mut self, b: Vec<u8>) {
        let cap = b.capacity();
        if cap > 0 && self.retained.saturating_add(cap) <= POOL_MAX_RETAINED {
            self.retained += cap;
            self.free.push(b);
        }
    }

    /// Buffers allocated (or grown) so far.
    pub(crate) fn allocations(&self) -> u64 {
        self.allocations
    }

    /// Capacity held by free buffers.
    pub(crate) fn retained(&self) -> usize {
        self.retained
    }
}
