//! Cassandra dissector (Packetbeat's `cassandra` protocol: the CQL native protocol).
//!
//! Scope: v3/v4 frames (9-byte header; v1/v2 8-byte headers are read too), every opcode,
//! correlation by stream id with interleaved responses, result kinds (rows with metadata and
//! paging state, void, set_keyspace, prepared, schema_change), errors with their details by
//! code, EVENT pushes (stream −1, published with `cassandra.no_request`), LZ4 and Snappy
//! bodies (algorithm from STARTUP's COMPRESSION option, remembered per connection; else the
//! `compressor` option; else recognised). Protocol v5 frames before the negotiation are read;
//! once a v5 STARTUP succeeds the connection switches to v5 segment framing, which is counted
//! and not parsed. EXECUTE/BATCH requests carry the text of statements prepared on the same
//! connection in `cassandra.request.query`.
//!
//! Layout: `parse.rs` header, notations and compression, `body.rs` the bodies of every opcode, `state.rs` framing per direction, `ecs.rs`
//! event fields; this file holds the options, the correlation and the [`Dissector`] impl.

mod body;
mod ecs;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use super::correlate::Keyed;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Transport};
use ecs::Frame;
use parse::{op, Compression, Header};
use state::{Step, Stream};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "cassandra";

/// Requests kept waiting per connection: v3+ allows 32768 streams, drivers use up to a few
/// thousand in flight; the bound caps memory on one-sided captures.
const MAX_PENDING_REQUESTS: usize = 4096;

/// Prepared statements remembered per connection (id → CQL text): applications prepare tens
/// to hundreds of statements.
const MAX_PREPARED: usize = 1024;

/// Framing steps in a row that consume nothing before the direction is declared malformed.
const MAX_IDLE_STEPS: usize = 8;

/// Note on a frame whose body could not be decompressed.
const NOTE_DECOMPRESS: &str = "Compressed frame body could not be decompressed";
/// Note on a frame whose body does not follow its opcode's layout.
const NOTE_MALFORMED: &str = "Malformed frame body";
/// Note on a frame too large to be parsed whole and compressed.
const NOTE_CUT: &str = "Frame too large: body not parsed";

/// `ignored_ops`: opcode names (case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OpName(u8);

impl TryFrom<String> for OpName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        parse::op_from_name(&s)
            .map(OpName)
            .ok_or_else(|| format!("unknown frame op: {s}"))
    }
}

/// Cassandra-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Put the request frame header into `cassandra.request.headers`.
    pub send_request_header: bool,
    /// Put the response frame header into `cassandra.response.headers`.
    pub send_response_header: bool,
    /// Compression to assume for compressed frames when the STARTUP was not seen
    /// (Packetbeat accepts `snappy`; `lz4` too here).
    pub compressor: Option<Compression>,
    /// Opcodes whose transactions are not published.
    pub ignored_ops: Vec<OpName>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            send_request_header: true,
            send_response_header: true,
            compressor: None,
            ignored_ops: Vec::new(),
        }
    }
}

/// One Cassandra connection.
pub struct Cassandra {
    cfg: Box<Config>,
    /// Bit per ignored opcode.
    ignored: u32,
    streams: [Stream; 2],
    pending: Keyed<i16, Frame>,
    /// Prepared statement texts by id, with insertion order for eviction.
    prepared: HashMap<Vec<u8>, String>,
    prepared_order: VecDeque<Vec<u8>>,
    /// Compression negotiated in STARTUP.
    compression: Option<Compression>,
    /// The connection switched to v5 segment framing: nothing more is parsed.
    v5_framing: bool,
}

impl Cassandra {
    fn publish(&self, cx: &mut Cx<'_>, req: Option<Frame>, resp: Option<Frame>) {
        if let Some(t) = ecs::build(cx, &self.cfg, self.ignored, req, resp) {
            cx.emit(t);
        }
    }

    /// Decompress the body when flagged; `Err` = could not.
    fn body<'a>(&self, h: &Header, body: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, ()> {
        if h.flags & parse::FLAG_COMPRESSION == 0 || body.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(body));
        }
        let known = self.compression.or(self.cfg.compressor);
        let tries: &[Compression] = match known {
            Some(Compression::Lz4) => &[Compression::Lz4],
            Some(Compression::Snappy) => &[Compression::Snappy],
            None => &[Compression::Lz4, Compression::Snappy],
        };
        tries
            .iter()
            .find_map(|c| c.decompress(body))
            .map(std::borrow::Cow::Owned)
            .ok_or(())
    }

    fn remember_prepared(&mut self, id: Vec<u8>, text: String) {
        if self.prepared.insert(id.clone(), text).is_none() {
            self.prepared_order.push_back(id);
            if self.prepared_order.len() > MAX_PREPARED {
                if let Some(old) = self.prepared_order.pop_front() {
                    self.prepared.remove(&old);
                }
            }
        }
    }

    /// The CQL text of a request: its own, or the prepared statements it executes.
    fn query_of(&self, h: &Header, info: &body::ReqInfo) -> Option<String> {
        match h.opcode {
            op::QUERY | op::PREPARE => info.query.clone(),
            op::EXECUTE => info
                .ids
                .first()
                .and_then(|id| self.prepared.get(id).cloned()),
            op::BATCH => {
                let mut ids = info.ids.iter();
                let mut texts: Vec<String> = Vec::new();
                for q in &info.batch {
                    let text = match q {
                        Some(t) => Some(t.clone()),
                        None => ids.next().and_then(|id| self.prepared.get(id).cloned()),
                    };
                    if let Some(t) = text {
                        if !texts.contains(&t) {
                            texts.push(t);
                        }
                    }
                }
                (!texts.is_empty()).then(|| texts.join("; "))
            }
            _ => None,
        }
    }

    fn frame(
        &mut self,
        cx: &mut Cx<'_>,
        dir: Direction,
        bytes: &[u8],
        h: Header,
        cut: bool,
        ts: crate::time::Ts,
    ) {
        let response = dir == Direction::ToClient;
        let mut f = Frame {
            ts,
            header: h,
            query: None,
            fields: serde_json::Map::new(),
            error: None,
            notes: Vec::new(),
        };
        if h.is_response() != response {
            cx.anomaly();
        }
        let raw = bytes.get(h.head_len..).unwrap_or_default();
        let body = if cut && h.flags & parse::FLAG_COMPRESSION != 0 {
            f.notes.push(NOTE_CUT.into());
            None
        } else {
            match self.body(&h, raw) {
                Ok(b) => Some(b),
                Err(()) => {
                    cx.anomaly();
                    f.notes.push(NOTE_DECOMPRESS.into());
                    None
                }
            }
        };
        if response {
            let mut info = body::RespInfo::default();
            if let Some(b) = &body {
                if !body::response(&h, b, &mut info) && !cut {
                    cx.anomaly();
                    f.notes.push(NOTE_MALFORMED.into());
                }
            }
            f.fields = info.fields;
            f.error = info.error;
            self.on_response(cx, f, info.prepared_id);
        } else {
            if let Some(b) = &body {
                match body::request(&h, b) {
                    Some(info) => {
                        if let Some(c) = info.compression.as_deref() {
                            self.compression = Compression::from_name(c);
                        }
                        f.query = self.query_of(&h, &info);
                        f.fields = info.fields;
                    }
                    None if cut => {}
                    None => {
                        cx.anomaly();
                        f.notes.push(NOTE_MALFORMED.into());
                    }
                }
            }
            self.on_request(cx, f);
        }
    }

    fn on_request(&mut self, cx: &mut Cx<'_>, f: Frame) {
        let (stream, ts) = (f.header.stream, f.ts);
        if let Some((_, old)) = self.pending.insert(stream, ts, f) {
            self.publish(cx, Some(old), None);
        }
    }

    fn on_response(&mut self, cx: &mut Cx<'_>, f: Frame, prepared_id: Option<Vec<u8>>) {
        if f.header.opcode == op::EVENT || f.header.stream < 0 {
            self.publish(cx, None, Some(f));
            return;
        }
        let h = f.header;
        let req = self.pending.remove(&h.stream).map(|(_, r)| r);
        if let (Some(r), Some(id)) = (&req, prepared_id) {
            if r.header.opcode == op::PREPARE {
                if let Some(q) = &r.query {
                    self.remember_prepared(id, q.clone());
                }
            }
        }
        if h.proto() >= 5 && matches!(h.opcode, op::READY | op::AUTHENTICATE) {
            // v5 negotiated: from here on, frames are wrapped in v5 segments.
            self.v5_framing = true;
            cx.anomaly();
        }
        self.publish(cx, req, Some(f));
    }
}

impl Dissector for Cassandra {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[9042];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        if data.len() < parse::HEADER_LEN {
            return Probe::Unsure;
        }
        match parse::header(data) {
            Some(h) if parse::plausible(&h) && h.is_response() == (dir == Direction::ToClient) => {
                Probe::Match
            }
            _ => Probe::NotMine,
        }
    }

    fn new(cfg: &Config) -> Self {
        let ignored = cfg
            .ignored_ops
            .iter()
            .fold(0u32, |acc, o| acc | (1u32 << u32::from(o.0.min(31))));
        Cassandra {
            cfg: Box::new(cfg.clone()),
            ignored,
            streams: [Stream::default(), Stream::default()],
            pending: Keyed::new(MAX_PENDING_REQUESTS),
            prepared: HashMap::new(),
            prepared_order: VecDeque::new(),
            compression: None,
            v5_framing: false,
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let response = dir == Direction::ToClient;
        let mut off = 0usize;
        let mut idle = 0usize;
        loop {
            if self.v5_framing {
                return Progress::GiveUp(Reason::Upgraded);
            }
            let rest = data.get(off..).unwrap_or_default();
            if rest.is_empty() {
                return Progress::Consumed;
            }
            let Some(stream) = self.streams.get_mut(dir.index()) else {
                return Progress::GiveUp(Reason::Malformed);
            };
            let used = match stream.step(rest, cx.ts, response) {
                Step::NeedMore { consumed, needed } => {
                    return Progress::NeedMore {
                        consumed: off + consumed,
                        needed,
                    }
                }
                Step::Advance(n) => n,
                Step::LostSync => {
                    cx.anomaly();
                    0
                }
                Step::GiveUp => {
                    cx.anomaly();
                    return Progress::GiveUp(Reason::Malformed);
                }
                Step::Frame {
                    bytes,
                    header,
                    cut,
                    ts,
                } => {
                    self.frame(cx, dir, bytes, header, cut, ts);
                    bytes.len()
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
        let mut expired = Vec::new();
        self.pending
            .expire(cx.ts, cx.common.transaction_timeout, |_, _, f| {
                expired.push(f)
            });
        for f in expired {
            self.publish(cx, Some(f), None);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for (_, _, f) in self.pending.drain_sorted() {
            self.publish(cx, Some(f), None);
        }
    }
}
