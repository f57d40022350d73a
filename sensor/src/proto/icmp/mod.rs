//! ICMPv4/ICMPv6 dissector (Packetbeat's `icmp` protocol, EVENTS.md §5 and §9 item 2).
//!
//! One session per worker sees every ICMP message. Requests of the pair types (echo,
//! timestamp, information, address mask) wait in a bounded keyed table for the reply with the
//! same addresses, type, id and sequence; an error message (destination unreachable, time
//! exceeded, parameter problem, source quench, packet too big) that quotes a pending request
//! closes it as its response (status `Error`). Errors quoting nothing pending, and replies
//! without a request, are response-only events (client = their destination). Unanswered
//! requests are published at `transaction_timeout` or at the end of input. Every other type
//! (NDP, router discovery, MLD, ...) is a stand-alone request event, as Packetbeat does.

mod msg;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};

use serde_json::{Map, Value};

use super::correlate::Keyed;
use super::txn::{FlowTuple, Unmatched};
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Status, Transport, Txn, L4};
use crate::time::Ts;
use msg::{Class, Header, QuoteError, Version};

/// Pending requests kept per worker: enough for thousands of concurrent pings; beyond it the
/// oldest is published unanswered so a flood of unanswered probes cannot grow memory.
const MAX_PENDING: usize = 4096;

/// Note of a request closed because another one with the same key arrived (Packetbeat).
const DUPLICATE_REQUEST_NOTE: &str =
    "Another request with the same Id and Seq was received so this request was closed without receiving a response.";
/// Note of a request published without a response (Packetbeat).
const ORPHANED_REQUEST_NOTE: &str = "Request was received without an associated response.";
/// Note of a response published without a request (Packetbeat).
const ORPHANED_RESPONSE_NOTE: &str = "Response was received without an associated request.";

/// Icmp-specific options (none besides the common ones).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// Correlation key of a pair request: (requester, responder, request type, id, seq).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    client: IpAddr,
    server: IpAddr,
    ty: u8,
    id: u16,
    seq: u16,
}

/// A request waiting for its reply.
#[derive(Clone, Copy, Debug)]
struct Pending {
    version: Version,
    client: IpAddr,
    server: IpAddr,
    ty: u8,
    code: u8,
    bytes: u64,
}

/// One ICMP message as seen on the wire.
#[derive(Clone, Copy, Debug)]
struct Seen {
    ts: Ts,
    ty: u8,
    code: u8,
    bytes: u64,
}

/// The ICMP session of one worker.
pub struct Icmp {
    pending: Keyed<Key, Pending>,
}

impl Dissector for Icmp {
    const NAME: &'static str = "icmp";
    const TRANSPORT: Transport = Transport::Icmp;
    const DEFAULT_PORTS: &'static [u16] = &[];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        if data.len() >= msg::MIN_LEN {
            Probe::Match
        } else {
            Probe::Unsure
        }
    }

    fn new(_cfg: &Config) -> Self {
        Icmp {
            pending: Keyed::new(MAX_PENDING),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, _dir: Direction, data: &[u8]) -> Progress {
        // Never give up: the one session serves every ICMP message of the worker.
        let version = match cx.meta.l4 {
            L4::Icmp => Version::V4,
            L4::Icmpv6 => Version::V6,
            L4::Tcp | L4::Udp => {
                cx.anomaly();
                return Progress::Consumed;
            }
        };
        let Some(h) = msg::header(data) else {
            cx.anomaly();
            return Progress::Consumed;
        };
        let seen = Seen {
            ts: cx.ts,
            ty: h.ty,
            code: h.code,
            bytes: u64::try_from(data.len()).unwrap_or(u64::MAX),
        };
        let (src, dst) = (cx.meta.client.ip(), cx.meta.server.ip());
        match msg::classify(version, h.ty) {
            Class::PairRequest if data.len() >= msg::HEADER_LEN => {
                self.request(cx, version, src, dst, h, seen);
            }
            Class::PairReply(req_ty) if data.len() >= msg::HEADER_LEN => {
                let key = Key {
                    client: dst,
                    server: src,
                    ty: req_ty,
                    id: h.id,
                    seq: h.seq,
                };
                self.response(cx, version, key, src, dst, seen);
            }
            Class::PairRequest | Class::PairReply(_) => {
                // Too short to carry the id and sequence.
                cx.anomaly();
            }
            Class::Error => match msg::quoted(version, data) {
                Ok(q) => {
                    let key = Key {
                        client: q.src,
                        server: q.dst,
                        ty: q.ty,
                        id: q.id,
                        seq: q.seq,
                    };
                    self.response(cx, version, key, src, dst, seen);
                }
                Err(e) => {
                    if e == QuoteError::Malformed {
                        cx.anomaly();
                    }
                    orphan_response(cx, version, src, dst, seen);
                }
            },
            Class::Redirect => {
                // The redirected datagram was still forwarded: it stays pending.
                orphan_response(cx, version, src, dst, seen);
            }
            Class::Other => {
                let mut t = base_txn(cx, version, src, dst, &seen);
                t.request_ts = Some(seen.ts);
                t.request_bytes = Some(seen.bytes);
                set_message(&mut t, version, "request", seen.ty, seen.code);
                t.status = Status::Ok;
                cx.emit(t);
            }
        }
        Progress::Consumed
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, _dir: Direction, _len: usize) {
        cx.stats.gaps = cx.stats.gaps.saturating_add(1);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let timeout = cx.common.transaction_timeout;
        let now = cx.ts;
        let mut expired = Vec::new();
        self.pending
            .expire(now, timeout, |_, ts, p| expired.push((ts, p)));
        for (ts, p) in expired {
            unanswered(cx, ts, &p, ORPHANED_REQUEST_NOTE);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for (_, ts, p) in self.pending.drain_sorted() {
            unanswered(cx, ts, &p, ORPHANED_REQUEST_NOTE);
        }
    }
}

impl Icmp {
    /// A pair request: queue it, publishing what it displaces.
    fn request(
        &mut self,
        cx: &mut Cx<'_>,
        version: Version,
        src: IpAddr,
        dst: IpAddr,
        h: Header,
        seen: Seen,
    ) {
        let key = Key {
            client: src,
            server: dst,
            ty: h.ty,
            id: h.id,
            seq: h.seq,
        };
        if let Some((ts, old)) = self.pending.remove(&key) {
            unanswered(cx, ts, &old, DUPLICATE_REQUEST_NOTE);
        }
        let p = Pending {
            version,
            client: src,
            server: dst,
            ty: seen.ty,
            code: seen.code,
            bytes: seen.bytes,
        };
        if let Some((ts, evicted)) = self.pending.insert(key, seen.ts, p) {
            unanswered(cx, ts, &evicted, ORPHANED_REQUEST_NOTE);
        }
    }

    /// A reply or an error answering the request under `key`, if it is pending.
    fn response(
        &mut self,
        cx: &mut Cx<'_>,
        version: Version,
        key: Key,
        src: IpAddr,
        dst: IpAddr,
        seen: Seen,
    ) {
        let Some((req_ts, p)) = self.pending.remove(&key) else {
            orphan_response(cx, version, src, dst, seen);
            return;
        };
        let mut t = request_txn(cx, req_ts, &p);
        t.response_ts = Some(seen.ts);
        t.response_bytes = Some(seen.bytes);
        set_message(&mut t, p.version, "response", seen.ty, seen.code);
        t.status = if msg::classify(version, seen.ty) == Class::Error {
            Status::Error
        } else {
            Status::Ok
        };
        cx.emit(t);
    }
}

/// An event for a message from `src` to `dst`: client = `src`, community of this message.
fn base_txn(cx: &Cx<'_>, version: Version, src: IpAddr, dst: IpAddr, seen: &Seen) -> Txn {
    let mut t = cx.txn(Icmp::NAME);
    t.client = SocketAddr::new(src, 0);
    t.server = SocketAddr::new(dst, 0);
    t.l4 = l4_of(version);
    t.path = Some(dst.to_string());
    t.community = Some(tuple(version, src, dst, seen.ty, seen.code));
    icmp_obj(&mut t).insert("version".to_owned(), Value::from(version.number()));
    t
}

/// The event of a pending request (its response, if any, is added by the caller).
fn request_txn(cx: &Cx<'_>, ts: Ts, p: &Pending) -> Txn {
    let req = Seen {
        ts,
        ty: p.ty,
        code: p.code,
        bytes: p.bytes,
    };
    let mut t = base_txn(cx, p.version, p.client, p.server, &req);
    t.request_ts = Some(ts);
    t.request_bytes = Some(p.bytes);
    set_message(&mut t, p.version, "request", p.ty, p.code);
    t
}

/// Publish a request that got no response, with `note`.
fn unanswered(cx: &mut Cx<'_>, ts: Ts, p: &Pending, note: &str) {
    let mut t = request_txn(cx, ts, p);
    t.status = Status::Error;
    t.notes.push(note.to_owned());
    t.unmatched = Unmatched::Request;
    cx.emit(t);
}

/// Publish a response (reply, error, redirect) without a pending request: client = its
/// destination, server = its sender; the community is of the message as sent.
fn orphan_response(cx: &mut Cx<'_>, version: Version, src: IpAddr, dst: IpAddr, seen: Seen) {
    let mut t = base_txn(cx, version, dst, src, &seen);
    t.community = Some(tuple(version, src, dst, seen.ty, seen.code));
    t.response_ts = Some(seen.ts);
    t.response_bytes = Some(seen.bytes);
    set_message(&mut t, version, "response", seen.ty, seen.code);
    t.status = Status::Error;
    t.notes.push(ORPHANED_RESPONSE_NOTE.to_owned());
    t.unmatched = Unmatched::Response;
    cx.emit(t);
}

/// `network.transport` of a version.
fn l4_of(v: Version) -> L4 {
    match v {
        Version::V4 => L4::Icmp,
        Version::V6 => L4::Icmpv6,
    }
}

/// Community ID tuple of one message: type and code in the port slots.
fn tuple(v: Version, src: IpAddr, dst: IpAddr, ty: u8, code: u8) -> FlowTuple {
    FlowTuple {
        src,
        dst,
        proto: l4_of(v).ipproto(),
        sport: u16::from(ty),
        dport: u16::from(code),
    }
}

/// The `icmp` object of the event.
fn icmp_obj(t: &mut Txn) -> &mut Map<String, Value> {
    t.obj("icmp")
}

/// Set `icmp.<side>.{message,type,code}`.
fn set_message(t: &mut Txn, v: Version, side: &str, ty: u8, code: u8) {
    let mut m = Map::new();
    m.insert("message".to_owned(), Value::from(msg::message(v, ty, code)));
    m.insert("type".to_owned(), Value::from(ty));
    m.insert("code".to_owned(), Value::from(code));
    icmp_obj(t).insert(side.to_owned(), Value::Object(m));
}
