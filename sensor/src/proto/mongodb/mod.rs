//! MongoDB dissector (Packetbeat's `mongodb` protocol, extended to the modern wire protocol).
//!
//! Scope: the 16-byte header and every opcode — OP_MSG (flag bits, CRC-32C checksum, body and
//! document-sequence sections; `method` = the command, first key of the body; `resource` =
//! `$db.collection` or `$db`), the legacy OP_QUERY (incl. `$cmd` commands such as
//! isMaster/hello), OP_REPLY, OP_INSERT, OP_UPDATE, OP_DELETE, OP_GET_MORE, OP_KILL_CURSORS,
//! and OP_COMPRESSED (noop, snappy, zlib; zstd is reported from its header only). Requests
//! and replies are correlated by `requestID`/`responseTo`; fire-and-forget requests (legacy
//! writes, OP_MSG with `moreToCome`) are published alone; exhaust replies (`moreToCome` on
//! replies) are folded into their request's event. `ok` ≠ 1, `writeErrors`,
//! `writeConcernError` and `$err` make the status `Error` with the text in `mongodb.error`.
//!
//! Layout: `bson.rs` the BSON reader and JSON writer, `parse.rs` the header, dispatch and
//! OP_COMPRESSED, `command.rs` OP_MSG and commands, `legacy.rs` the legacy opcodes, `state.rs`
//! framing per direction, `ecs.rs` event fields; this file holds the options, the
//! correlation and the [`Dissector`] impl.

mod bson;
mod command;
mod ecs;
mod legacy;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use serde::Deserialize;

use super::correlate::Keyed;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Transport};
use ecs::Side;
use parse::{Msg, Opts, HEADER_LEN};
use state::{Step, Stream};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "mongodb";

/// Requests kept waiting for their replies on one connection: drivers pipeline little on one
/// socket (one in flight, a few with exhaust/moreToCome); the bound caps memory on one-sided
/// captures.
const MAX_PENDING_REQUESTS: usize = 256;

/// Exhaust streams (replies with `moreToCome`) followed at once per connection: a driver runs
/// one per socket.
const MAX_EXHAUST: usize = 16;

/// Framing steps in a row that consume nothing: every chain of state changes is shorter, so
/// hitting it means a bug, reported as malformed input instead of spinning.
const MAX_IDLE_STEPS: usize = 8;

/// Packetbeat's default `max_docs`.
const DEFAULT_MAX_DOCS: usize = 10;
/// Packetbeat's default `max_doc_length`.
const DEFAULT_MAX_DOC_LENGTH: usize = 5000;

/// MongoDB-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Most reply documents put into `response` (0 = unlimited); `[...]` marks the cut.
    pub max_docs: usize,
    /// Longest JSON text of one document (0 = unlimited); ` ...` marks the cut.
    pub max_doc_length: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_docs: DEFAULT_MAX_DOCS,
            max_doc_length: DEFAULT_MAX_DOC_LENGTH,
        }
    }
}

/// An exhaust stream: the request and the replies folded so far.
#[derive(Debug)]
struct Exhaust {
    req: Side,
    resp: Side,
}

/// One MongoDB connection.
pub struct Mongodb {
    cfg: Config,
    /// Client → server, server → client.
    streams: [Stream; 2],
    /// Requests waiting for their reply, by `requestID`.
    pending: Keyed<i32, Side>,
    /// Exhaust streams, by the `requestID` of their last reply.
    exhaust: Keyed<i32, Box<Exhaust>>,
}

impl Mongodb {
    fn opts(&self, cx: &Cx<'_>) -> Opts {
        Opts {
            max_docs: self.cfg.max_docs,
            max_doc_length: self.cfg.max_doc_length,
            keep_docs: cx.common.send_response,
            keep_full: cx.common.send_request,
        }
    }

    fn publish(cx: &mut Cx<'_>, req: Option<Side>, resp: Option<Side>, expected: bool) {
        let t = ecs::build(cx, req, resp, expected);
        cx.emit(t);
    }

    fn on_request(&mut self, cx: &mut Cx<'_>, side: Side) {
        if !side.msg.expects_reply {
            Self::publish(cx, Some(side), None, false);
            return;
        }
        let id = side.msg.request_id;
        let ts = side.ts;
        if let Some((_, old)) = self.pending.insert(id, ts, side) {
            Self::publish(cx, Some(old), None, true);
        }
    }

    fn on_reply(&mut self, cx: &mut Cx<'_>, side: Side) {
        let to = side.msg.response_to;
        if let Some((_, mut ex)) = self.exhaust.remove(&to) {
            fold(&mut ex.resp.msg, side.msg);
            if ex.resp.msg.more_to_come {
                self.keep_exhaust(cx, ex);
            } else {
                Self::publish(cx, Some(ex.req), Some(ex.resp), true);
            }
            return;
        }
        let Some((_, req)) = self.pending.remove(&to) else {
            Self::publish(cx, None, Some(side), true);
            return;
        };
        if side.msg.more_to_come {
            self.keep_exhaust(cx, Box::new(Exhaust { req, resp: side }));
        } else {
            Self::publish(cx, Some(req), Some(side), true);
        }
    }

    fn keep_exhaust(&mut self, cx: &mut Cx<'_>, ex: Box<Exhaust>) {
        let id = ex.resp.msg.request_id;
        let ts = ex.req.ts;
        if let Some((_, old)) = self.exhaust.insert(id, ts, ex) {
            Self::publish(cx, Some(old.req), Some(old.resp), true);
        }
    }

    fn handle(&mut self, cx: &mut Cx<'_>, dir: Direction, side: Side) {
        if side.msg.malformed {
            cx.anomaly();
        }
        match dir {
            Direction::ToServer => self.on_request(cx, side),
            Direction::ToClient => self.on_reply(cx, side),
        }
    }
}

/// Fold a further exhaust reply into the first one.
fn fold(into: &mut Msg, next: Msg) {
    into.size = into.size.saturating_add(next.size);
    into.more_to_come = next.more_to_come;
    into.request_id = next.request_id;
    let count = |m: &Msg| {
        m.fields
            .get("numberReturned")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let total = count(into).saturating_add(count(&next));
    into.fields.insert("numberReturned".into(), total.into());
    if let Some(c) = next.fields.get("cursorId") {
        into.fields.insert("cursorId".into(), c.clone());
    }
    if into.docs.last().map(String::as_str) != Some(parse::DOCS_CUT) {
        into.docs.extend(next.docs);
    }
    if into.error.is_none() {
        into.error = next.error;
    }
    into.notes.extend(next.notes);
    into.malformed |= next.malformed;
}

impl Dissector for Mongodb {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[27017];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        if data.len() < HEADER_LEN {
            return Probe::Unsure;
        }
        match parse::header(data) {
            Some(h) if parse::plausible(&h) => Probe::Match,
            _ => Probe::NotMine,
        }
    }

    fn new(cfg: &Config) -> Self {
        Mongodb {
            cfg: cfg.clone(),
            streams: [Stream::default(), Stream::default()],
            pending: Keyed::new(MAX_PENDING_REQUESTS),
            exhaust: Keyed::new(MAX_EXHAUST),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let opts = self.opts(cx);
        let mut off = 0usize;
        let mut idle = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            if rest.is_empty() {
                return Progress::Consumed;
            }
            let Some(stream) = self.streams.get_mut(dir.index()) else {
                return Progress::GiveUp(Reason::Malformed);
            };
            let used = match stream.step(rest, cx.ts) {
                Step::NeedMore { consumed, needed } => {
                    return Progress::NeedMore {
                        consumed: off + consumed,
                        needed,
                    }
                }
                Step::Advance(n) => n,
                Step::LostSync(n) => {
                    cx.anomaly();
                    n
                }
                Step::GiveUp => {
                    cx.anomaly();
                    return Progress::GiveUp(Reason::Malformed);
                }
                Step::Message {
                    bytes,
                    header,
                    cut,
                    ts,
                } => {
                    let request = dir == Direction::ToServer;
                    let msg = parse::message(bytes, &header, cut, request, &opts);
                    let n = bytes.len();
                    self.handle(cx, dir, Side { ts, msg });
                    n
                }
            };
            if used == 0 {
                idle += 1;
                if idle > MAX_IDLE_STEPS {
                    cx.anomaly();
                    return Progress::GiveUp(Reason::Malformed);
                }
            } else {
                idle = 0;
            }
            off = off.saturating_add(used);
        }
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, dir: Direction, _len: usize) {
        if let Some(s) = self.streams.get_mut(dir.index()) {
            s.gap();
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let timeout = cx.common.transaction_timeout;
        // A reply being received answers a pending request: wait for it.
        if self
            .streams
            .get(Direction::ToClient.index())
            .is_some_and(Stream::in_progress)
        {
            return;
        }
        let mut expired = Vec::new();
        self.pending
            .expire(cx.ts, timeout, |_, _, s| expired.push(s));
        for s in expired {
            Self::publish(cx, Some(s), None, true);
        }
        let mut done = Vec::new();
        self.exhaust.expire(cx.ts, timeout, |_, _, e| done.push(e));
        for e in done {
            Self::publish(cx, Some(e.req), Some(e.resp), true);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for (_, _, e) in self.exhaust.drain_sorted() {
            Self::publish(cx, Some(e.req), Some(e.resp), true);
        }
        for (_, _, s) in self.pending.drain_sorted() {
            Self::publish(cx, Some(s), None, true);
        }
    }
}
