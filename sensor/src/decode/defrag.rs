//! IPv4 and IPv6 fragment reassembly with caps on datagrams, fragments, bytes and time.

// PLACEHOLDER API (the full implementation is being written).

use std::net::IpAddr;

use crate::time::Ts;

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
    /// Fragments dropped by a cap (datagrams, fragments per datagram, bytes).
    pub cap_drops: u64,
    /// Malformed fragments (bad offsets, overlaps that disagree, > 65535 bytes).
    pub malformed: u64,
}

/// A completed datagram.
#[derive(Debug)]
pub struct Reassembled<'a> {
    /// Upper-layer payload (transport header included).
    pub payload: &'a [u8],
    /// Number of fragments (captured frames) it was made of.
    pub frames: u32,
    /// Sum of the captured frames' wire lengths.
    pub wire_bytes: u64,
    /// Time of the first fragment.
    pub first_ts: Ts,
}

/// Reassembly state of one worker.
#[derive(Debug, Default)]
pub struct Defrag {
    buf: Vec<u8>,
    /// Counters.
    pub stats: DefragStats,
}

impl Defrag {
    /// An empty reassembler with the default caps.
    pub fn new() -> Self {
        Defrag::default()
    }

    /// Add one fragment: `offset` in bytes, `more` = MF flag, `payload` = fragment data,
    /// `wire_len` = captured frame length. Returns the datagram when complete.
    pub fn add(
        &mut self,
        _now: Ts,
        _key: FragKey,
        _offset: u32,
        _more: bool,
        payload: &[u8],
        _wire_len: u32,
    ) -> Option<Reassembled<'_>> {
        self.stats.fragments += 1;
        self.buf.clear();
        self.buf.extend_from_slice(payload);
        None
    }

    /// Drop datagrams older than the timeout at `now`.
    pub fn expire(&mut self, _now: Ts) {}
}
