//! Thrift-RPC dissector (Packetbeat's `thrift` protocol, extended).
//!
//! Scope: the binary (strict and old-style) and compact protocols over framed and unframed
//! transports, detected per message (or forced by `transport_type`/`protocol_type`); calls,
//! replies, exceptions and one-way calls; values rendered in Packetbeat's text format with its
//! limits (`string_max_size`, `collection_max_size`, `drop_after_n_struct_fields`,
//! `obfuscate_strings`); `idl_files` give parameter and exception names and the service.
//!
//! Correlation: a reply answers the oldest pending call of the same method and seqid (else
//! the same method) sent the other way. One-way calls are request-only events. Status is
//! `Error` for a TApplicationException or a declared exception (reply field id ≠ 0).
//!
//! Layout: `parse.rs` pure value parsers, `state.rs` framing per direction, `idl.rs` the IDL
//! subset; this file holds the options, the correlation, the event fields and the
//! [`Dissector`] impl.

mod idl;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Status, Transport};
use parse::{Limits, Proto};
use state::{Feed, FeedCx, Forced, Framing, Msg, Out, Stream};

pub use idl::IdlFiles;

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "thrift";

/// Most calls waiting for replies on one connection: clients are mostly synchronous; the
/// bound caps memory on one-sided captures.
const MAX_PENDING: usize = 64;

/// Note on a call never answered.
const NOTE_NO_RESPONSE: &str = "No response to this call was received";

/// `transport_type`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TransportType {
    /// Detect per message (default; Packetbeat's default is `socket`).
    #[default]
    Auto,
    /// Unframed (TSocket / TBufferedTransport).
    Socket,
    /// TFramedTransport.
    Framed,
}

/// `protocol_type`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolType {
    /// Detect per message (default; Packetbeat knows only `binary`).
    #[default]
    Auto,
    /// TBinaryProtocol.
    Binary,
    /// TCompactProtocol.
    Compact,
}

/// Thrift-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Transport framing (`socket`, `framed`, or `auto`).
    pub transport_type: TransportType,
    /// Protocol (`binary`, `compact`, or `auto`).
    pub protocol_type: ProtocolType,
    /// Thrift IDL files naming parameters, exceptions and services.
    pub idl_files: IdlFiles,
    /// Strings longer than this are cut.
    pub string_max_size: usize,
    /// Collections show at most this many elements.
    pub collection_max_size: usize,
    /// Decode replies (`return_value`, `exceptions`).
    pub capture_reply: bool,
    /// Replace every string by `"*"`.
    pub obfuscate_strings: bool,
    /// A struct with this many fields is treated as garbage.
    pub drop_after_n_struct_fields: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            transport_type: TransportType::Auto,
            protocol_type: ProtocolType::Auto,
            idl_files: IdlFiles::default(),
            string_max_size: 200,
            collection_max_size: 15,
            capture_reply: true,
            obfuscate_strings: false,
            drop_after_n_struct_fields: 500,
        }
    }
}

/// A call waiting for its reply.
struct Pending {
    dir: Direction,
    msg: Box<Msg>,
}

/// One Thrift connection.
pub struct Thrift {
    /// Options (boxed: keeps the dissector enum small).
    cfg: Box<Config>,
    lim: Limits,
    forced: Forced,
    streams: [Stream; 2],
    pending: VecDeque<Pending>,
    scratch: Vec<Out>,
}

/// `(f1, f2)` with IDL names where known, `...` after `collection_max` fields.
fn format_struct(
    fields: &[(i16, String)],
    names: Option<&std::collections::HashMap<i16, String>>,
    max: usize,
) -> String {
    let mut s = String::from("(");
    for (i, (id, v)) in fields.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if i == max {
            s.push_str("...");
            break;
        }
        match names.and_then(|n| n.get(id)) {
            Some(name) => s.push_str(name),
            None => s.push_str(&id.to_string()),
        }
        s.push_str(": ");
        s.push_str(v);
    }
    s.push(')');
    s
}

impl Thrift {
    fn publish(&self, cx: &mut Cx<'_>, dir: Direction, req: Msg, resp: Option<Box<Msg>>) {
        let mut t = cx.txn(NAME);
        if dir == Direction::ToClient {
            std::mem::swap(&mut t.client, &mut t.server);
        }
        // TMultiplexedProtocol sends `Service:function`.
        let (mux_service, function) = match req.name.split_once(':') {
            Some((s, f)) => (Some(s), f),
            None => (None, req.name.as_str()),
        };
        let func = self.cfg.idl_files.idl.find(function);
        let max = self.cfg.collection_max_size;
        let params = format_struct(&req.fields, func.map(|f| &f.params), max);
        let mut th = Map::new();
        th.insert("params".into(), params.clone().into());
        if let Some(service) = func.map(|f| f.service.as_str()).or(mux_service) {
            th.insert("service".into(), service.into());
            t.path = Some(service.to_owned());
        }
        t.query = Some(format!("{}{params}", req.name));
        if cx.common.send_request {
            t.request_raw = t.query.clone();
        }
        t.request_ts = Some(req.ts);
        t.request_bytes = Some(req.bytes);
        t.notes.extend(req.notes.iter().cloned());
        match resp {
            Some(r) => {
                t.response_ts = Some(r.ts);
                t.response_bytes = Some(r.bytes);
                t.notes.extend(r.notes.iter().cloned());
                let first = r.fields.first();
                let exception =
                    r.mtype == parse::T_EXCEPTION || first.is_some_and(|(id, _)| *id != 0);
                if exception {
                    t.status = Status::Error;
                }
                let (ret, exc) = match first {
                    Some((0, v)) if !exception => (v.clone(), String::new()),
                    Some(_) => {
                        let names = if r.mtype == parse::T_EXCEPTION {
                            None
                        } else {
                            func.map(|f| &f.exceptions)
                        };
                        (String::new(), format_struct(&r.fields, names, max))
                    }
                    None => (String::new(), String::new()),
                };
                if self.cfg.capture_reply {
                    th.insert("return_value".into(), ret.clone().into());
                    if !exc.is_empty() {
                        th.insert("exceptions".into(), exc.clone().into());
                    }
                    if cx.common.send_response {
                        t.response_raw = Some(if exception {
                            format!("Exceptions: {exc}")
                        } else {
                            ret
                        });
                    }
                }
            }
            None if req.mtype == parse::T_ONEWAY => {}
            None => {
                t.unmatched = super::txn::Unmatched::Request;
                t.notes.push(NOTE_NO_RESPONSE.to_owned());
            }
        }
        t.method = Some(req.name);
        t.fields.insert(NAME.into(), Value::Object(th));
        cx.emit(t);
    }

    fn on_msg(&mut self, cx: &mut Cx<'_>, dir: Direction, msg: Box<Msg>) {
        match msg.mtype {
            parse::T_ONEWAY => self.publish(cx, dir, *msg, None),
            parse::T_CALL => {
                if self.pending.len() >= MAX_PENDING {
                    if let Some(p) = self.pending.pop_front() {
                        self.publish(cx, p.dir, *p.msg, None);
                    }
                }
                self.pending.push_back(Pending { dir, msg });
            }
            parse::T_REPLY | parse::T_EXCEPTION => {
                let peer = dir.reverse();
                let pos = self
                    .pending
                    .iter()
                    .position(|p| {
                        p.dir == peer && p.msg.name == msg.name && p.msg.seqid == msg.seqid
                    })
                    .or_else(|| {
                        self.pending
                            .iter()
                            .position(|p| p.dir == peer && p.msg.name == msg.name)
                    });
                match pos.and_then(|i| self.pending.remove(i)) {
                    Some(p) => self.publish(cx, p.dir, *p.msg, Some(msg)),
                    None => cx.stats.unmatched_responses += 1,
                }
            }
            _ => cx.anomaly(),
        }
    }

    fn drain_outputs(&mut self, cx: &mut Cx<'_>, dir: Direction, outs: &mut Vec<Out>) {
        for o in outs.drain(..) {
            match o {
                Out::Anomaly => cx.anomaly(),
                Out::Msg(m) => self.on_msg(cx, dir, m),
            }
        }
    }
}

impl Dissector for Thrift {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[9090];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        let strict = |d: &[u8]| {
            matches!(
                d,
                [0x80, 0x01, 0x00, 1..=4, ..] | [0x82, 0x21 | 0x41 | 0x61 | 0x81, ..]
            )
        };
        if data.len() < 4 {
            return Probe::Unsure;
        }
        if strict(data) || data.get(4..).is_some_and(strict) {
            Probe::Match
        } else {
            Probe::Unsure
        }
    }

    fn new(cfg: &Config) -> Self {
        Thrift {
            lim: Limits {
                string_max: cfg.string_max_size,
                collection_max: cfg.collection_max_size,
                max_fields: cfg.drop_after_n_struct_fields.max(1),
                obfuscate: cfg.obfuscate_strings,
            },
            forced: Forced {
                framing: match cfg.transport_type {
                    TransportType::Auto => None,
                    TransportType::Socket => Some(Framing::Unframed),
                    TransportType::Framed => Some(Framing::Framed),
                },
                proto: match cfg.protocol_type {
                    ProtocolType::Auto => None,
                    ProtocolType::Binary => Some(Proto::Binary),
                    ProtocolType::Compact => Some(Proto::Compact),
                },
            },
            cfg: Box::new(cfg.clone()),
            streams: [Stream::default(), Stream::default()],
            pending: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let fx = FeedCx {
            ts: cx.ts,
            lim: &self.lim,
            forced: self.forced,
        };
        let mut outs = std::mem::take(&mut self.scratch);
        let feed = match self.streams.get_mut(dir.index()) {
            Some(s) => s.feed(&fx, data, &mut outs),
            None => Feed::Consumed,
        };
        self.drain_outputs(cx, dir, &mut outs);
        self.scratch = outs;
        match feed {
            Feed::Consumed => Progress::Consumed,
            Feed::NeedMore { consumed } => Progress::NeedMore {
                consumed,
                needed: 0,
            },
        }
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, dir: Direction, len: usize) {
        if let Some(s) = self.streams.get_mut(dir.index()) {
            s.gap(len);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let (now, timeout) = (cx.ts, cx.common.transaction_timeout);
        while self
            .pending
            .front()
            .is_some_and(|p| p.msg.ts.add(timeout) <= now)
        {
            if let Some(p) = self.pending.pop_front() {
                self.publish(cx, p.dir, *p.msg, None);
            }
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        while let Some(p) = self.pending.pop_front() {
            self.publish(cx, p.dir, *p.msg, None);
        }
    }
}
