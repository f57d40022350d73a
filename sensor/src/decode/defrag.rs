//! IPv4 and IPv6 fragment reassembly with caps on datagrams, fragments, bytes and time.
//!
//! Each datagram in progress owns a slot with a reassembly buffer; fragments are copied in at
//! their offset, in any order. Duplicates are accepted; overlaps must carry the same bytes or the
//! whole datagram is dropped as malformed (the host's view would be ambiguous — RFC 5722 makes
//! that the rule for IPv6). Slots and their buffers are reused, so steady fragmented traffic
//! does not allocate. Timestamps are capture timestamps, so replay behaves like live capture.
//!
//! Packetbeat holds fragments 1 s, ≤ 64 per datagram, ≤ 512 datagrams, ≤ 65535 bytes, and does
//! not reassemble IPv6 at all; our choices are below, each with its reason.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::time::Ts;

/// How long an incomplete datagram is kept after its first fragment: Linux's `ipfrag_time`
/// default (30 s), so we keep what the receiving host would keep; slow links and replays of slow
/// fragmented pings still complete, and the caps below bound what a long hold can cost.
pub const DEFRAG_TIMEOUT_NS: u64 = 30_000_000_000;

/// Datagrams in progress per worker: real fragmented traffic (large DNS/EDNS answers, NFS,
/// tunnels) completes within milliseconds, so 1024 concurrent datagrams is far beyond normal;
/// when full, the oldest incomplete one is evicted (most likely the one that lost a fragment).
pub const MAX_DATAGRAMS: usize = 1024;

/// Fragments (captured frames, duplicates included) per datagram: a 65,535-byte datagram needs
/// 45 fragments at a 1500-byte MTU and 119 at IPv4's 576-byte minimum; 128 covers that and
/// stops floods of tiny overlapping fragments.
pub const MAX_FRAGMENTS: u32 = 128;

/// Largest reassembled payload: IPv4's total length and IPv6's payload length are 16-bit, so a
/// fragment reaching past 65,535 bytes is malformed (the "ping of death" shape).
pub const MAX_DATAGRAM_LEN: u32 = 65_535;

/// Bytes held by all datagrams in progress of a worker: 16 MiB is 256 maximum-size datagrams
/// at once, far above normal; beyond it the oldest datagrams are evicted.
pub const MAX_HELD_BYTES: usize = 16 << 20;

/// Buffer capacity kept in free slots for reuse: enough for steady fragmented traffic to never
/// allocate, while a past flood does not pin memory forever.
pub const MAX_RETAINED_BYTES: usize = 4 << 20;

/// `ts` plus `ns` nanoseconds.
fn due(ts: Ts, ns: u64) -> Ts {
    Ts(ts.0.saturating_add(ns))
}

/// Identifies the datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (IPv4: 16 bits; IPv6: 32 bits of the fragment header).
    pub id: u32,
    /// Upper-layer protocol.
    pub proto: u8,
}

/// Fragment counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Datagrams dropped unfinished after the timeout.
    pub timeouts: u64,
    /// Datagrams dropped by a cap: evicted when too many were in progress or too many bytes
    /// were held, or given up when one had too many fragments.
    pub cap_drops: u64,
    /// Malformed fragments (bad offsets or lengths, > 65535 bytes) and datagrams dropped because
    /// their fragments contradict each other (overlaps that disagree, conflicting ends).
    pub malformed: u64,
    /// Fragments whose bytes were all already held (accepted; not an error).
    pub duplicates: u64,
}

/// A completed datagram.
#[derive(Debug)]
pub struct Reassembled<'a> {
    /// Upper-layer payload (transport header included).
    pub payload: &'a [u8],
    /// Number of fragments (captured frames, duplicates included) it was made of.
    pub frames: u32,
    /// Sum of the captured frames' wire lengths.
    pub wire_bytes: u64,
    /// Time of the first fragment.
    pub first_ts: Ts,
}

/// Caps of a [`Defrag`]; [`Default`] gives the named constants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefragLimits {
    /// Hold time of an incomplete datagram, in nanoseconds of capture time.
    pub timeout_ns: u64,
    /// Datagrams in progress.
    pub max_datagrams: usize,
    /// Fragments per datagram.
    pub max_fragments: u32,
    /// Bytes held by all datagrams in progress.
    pub max_held_bytes: usize,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            timeout_ns: DEFRAG_TIMEOUT_NS,
            max_datagrams: MAX_DATAGRAMS,
            max_fragments: MAX_FRAGMENTS,
            max_held_bytes: MAX_HELD_BYTES,
        }
    }
}

/// One datagram in progress (or a free slot keeping its buffers).
#[derive(Debug)]
struct Slot {
    key: FragKey,
    first_ts: Ts,
    /// Bytes at their offsets; holes are zero until filled.
    buf: Vec<u8>,
    /// Byte ranges received: sorted, merged (touching ranges joined).
    ranges: Vec<(u32, u32)>,
    /// End of the datagram, known once the last fragment arrived.
    total: Option<u32>,
    frames: u32,
    wire_bytes: u64,
    active: bool,
}

/// Why a fragment was not taken.
enum Reject {
    /// Drop the whole datagram as malformed.
    Malformed,
    /// Drop the whole datagram for a cap.
    Cap,
}

/// Reassembly state of one worker.
#[derive(Debug)]
pub struct Defrag {
    limits: DefragLimits,
    slots: Vec<Slot>,
    free: Vec<usize>,
    index: HashMap<FragKey, usize>,
    /// Sum of the buffer lengths of datagrams in progress.
    held: usize,
    /// Sum of the buffer capacities of free slots.
    retained: usize,
    /// Slot completed by the last `add`; its buffer is lent out until the next call.
    lent: Option<usize>,
    /// No datagram expires before this time.
    next_expiry: Option<Ts>,
    /// Counters.
    pub stats: DefragStats,
}

impl Default for Defrag {
    fn default() -> Self {
        Defrag::new()
    }
}

impl Defrag {
    /// An empty reassembler with the default caps.
    pub fn new() -> Self {
        Defrag::with_limits(DefragLimits::default())
    }

    /// An empty reassembler with the given caps.
    pub fn with_limits(limits: DefragLimits) -> Self {
        let cap = limits.max_datagrams.min(MAX_DATAGRAMS);
        Defrag {
            limits,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::with_capacity(cap),
            held: 0,
            retained: 0,
            lent: None,
            next_expiry: None,
            stats: DefragStats::default(),
        }
    }

    /// Datagrams in progress.
    pub fn pending(&self) -> usize {
        self.index.len()
    }

    /// Bytes held by datagrams in progress.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Add one fragment: `offset` in bytes, `more` = MF flag, `payload` = fragment data,
    /// `wire_len` = captured frame length. Returns the datagram when complete.
    pub fn add(
        &mut self,
        now: Ts,
        key: FragKey,
        offset: u32,
        more: bool,
        payload: &[u8],
        wire_len: u32,
    ) -> Option<Reassembled<'_>> {
        self.settle_lent();
        self.stats.fragments += 1;
        let len = u32::try_from(payload.len()).ok();
        let end = len.and_then(|l| offset.checked_add(l));
        let (Some(len), Some(end)) = (len, end) else {
            self.stats.malformed += 1;
            return None;
        };
        // Non-last fragments carry multiples of 8 bytes (offsets count 8-byte units).
        if end > MAX_DATAGRAM_LEN
            || !offset.is_multiple_of(8)
            || (more && (len == 0 || !len.is_multiple_of(8)))
        {
            self.stats.malformed += 1;
            return None;
        }
        let existing = self.index.get(&key).copied();
        let idx = match existing {
            Some(i) if self.expired(i, now) => {
                self.stats.timeouts += 1;
                self.release(i);
                self.open(now, key)
            }
            Some(i) => i,
            None => self.open(now, key),
        };
        match self.place(idx, offset, end, more, payload, wire_len) {
            Ok(false) => None,
            Ok(true) => self.complete(idx),
            Err(why) => {
                match why {
                    Reject::Malformed => self.stats.malformed += 1,
                    Reject::Cap => self.stats.cap_drops += 1,
                }
                self.release(idx);
                None
            }
        }
    }

    /// Drop datagrams older than the timeout at `now`.
    pub fn expire(&mut self, now: Ts) {
        self.settle_lent();
        if self.next_expiry.is_none_or(|t| now < t) {
            return;
        }
        let mut earliest: Option<Ts> = None;
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else { break };
            if !slot.active {
                continue;
            }
            if self.expired(i, now) {
                self.stats.timeouts += 1;
                self.release(i);
            } else {
                let due = due(slot.first_ts, self.limits.timeout_ns);
                earliest = Some(earliest.map_or(due, |e| e.min(due)));
            }
        }
        self.next_expiry = earliest;
    }

    fn expired(&self, i: usize, now: Ts) -> bool {
        self.slots
            .get(i)
            .is_some_and(|s| now.since(s.first_ts) > self.limits.timeout_ns)
    }

    /// A slot for a new datagram, evicting the oldest one when too many are in progress.
    fn open(&mut self, now: Ts, key: FragKey) -> usize {
        while self.index.len() >= self.limits.max_datagrams.max(1) {
            if !self.evict_oldest(None) {
                break;
            }
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    key,
                    first_ts: now,
                    buf: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    frames: 0,
                    wire_bytes: 0,
                    active: false,
                });
                self.slots.len().saturating_sub(1)
            }
        };
        if let Some(slot) = self.slots.get_mut(idx) {
            self.retained = self.retained.saturating_sub(slot.buf.capacity());
            slot.key = key;
            slot.first_ts = now;
            slot.buf.clear();
            slot.ranges.clear();
            slot.total = None;
            slot.frames = 0;
            slot.wire_bytes = 0;
            slot.active = true;
        }
        self.index.insert(key, idx);
        let due = due(now, self.limits.timeout_ns);
        self.next_expiry = Some(self.next_expiry.map_or(due, |t| t.min(due)));
        idx
    }

    /// Drop the datagram with the oldest first fragment (other than `keep`), counted as a cap
    /// drop. False when there is none.
    fn evict_oldest(&mut self, keep: Option<usize>) -> bool {
        let oldest = self
            .slots
            .iter()
            .enumerate()
            .filter(|&(i, s)| s.active && Some(i) != keep)
            .min_by_key(|&(_, s)| s.first_ts)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                self.stats.cap_drops += 1;
                self.release(i);
                true
            }
            None => false,
        }
    }

    /// Free a slot; its buffers are kept for reuse within [`MAX_RETAINED_BYTES`].
    fn release(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if !slot.active {
            return;
        }
        slot.active = false;
        self.index.remove(&slot.key);
        self.held = self.held.saturating_sub(slot.buf.len());
        let cap = slot.buf.capacity();
        if self.retained.saturating_add(cap) <= MAX_RETAINED_BYTES {
            self.retained += cap;
        } else {
            slot.buf = Vec::new();
        }
        self.free.push(i);
    }

    /// The datagram of slot `i` is complete: free the slot but lend its buffer to the caller
    /// until the next call.
    fn complete(&mut self, i: usize) -> Option<Reassembled<'_>> {
        self.stats.reassembled += 1;
        let slot = self.slots.get_mut(i)?;
        slot.active = false;
        self.index.remove(&slot.key);
        self.held = self.held.saturating_sub(slot.buf.len());
        self.free.push(i);
        self.lent = Some(i);
        let slot = self.slots.get(i)?;
        let total = usize::try_from(slot.total.unwrap_or(0)).unwrap_or(0);
        Some(Reassembled {
            payload: slot.buf.get(..total).unwrap_or(&[]),
            frames: slot.frames,
            wire_bytes: slot.wire_bytes,
            first_ts: slot.first_ts,
        })
    }

    /// Account for the buffer lent by the last completion, now that the caller is done with it.
    fn settle_lent(&mut self) {
        let Some(i) = self.lent.take() else { return };
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let cap = slot.buf.capacity();
        if self.retained.saturating_add(cap) <= MAX_RETAINED_BYTES {
            self.retained += cap;
        } else {
            slot.buf = Vec::new();
        }
    }

    /// Put a fragment `[offset, end)` into slot `i`. `Ok(true)` when the datagram is complete.
    fn place(
        &mut self,
        i: usize,
        offset: u32,
        end: u32,
        more: bool,
        payload: &[u8],
        wire_len: u32,
    ) -> Result<bool, Reject> {
        let (frames, total, max_end, buf_len) = match self.slots.get(i) {
            Some(s) => (
                s.frames,
                s.total,
                s.ranges.last().map_or(0, |r| r.1),
                s.buf.len(),
            ),
            None => return Ok(false),
        };
        if frames >= self.limits.max_fragments {
            return Err(Reject::Cap);
        }
        if more {
            if total.is_some_and(|t| end > t) {
                return Err(Reject::Malformed);
            }
        } else if total.is_some_and(|t| t != end) || max_end > end {
            return Err(Reject::Malformed);
        }
        let duplicate = match self.slots.get(i) {
            Some(s) => s.check_overlaps(offset, end, payload)?,
            None => return Ok(false),
        };
        let end_us = usize::try_from(end).unwrap_or(usize::MAX);
        let growth = end_us.saturating_sub(buf_len);
        while self.held.saturating_add(growth) > self.limits.max_held_bytes {
            if !self.evict_oldest(Some(i)) {
                return Err(Reject::Cap);
            }
        }
        let Some(slot) = self.slots.get_mut(i) else {
            return Ok(false);
        };
        if growth > 0 {
            slot.grow(end_us);
            self.held = self.held.saturating_add(growth);
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if let Some(dst) = slot.buf.get_mut(start..end_us) {
            dst.copy_from_slice(payload);
        }
        slot.add_range(offset, end);
        slot.frames += 1;
        slot.wire_bytes = slot.wire_bytes.saturating_add(u64::from(wire_len));
        if !more {
            slot.total = Some(end);
        }
        if duplicate {
            self.stats.duplicates += 1;
        }
        Ok(slot
            .total
            .is_some_and(|t| slot.ranges.as_slice() == [(0, t)]))
    }
}

impl Slot {
    /// Bytes of `[offset, end)` already held must equal `payload`'s. `Ok(true)` when all of them
    /// were already held (a duplicate).
    fn check_overlaps(&self, offset: u32, end: u32, payload: &[u8]) -> Result<bool, Reject> {
        let mut covered = false;
        for &(a, b) in &self.ranges {
            if b <= offset || a >= end {
                continue;
            }
            covered |= a <= offset && b >= end;
            let (s, e) = (a.max(offset), b.min(end));
            let held = self.buf.get(s as usize..e as usize);
            let new =
                payload.get(s.saturating_sub(offset) as usize..e.saturating_sub(offset) as usize);
            if held.is_none() || held != new {
                return Err(Reject::Malformed);
            }
        }
        Ok(covered)
    }

    /// Make the buffer `len` bytes long (zero-filled holes), growing capacity geometrically up
    /// to the largest datagram so a buffer reaches its final size in a few steps.
    fn grow(&mut self, len: usize) {
        let max = MAX_DATAGRAM_LEN as usize;
        if self.buf.capacity() < len {
            let want = len.max(self.buf.capacity().saturating_mul(2).min(max));
            self.buf.reserve_exact(want.saturating_sub(self.buf.len()));
        }
        self.buf.resize(len, 0);
    }

    /// Record `[s, e)` as received, merging touching ranges.
    fn add_range(&mut self, s: u32, e: u32) {
        let first = self.ranges.partition_point(|&(_, b)| b < s);
        let mut last = first;
        let (mut ns, mut ne) = (s, e);
        while let Some(&(a, b)) = self.ranges.get(last) {
            if a > e {
                break;
            }
            ns = ns.min(a);
            ne = ne.max(b);
            last += 1;
        }
        self.ranges.drain(first..last);
        self.ranges.insert(first, (ns, ne));
    }
}

#[cfg(test)]
mod tests;
