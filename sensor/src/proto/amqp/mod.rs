//! AMQP 0-9-1 dissector (Packetbeat's `amqp` protocol).
//!
//! Scope: the protocol header and every frame type (method, content header, body, heartbeat);
//! the classes connection, channel, exchange, queue, basic, confirm and tx with all their
//! arguments; content-bearing methods reassembled from method + header + body frames (bodies
//! split over frames and TCP segments, at most `max_body_length` bytes kept); field tables of
//! every AMQP type.
//!
//! Transactions: one event per method that is not itself a reply. Synchronous methods are
//! paired with their `-ok` per channel and per sender; asynchronous ones (publish, deliver,
//! return, ack, nack, reject, recover-async, anything with `no-wait`) are request-only events
//! whose client is their sender (the broker for `basic.deliver`). A request answered by the
//! peer's `channel.close`/`connection.close` is `Error` and carries the reply code and text;
//! the close is its own event, paired with its `close-ok`. With `hide_connection_information`
//! (default) connection.*, channel.* and basic.qos events are published only when failed.
//!
//! Layout: `parse.rs` pure parsers, `methods.rs` the method table, `state.rs` framing per direction, `ecs.rs` event fields;
//! this file holds the options, the correlation and the [`Dissector`] impl.

mod ecs;
mod methods;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use serde::Deserialize;

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};
use ecs::End;
use methods::Role;
use state::{Feed, FeedCx, Msg, Out, Stream};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "amqp";

/// Default `max_body_length` (Packetbeat: 1000 bytes of each message body are kept).
const DEFAULT_MAX_BODY_LENGTH: usize = 1000;

/// Most synchronous requests waiting for a reply on one connection: one or two per open
/// channel in practice; the bound caps memory on one-sided captures.
const MAX_PENDING: usize = 256;

/// AMQP-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Body bytes kept per message (for `request`/`response` texts).
    pub max_body_length: usize,
    /// Decode content-header properties (content-type, headers, delivery-mode, ...).
    pub parse_headers: bool,
    /// Decode the `arguments` tables of declare/bind/consume methods.
    pub parse_arguments: bool,
    /// Publish connection.*, channel.* and basic.qos events only when they failed.
    pub hide_connection_information: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_length: DEFAULT_MAX_BODY_LENGTH,
            parse_headers: true,
            parse_arguments: true,
            hide_connection_information: true,
        }
    }
}

/// A synchronous request waiting for its reply.
struct Pending {
    /// Direction the request was sent in.
    dir: Direction,
    msg: Box<Msg>,
}

/// One AMQP connection.
pub struct Amqp {
    /// Options (boxed: keeps the dissector enum small).
    cfg: Box<Config>,
    /// Framing per direction (index = [`Direction::index`]).
    streams: [Stream; 2],
    /// Synchronous requests (and closes) waiting for their replies, oldest first.
    pending: VecDeque<Pending>,
    /// Reused output buffer of the framing layer.
    scratch: Vec<Out>,
}

impl Amqp {
    fn publish(&self, cx: &mut Cx<'_>, dir: Direction, req: Msg, end: End<'_>) {
        let hideable = req.class == parse::CLASS_CONNECTION
            || req.class == parse::CLASS_CHANNEL
            || req.def.name == "basic.qos";
        let txn = ecs::build(cx, &self.cfg, dir, req, end);
        if self.cfg.hide_connection_information && hideable && txn.status == super::Status::Ok {
            return;
        }
        cx.emit(txn);
    }

    /// Publish `pending` entries selected by `pick` as unanswered.
    fn flush_pending(&mut self, cx: &mut Cx<'_>, pick: impl Fn(&Pending) -> bool) {
        let mut keep = VecDeque::with_capacity(self.pending.len());
        let mut gone = Vec::new();
        for p in self.pending.drain(..) {
            if pick(&p) {
                gone.push(p);
            } else {
                keep.push_back(p);
            }
        }
        self.pending = keep;
        for p in gone {
            self.publish(cx, p.dir, *p.msg, End::Unanswered);
        }
    }

    fn push_pending(&mut self, cx: &mut Cx<'_>, dir: Direction, msg: Box<Msg>) {
        if self.pending.len() >= MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                self.publish(cx, old.dir, *old.msg, End::Unanswered);
            }
        }
        self.pending.push_back(Pending { dir, msg });
    }

    /// A complete method arrived from `dir`.
    fn on_msg(&mut self, cx: &mut Cx<'_>, dir: Direction, msg: Box<Msg>) {
        let peer = dir.reverse();
        match msg.def.role {
            Role::Async => self.publish(cx, dir, *msg, End::Async),
            Role::Sync if msg.no_wait => self.publish(cx, dir, *msg, End::Async),
            Role::Sync => self.push_pending(cx, dir, msg),
            Role::Reply => {
                let pos = self.pending.iter().position(|p| {
                    p.dir == peer
                        && p.msg.channel == msg.channel
                        && methods::answers(p.msg.class, p.msg.method, msg.class, msg.method)
                });
                match pos.and_then(|i| self.pending.remove(i)) {
                    Some(p) => self.publish(cx, p.dir, *p.msg, End::Reply(msg)),
                    None => cx.stats.unmatched_responses += 1,
                }
            }
            Role::Close => {
                self.fail_pending(cx, peer, &msg);
                self.push_pending(cx, dir, msg);
            }
            Role::CloseOk => {
                let pos = self.pending.iter().position(|p| {
                    p.dir == peer
                        && p.msg.def.role == Role::Close
                        && p.msg.class == msg.class
                        && p.msg.channel == msg.channel
                });
                let (class, channel) = (msg.class, msg.channel);
                match pos.and_then(|i| self.pending.remove(i)) {
                    Some(p) => self.publish(cx, p.dir, *p.msg, End::Reply(msg)),
                    None => cx.stats.unmatched_responses += 1,
                }
                // Nothing pending on a closed channel (or connection) will be answered.
                if class == parse::CLASS_CONNECTION {
                    self.flush_pending(cx, |_| true);
                } else {
                    self.flush_pending(cx, |p| p.msg.channel == channel);
                }
            }
        }
    }

    /// The peer of `requester` sent `close`: the requests it answers fail.
    fn fail_pending(&mut self, cx: &mut Cx<'_>, requester: Direction, close: &Msg) {
        let victim = |p: &Pending, any_channel: bool| {
            p.dir == requester
                && p.msg.def.role != Role::Close
                && (any_channel || p.msg.channel == close.channel)
        };
        let mut idx: Vec<usize> = (0..self.pending.len())
            .filter(|&i| self.pending.get(i).is_some_and(|p| victim(p, false)))
            .collect();
        if idx.is_empty() && close.class == parse::CLASS_CONNECTION && close.is_error_code() {
            // A connection-level exception caused by a request on some channel: the newest.
            idx.extend(
                (0..self.pending.len())
                    .rev()
                    .find(|&i| self.pending.get(i).is_some_and(|p| victim(p, true))),
            );
        }
        for i in idx.into_iter().rev() {
            if let Some(p) = self.pending.remove(i) {
                self.publish(cx, p.dir, *p.msg, End::ClosedBy(close));
            }
        }
    }

    fn drain_outputs(&mut self, cx: &mut Cx<'_>, dir: Direction, outs: &mut Vec<Out>) {
        for o in outs.drain(..) {
            match o {
                Out::ProtocolHeader => {}
                Out::Anomaly => cx.anomaly(),
                Out::Msg(m) => self.on_msg(cx, dir, m),
            }
        }
    }
}

/// Probe a frame start: a known method in a complete-looking method frame.
fn probe_frame(data: &[u8]) -> Probe {
    let Some(h) = parse::frame_head(data) else {
        return Probe::Unsure;
    };
    if !parse::known_frame_type(h.kind) {
        return Probe::NotMine;
    }
    if h.kind != parse::FRAME_METHOD {
        return Probe::Unsure;
    }
    let c = data.get(7..).and_then(parse::be16);
    let m = data.get(9..).and_then(parse::be16);
    match (c, m) {
        (Some(c), Some(m)) if methods::method_def(c, m).is_some() => Probe::Match,
        (Some(_), Some(_)) => Probe::NotMine,
        _ => Probe::Unsure,
    }
}

impl Dissector for Amqp {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[5672];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        match parse::is_protocol_header(data) {
            Some(true) => Probe::Match,
            None => Probe::Unsure,
            Some(false) => probe_frame(data),
        }
    }

    fn new(cfg: &Config) -> Self {
        Amqp {
            cfg: Box::new(cfg.clone()),
            streams: [Stream::default(), Stream::default()],
            pending: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let fx = FeedCx {
            ts: cx.ts,
            max_body: self.cfg.max_body_length,
            parse_headers: self.cfg.parse_headers,
            parse_arguments: self.cfg.parse_arguments,
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
            Feed::NeedMore { consumed, needed } => Progress::NeedMore { consumed, needed },
        }
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
        let mut outs = std::mem::take(&mut self.scratch);
        if let Some(s) = self.streams.get_mut(dir.index()) {
            s.gap(len, &mut outs);
        }
        self.drain_outputs(cx, dir, &mut outs);
        self.scratch = outs;
    }

    fn on_fin(&mut self, cx: &mut Cx<'_>, dir: Direction) {
        let mut outs = std::mem::take(&mut self.scratch);
        if let Some(s) = self.streams.get_mut(dir.index()) {
            s.flush(&mut outs);
        }
        self.drain_outputs(cx, dir, &mut outs);
        self.scratch = outs;
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let (now, timeout) = (cx.ts, cx.common.transaction_timeout);
        if self.pending.iter().any(|p| p.msg.ts.add(timeout) <= now) {
            self.flush_pending(cx, |p| p.msg.ts.add(timeout) <= now);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            self.on_fin(cx, dir);
        }
        self.flush_pending(cx, |_| true);
    }
}
