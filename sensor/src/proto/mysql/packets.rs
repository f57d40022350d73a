//! Per-packet handling of the connection: the handshake (greeting, login, authentication
//! exchange), client commands and server packets handed to the response state machine.

use super::parse::{self, cmd, Header, HEADER_LEN, MAX_PAYLOAD};
use super::state::{Request, Response, Shape};
use super::{ecs, shape, Hs, Mysql};
use crate::proto::{Cx, Progress, Reason};
use crate::time::Ts;

impl Mysql {
    pub(super) fn client_packet(
        &mut self,
        cx: &mut Cx<'_>,
        ts: Ts,
        h: Header,
        p: &[u8],
        cont: bool,
    ) -> Option<Progress> {
        let size = (HEADER_LEN + h.len) as u64;
        let last = h.len < MAX_PAYLOAD;
        if cont {
            if let Some(r) = self.held.as_mut() {
                r.bytes += size;
            } else if self.hs == Hs::Auth {
                if let Some(c) = self.conn.as_mut() {
                    c.req_bytes += size;
                }
            } else if let Some((_, r)) = self.requests.back_mut() {
                r.bytes += size;
            }
            if last {
                if let Some(r) = self.held.take() {
                    self.publish(cx, r, None, None);
                }
            }
            return None;
        }
        if h.seq == 0 {
            self.command(cx, ts, h, p);
            return None;
        }
        match self.hs {
            Hs::Start | Hs::Greeted => {
                let Some(login) = parse::login(p) else {
                    cx.anomaly();
                    return None;
                };
                let c = self.conn.get_or_insert_with(Box::default);
                c.req_ts = Some(ts);
                c.req_bytes += size;
                let ssl = login.ssl() && h.len <= parse::LOGIN_FIXED_LEN;
                let caps = login.caps;
                self.client_caps = Some(caps);
                c.login = Some(login);
                self.deprecate_eof = Some(
                    caps & parse::CLIENT_DEPRECATE_EOF != 0
                        && self
                            .server_caps
                            .is_none_or(|s| s & parse::CLIENT_DEPRECATE_EOF != 0),
                );
                if ssl {
                    self.upgraded = true;
                    self.publish_conn(cx, Some(ecs::NOTE_TLS));
                    return Some(Progress::GiveUp(Reason::Upgraded));
                }
                self.hs = Hs::Auth;
            }
            Hs::Auth => {
                if let Some(c) = self.conn.as_mut() {
                    c.req_bytes += size;
                }
            }
            Hs::Done => {
                let wanted = self.resp.as_ref().is_some_and(|r| r.wants_client_data());
                match self.requests.front_mut() {
                    Some((_, r)) if wanted => r.bytes += size,
                    _ => cx.anomaly(),
                }
            }
        }
        None
    }

    /// A client packet with sequence id 0: a new command.
    fn command(&mut self, cx: &mut Cx<'_>, ts: Ts, h: Header, p: &[u8]) {
        let Some((&c, body)) = p.split_first() else {
            cx.anomaly();
            return;
        };
        if !parse::is_command(c) {
            cx.anomaly();
            return;
        }
        if self.hs != Hs::Done {
            if self.hs == Hs::Auth {
                self.publish_conn(cx, None);
            }
            self.conn = None;
            self.hs = Hs::Done;
        }
        self.fr[1].resync = false;
        if self.resp.as_ref().is_some_and(|r| r.may_be_done()) {
            self.finish_response(cx, None);
        }
        let mut req = Box::new(Request {
            ts,
            cmd: c,
            bytes: (HEADER_LEN + h.len) as u64,
            query: None,
            stmt_id: None,
            infile: false,
            notes: Vec::new(),
        });
        match c {
            cmd::QUERY | cmd::STMT_PREPARE | cmd::INIT_DB | cmd::FIELD_LIST => {
                let text = match c {
                    cmd::QUERY if self.query_attrs(body) => parse::skip_query_attributes(body),
                    cmd::FIELD_LIST => Some(parse::Rd::new(body).nul_str()),
                    _ => Some(body),
                };
                match text {
                    Some(t) => req.query = Some(parse::text(t)),
                    None => cx.anomaly(),
                }
                if h.len > p.len() {
                    req.notes.push(ecs::NOTE_TRUNCATED.to_owned());
                }
            }
            cmd::STMT_EXECUTE
            | cmd::STMT_CLOSE
            | cmd::STMT_RESET
            | cmd::STMT_FETCH
            | cmd::STMT_SEND_LONG_DATA => {
                let id = parse::Rd::new(body).u32();
                req.stmt_id = id;
                let known = id.and_then(|id| self.stmts.get_mut(&id));
                match known {
                    Some(s) => {
                        s.used = ts;
                        req.query = Some(s.text.clone());
                    }
                    None => req.notes.push(ecs::NOTE_UNKNOWN_STMT.to_owned()),
                }
                if c == cmd::STMT_CLOSE {
                    if let Some(id) = id {
                        self.stmts.remove(&id);
                    }
                }
            }
            _ => {}
        }
        if shape(c) == Shape::None {
            if h.len == MAX_PAYLOAD {
                if let Some(old) = self.held.replace(req) {
                    self.publish(cx, old, None, None);
                }
            } else {
                self.publish(cx, req, None, None);
            }
            return;
        }
        if let Some((_, old)) = self.requests.push(ts, req) {
            // The oldest request fell out: its response (if being received) goes with it.
            let resp = self.resp.take();
            self.publish(cx, old, resp, Some(ecs::NOTE_UNMATCHED));
        }
    }

    pub(super) fn server_packet(
        &mut self,
        cx: &mut Cx<'_>,
        ts: Ts,
        h: Header,
        p: &[u8],
        cont: bool,
    ) {
        let size = (HEADER_LEN + h.len) as u64;
        if cont {
            if let Some(r) = self.resp.as_mut() {
                r.bytes += size;
            } else if let Some(c) = self.conn.as_mut() {
                c.resp_bytes += size;
            }
            return;
        }
        let first = p.first().copied();
        if self.hs == Hs::Start || self.hs == Hs::Greeted {
            if h.seq == 0 && self.requests.is_empty() && parse::looks_like_greeting(p) {
                let g = parse::greeting(p);
                let c = self.conn.get_or_insert_with(Box::default);
                c.resp_bytes += size;
                c.resp_ts.get_or_insert(ts);
                if let Some(g) = g {
                    c.version = Some(g.version);
                    self.server_caps = Some(g.caps);
                }
                self.hs = Hs::Greeted;
                return;
            }
            if h.seq == 0 && first == Some(parse::ERR) && self.requests.is_empty() {
                // Refused before the login (too many connections, host blocked).
                let c = self.conn.get_or_insert_with(Box::default);
                c.resp_bytes += size;
                c.resp_ts.get_or_insert(ts);
                c.err = parse::err_packet(p);
                self.publish_conn(cx, None);
                self.hs = Hs::Done;
                return;
            }
        }
        if self.hs == Hs::Auth {
            if let Some(c) = self.conn.as_mut() {
                c.resp_bytes += size;
                if c.login.is_some() && c.resp_ts.is_none_or(|t| t < c.req_ts.unwrap_or(t)) {
                    c.resp_ts = Some(ts);
                }
                match first {
                    Some(parse::OK) => {
                        c.ok = true;
                        let compressed =
                            self.negotiated(parse::CLIENT_COMPRESS | parse::CLIENT_ZSTD);
                        self.publish_conn(cx, compressed.then_some(ecs::NOTE_COMPRESSED));
                        self.hs = Hs::Done;
                        // The compressed protocol (another framing) is not parsed.
                        self.upgraded |= compressed;
                    }
                    Some(parse::ERR) => {
                        c.err = parse::err_packet(p);
                        self.publish_conn(cx, None);
                        self.hs = Hs::Done;
                    }
                    _ => {}
                }
            }
            return;
        }
        if self.fr[1].resync {
            return;
        }
        if self.resp.is_none() {
            let Some((_, req)) = self.requests.front_mut() else {
                // A response without a request (capture started mid-response): dropped.
                return;
            };
            let keep = cx.common.send_response;
            self.resp = Some(Box::new(Response::new(ts, req.cmd, keep)));
        }
        let o = self.opts();
        let Some(r) = self.resp.as_mut() else {
            return;
        };
        r.bytes += size;
        if let Some(learnt) = r.packet(&o, p, h.len) {
            if self.deprecate_eof.is_none() {
                self.deprecate_eof = Some(learnt);
            }
        }
        if r.done() {
            self.finish_response(cx, None);
        }
    }

    /// Did both sides announce one of `caps` (`false` when the handshake was not seen)?
    fn negotiated(&self, caps: u32) -> bool {
        let both = self.client_caps.unwrap_or(0) & self.server_caps.unwrap_or(0);
        both & caps != 0
    }

    /// Does this COM_QUERY body start with query attributes (MySQL 8.0.23+)? From the
    /// handshake when it was seen, else from the bytes: SQL text never starts with a control
    /// character followed by 0x01 (the parameter-set count).
    fn query_attrs(&self, body: &[u8]) -> bool {
        if self.client_caps.is_some() && self.server_caps.is_some() {
            return self.negotiated(parse::CLIENT_QUERY_ATTRIBUTES);
        }
        matches!(body, [n, 1, ..] if *n < 0x20 && !n.is_ascii_whitespace())
    }

    /// Is `p` (client, after a gap) a plausible command start?
    pub(super) fn plausible_command(h: Header, c: u8) -> bool {
        h.seq == 0 && h.len > 0 && parse::is_command(c)
    }
}
