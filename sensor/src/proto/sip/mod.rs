//! SIP dissector (Packetbeat's `sip` protocol with SDP, PROTOCOLS.md §1.4, EVENTS.md §5).
//!
//! One message event per SIP request or response (`TxnKind::Message`): `source` is the
//! message's sender; the client is the sender of a request and the receiver of a response.
//! UDP: one message per datagram. TCP: messages framed by their header section and
//! Content-Length, several per segment or split across segments; CRLF keep-alives skipped; a
//! body larger than [`MAX_BODY`] is skipped incrementally (the event keeps its headers); after a
//! gap or garbage the stream resynchronises on the next start line.
//!
//! Fields: every `sip.*` field Packetbeat writes (with `parse_authorization`, `parse_body` for
//! SDP and `keep_original` → `event.original`, all on by default as in Packetbeat), plus the
//! topmost Via parsed. Status: requests `OK`, responses `Error` when the code is ≥ 400.
//! Retransmissions over UDP (same direction, Call-ID, CSeq, top Via branch and start line
//! within `transaction_timeout`) are recognised and not published again.
//!
//! Files: `parse.rs` (framing, start line, headers), `values.rs` (URIs, name-addr, Via, auth,
//! SDP), `ecs.rs` (event fields).

mod ecs;
mod parse;
#[cfg(test)]
mod tests;
mod values;

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::{
    CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Status, Transport, TxnKind, L4,
};
use crate::time::Ts;
use parse::{Frame, Message, Start};

/// Body bytes kept to parse one message: SDP bodies are a few KiB; a larger body (e.g. a
/// multipart MESSAGE with a file) is skipped and the event keeps only the headers.
pub const MAX_BODY: usize = 256 * 1024;
/// Recently seen UDP messages remembered for retransmission detection: a UDP flow between two
/// SIP endpoints rarely has more than a few dozen transactions in flight.
const MAX_RECENT: usize = 512;
/// Garbage scanned for a start line before it is dropped (keeps the resync buffer bounded).
const MAX_RESYNC_KEEP: usize = 4096;

/// Note for a datagram whose headers do not end with an empty line.
const NOTE_UNTERMINATED: &str = "SIP headers are not terminated by an empty line";
/// Note for a message whose body was not parsed.
const NOTE_BODY_SKIPPED: &str = "SIP body too large; not parsed";
/// Note for a body shorter than its Content-Length in a datagram.
const NOTE_SHORT_BODY: &str = "SIP body shorter than Content-Length";

/// SIP options (Packetbeat names and defaults).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Parse the Authorization header into `sip.auth.*` and `user.name`.
    pub parse_authorization: bool,
    /// Parse SDP bodies into `sip.sdp.*`.
    pub parse_body: bool,
    /// Keep the raw message in `event.original`.
    pub keep_original: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            parse_authorization: true,
            parse_body: true,
            keep_original: true,
        }
    }
}

/// Per-direction stream state (TCP).
#[derive(Debug, Default)]
struct Stream {
    /// Time of the first packet of the message being assembled.
    first_ts: Option<Ts>,
    /// Body bytes still to skip.
    skip: usize,
    /// Looking for a start line after a gap or garbage.
    resync: bool,
}

/// Where a message came from on the wire.
struct Wire<'a> {
    /// Its bytes (for `event.original`).
    raw: &'a [u8],
    /// Its size on the wire.
    bytes: usize,
    /// Time of its first packet.
    ts: Ts,
    /// A note about it.
    note: Option<&'static str>,
}

/// One SIP session.
pub struct Sip {
    cfg: Config,
    /// Client → server stream.
    up: Stream,
    /// Server → client stream.
    down: Stream,
    /// (time, key) of recent UDP messages, oldest first.
    recent: VecDeque<(Ts, u64)>,
}

impl Sip {
    /// The state of one direction.
    fn dir_mut(&mut self, dir: Direction) -> &mut Stream {
        match dir {
            Direction::ToServer => &mut self.up,
            Direction::ToClient => &mut self.down,
        }
    }

    /// Publish one message.
    fn publish(&mut self, cx: &mut Cx<'_>, dir: Direction, m: &Message<'_>, w: Wire<'_>) {
        let Wire {
            raw,
            bytes,
            ts,
            note,
        } = w;
        if cx.meta.l4 == L4::Udp && self.is_retransmission(cx, dir, m, ts) {
            return;
        }
        let (sender, receiver) = match dir {
            Direction::ToServer => (cx.meta.client, cx.meta.server),
            Direction::ToClient => (cx.meta.server, cx.meta.client),
        };
        let mut t = cx.txn(Sip::NAME);
        let request = m.is_request();
        (t.client, t.server) = if request {
            (sender, receiver)
        } else {
            (receiver, sender)
        };
        t.kind = TxnKind::Message {
            from_client: request,
        };
        t.request_ts = Some(ts);
        t.request_bytes = Some(bytes as u64);
        match m.start {
            Start::Request { method, .. } => t.method = Some(method.to_ascii_uppercase()),
            Start::Response { code, .. } => {
                if code >= 400 {
                    t.status = Status::Error;
                }
            }
        }
        if let Some(n) = note {
            t.notes.push(n.to_owned());
        }
        if m.unterminated {
            cx.anomaly();
            t.notes.push(NOTE_UNTERMINATED.to_owned());
        }
        t.fields = ecs::fields(m, raw, &self.cfg);
        cx.emit(t);
    }

    /// True when `m` repeats a message seen recently in the same direction.
    fn is_retransmission(&mut self, cx: &Cx<'_>, dir: Direction, m: &Message<'_>, ts: Ts) -> bool {
        let timeout = cx.common.transaction_timeout;
        while let Some((t, _)) = self.recent.front() {
            if t.add(timeout) > ts {
                break;
            }
            self.recent.pop_front();
        }
        let mut h = DefaultHasher::new();
        dir.hash(&mut h);
        m.start.hash(&mut h);
        m.first("call-id").hash(&mut h);
        m.first("cseq").hash(&mut h);
        m.first("via")
            .map(ecs::text)
            .as_deref()
            .and_then(values::via)
            .and_then(|v| v.branch)
            .hash(&mut h);
        let key = h.finish();
        if self.recent.iter().any(|(_, k)| *k == key) {
            return true;
        }
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((ts, key));
        false
    }

    /// One datagram.
    fn datagram(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let Some(m) = Message::parse(data) else {
            cx.anomaly();
            return Progress::Consumed;
        };
        let short = m.content_length.is_some_and(|n| m.body.len() < n);
        let note = short.then_some(NOTE_SHORT_BODY);
        if short {
            cx.anomaly();
        }
        let ts = cx.ts;
        let w = Wire {
            raw: data,
            bytes: data.len(),
            ts,
            note,
        };
        self.publish(cx, dir, &m, w);
        Progress::Consumed
    }

    /// In-order stream bytes.
    fn stream(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let mut off = 0;
        loop {
            let st = self.dir_mut(dir);
            if st.skip > 0 {
                let n = st.skip.min(data.len() - off);
                st.skip -= n;
                off += n;
                if st.skip > 0 {
                    return Progress::Consumed;
                }
            }
            let rest = data.get(off..).unwrap_or(&[]);
            let crlf = parse::leading_crlf(rest);
            off += crlf;
            let rest = rest.get(crlf..).unwrap_or(&[]);
            if rest.is_empty() {
                st.first_ts = None;
                return Progress::Consumed;
            }
            if st.resync {
                match find_start(rest) {
                    Some(p) => {
                        st.resync = false;
                        off += p;
                        continue;
                    }
                    None => {
                        let keep = rest.len().min(MAX_RESYNC_KEEP);
                        return Progress::NeedMore {
                            consumed: data.len() - keep,
                            needed: 1,
                        };
                    }
                }
            }
            match parse::frame(rest) {
                Frame::Incomplete => {
                    st.first_ts.get_or_insert(cx.ts);
                    return Progress::NeedMore {
                        consumed: off,
                        needed: 1,
                    };
                }
                Frame::TooLarge => {
                    cx.anomaly();
                    return Progress::GiveUp(Reason::TooLarge);
                }
                Frame::Invalid => {
                    cx.anomaly();
                    st.resync = true;
                    st.first_ts = None;
                    off += 1;
                }
                Frame::Ready { head, body } => {
                    if body > MAX_BODY {
                        let ts = st.first_ts.take().unwrap_or(cx.ts);
                        st.skip = body;
                        let raw = rest.get(..head).unwrap_or(rest);
                        if let Some(mut m) = Message::parse(raw) {
                            m.body = &[];
                            cx.anomaly();
                            let w = Wire {
                                raw,
                                bytes: head + body,
                                ts,
                                note: Some(NOTE_BODY_SKIPPED),
                            };
                            self.publish(cx, dir, &m, w);
                        }
                        off += head;
                        continue;
                    }
                    let Some(raw) = rest.get(..head + body) else {
                        st.first_ts.get_or_insert(cx.ts);
                        return Progress::NeedMore {
                            consumed: off,
                            needed: head + body - rest.len(),
                        };
                    };
                    let ts = st.first_ts.take().unwrap_or(cx.ts);
                    if let Some(m) = Message::parse(raw) {
                        let w = Wire {
                            raw,
                            bytes: raw.len(),
                            ts,
                            note: None,
                        };
                        self.publish(cx, dir, &m, w);
                    }
                    off += raw.len();
                }
            }
        }
    }
}

/// Offset of the next line in `b` that is a SIP start line.
fn find_start(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let rest = b.get(at..)?;
        if !rest.is_empty() && parse::plausible_start(rest) && rest.contains(&b'\n') {
            return Some(at);
        }
        let nl = rest.iter().position(|&c| c == b'\n')?;
        at += nl + 1;
    }
}

impl Dissector for Sip {
    const NAME: &'static str = "sip";
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[5060];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        let data = data.get(parse::leading_crlf(data)..).unwrap_or(&[]);
        if data.is_empty() {
            return Probe::Unsure;
        }
        if !parse::plausible_start(data) {
            return Probe::NotMine;
        }
        if data.contains(&b'\n') {
            Probe::Match
        } else {
            Probe::Unsure
        }
    }

    fn new(cfg: &Config) -> Self {
        Sip {
            cfg: cfg.clone(),
            up: Stream::default(),
            down: Stream::default(),
            recent: VecDeque::new(),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        match cx.meta.l4 {
            L4::Tcp => self.stream(cx, dir, data),
            _ => self.datagram(cx, dir, data),
        }
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
        cx.stats.gaps += 1;
        let st = self.dir_mut(dir);
        if st.skip >= len && st.skip > 0 {
            // The gap fell inside a skipped body: keep skipping what is left of it.
            st.skip -= len;
        } else {
            st.skip = 0;
            st.resync = true;
        }
        st.first_ts = None;
    }

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
