//! Memcache dissector (Packetbeat's `memcache` protocol, PROTOCOLS.md §1.4, EVENTS.md §5).
//!
//! Text and binary protocols over TCP and UDP. Text: every classic command (get/gets/gat/gats,
//! set/add/replace/append/prepend/cas, incr/decr, touch, delete, stats, flush_all, version,
//! verbosity, quit, slabs/lru_crawler/... admin commands) and the meta commands
//! (mg/ms/md/ma/mn/me); `noreply` commands and `quit` are published at once (no reply
//! expected); unknown commands are published with their word and a one-line reply. Binary:
//! every opcode, quiet variants (answered only on failure / on a hit; a later reply, e.g. to
//! No-op, closes the quiet requests before it), multi-packet `Stat` replies, correlation by
//! opcode + opaque. UDP: the 8-byte frame header, replies spread over several datagrams
//! (reassembled by sequence number), correlation by request id, `udptransactiontimeout`.
//!
//! Files: `parse.rs` (tables, headers), `state.rs` (framing), `ecs.rs` (fields).

mod ecs;
mod fields;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use super::correlate::Keyed;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport, L4};
use crate::time::Ts;
use state::{GapOut, Msg, Opts, Out, Reader};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "memcache";

/// Requests waiting for replies on one TCP connection: pipelining clients (multi-get with
/// quiet opcodes) keep hundreds in flight; the bound caps memory on one-sided captures.
const MAX_PENDING: usize = 4096;
/// UDP requests waiting for replies per flow (request ids are 16-bit).
const MAX_UDP_PENDING: usize = 1024;
/// Datagrams of one UDP reply kept: memcached splits replies into ~1400-byte datagrams, so
/// this allows ~1.4 MB replies, beyond the 1 MB default item size.
const MAX_UDP_DATAGRAMS: u16 = 1024;
/// Packetbeat's default `udptransactiontimeout` (its `DefaultTransactionTimeout`).
const DEFAULT_UDP_TIMEOUT: Duration = Duration::from_secs(10);

/// Memcache-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Also accept reply lines with unknown words (and publish unknown commands' arguments)
    /// without counting an anomaly.
    pub parseunknown: bool,
    /// Values published per message: 0 none (default), -1 all.
    pub maxvalues: i64,
    /// Bytes published per value (0 = unlimited).
    pub maxbytespervalue: usize,
    /// How long a UDP request waits for (all datagrams of) its reply.
    #[serde(deserialize_with = "crate::config::de_duration")]
    pub udptransactiontimeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            parseunknown: false,
            maxvalues: 0,
            maxbytespervalue: 0,
            udptransactiontimeout: DEFAULT_UDP_TIMEOUT,
        }
    }
}

impl Config {
    fn opts(&self) -> Opts {
        Opts {
            max_values: self.maxvalues,
            max_bytes_per_value: if self.maxbytespervalue == 0 {
                usize::MAX
            } else {
                self.maxbytespervalue
            },
            parse_unknown: self.parseunknown,
        }
    }
}

/// A UDP request and the datagrams of its reply.
#[derive(Debug, Default)]
struct UdpTxn {
    req: Option<Box<Msg>>,
    /// Reply datagram payloads by sequence number (frame header removed).
    parts: Vec<Option<Vec<u8>>>,
    /// Datagrams received.
    got: u16,
    /// First reply datagram.
    resp_ts: Option<Ts>,
    /// Reply bytes (with frame headers).
    resp_size: u64,
}

/// One memcache connection (TCP) or UDP flow.
pub struct Memcache {
    opts: Opts,
    udp_timeout: Duration,
    readers: [Reader; 2],
    /// TCP: requests waiting for replies, oldest first.
    pending: VecDeque<Box<Msg>>,
    /// TCP: a binary `Stat` exchange collecting reply packets.
    stat: Option<(Option<Box<Msg>>, Box<Msg>)>,
    /// UDP: requests by request id.
    udp: Keyed<u16, UdpTxn>,
}

impl Memcache {
    fn publish(cx: &mut Cx<'_>, req: Option<Box<Msg>>, resp: Option<Box<Msg>>, note: Option<&str>) {
        if req.as_ref().is_some_and(|r| r.placeholder) {
            return;
        }
        let t = ecs::build(cx, req, resp, note);
        cx.emit(t);
    }

    fn flush_stat(&mut self, cx: &mut Cx<'_>) {
        if let Some((req, resp)) = self.stat.take() {
            Self::publish(cx, req, Some(resp), None);
        }
    }

    fn on_request(&mut self, cx: &mut Cx<'_>, m: Box<Msg>) {
        if !m.expects_reply() {
            Self::publish(cx, Some(m), None, None);
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            let old = self.pending.pop_front();
            Self::publish(cx, old, None, None);
        }
        self.pending.push_back(m);
    }

    /// The request a TCP reply answers (requests it skipped are published alone).
    fn take_request(&mut self, cx: &mut Cx<'_>, r: &Msg) -> Option<Box<Msg>> {
        if !r.binary {
            // Meta quiet requests get no reply on success: `MN` ends the batch.
            while r.command == "MN"
                && self
                    .pending
                    .front()
                    .is_some_and(|q| q.quiet && q.command != "mn")
            {
                let q = self.pending.pop_front();
                Self::publish(cx, q, None, None);
            }
            return self.pending.pop_front();
        }
        let pos = self.pending.iter().position(|q| {
            q.placeholder || (q.binary && q.opcode == r.opcode && q.opaque == r.opaque)
        })?;
        for _ in 0..pos {
            if let Some(q) = self.pending.pop_front() {
                let note = (!q.quiet).then_some(ecs::NOTE_NON_QUIET_MISSING);
                Self::publish(cx, Some(q), None, note);
            }
        }
        self.pending.pop_front()
    }

    fn on_reply(&mut self, cx: &mut Cx<'_>, m: Box<Msg>) {
        if let Some((_, acc)) = self.stat.as_mut() {
            if m.binary && m.opcode == parse::op::STAT && m.opaque == acc.opaque {
                acc.size = acc.size.saturating_add(m.size);
                acc.stats.extend(m.stats.iter().cloned());
                acc.lost |= m.lost;
                if !m.stat_continues() {
                    self.flush_stat(cx);
                }
                return;
            }
            self.flush_stat(cx);
        }
        let req = self.take_request(cx, &m);
        if req.as_ref().is_some_and(|q| q.placeholder) {
            return;
        }
        if m.stat_continues() {
            self.stat = Some((req, m));
            return;
        }
        Self::publish(cx, req, Some(m), None);
    }

    fn lost(&mut self, cx: &mut Cx<'_>, dir: Direction) {
        match dir {
            Direction::ToServer => {
                if self.pending.len() < MAX_PENDING {
                    self.pending.push_back(Box::new(Msg {
                        ts: cx.ts,
                        placeholder: true,
                        ..Msg::default()
                    }));
                }
            }
            Direction::ToClient => {
                if self.stat.is_some() {
                    self.flush_stat(cx);
                } else if let Some(q) = self.pending.pop_front() {
                    Self::publish(cx, Some(q), None, Some(ecs::NOTE_RESPONSE_LOSS));
                }
            }
        }
    }

    fn parse_tcp(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            let opts = self.opts;
            let Some(r) = self.readers.get_mut(dir.index()) else {
                return Progress::Consumed;
            };
            let (used, out) = r.feed(cx.ts, rest, &opts);
            let unknown = std::mem::take(&mut r.unknown_replies);
            if unknown > 0 && !opts.parse_unknown {
                cx.anomaly();
            }
            off = off.saturating_add(used);
            match out {
                Out::Consumed => return Progress::Consumed,
                Out::NeedMore => {
                    return Progress::NeedMore {
                        consumed: off,
                        needed: 0,
                    }
                }
                Out::Msg(m) => match dir {
                    Direction::ToServer => self.on_request(cx, m),
                    Direction::ToClient => self.on_reply(cx, m),
                },
                Out::Malformed => {
                    cx.anomaly();
                    self.lost(cx, dir);
                    return Progress::Consumed;
                }
            }
        }
    }

    /// Parse one complete message from a UDP payload.
    fn parse_whole(&self, request: bool, ts: Ts, payload: &[u8]) -> Option<Box<Msg>> {
        let mut r = Reader::new(request);
        match r.feed(ts, payload, &self.opts) {
            (_, Out::Msg(m)) => Some(m),
            _ => None,
        }
    }

    fn parse_udp(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let Some(h) = parse::UdpHeader::parse(data) else {
            cx.anomaly();
            return Progress::Consumed;
        };
        let payload = data.get(parse::UDP_HEADER..).unwrap_or_default();
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        match dir {
            Direction::ToServer => {
                if h.total != 1 {
                    // memcached accepts only single-datagram requests.
                    cx.anomaly();
                }
                let Some(mut m) = self.parse_whole(true, cx.ts, payload) else {
                    cx.anomaly();
                    return Progress::Consumed;
                };
                m.size = size;
                if !m.expects_reply() {
                    Self::publish(cx, Some(m), None, None);
                    return Progress::Consumed;
                }
                let t = UdpTxn {
                    req: Some(m),
                    ..UdpTxn::default()
                };
                if let Some((_, old)) = self.udp.insert(h.request_id, cx.ts, t) {
                    self.finish_udp(cx, old);
                }
            }
            Direction::ToClient => {
                let total = h.total.min(MAX_UDP_DATAGRAMS);
                if h.seq >= total {
                    cx.anomaly();
                    return Progress::Consumed;
                }
                if self.udp.get_mut(&h.request_id).is_none() {
                    self.udp.insert(h.request_id, cx.ts, UdpTxn::default());
                }
                let Some((_, t)) = self.udp.get_mut(&h.request_id) else {
                    return Progress::Consumed;
                };
                if t.parts.len() != usize::from(total) {
                    t.parts.resize(usize::from(total), None);
                }
                if let Some(slot) = t.parts.get_mut(usize::from(h.seq)) {
                    if slot.is_none() {
                        *slot = Some(payload.to_vec());
                        t.got = t.got.saturating_add(1);
                        t.resp_size = t.resp_size.saturating_add(size);
                        t.resp_ts.get_or_insert(cx.ts);
                    }
                }
                if t.got >= total {
                    if let Some((_, t)) = self.udp.remove(&h.request_id) {
                        self.finish_udp(cx, t);
                    }
                }
            }
        }
        Progress::Consumed
    }

    /// Publish a UDP exchange with whatever reply datagrams arrived.
    fn finish_udp(&self, cx: &mut Cx<'_>, t: UdpTxn) {
        let complete = !t.parts.is_empty() && t.parts.iter().all(Option::is_some);
        let resp = if t.got > 0 {
            let joined: Vec<u8> = t.parts.iter().flatten().flatten().copied().collect();
            let ts = t.resp_ts.unwrap_or(cx.ts);
            let mut m = self.parse_whole(false, ts, &joined).unwrap_or_else(|| {
                Box::new(Msg {
                    ts,
                    ..Msg::default()
                })
            });
            m.size = t.resp_size;
            Some(m)
        } else {
            None
        };
        let note = (resp.is_some() && !complete).then_some(ecs::NOTE_UDP_INCOMPLETE);
        if t.req.is_none() && resp.is_none() {
            return;
        }
        Self::publish(cx, t.req, resp, note);
    }
}

impl Dissector for Memcache {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[11211];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        match (dir, data.first()) {
            (_, None) => Probe::Unsure,
            (Direction::ToServer, Some(&parse::MAGIC_REQUEST)) => Probe::Match,
            (Direction::ToClient, Some(&parse::MAGIC_RESPONSE)) => Probe::Match,
            (Direction::ToServer, Some(b)) if b.is_ascii_lowercase() => Probe::Unsure,
            (Direction::ToClient, Some(b)) if b.is_ascii_uppercase() || b.is_ascii_digit() => {
                Probe::Unsure
            }
            _ => Probe::NotMine,
        }
    }

    fn new(cfg: &Config) -> Self {
        Memcache {
            opts: cfg.opts(),
            udp_timeout: cfg.udptransactiontimeout,
            readers: [Reader::new(true), Reader::new(false)],
            pending: VecDeque::new(),
            stat: None,
            udp: Keyed::new(MAX_UDP_PENDING),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        if cx.meta.l4 == L4::Udp {
            return self.parse_udp(cx, dir, data);
        }
        self.parse_tcp(cx, dir, data)
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
        let g = match self.readers.get_mut(dir.index()) {
            Some(r) => r.gap(len),
            None => return,
        };
        if g == GapOut::Absorbed {
            // A value that ended inside the gap completes the message now.
            let _ = self.parse_tcp(cx, dir, &[]);
            return;
        }
        self.lost(cx, dir);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let mut expired = Vec::new();
        self.udp
            .expire(cx.ts, self.udp_timeout, |_, _, t| expired.push(t));
        for t in expired {
            self.finish_udp(cx, t);
        }
        if self.readers.get(1).is_some_and(Reader::in_progress) || self.stat.is_some() {
            return;
        }
        let timeout = cx.common.transaction_timeout;
        while self
            .pending
            .front()
            .is_some_and(|q| q.ts.add(timeout) <= cx.ts)
        {
            let q = self.pending.pop_front();
            Self::publish(cx, q, None, None);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for r in &mut self.readers {
            if r.abandon() {
                cx.anomaly();
            }
        }
        self.flush_stat(cx);
        while let Some(q) = self.pending.pop_front() {
            Self::publish(cx, Some(q), None, None);
        }
        for (_, _, t) in self.udp.drain_sorted() {
            self.finish_udp(cx, t);
        }
    }
}
