//! HTTP/1.x dissector (Packetbeat's `http` protocol).
//!
//! Scope: HTTP/1.0 and 1.1 over TCP — keep-alive, pipelining (FIFO correlation),
//! Content-Length, chunked (extensions, trailers) and close-delimited bodies in both
//! directions, interim 1xx responses (not counted, not the answer), HEAD/204/304 without body,
//! CONNECT/Upgrade (parsing stops after the switching response is published). Gaps inside a
//! body are tolerated; a gap in a header block drops that message and the direction resyncs on
//! the next start line.
//!
//! Layout: `parse.rs` pure parsers, `state.rs` framing per direction, `ecs.rs` event fields;
//! this file holds the options, the correlation and the [`Dissector`] impl.

#[cfg(test)]
mod corpus_tests;
mod ecs;
mod parse;
mod state;
#[cfg(test)]
mod tests;
mod values;

use std::collections::VecDeque;

use serde::Deserialize;

use super::correlate::Fifo;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Transport};
use state::{GapOut, Msg, ReqKind, Step, StepCx, Stream};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "http";

/// Default `max_message_size` (Packetbeat: 10 MiB).
const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// Most requests kept waiting for their responses on one connection: pipelining clients keep
/// a handful in flight; the bound caps memory on one-sided captures.
const MAX_PENDING_REQUESTS: usize = 64;

/// Most responses kept waiting for a request still being received (early answers such as
/// 413/417 sent before the request body ends): one per in-flight request is plenty.
const MAX_EARLY_RESPONSES: usize = 8;

/// Most framing steps in a row that consume nothing (phase changes): every chain of
/// transitions is shorter than this, so hitting it means a bug, reported as malformed input
/// instead of spinning.
const MAX_IDLE_STEPS: usize = 8;

/// Start of the HTTP/2 connection preface (RFC 9113 §3.4): the client speaks HTTP/2 with
/// prior knowledge.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// `send_headers`: a list of header names, or `true` for all of them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SendHeaders {
    /// `true`: every header; `false`: none.
    All(bool),
    /// These header names (case-insensitive).
    Names(Vec<String>),
}

impl Default for SendHeaders {
    fn default() -> Self {
        SendHeaders::All(false)
    }
}

/// HTTP-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Query parameters whose values are replaced by `xxxxx`.
    pub hide_keywords: Vec<String>,
    /// Mask `Authorization`/`Proxy-Authorization` (else the Basic-auth user → `user.name`).
    pub redact_authorization: bool,
    /// Headers whose values are replaced by `REDACTED`.
    pub redact_headers: Vec<String>,
    /// Headers put into `http.*.headers` (a list, or `true` for all).
    pub send_headers: SendHeaders,
    /// Put every header into `http.*.headers`.
    pub send_all_headers: bool,
    /// Split `Cookie`/`Set-Cookie` into a name → value object.
    pub split_cookie: bool,
    /// Header carrying the client's real address (→ `network.forwarded_ip`).
    pub real_ip_header: Option<String>,
    /// Content-Types (substrings) whose bodies are published, both directions.
    pub include_body_for: Vec<String>,
    /// Content-Types whose request bodies are published.
    pub include_request_body_for: Vec<String>,
    /// Content-Types whose response bodies are published.
    pub include_response_body_for: Vec<String>,
    /// Undo gzip/deflate codings of published bodies.
    pub decode_body: bool,
    /// Most body bytes kept per message (larger messages are still framed and counted).
    pub max_message_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hide_keywords: Vec::new(),
            redact_authorization: false,
            redact_headers: Vec::new(),
            send_headers: SendHeaders::default(),
            send_all_headers: false,
            split_cookie: false,
            real_ip_header: None,
            include_body_for: Vec::new(),
            include_request_body_for: Vec::new(),
            include_response_body_for: Vec::new(),
            decode_body: true,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl Config {
    /// Is header `name` published in `http.*.headers`?
    pub fn header_selected(&self, name: &str) -> bool {
        if self.send_all_headers {
            return true;
        }
        match &self.send_headers {
            SendHeaders::All(all) => *all,
            SendHeaders::Names(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }

    /// Is the body of a message with this Content-Type published?
    pub fn includes_body(&self, request: bool, content_type: Option<&str>) -> bool {
        let specific = if request {
            &self.include_request_body_for
        } else {
            &self.include_response_body_for
        };
        let Some(ct) = content_type else {
            return false;
        };
        if self.include_body_for.is_empty() && specific.is_empty() {
            return false;
        }
        let ct = ct.to_ascii_lowercase();
        self.include_body_for
            .iter()
            .chain(specific.iter())
            .any(|p| !p.is_empty() && ct.contains(&p.to_ascii_lowercase()))
    }
}

/// One HTTP connection.
pub struct Http {
    /// Options (boxed: keeps the dissector enum small).
    cfg: Box<Config>,
    /// Client → server.
    req: Stream,
    /// Server → client.
    resp: Stream,
    /// Complete requests waiting for their responses.
    requests: Fifo<Box<Msg>>,
    /// Kinds of requests whose final response head has not been seen (response framing).
    kinds: VecDeque<ReqKind>,
    /// Complete responses that arrived while their request was still being received.
    early: VecDeque<Box<Msg>>,
    /// The connection switched protocols: nothing more is parsed.
    upgraded: bool,
}

impl Http {
    fn stream(&mut self, dir: Direction) -> &mut Stream {
        match dir {
            Direction::ToServer => &mut self.req,
            Direction::ToClient => &mut self.resp,
        }
    }

    fn publish(&self, cx: &mut Cx<'_>, req: Option<Box<Msg>>, resp: Option<Box<Msg>>) {
        let txn = ecs::build(cx, &self.cfg, req, resp);
        cx.emit(txn);
    }

    /// A message of `dir` is complete: correlate and publish what can be.
    fn complete(&mut self, cx: &mut Cx<'_>, msg: Box<Msg>) {
        if msg.is_request() {
            if let Some(resp) = self.early.pop_front() {
                self.publish(cx, Some(msg), Some(resp));
            } else if let Some((_, old)) = self.requests.push(msg.ts, msg) {
                self.publish(cx, Some(old), None);
            }
            return;
        }
        if msg.upgrade {
            self.upgraded = true;
        }
        if let Some((_, req)) = self.requests.pop() {
            self.publish(cx, Some(req), Some(msg));
        } else if self.req.in_progress() && !self.upgraded {
            if self.early.len() >= MAX_EARLY_RESPONSES {
                let old = self.early.pop_front();
                self.publish(cx, None, old);
            }
            self.early.push_back(msg);
        } else {
            self.publish(cx, None, Some(msg));
        }
    }

    /// Finish whatever `dir` has in progress (FIN or close).
    fn close_stream(&mut self, cx: &mut Cx<'_>, dir: Direction) {
        let (msg, lost_head) = self.stream(dir).close();
        if lost_head {
            cx.anomaly();
        }
        if let Some(m) = msg {
            self.complete(cx, m);
        }
    }
}

impl Dissector for Http {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[80, 8080, 8000, 5000, 8002];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        let looks = match dir {
            Direction::ToServer => {
                let known = parse::looks_like_request(data);
                if known == parse::Looks::Yes {
                    return Probe::Match;
                }
                // A known method followed by a space is enough.
                if parse::known_method_prefix(data) {
                    return Probe::Match;
                }
                known
            }
            Direction::ToClient => parse::looks_like_response(data),
        };
        match looks {
            parse::Looks::Yes => Probe::Match,
            parse::Looks::Maybe => Probe::Unsure,
            parse::Looks::No => Probe::NotMine,
        }
    }

    fn new(cfg: &Config) -> Self {
        Http {
            cfg: Box::new(cfg.clone()),
            req: Stream::default(),
            resp: Stream::default(),
            requests: Fifo::new(MAX_PENDING_REQUESTS),
            kinds: VecDeque::new(),
            early: VecDeque::new(),
            upgraded: false,
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        if self.upgraded {
            return Progress::GiveUp(Reason::Upgraded);
        }
        let keep_raw = match dir {
            Direction::ToServer => cx.common.send_request,
            Direction::ToClient => cx.common.send_response,
        };
        let mut off = 0usize;
        let mut idle = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            if rest.is_empty() && !self.stream(dir).wants_step() {
                return Progress::Consumed;
            }
            if dir == Direction::ToServer
                && self.req.phase == state::Phase::Start
                && rest.starts_with(H2_PREFACE)
            {
                // HTTP/2 with prior knowledge: not parsed (HTTP/1.x only).
                self.upgraded = true;
                return Progress::GiveUp(Reason::Upgraded);
            }
            let sx = StepCx {
                cfg: &self.cfg,
                dir,
                ts: cx.ts,
                keep_raw,
                req_kind: self.kinds.front().copied().unwrap_or_default(),
            };
            let step = match dir {
                Direction::ToServer => self.req.step(&sx, rest),
                Direction::ToClient => self.resp.step(&sx, rest),
            };
            let used = match step {
                Step::Advance(n) | Step::Interim(n) => n,
                Step::NeedMore(needed) => {
                    return Progress::NeedMore {
                        consumed: off,
                        needed,
                    }
                }
                Step::RequestHead(n, kind) => {
                    if self.kinds.len() >= MAX_PENDING_REQUESTS {
                        self.kinds.pop_front();
                    }
                    self.kinds.push_back(kind);
                    n
                }
                Step::ResponseHead(n) => {
                    self.kinds.pop_front();
                    n
                }
                Step::Complete(msg) => {
                    self.complete(cx, msg);
                    if self.upgraded {
                        return Progress::GiveUp(Reason::Upgraded);
                    }
                    0
                }
                Step::Malformed(n, msg) => {
                    cx.anomaly();
                    if let Some(m) = msg {
                        self.complete(cx, m);
                    }
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

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
        if self.upgraded {
            return;
        }
        if let GapOut::Publish(m) = self.stream(dir).gap(len) {
            self.complete(cx, m);
        }
    }

    fn on_fin(&mut self, cx: &mut Cx<'_>, dir: Direction) {
        if self.upgraded {
            return;
        }
        self.close_stream(cx, dir);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let timeout = cx.common.transaction_timeout;
        // A response being received answers the oldest request: keep it.
        if !self.resp.in_progress() && !self.requests.is_empty() {
            let mut expired = Vec::new();
            self.requests.expire(cx.ts, timeout, |_, m| expired.push(m));
            for m in expired {
                self.publish(cx, Some(m), None);
                self.kinds.pop_front();
            }
        }
        while self
            .early
            .front()
            .is_some_and(|m| m.ts.add(timeout) <= cx.ts)
        {
            let m = self.early.pop_front();
            self.publish(cx, None, m);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        if !self.upgraded {
            self.close_stream(cx, Direction::ToServer);
            self.close_stream(cx, Direction::ToClient);
        }
        let pending: Vec<Box<Msg>> = self.requests.drain().map(|(_, m)| m).collect();
        for m in pending {
            self.publish(cx, Some(m), None);
        }
        while let Some(m) = self.early.pop_front() {
            self.publish(cx, None, Some(m));
        }
        self.kinds.clear();
    }
}
