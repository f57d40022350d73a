//! MySQL / MariaDB dissector (Packetbeat's `mysql` protocol).
//!
//! Scope: the handshake (server version, user, database; an SSLRequest stops parsing the
//! connection), every command with FIFO correlation, text and binary result sets (multiple
//! result sets, `CLIENT_DEPRECATE_EOF` — negotiated, or guessed from the packets when the
//! handshake was not captured), COM_STMT_PREPARE/EXECUTE/CLOSE/RESET/FETCH with the prepared
//! text remembered per connection, LOCAL INFILE, 16 MiB multi-packet messages. Rows are
//! consumed packet by packet; a payload larger than a bounded window is skipped as it
//! streams by (its head is still parsed).
//!
//! Layout: `parse.rs` pure parsers, `state.rs` the response state machine, `packets.rs`
//! the handshake and per-packet handling, `ecs.rs` event fields; this file holds the
//! options, framing, correlation and the [`Dissector`] impl.

mod ecs;
mod packets;
mod parse;
mod state;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::correlate::Fifo;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Transport};
use crate::time::Ts;
use ecs::Connect;
use parse::{cmd, HEADER_LEN, MAX_PAYLOAD};
use state::{Opts, Request, Response, Shape};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "mysql";

/// Packetbeat's default `max_rows`.
const DEFAULT_MAX_ROWS: usize = 10;
/// Packetbeat's default `max_row_length`.
const DEFAULT_MAX_ROW_LENGTH: usize = 1024;
/// Packetbeat's default `statement_timeout` (prepared statements unused this long are
/// forgotten).
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Largest client packet parsed whole (statement text beyond it is cut): big enough for any
/// hand-written or generated statement, small enough not to buffer a 16 MiB blob.
const MAX_COMMAND_PACKET: usize = 1024 * 1024;
/// Largest server packet parsed whole; larger ones (big rows) are skipped after their head.
const MAX_SERVER_PACKET: usize = 64 * 1024;
/// Head of an oversized server packet that is parsed (row display needs at most
/// `max_row_length` of it).
const MIN_PREFIX: usize = 4096;
/// Most commands waiting for their responses: MySQL answers in order and clients rarely
/// pipeline; the bound caps memory on one-sided captures.
const MAX_PENDING_REQUESTS: usize = 64;
/// Most prepared statements remembered per connection (ORMs keep a few hundred at most).
const MAX_STATEMENTS: usize = 1024;

/// MySQL-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Rows kept in `response` (with `send_response`).
    pub max_rows: usize,
    /// Bytes kept per row in `response`.
    pub max_row_length: usize,
    /// Prepared statements unused this long are forgotten.
    #[serde(deserialize_with = "crate::config::de_duration")]
    pub statement_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_rows: DEFAULT_MAX_ROWS,
            max_row_length: DEFAULT_MAX_ROW_LENGTH,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

/// Handshake progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hs {
    /// Nothing seen yet.
    Start,
    /// Greeting seen, login not yet.
    Greeted,
    /// Login seen, waiting for the final OK/ERR.
    Auth,
    /// Command phase.
    Done,
}

/// Framing of one direction.
#[derive(Clone, Debug, Default)]
struct Framer {
    /// Payload bytes of the current (oversized) packet still to skip.
    skip: usize,
    /// The last packet was 16 MiB − 1 long: the next one continues the message.
    cont: bool,
    /// Time of the first byte of the unconsumed tail.
    tail_ts: Option<Ts>,
    /// Lost sync after a gap: wait for a plausible message start.
    resync: bool,
}

/// A prepared statement.
#[derive(Clone, Debug)]
struct Stmt {
    text: String,
    used: Ts,
}

/// One MySQL connection.
pub struct Mysql {
    cfg: Config,
    fr: [Framer; 2],
    hs: Hs,
    conn: Option<Box<Connect>>,
    server_caps: Option<u32>,
    client_caps: Option<u32>,
    deprecate_eof: Option<bool>,
    requests: Fifo<Box<Request>>,
    /// Response being received, for the oldest request.
    resp: Option<Box<Response>>,
    /// A no-response command whose 16 MiB continuation packets are still coming.
    held: Option<Box<Request>>,
    stmts: HashMap<u32, Stmt>,
    upgraded: bool,
}

impl Mysql {
    fn opts(&self) -> Opts {
        Opts {
            deprecate_eof: self.deprecate_eof,
            max_rows: self.cfg.max_rows,
            max_row_length: self.cfg.max_row_length,
        }
    }

    fn publish(
        &self,
        cx: &mut Cx<'_>,
        req: Box<Request>,
        resp: Option<Box<Response>>,
        note: Option<&str>,
    ) {
        let expects = shape_of(&req) != Shape::None;
        let txn = ecs::build(cx, *req, resp.map(|r| *r), note, expects);
        cx.emit(txn);
    }

    fn publish_conn(&mut self, cx: &mut Cx<'_>, note: Option<&str>) {
        if let Some(c) = self.conn.take() {
            let txn = ecs::build_connect(cx, *c, note);
            cx.emit(txn);
        }
    }

    /// The response in progress is complete: publish it with its request.
    fn finish_response(&mut self, cx: &mut Cx<'_>, note: Option<&str>) {
        let Some(resp) = self.resp.take() else {
            return;
        };
        if let Some((_, req)) = self.requests.pop() {
            if let Some((id, _, _)) = resp.prepared {
                self.remember(cx.ts, id, req.query.clone());
            }
            self.publish(cx, req, Some(resp), note);
        }
    }

    fn remember(&mut self, ts: Ts, id: u32, text: Option<String>) {
        let Some(text) = text else {
            return;
        };
        if self.stmts.len() >= MAX_STATEMENTS && !self.stmts.contains_key(&id) {
            let oldest = self
                .stmts
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.stmts.remove(&k);
            }
        }
        self.stmts.insert(id, Stmt { text, used: ts });
    }

    /// Largest packet of `dir` parsed whole.
    fn whole_limit(&self, dir: Direction) -> usize {
        match dir {
            Direction::ToServer => MAX_COMMAND_PACKET,
            Direction::ToClient => MAX_SERVER_PACKET,
        }
    }
}

fn shape_of(r: &Request) -> Shape {
    state::shape(r.cmd)
}

fn shape(c: u8) -> Shape {
    state::shape(c)
}

impl Dissector for Mysql {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[3306, 3307];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        let Some(h) = parse::header(data) else {
            return Probe::Unsure;
        };
        let p = data.get(HEADER_LEN..).unwrap_or_default();
        match dir {
            Direction::ToClient if h.seq == 0 && parse::looks_like_greeting(p) => Probe::Match,
            Direction::ToServer if h.seq == 0 && p.first().is_some_and(|&c| c == cmd::QUERY) => {
                Probe::Match
            }
            _ if h.len == 0 => Probe::NotMine,
            _ => Probe::Unsure,
        }
    }

    fn new(cfg: &Config) -> Self {
        Mysql {
            cfg: cfg.clone(),
            fr: [Framer::default(), Framer::default()],
            hs: Hs::Start,
            conn: None,
            server_caps: None,
            client_caps: None,
            deprecate_eof: None,
            requests: Fifo::new(MAX_PENDING_REQUESTS),
            resp: None,
            held: None,
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
        let limit = self.whole_limit(dir);
        let prefix = MIN_PREFIX
            .max(self.cfg.max_row_length.saturating_add(64))
            .min(limit);
        let mut off = 0usize;
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
            let ts = if off == 0 { first_ts } else { cx.ts };
            if fr.resync {
                // After a gap: responses resume after the client's next command; client
                // data is believed from a plausible command start on.
                if dir == Direction::ToClient {
                    return Progress::Consumed;
                }
                match (parse::header(rest), rest.get(HEADER_LEN)) {
                    (Some(h), Some(&c)) if Self::plausible_command(h, c) => {
                        fr.resync = false;
                        fr.cont = false;
                    }
                    (Some(_), Some(_)) => return Progress::Consumed,
                    _ => {
                        fr.tail_ts = Some(ts);
                        return Progress::NeedMore {
                            consumed: off,
                            needed: HEADER_LEN + 1 - rest.len(),
                        };
                    }
                }
            }
            let Some(h) = parse::header(rest) else {
                fr.tail_ts = Some(ts);
                return Progress::NeedMore {
                    consumed: off,
                    needed: HEADER_LEN - rest.len(),
                };
            };
            let want = if h.len <= limit { h.len } else { prefix };
            let Some(p) = rest.get(HEADER_LEN..HEADER_LEN + want) else {
                fr.tail_ts = Some(ts);
                return Progress::NeedMore {
                    consumed: off,
                    needed: HEADER_LEN + want - rest.len(),
                };
            };
            let cont = fr.cont;
            fr.cont = h.len == MAX_PAYLOAD;
            fr.skip = h.len - want;
            off += HEADER_LEN + want;
            match dir {
                Direction::ToServer => {
                    if let Some(p) = self.client_packet(cx, ts, h, p, cont) {
                        return p;
                    }
                }
                Direction::ToClient => self.server_packet(cx, ts, h, p, cont),
            }
            if self.upgraded {
                return Progress::GiveUp(Reason::Upgraded);
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
            // Inside a payload being skipped: framing holds.
            fr.skip -= len;
            if dir == Direction::ToClient {
                if let Some(r) = self.resp.as_mut() {
                    if !r.notes.iter().any(|n| n == ecs::NOTE_LOSS_RESPONSE) {
                        r.notes.push(ecs::NOTE_LOSS_RESPONSE.to_owned());
                    }
                }
            }
            return;
        }
        *fr = Framer {
            resync: true,
            ..Framer::default()
        };
        if self.hs != Hs::Done {
            self.publish_conn(cx, Some(ecs::NOTE_LOSS_RESPONSE));
            self.hs = Hs::Done;
        }
        if dir == Direction::ToClient && self.resp.is_some() {
            self.finish_response(cx, Some(ecs::NOTE_LOSS_RESPONSE));
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        if self.resp.is_none() && !self.requests.is_empty() {
            let mut expired = Vec::new();
            self.requests
                .expire(cx.ts, cx.common.transaction_timeout, |_, r| expired.push(r));
            for r in expired {
                self.publish(cx, r, None, Some(ecs::NOTE_TIMED_OUT));
            }
        }
        let keep = self.cfg.statement_timeout;
        let now = cx.ts;
        self.stmts.retain(|_, s| s.used.add(keep) > now);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        if self.hs == Hs::Auth {
            self.publish_conn(cx, None);
        }
        if let Some(r) = self.held.take() {
            self.publish(cx, r, None, None);
        }
        if let Some(r) = self.resp.as_ref() {
            let note = (!r.done() && !r.may_be_done()).then_some(ecs::NOTE_INCOMPLETE);
            self.finish_response(cx, note);
        }
        let pending: Vec<Box<Request>> = self.requests.drain().map(|(_, r)| r).collect();
        for r in pending {
            self.publish(cx, r, None, Some(ecs::NOTE_UNMATCHED));
        }
        self.stmts.clear();
    }
}
