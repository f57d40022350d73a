//! Hand-off between live workers, for NICs whose RSS hash is not symmetric: a request and its
//! response may arrive on different RX queues, hence at different workers, but one connection's
//! packets must meet in one pipeline. Every frame is given an owner by a **symmetric** hash of
//! its IP address pair (both directions agree; all fragments of a datagram too, which a 5-tuple
//! hash could not promise); a worker processes the frames it owns and copies the others, in
//! batches, to their owner's bounded inbox. A full inbox drops the batch and counts it —
//! workers never block on each other. With one worker nothing is hashed or copied.
//!
//! At shutdown every worker first sends what it holds, then all meet at a barrier, then each
//! drains its inbox: no frame in flight between workers is lost.

use std::hash::Hasher;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Barrier};

use crate::decode::LinkType;
use crate::time::Ts;

/// Batches waiting in one worker's inbox.
const INBOX: usize = 256;
/// Frames per batch before it is sent (a batch is also sent at the end of every receive).
const BATCH_FRAMES: usize = 64;

/// Called with (link type, timestamp, bytes, wire length, part) for each entry of a batch.
pub type FrameVisitor<'a> = dyn FnMut(LinkType, Ts, &[u8], u32, Part) + 'a;

/// Frames copied for one owner.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    /// (link type, timestamp, wire length, length in `data`, what to do with it).
    frames: Vec<(LinkType, Ts, u32, u32, Part)>,
}

impl Batch {
    /// Copy one frame in.
    pub fn push(&mut self, link: LinkType, ts: Ts, frame: &[u8], wire_len: u32, part: Part) {
        self.data.extend_from_slice(frame);
        self.frames.push((
            link,
            ts,
            wire_len,
            u32::try_from(frame.len()).unwrap_or(u32::MAX),
            part,
        ));
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// No frame held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Each frame as (link type, timestamp, bytes, wire length, part).
    pub fn for_each_frame(&self, f: &mut FrameVisitor<'_>) {
        let mut at = 0usize;
        for &(link, ts, wire, len, part) in &self.frames {
            let end = at + len as usize;
            if let Some(bytes) = self.data.get(at..end) {
                f(link, ts, bytes, wire, part);
            }
            at = end;
        }
    }

    /// Each Ethernet frame as (timestamp, bytes, wire length).
    pub fn for_each(&self, f: &mut dyn FnMut(Ts, &[u8], u32)) {
        self.for_each_frame(&mut |_, ts, b, w, _| f(ts, b, w));
    }
}

/// Hand-off counters of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandoffStats {
    /// Frames copied to another worker.
    pub sent: u64,
    /// Frames received from other workers and processed.
    pub received: u64,
    /// Frames lost because the owner's inbox was full.
    pub dropped: u64,
}

/// One worker's end of the hand-off.
#[derive(Debug)]
pub struct Handoff {
    me: usize,
    inbox: Receiver<Batch>,
    peers: Vec<SyncSender<Batch>>,
    pending: Vec<Batch>,
    barrier: Arc<Barrier>,
    /// Counters.
    pub stats: HandoffStats,
}

/// The ends for `n` workers (index = worker).
pub fn group(n: usize) -> Vec<Handoff> {
    let n = n.max(1);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| sync_channel::<Batch>(INBOX)).unzip();
    let barrier = Arc::new(Barrier::new(n));
    rxs.into_iter()
        .enumerate()
        .map(|(me, inbox)| Handoff {
            me,
            inbox,
            peers: txs.clone(),
            pending: (0..n).map(|_| Batch::default()).collect(),
            barrier: barrier.clone(),
            stats: HandoffStats::default(),
        })
        .collect()
}

/// The worker (of `n`) that owns an Ethernet frame: a symmetric hash of its IP addresses
/// (after up to two VLAN tags). Frames without IP belong to `fallback`.
pub fn owner(frame: &[u8], n: usize, fallback: usize) -> usize {
    owner_link(LinkType::Ethernet, frame, n, fallback)
}

/// [`owner`] for a frame of any link type the decoder reads (an ICMP error goes with the
/// connection it quotes).
pub fn owner_link(link: LinkType, frame: &[u8], n: usize, fallback: usize) -> usize {
    match route_link(link, frame, n, fallback) {
        Route::One(o) => o,
        Route::Split { app, .. } => app,
    }
}

/// Which part of a packet's processing a worker does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything.
    All,
    /// Flow accounting only.
    Flow,
    /// The dissector only (the flow is counted by another worker).
    App,
    /// Not a frame (parallel replay): the timers start at this entry's time.
    ClockStart,
    /// Not a frame (parallel replay): a tick fires at this entry's time.
    ClockTick,
    /// Not a frame (parallel replay): the clock is at least this entry's time.
    ClockSet,
    /// Not a frame (parallel replay): publish the counters now (an input file ended).
    Publish,
}

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// One worker does everything.
    One(usize),
    /// An ICMP error whose own address pair and quoted pair belong to different workers: the
    /// first counts its flow, the second correlates it with the quoted connection.
    Split {
        /// Owner of the outer address pair.
        flow: usize,
        /// Owner of the quoted connection.
        app: usize,
    },
}

/// The worker(s) of `n` a frame goes to.
pub fn route_link(link: LinkType, frame: &[u8], n: usize, fallback: usize) -> Route {
    if n <= 1 {
        return Route::One(0);
    }
    let Some(ip) = ip_offset(link, frame) else {
        return Route::One(fallback);
    };
    let Some((outer, inner)) = ip_pairs(frame, ip) else {
        return Route::One(fallback);
    };
    let flow = pair_owner(outer, n);
    match inner.map(|p| pair_owner(p, n)) {
        Some(app) if app != flow => Route::Split { flow, app },
        _ => Route::One(flow),
    }
}

fn pair_owner((a, b): (&[u8], &[u8]), n: usize) -> usize {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = rustc_hash::FxHasher::default();
    h.write(lo);
    h.write(hi);
    (h.finish() % n as u64) as usize
}

/// Where the (outer) IP header starts.
fn ip_offset(link: LinkType, frame: &[u8]) -> Option<usize> {
    Some(match link {
        LinkType::Ethernet => {
            let mut off = 12usize;
            let mut ethertype = be16(frame, off);
            for _ in 0..2 {
                if matches!(ethertype, Some(0x8100 | 0x88a8 | 0x9100)) {
                    off += 4;
                    ethertype = be16(frame, off);
                }
            }
            if !matches!(ethertype, Some(0x0800 | 0x86dd)) {
                return None;
            }
            off + 2
        }
        LinkType::LinuxSll => 16,
        LinkType::LinuxSll2 => 20,
        LinkType::Null => 4,
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => 0,
    })
}

type Pair<'a> = (&'a [u8], &'a [u8]);

/// The address pair of the IP header at `ip` and, for an unfragmented ICMP error (destination
/// unreachable, time exceeded, ...: sent by a third host about a packet between two others),
/// the pair of the packet it quotes.
fn ip_pairs(frame: &[u8], ip: usize) -> Option<(Pair<'_>, Option<Pair<'_>>)> {
    let pair = |ip: usize| -> Option<Pair<'_>> {
        match frame.get(ip).map(|b| b >> 4) {
            Some(4) => Some((frame.get(ip + 12..ip + 16)?, frame.get(ip + 16..ip + 20)?)),
            Some(6) => Some((frame.get(ip + 8..ip + 24)?, frame.get(ip + 24..ip + 40)?)),
            _ => None,
        }
    };
    let outer = pair(ip)?;
    let inner_at = match frame.get(ip).map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(frame.get(ip).map_or(0, |b| b & 0x0f)) * 4;
            // MF clear and offset 0: not a fragment.
            let whole = frame
                .get(ip + 6..ip + 8)
                .is_some_and(|f| f.first().is_some_and(|h| h & 0x3f == 0) && f.get(1) == Some(&0));
            (frame.get(ip + 9) == Some(&1)
                && whole
                && matches!(frame.get(ip + ihl), Some(3 | 4 | 5 | 11 | 12)))
            .then_some(ip + ihl + 8)
        }
        Some(6) => (frame.get(ip + 6) == Some(&58) && matches!(frame.get(ip + 40), Some(1..=4)))
            .then_some(ip + 48),
        _ => None,
    };
    Some((outer, inner_at.and_then(pair)))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map(u16::from_be_bytes)
}

impl Handoff {
    /// Number of workers in the group.
    pub fn workers(&self) -> usize {
        self.peers.len()
    }

    /// This worker's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Keep `frame` (true: process it here) or copy it for its owner.
    pub fn route(&mut self, ts: Ts, frame: &[u8], wire_len: u32) -> bool {
        let o = owner(frame, self.peers.len(), self.me);
        if o == self.me {
            return true;
        }
        let full = match self.pending.get_mut(o) {
            Some(b) => {
                b.push(LinkType::Ethernet, ts, frame, wire_len, Part::All);
                b.frames.len() >= BATCH_FRAMES
            }
            None => return true,
        };
        if full {
            self.send(o);
        }
        false
    }

    fn send(&mut self, o: usize) {
        let Some(slot) = self.pending.get_mut(o) else {
            return;
        };
        if slot.frames.is_empty() {
            return;
        }
        let batch = std::mem::take(slot);
        let n = batch.frames.len() as u64;
        let Some(peer) = self.peers.get(o) else {
            return;
        };
        match peer.try_send(batch) {
            Ok(()) => self.stats.sent += n,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped += n;
            }
        }
    }

    /// Send every partly filled batch (end of a receive batch).
    pub fn flush(&mut self) {
        for o in 0..self.pending.len() {
            self.send(o);
        }
    }

    /// Process what other workers sent.
    pub fn drain(&mut self, f: &mut dyn FnMut(Ts, &[u8], u32)) {
        while let Ok(b) = self.inbox.try_recv() {
            self.stats.received += b.frames.len() as u64;
            b.for_each(f);
        }
    }

    /// Shutdown: send what is held, wait for every worker to have done so, take the rest.
    pub fn finish(&mut self, f: &mut dyn FnMut(Ts, &[u8], u32)) {
        self.flush();
        self.barrier.wait();
        self.drain(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4(src: [u8; 4], dst: [u8; 4], vlan: bool) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        if vlan {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        f.extend_from_slice(&ip);
        f
    }

    #[test]
    fn owner_is_symmetric_and_spreads() {
        let mut seen = [0usize; 4];
        for i in 0..200u8 {
            let a = [198, 18, 0, i];
            let b = [198, 19, i, 7];
            let fwd = owner(&eth_ipv4(a, b, false), 4, 9);
            assert_eq!(fwd, owner(&eth_ipv4(b, a, false), 4, 9));
            assert_eq!(fwd, owner(&eth_ipv4(b, a, true), 4, 9), "VLAN tags skipped");
            seen[fwd] += 1;
        }
        assert!(seen.iter().all(|&c| c > 20), "{seen:?}");
        assert_eq!(owner(&[0u8; 14], 4, 3), 3, "not IP: the receiving worker");
        assert_eq!(
            owner(&[1, 2, 3], 4, 2),
            2,
            "truncated: the receiving worker"
        );
        assert_eq!(owner(&eth_ipv4([1; 4], [2; 4], false), 1, 0), 0);
    }

    #[test]
    fn frames_reach_their_owner_in_order_and_overflow_is_counted() {
        let mut g = group(2);
        // Find an address pair owned by worker 1.
        let f = (0..=255u8)
            .map(|i| eth_ipv4([198, 18, 0, i], [198, 18, 1, 1], false))
            .find(|f| owner(f, 2, 0) == 1)
            .unwrap();
        let (w0, rest) = g.split_at_mut(1);
        let (w0, w1) = (&mut w0[0], &mut rest[0]);
        for i in 0..10u64 {
            assert!(!w0.route(Ts(i), &f, 60));
        }
        w0.flush();
        let mut got = Vec::new();
        w1.drain(&mut |ts, b, wire| got.push((ts, b.len(), wire)));
        assert_eq!(got.len(), 10);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, g)| *g == (Ts(i as u64), f.len(), 60)));
        assert_eq!((w0.stats.sent, w1.stats.received), (10, 10));
        // Nobody drains worker 1: its inbox fills, the rest is dropped and counted.
        for i in 0..(INBOX * BATCH_FRAMES + 100) as u64 {
            w0.route(Ts(i), &f, 60);
        }
        w0.flush();
        assert_eq!(
            w0.stats.sent + w0.stats.dropped,
            10 + (INBOX * BATCH_FRAMES + 100) as u64
        );
        assert!(w0.stats.dropped >= 100);
    }
}
