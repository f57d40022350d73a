//! PostgreSQL dissector (Packetbeat's `pgsql` protocol), frontend/backend protocol 3.0.
//!
//! Scope: startup (user, database, application_name; SSLRequest/GSSENCRequest answered `N`
//! continue in clear, `S`/`G` stop parsing), the authentication exchange, simple Query
//! (several statements per query), the extended query protocol (Parse/Bind/Describe/
//! Execute/Close/Sync/Flush with named and unnamed statements remembered per connection),
//! COPY in and out, FunctionCall; ErrorResponse, NoticeResponse, asynchronous
//! NotificationResponse/ParameterStatus outside responses. A request unit ends with its
//! Query or Sync; its response is every server message up to ReadyForQuery. Messages are
//! consumed one by one; one larger than a bounded window is skipped as it streams by.
//!
//! Layout: `parse.rs` pure parsers, `state.rs` units and responses, `ecs.rs` event fields;
//! this file holds the options, framing, correlation and the [`Dissector`] impl.

mod ecs;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Transport};
use crate::time::Ts;
use parse::{Typed, TYPED_HEADER_LEN, UNTYPED_HEADER_LEN};
use state::{Kind, Limits, Resp, Startup, Unit};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "pgsql";

/// Packetbeat's default `max_rows`.
const DEFAULT_MAX_ROWS: usize = 10;
/// Packetbeat's default `max_row_length`.
const DEFAULT_MAX_ROW_LENGTH: usize = 1024;

/// Largest client message parsed whole (statement text beyond it is cut): big enough for
/// any hand-written or generated statement, small enough not to buffer a bulk COPY chunk.
const MAX_CLIENT_MESSAGE: usize = 1024 * 1024;
/// Largest server message parsed whole; larger ones (big rows, COPY data) are skipped after
/// their head.
const MAX_SERVER_MESSAGE: usize = 64 * 1024;
/// Head of an oversized message that is parsed (row display needs at most
/// `max_row_length` of it).
const MIN_PREFIX: usize = 4096;
/// Most request units waiting for ReadyForQuery: pipelining clients keep a few dozen in
/// flight; the bound caps memory on one-sided captures.
const MAX_PENDING_UNITS: usize = 64;
/// Most named statements remembered per connection (ORMs keep a few hundred at most).
const MAX_STATEMENTS: usize = 1024;
/// Largest message length believed when resynchronising after a gap (the server's own
/// limit for a message is 1 GiB).
const MAX_PLAUSIBLE_MESSAGE: usize = 1 << 30;

/// PostgreSQL-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Rows kept in `response` (with `send_response`).
    pub max_rows: usize,
    /// Bytes kept per row in `response`.
    pub max_row_length: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_rows: DEFAULT_MAX_ROWS,
            max_row_length: DEFAULT_MAX_ROW_LENGTH,
        }
    }
}

/// Framing of one direction.
#[derive(Clone, Debug, Default)]
struct Framer {
    /// Bytes of the current (oversized) message still to skip.
    skip: usize,
    /// Time of the first byte of the unconsumed tail.
    tail_ts: Option<Ts>,
    /// Lost sync after a gap: wait for a plausible message start.
    resync: bool,
}

/// One PostgreSQL connection.
pub struct Pgsql {
    cfg: Config,
    fr: [Framer; 2],
    /// The client's next message is untyped (startup phase); `None` = not known yet.
    untyped: Option<bool>,
    /// The server's next byte answers an SSLRequest/GSSENCRequest.
    ssl_answer: bool,
    /// Units in order; the front one is being answered, the back one may still be open.
    units: VecDeque<Box<Unit>>,
    /// Response being received for the front unit.
    resp: Option<Box<Resp>>,
    /// Statement name → text ("" = the unnamed statement).
    stmts: HashMap<String, String>,
    upgraded: bool,
}

/// A unit worth an event (a lone Sync or Flush is not).
fn publishable(u: &Unit, r: Option<&Resp>) -> bool {
    u.kind != Kind::Extended
        || u.substantive
        || u.close_only
        || r.is_some_and(|r| r.error.is_some())
}

impl Pgsql {
    fn limits(&self) -> Limits {
        Limits {
            max_rows: self.cfg.max_rows,
            max_row_length: self.cfg.max_row_length,
        }
    }

    fn publish(cx: &mut Cx<'_>, u: Box<Unit>, r: Option<Box<Resp>>, note: Option<&str>) {
        if publishable(&u, r.as_deref()) {
            let txn = ecs::build(cx, *u, r.map(|r| *r), note);
            cx.emit(txn);
        }
    }

    /// The front unit is answered (ReadyForQuery, or a startup failure).
    fn finish_front(&mut self, cx: &mut Cx<'_>, note: Option<&str>) {
        let resp = self.resp.take();
        if let Some(u) = self.units.pop_front() {
            Self::publish(cx, u, resp, note);
        }
    }

    fn push_unit(&mut self, cx: &mut Cx<'_>, u: Box<Unit>) {
        if self.units.len() >= MAX_PENDING_UNITS {
            self.finish_front(cx, Some(ecs::NOTE_UNMATCHED));
        }
        self.units.push_back(u);
    }

    /// The open extended-protocol unit (created when none is open).
    fn building(&mut self, cx: &mut Cx<'_>, ts: Ts) -> Option<&mut Box<Unit>> {
        if self.units.back().is_none_or(|u| u.closed) {
            self.push_unit(cx, Box::new(Unit::new(ts, Kind::Extended)));
        }
        self.units.back_mut()
    }

    fn remember(&mut self, name: &[u8], text: &[u8]) {
        let name = parse::text(name);
        if self.stmts.len() >= MAX_STATEMENTS && !self.stmts.contains_key(&name) {
            if let Some(k) = self.stmts.keys().find(|k| !k.is_empty()).cloned() {
                self.stmts.remove(&k);
            }
        }
        self.stmts.insert(name, parse::text(text));
    }

    fn untyped_message(&mut self, cx: &mut Cx<'_>, ts: Ts, size: usize, code: u32, body: &[u8]) {
        match code {
            parse::SSL_REQUEST | parse::GSSENC_REQUEST => self.ssl_answer = true,
            parse::CANCEL_REQUEST => {}
            _ => {
                let mut s = Startup::default();
                for (k, v) in parse::startup_params(body) {
                    let v = Some(parse::text(v));
                    match k {
                        b"user" => s.user = v,
                        b"database" => s.database = v,
                        b"application_name" => s.application_name = v,
                        _ => {}
                    }
                }
                if s.database.is_none() {
                    s.database.clone_from(&s.user);
                }
                let mut u = Box::new(Unit::new(ts, Kind::Startup));
                u.bytes = size as u64;
                u.startup = Some(s);
                self.push_unit(cx, u);
                self.untyped = Some(false);
            }
        }
    }

    fn client_message(&mut self, cx: &mut Cx<'_>, ts: Ts, m: Typed, body: &[u8]) {
        let size = m.size as u64;
        let cut = m.size > body.len() + TYPED_HEADER_LEN;
        match m.kind {
            b'Q' => {
                let text = parse::text(parse::query_text(body));
                let open = self.units.back().is_some_and(|u| !u.closed);
                let mut u = match open.then(|| self.units.pop_back()).flatten() {
                    Some(u) => u,
                    None => Box::new(Unit::new(ts, Kind::Simple)),
                };
                u.kind = Kind::Simple;
                u.bytes += size;
                u.query = Some(text);
                u.closed = true;
                if cut {
                    u.notes.push(ecs::NOTE_TRUNCATED.to_owned());
                }
                self.push_unit(cx, u);
                self.fr[1].resync = false;
            }
            b'P' => {
                let (name, text) = parse::parse_msg(body);
                self.remember(name, text);
                if let Some(u) = self.building(cx, ts) {
                    u.bytes += size;
                    u.substantive = true;
                    u.close_only = false;
                    if u.query.is_none() {
                        u.query = Some(parse::text(text));
                        u.statement = Some(parse::text(name));
                        if cut {
                            u.notes.push(ecs::NOTE_TRUNCATED.to_owned());
                        }
                    }
                }
            }
            b'B' => {
                let name = parse::bind_stmt(body).map(parse::text);
                let known = name.as_ref().and_then(|n| self.stmts.get(n)).cloned();
                if let Some(u) = self.building(cx, ts) {
                    u.bytes += size;
                    u.substantive = true;
                    u.close_only = false;
                    if u.query.is_none() {
                        if known.is_none() {
                            u.notes.push(ecs::NOTE_UNKNOWN_STMT.to_owned());
                        }
                        u.query = known;
                        u.statement = name;
                    }
                }
            }
            b'D' | b'E' => {
                if let Some(u) = self.building(cx, ts) {
                    u.bytes += size;
                    u.substantive = true;
                    u.close_only = false;
                }
            }
            b'C' => {
                if let Some((b'S', name)) = parse::close_msg(body) {
                    self.stmts.remove(&parse::text(name));
                }
                if let Some(u) = self.building(cx, ts) {
                    u.bytes += size;
                    u.close_only = !u.substantive;
                }
            }
            b'S' => {
                if let Some(u) = self.building(cx, ts) {
                    u.bytes += size;
                    u.closed = true;
                }
                self.fr[1].resync = false;
            }
            b'H' => {
                // A Flush right after a Sync belongs to that unit (pipeline mode).
                let target = match self.units.back_mut() {
                    Some(u) => Some(u),
                    None => self.building(cx, ts),
                };
                if let Some(u) = target {
                    u.bytes += size;
                }
            }
            b'F' => {
                let mut u = Box::new(Unit::new(ts, Kind::Function));
                u.bytes = size;
                self.push_unit(cx, u);
                self.fr[1].resync = false;
            }
            b'd' | b'c' | b'f' | b'p' => match self.units.back_mut() {
                Some(u) => u.bytes += size,
                None => cx.anomaly(),
            },
            _ => {} // Terminate
        }
    }

    fn server_message(&mut self, cx: &mut Cx<'_>, ts: Ts, m: Typed, body: &[u8]) {
        if self.fr[1].resync || self.units.is_empty() {
            // Asynchronous messages, or a response to a request not captured.
            return;
        }
        if m.kind == b'A' && self.resp.is_none() {
            return;
        }
        let keep = cx.common.send_response;
        let lim = self.limits();
        let r = self
            .resp
            .get_or_insert_with(|| Box::new(Resp::new(ts, keep)));
        r.bytes += m.size as u64;
        r.message(&lim, m.kind, body);
        let startup = self.units.front().is_some_and(|u| u.kind == Kind::Startup);
        if m.kind == b'Z' || (m.kind == b'E' && startup) {
            self.finish_front(cx, None);
        }
    }

    /// Parse untyped client messages (startup phase). `None` = go on with typed messages.
    fn parse_untyped(
        &mut self,
        cx: &mut Cx<'_>,
        data: &[u8],
        off: &mut usize,
        first_ts: Ts,
    ) -> Option<Progress> {
        while self.untyped == Some(true) {
            let rest = data.get(*off..).unwrap_or_default();
            let ts = if *off == 0 { first_ts } else { cx.ts };
            if rest.is_empty() {
                return Some(Progress::Consumed);
            }
            let Some((size, code)) = parse::untyped(rest) else {
                self.fr[0].tail_ts = Some(ts);
                return Some(Progress::NeedMore {
                    consumed: *off,
                    needed: 2 * UNTYPED_HEADER_LEN - rest.len(),
                });
            };
            if !(2 * UNTYPED_HEADER_LEN..=parse::MAX_STARTUP_LEN).contains(&size) {
                cx.anomaly();
                return Some(Progress::GiveUp(Reason::Malformed));
            }
            let Some(msg) = rest.get(..size) else {
                self.fr[0].tail_ts = Some(ts);
                return Some(Progress::NeedMore {
                    consumed: *off,
                    needed: size - rest.len(),
                });
            };
            *off += size;
            let body = msg.get(2 * UNTYPED_HEADER_LEN..).unwrap_or_default();
            self.untyped_message(cx, ts, size, code, body);
        }
        None
    }
}

impl Dissector for Pgsql {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[5432];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        if dir == Direction::ToServer && parse::looks_untyped(data) == Some(true) {
            return Probe::Match;
        }
        match parse::typed(data) {
            None => Probe::Unsure,
            Some(Err(())) => Probe::NotMine,
            Some(Ok(m)) => {
                let known = match dir {
                    Direction::ToServer => parse::is_client_type(m.kind),
                    Direction::ToClient => parse::is_server_type(m.kind),
                };
                if known {
                    Probe::Unsure
                } else {
                    Probe::NotMine
                }
            }
        }
    }

    fn new(cfg: &Config) -> Self {
        Pgsql {
            cfg: cfg.clone(),
            fr: [Framer::default(), Framer::default()],
            untyped: None,
            ssl_answer: false,
            units: VecDeque::new(),
            resp: None,
            stmts: HashMap::new(),
            upgraded: false,
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        if self.upgraded {
            return Progress::GiveUp(Reason::Upgraded);
        }
        let i = dir.index();
        let first_ts = self
            .fr
            .get_mut(i)
            .and_then(|f| f.tail_ts.take())
            .unwrap_or(cx.ts);
        let mut off = 0usize;
        if dir == Direction::ToServer {
            if self.untyped.is_none() {
                match parse::looks_untyped(data) {
                    None => {
                        self.fr[0].tail_ts = Some(first_ts);
                        return Progress::NeedMore {
                            consumed: 0,
                            needed: 2 * UNTYPED_HEADER_LEN - data.len(),
                        };
                    }
                    Some(v) => self.untyped = Some(v),
                }
            }
            if let Some(p) = self.parse_untyped(cx, data, &mut off, first_ts) {
                return p;
            }
        }
        let limit = match dir {
            Direction::ToServer => MAX_CLIENT_MESSAGE,
            Direction::ToClient => MAX_SERVER_MESSAGE,
        };
        let prefix = MIN_PREFIX
            .max(self.cfg.max_row_length.saturating_add(64))
            .min(limit);
        loop {
            let rest = data.get(off..).unwrap_or_default();
            if rest.is_empty() {
                return Progress::Consumed;
            }
            let Some(fr) = self.fr.get_mut(i) else {
                return Progress::Consumed;
            };
            if fr.skip > 0 {
                let n = fr.skip.min(rest.len());
                fr.skip -= n;
                off += n;
                continue;
            }
            if fr.resync && dir == Direction::ToClient {
                // Responses resume after the client's next Query or Sync.
                return Progress::Consumed;
            }
            let ts = if off == 0 { first_ts } else { cx.ts };
            if dir == Direction::ToClient && self.ssl_answer {
                self.ssl_answer = false;
                match rest.first() {
                    Some(b'S' | b'G') => {
                        self.upgraded = true;
                        return Progress::GiveUp(Reason::Upgraded);
                    }
                    Some(b'N') => {
                        off += 1;
                        continue;
                    }
                    _ => {} // An ErrorResponse from a server without SSL support.
                }
            }
            let m = match parse::typed(rest) {
                None => {
                    fr.tail_ts = Some(ts);
                    return Progress::NeedMore {
                        consumed: off,
                        needed: TYPED_HEADER_LEN - rest.len(),
                    };
                }
                Some(Ok(m)) => m,
                Some(Err(())) => Typed { kind: 0, size: 0 },
            };
            let known = match dir {
                Direction::ToServer => parse::is_client_type(m.kind),
                Direction::ToClient => parse::is_server_type(m.kind),
            };
            if !known || m.size < TYPED_HEADER_LEN || m.size > MAX_PLAUSIBLE_MESSAGE {
                if !fr.resync {
                    cx.anomaly();
                    fr.resync = true;
                    if dir == Direction::ToClient && self.resp.is_some() {
                        self.finish_front(cx, Some(ecs::NOTE_LOSS_RESPONSE));
                    }
                }
                // Not a message boundary: drop what was given.
                return Progress::Consumed;
            }
            if dir == Direction::ToServer {
                fr.resync = false;
            }
            let want = if m.size <= limit { m.size } else { prefix };
            let Some(msg) = rest.get(..want) else {
                fr.tail_ts = Some(ts);
                return Progress::NeedMore {
                    consumed: off,
                    needed: want - rest.len(),
                };
            };
            fr.skip = m.size - want;
            off += want;
            let body = msg.get(TYPED_HEADER_LEN..).unwrap_or_default();
            match dir {
                Direction::ToServer => self.client_message(cx, ts, m, body),
                Direction::ToClient => self.server_message(cx, ts, m, body),
            }
        }
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
        if self.upgraded {
            return;
        }
        let Some(fr) = self.fr.get_mut(dir.index()) else {
            return;
        };
        if fr.skip >= len && fr.skip > 0 {
            // Inside a message being skipped: framing holds.
            fr.skip -= len;
            return;
        }
        *fr = Framer {
            resync: true,
            ..Framer::default()
        };
        if dir == Direction::ToServer {
            if self.untyped == Some(true) || self.untyped.is_none() {
                self.untyped = Some(false);
            }
            return;
        }
        // Responses of every unit sent so far are unknowable now.
        if self.resp.is_some() {
            self.finish_front(cx, Some(ecs::NOTE_LOSS_RESPONSE));
        }
        while self.units.front().is_some_and(|u| u.closed) {
            self.finish_front(cx, Some(ecs::NOTE_LOSS_RESPONSE));
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        if self.resp.is_some() {
            return;
        }
        let timeout = cx.common.transaction_timeout;
        while self
            .units
            .front()
            .is_some_and(|u| u.closed && u.ts.add(timeout) <= cx.ts)
        {
            self.finish_front(cx, Some(ecs::NOTE_TIMED_OUT));
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        if self.resp.is_some() {
            self.finish_front(cx, Some(ecs::NOTE_INCOMPLETE));
        }
        while !self.units.is_empty() {
            self.finish_front(cx, Some(ecs::NOTE_UNMATCHED));
        }
        self.stmts.clear();
    }
}
