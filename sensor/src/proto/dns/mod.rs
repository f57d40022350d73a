//! DNS dissector (Packetbeat's `dns` protocol, PROTOCOLS.md §1.4, EVENTS.md §5).
//!
//! UDP: one message per datagram. TCP: messages behind a 2-byte length prefix, several per
//! segment or split across segments (the pipeline keeps the unconsumed tail). Queries wait in
//! a bounded table keyed by DNS id (and the direction the query travelled) for their response;
//! a second query with the same id closes the first with Packetbeat's note, responses without
//! a query are published alone ("Response: received without an associated Query"), and
//! unanswered queries are published at `transaction_timeout` or when the session closes
//! ("No response to this query was received", status `Error`).
//!
//! Zone transfers (AXFR/IXFR over TCP) span several response messages: they are gathered into
//! one transaction (answer counts and response bytes summed) that ends at the closing SOA, an
//! error, the session's end or the transaction timeout.
//!
//! Files: `parse.rs` (borrowing wire parser), `names.rs` (code names, escaping), `ecs.rs`
//! (event fields, dig-like text), `rdata.rs` (RDATA formatting), `suffix.rs`
//! (registered-domain heuristic).

mod ecs;
mod names;
mod parse;
mod rdata;
mod suffix;
#[cfg(test)]
mod tests;

use super::correlate::Keyed;
use super::txn::Unmatched;
use super::{
    CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Status, Transport, L4,
};
use crate::time::Ts;
use ecs::Include;
use parse::{Header, Message, Section};

/// Queries pending per session: DNS ids are 16-bit and even a busy forwarder on one socket has
/// at most a few thousand in flight; beyond it the oldest is published unanswered so a query
/// flood cannot grow memory (each entry holds one query, typically < 100 bytes).
const MAX_PENDING: usize = 4096;
/// Response bytes of one zone transfer kept for the event's records: a larger zone is still
/// counted (answers, bytes) but its later records are not published.
const MAX_XFR_STORED_BYTES: usize = 4 << 20;
/// RFC 1035 §4.2.1: without EDNS a UDP message is at most 512 bytes (Packetbeat's check).
const MAX_NON_EDNS_UDP: usize = 512;
/// Size of the TCP length prefix (RFC 1035 §4.2.2).
const TCP_PREFIX: usize = 2;

/// A second query with the same id closed the first (Packetbeat `DuplicateQueryMsg`).
const NOTE_DUPLICATE: &str = "Another query with the same DNS ID from this client was received so this query was closed without receiving a response";
/// The query expired unanswered (Packetbeat `NoResponse`).
const NOTE_NO_RESPONSE: &str = "No response to this query was received";
/// A response without a pending query (Packetbeat `OrphanedResponse`).
const NOTE_ORPHAN: &str = "Response: received without an associated Query";
/// A response that is not DNS (Packetbeat `NonDnsMsg`, response form).
const NOTE_RESP_NON_DNS: &str = "Response: Message's data could not be decoded as DNS";
/// A TCP response announced zero bytes (Packetbeat `ZeroLengthMsg`, response form).
const NOTE_RESP_ZERO_LENGTH: &str = "Response: Message's length was set to zero";
/// A TCP response too short to be DNS (Packetbeat `UnexpectedLengthMsg`, response form).
const NOTE_RESP_BAD_LENGTH: &str = "Response: Unexpected message data length";
/// A non-EDNS UDP query larger than 512 bytes (Packetbeat `UdpPacketTooLarge`).
const NOTE_UDP_TOO_LARGE: &str = "Non-EDNS packet has size greater than 512";
/// The same for a response.
const NOTE_RESP_UDP_TOO_LARGE: &str = "Response: Non-EDNS packet has size greater than 512";
/// EDNS query, non-EDNS response (Packetbeat `RespEdnsNoSupport`).
const NOTE_EDNS_NO_SUPPORT: &str = "Responder does not support EDNS";
/// Non-EDNS query, EDNS response (Packetbeat `RespEdnsUnexpected`).
const NOTE_EDNS_UNEXPECTED: &str = "Unexpected EDNS answer";

/// DNS-specific options (Packetbeat names).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Publish the authority section as `dns.authorities`.
    pub include_authorities: bool,
    /// Publish the additional section as `dns.additionals` (without OPT).
    pub include_additionals: bool,
}

/// Correlation key: DNS id and the direction the query travelled.
type Key = (u16, Direction);

/// A zone transfer being gathered.
#[derive(Debug, Default)]
struct Xfr {
    /// IXFR (else AXFR).
    ixfr: bool,
    /// Response messages kept for the event (bounded by [`MAX_XFR_STORED_BYTES`]).
    msgs: Vec<Vec<u8>>,
    /// Bytes in `msgs`.
    stored: usize,
    /// First response message time.
    first_ts: Ts,
    /// All response bytes.
    bytes: u64,
    /// Section counts of messages not kept.
    extra_counts: [u64; 3],
    /// Answer records seen.
    records: u64,
    /// SOA records seen (AXFR ends at the second).
    soas: u32,
    /// Serial of the first SOA.
    first_serial: Option<u32>,
    /// SOAs with that serial (IXFR ends at the 3rd in incremental form, else the 2nd).
    serial_hits: u32,
    /// Whether the second answer is an SOA (IXFR incremental form).
    second_is_soa: Option<bool>,
    /// The transfer is complete.
    done: bool,
}

impl Xfr {
    /// Account one response message.
    fn feed(&mut self, msg: &Message<'_>, ts: Ts) {
        if self.msgs.is_empty() && self.bytes == 0 {
            self.first_ts = ts;
        }
        self.bytes += msg.buf.len() as u64;
        if self.stored + msg.buf.len() <= MAX_XFR_STORED_BYTES {
            self.stored += msg.buf.len();
            self.msgs.push(msg.buf.to_vec());
        } else {
            let h = msg.header;
            let ar = u64::from(h.ar) - u64::from(msg.opt.is_some() && h.ar > 0);
            for (slot, n) in
                self.extra_counts
                    .iter_mut()
                    .zip([u64::from(h.an), u64::from(h.ns), ar])
            {
                *slot += n;
            }
        }
        if msg.rcode() != 0 || msg.header.an == 0 {
            self.done = true;
            return;
        }
        for rr in msg.section(Section::Answer) {
            self.records += 1;
            let is_soa = rr.rtype == parse::TYPE_SOA;
            if self.records == 2 {
                self.second_is_soa = Some(is_soa);
            }
            if is_soa {
                self.soas += 1;
                let serial = parse::soa_serial(msg.buf, &rr);
                if self.records == 1 {
                    self.first_serial = serial;
                }
                if serial.is_some() && serial == self.first_serial {
                    self.serial_hits += 1;
                }
            }
        }
        self.done = if self.ixfr {
            match self.second_is_soa {
                Some(true) => self.serial_hits >= 3,
                Some(false) => self.serial_hits >= 2,
                None => self.records == 1,
            }
        } else {
            self.soas >= 2
        };
    }
}

/// A query waiting for its response.
#[derive(Debug)]
struct Pending {
    /// Direction the query travelled.
    dir: Direction,
    /// The query message.
    req: Vec<u8>,
    /// Time of the query.
    ts: Ts,
    /// QTYPE of the first question.
    qtype: Option<u16>,
    /// Notes gathered so far.
    notes: Vec<&'static str>,
    /// Zone transfer in progress.
    xfr: Option<Xfr>,
}

/// Response side of a transaction being published.
struct Resp<'a> {
    /// Messages (one, or several for a zone transfer).
    msgs: Vec<&'a [u8]>,
    /// Time of the first one.
    ts: Ts,
    /// All response bytes.
    bytes: u64,
    /// Section counts of messages not in `msgs`.
    extra_counts: [u64; 3],
}

/// One DNS session (a UDP flow or a TCP connection).
pub struct Dns {
    /// Optional sections to publish.
    include: Include,
    /// Pending queries.
    pending: Keyed<Key, Pending>,
    /// TCP direction (to server, to client) lost after a gap, until a plausible message start.
    lost: [bool; 2],
    /// The last TCP query, for response errors (Packetbeat `prevRequest`).
    last_tcp_query: Option<Key>,
}

/// Whether a header looks like DNS sent in `dir`.
fn plausible_header(h: &Header, dir: Direction) -> bool {
    h.qr() == (dir == Direction::ToClient)
        && matches!(h.opcode(), 0 | 1 | 2 | 4 | 5)
        && (h.qd == 1 || (h.qd == 0 && h.qr()))
}

impl Dns {
    /// Whether the TCP direction is being skipped after a gap.
    fn is_lost(&self, dir: Direction) -> bool {
        self.lost.get(dir.index()).copied().unwrap_or(false)
    }

    /// Mark/unmark a TCP direction lost.
    fn set_lost(&mut self, dir: Direction, v: bool) {
        if let Some(slot) = self.lost.get_mut(dir.index()) {
            *slot = v;
        }
    }

    /// TCP framing.
    fn parse_tcp(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        if self.is_lost(dir) {
            let ok = parse::u16_at(data, 0).is_ok_and(|len| usize::from(len) > parse::HEADER_LEN)
                && data
                    .get(TCP_PREFIX..)
                    .and_then(|b| Header::parse(b).ok())
                    .is_some_and(|h| plausible_header(&h, dir));
            if !ok {
                return Progress::Consumed;
            }
            self.set_lost(dir, false);
        }
        let mut consumed = 0usize;
        let mut rest = data;
        loop {
            if rest.is_empty() {
                return Progress::Consumed;
            }
            let Some((prefix, body)) = rest.split_at_checked(TCP_PREFIX) else {
                return Progress::NeedMore {
                    consumed,
                    needed: TCP_PREFIX - rest.len(),
                };
            };
            let len = usize::from(parse::u16_at(prefix, 0).unwrap_or_default());
            if len == 0 {
                return self.tcp_malformed(cx, dir, NOTE_RESP_ZERO_LENGTH);
            }
            if len <= parse::HEADER_LEN {
                return self.tcp_malformed(cx, dir, NOTE_RESP_BAD_LENGTH);
            }
            let Some((msg, tail)) = body.split_at_checked(len) else {
                return Progress::NeedMore {
                    consumed,
                    needed: len - body.len(),
                };
            };
            if self.on_message(cx, dir, msg).is_err() {
                return self.tcp_malformed(cx, dir, NOTE_RESP_NON_DNS);
            }
            consumed += TCP_PREFIX + len;
            rest = tail;
        }
    }

    /// A TCP direction carries something that is not DNS: count it, close the last query
    /// with the response-error note when the server sent it (Packetbeat
    /// `publishResponseError`), and stop parsing that direction.
    fn tcp_malformed(&mut self, cx: &mut Cx<'_>, dir: Direction, note: &'static str) -> Progress {
        cx.anomaly();
        if dir == Direction::ToClient {
            if let Some(key) = self.last_tcp_query.take() {
                if let Some((_, mut p)) = self.pending.remove(&key) {
                    p.notes.push(note);
                    self.publish_pending(cx, p, None);
                }
            }
        }
        Progress::GiveUp(Reason::Malformed)
    }

    /// One DNS message sent in `dir`. `Err` when it is not DNS (already counted).
    fn on_message(&mut self, cx: &mut Cx<'_>, dir: Direction, bytes: &[u8]) -> Result<(), ()> {
        let msg = match parse::parse_message(bytes) {
            Ok(m) => m,
            Err(_) => {
                cx.anomaly();
                return Err(());
            }
        };
        if !msg.complete {
            cx.anomaly();
        }
        if msg.header.qr() {
            self.on_response(cx, dir, &msg);
        } else {
            self.on_query(cx, dir, &msg);
        }
        Ok(())
    }

    /// A query: remember it; a displaced older query is published.
    fn on_query(&mut self, cx: &mut Cx<'_>, dir: Direction, msg: &Message<'_>) {
        let key = (msg.header.id, dir);
        let mut notes = Vec::new();
        if cx.meta.l4 != L4::Tcp && msg.opt.is_none() && msg.buf.len() > MAX_NON_EDNS_UDP {
            notes.push(NOTE_UDP_TOO_LARGE);
        }
        let p = Pending {
            dir,
            req: msg.buf.to_vec(),
            ts: cx.ts,
            qtype: msg.question.map(|q| q.qtype),
            notes,
            xfr: None,
        };
        let duplicate = self.pending.get_mut(&key).is_some();
        if let Some((_, mut old)) = self.pending.insert(key, cx.ts, p) {
            old.notes.push(if duplicate {
                NOTE_DUPLICATE
            } else {
                NOTE_NO_RESPONSE
            });
            self.publish_pending(cx, old, None);
        }
        if cx.meta.l4 == L4::Tcp {
            self.last_tcp_query = Some(key);
        }
    }

    /// A response: complete its query (or gather a zone transfer), else publish it alone.
    fn on_response(&mut self, cx: &mut Cx<'_>, dir: Direction, msg: &Message<'_>) {
        let key = (msg.header.id, dir.reverse());
        let tcp = cx.meta.l4 == L4::Tcp;
        if tcp {
            self.last_tcp_query = None;
        }
        let Some((slot_ts, p)) = self.pending.get_mut(&key) else {
            let resp = Resp {
                msgs: vec![msg.buf],
                ts: cx.ts,
                bytes: msg.buf.len() as u64,
                extra_counts: [0; 3],
            };
            self.publish(cx, dir.reverse(), None, Some(resp), &[NOTE_ORPHAN]);
            return;
        };
        let xfr_type = matches!(p.qtype, Some(parse::TYPE_AXFR | parse::TYPE_IXFR));
        if tcp && (p.xfr.is_some() || xfr_type) {
            let xfr = p.xfr.get_or_insert_with(|| Xfr {
                ixfr: p.qtype == Some(parse::TYPE_IXFR),
                ..Xfr::default()
            });
            xfr.feed(msg, cx.ts);
            // Keep a long transfer alive: expiry counts from its latest message.
            *slot_ts = cx.ts;
            if xfr.done {
                if let Some((_, p)) = self.pending.remove(&key) {
                    self.publish_pending(cx, p, None);
                }
            }
            return;
        }
        let Some((_, mut p)) = self.pending.remove(&key) else {
            return;
        };
        if !tcp {
            let resp_edns = msg.opt.is_some();
            if !resp_edns && msg.buf.len() > MAX_NON_EDNS_UDP {
                p.notes.push(NOTE_RESP_UDP_TOO_LARGE);
            }
            let req_edns = parse::parse_message(&p.req).is_ok_and(|m| m.opt.is_some());
            match (req_edns, resp_edns) {
                (true, false) => p.notes.push(NOTE_EDNS_NO_SUPPORT),
                (false, true) => p.notes.push(NOTE_EDNS_UNEXPECTED),
                _ => {}
            }
        }
        let resp = Resp {
            msgs: vec![msg.buf],
            ts: cx.ts,
            bytes: msg.buf.len() as u64,
            extra_counts: [0; 3],
        };
        self.publish_pending(cx, p, Some(resp));
    }

    /// Publish a pending query with `resp`, or with its gathered zone transfer, or alone
    /// (then with the no-response note unless it already has a note).
    fn publish_pending(&self, cx: &mut Cx<'_>, mut p: Pending, resp: Option<Resp<'_>>) {
        let xfr = p.xfr.take();
        let resp = match (&xfr, resp) {
            (_, Some(r)) => Some(r),
            (Some(x), None) if x.bytes > 0 => Some(Resp {
                msgs: x.msgs.iter().map(Vec::as_slice).collect(),
                ts: x.first_ts,
                bytes: x.bytes,
                extra_counts: x.extra_counts,
            }),
            _ => None,
        };
        if resp.is_none() && p.notes.is_empty() {
            p.notes.push(NOTE_NO_RESPONSE);
        }
        self.publish(cx, p.dir, Some((&p.req, p.ts)), resp, &p.notes);
    }

    /// Build and emit the event.
    fn publish(
        &self,
        cx: &mut Cx<'_>,
        query_dir: Direction,
        req: Option<(&[u8], Ts)>,
        resp: Option<Resp<'_>>,
        notes: &[&'static str],
    ) {
        let req_msg = req.and_then(|(b, _)| parse::parse_message(b).ok());
        let resp_msgs: Vec<Message<'_>> = resp
            .as_ref()
            .map(|r| {
                r.msgs
                    .iter()
                    .filter_map(|b| parse::parse_message(b).ok())
                    .collect()
            })
            .unwrap_or_default();
        let Some(base) = resp_msgs.first().or(req_msg.as_ref()) else {
            return;
        };
        let question_from = req_msg.as_ref().unwrap_or(base);
        let mut txn = cx.txn(Dns::NAME);
        if query_dir == Direction::ToClient {
            std::mem::swap(&mut txn.client, &mut txn.server);
        }
        txn.request_ts = req.map(|(_, ts)| ts);
        txn.request_bytes = req.map(|(b, _)| b.len() as u64);
        if let Some(r) = &resp {
            txn.response_ts = Some(r.ts);
            txn.response_bytes = Some(r.bytes);
        }
        txn.status = match (&req_msg, resp_msgs.first()) {
            (Some(_), Some(r)) if r.rcode() == 0 => Status::Ok,
            _ => Status::Error,
        };
        txn.unmatched = match (&req, &resp) {
            (Some(_), None) => Unmatched::Request,
            (None, Some(_)) => Unmatched::Response,
            _ => Unmatched::No,
        };
        txn.method = Some(names::opcode_name(question_from.header.opcode()).into_owned());
        if let Some((name, text)) =
            ecs::question_text(question_from).or_else(|| ecs::question_text(base))
        {
            txn.resource = Some(name);
            txn.query = Some(text);
        }
        let mut dns = ecs::dns_object(base, question_from, &resp_msgs, self.include);
        if let Some(r) = &resp {
            add_extra_counts(&mut dns, r.extra_counts);
        }
        txn.fields.insert("dns".into(), dns.into());
        if cx.common.send_request {
            txn.request_raw = req_msg.as_ref().map(ecs::message_text);
        }
        if cx.common.send_response {
            txn.response_raw = resp_msgs.first().map(ecs::message_text);
        }
        txn.notes = notes.iter().map(|n| (*n).to_owned()).collect();
        cx.emit(txn);
    }

    /// Publish every pending query (timeout or close).
    fn flush(&mut self, cx: &mut Cx<'_>, all: Vec<Pending>) {
        for p in all {
            self.publish_pending(cx, p, None);
        }
    }
}

/// Add the counts of zone-transfer messages that were not kept.
fn add_extra_counts(dns: &mut serde_json::Map<String, serde_json::Value>, extra: [u64; 3]) {
    for (key, n) in ["answers_count", "authorities_count", "additionals_count"]
        .iter()
        .zip(extra)
    {
        if n == 0 {
            continue;
        }
        if let Some(v) = dns.get_mut(*key) {
            let total = v.as_u64().unwrap_or(0) + n;
            *v = total.into();
        }
    }
}

impl Dissector for Dns {
    const NAME: &'static str = "dns";
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[53];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        let udp = Header::parse(data).ok();
        let tcp = data.get(TCP_PREFIX..).and_then(|b| Header::parse(b).ok());
        if udp.is_none() && tcp.is_none() {
            return Probe::Unsure;
        }
        let udp_ok =
            udp.is_some_and(|h| plausible_header(&h, dir) && data.len() > parse::HEADER_LEN);
        let tcp_ok = tcp.is_some_and(|h| {
            plausible_header(&h, dir)
                && parse::u16_at(data, 0).is_ok_and(|l| usize::from(l) > parse::HEADER_LEN)
        });
        if udp_ok || tcp_ok {
            Probe::Match
        } else {
            Probe::NotMine
        }
    }

    fn new(cfg: &Config) -> Self {
        Dns {
            include: Include {
                authorities: cfg.include_authorities,
                additionals: cfg.include_additionals,
            },
            pending: Keyed::new(MAX_PENDING),
            lost: [false; 2],
            last_tcp_query: None,
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        match cx.meta.l4 {
            L4::Tcp => self.parse_tcp(cx, dir, data),
            _ => {
                let _ = self.on_message(cx, dir, data);
                Progress::Consumed
            }
        }
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, _len: usize) {
        if cx.meta.l4 == L4::Tcp {
            self.set_lost(dir, true);
            if dir == Direction::ToServer {
                self.last_tcp_query = None;
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let mut expired = Vec::new();
        self.pending
            .expire(cx.ts, cx.common.transaction_timeout, |_, _, p| {
                expired.push(p)
            });
        self.flush(cx, expired);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        let all = self
            .pending
            .drain_sorted()
            .into_iter()
            .map(|(_, _, p)| p)
            .collect();
        self.flush(cx, all);
        self.last_tcp_query = None;
    }
}
