//! Framing of one direction: protocol header, frames (method, content header, body,
//! heartbeat), and the assembly of content-bearing methods (method + header + bodies, per
//! channel). Body frames are consumed incrementally (at most `max_body_length` bytes kept);
//! method and header frames are parsed once complete. After malformed input or a gap the
//! stream resynchronises on the next plausible method frame.

use serde_json::{Map, Value};

use super::methods::{self, MethodDef};
use super::parse::{
    self, FrameHead, FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEADER_LEN, FRAME_HEARTBEAT,
    FRAME_METHOD, PROTOCOL_HEADER_LEN,
};
use crate::time::Ts;

/// Largest method or content-header frame buffered whole: real ones are a few hundred bytes
/// (connection.start with server properties ~500); a larger size means garbage (resync).
pub const MAX_CONTROL_FRAME: u32 = 1024 * 1024;

/// Most content-bearing methods assembled at once in one direction (one per channel in
/// flight); beyond it the oldest is published incomplete.
const MAX_OPEN_CONTENTS: usize = 64;

/// Note on a content message whose frames were not all seen.
pub const NOTE_INCOMPLETE: &str = "Message content incomplete (capture loss or malformed frames)";

/// One complete method (with its content, if any).
#[derive(Debug, PartialEq)]
pub struct Msg {
    /// First packet of the method frame.
    pub ts: Ts,
    /// Channel.
    pub channel: u16,
    /// Class id.
    pub class: u16,
    /// Method id.
    pub method: u16,
    /// Name, role and shape.
    pub def: MethodDef,
    /// Decoded arguments and content properties.
    pub fields: Map<String, Value>,
    /// `reply-code` of a close or return.
    pub reply_code: Option<u16>,
    /// `no-wait` was set.
    pub no_wait: bool,
    /// Whole frames of the method, incl. its content frames.
    pub bytes: u64,
    /// Announced body size (content methods).
    pub body_size: u64,
    /// Body bytes seen so far.
    pub body_seen: u64,
    /// The first `max_body_length` body bytes.
    pub body: Vec<u8>,
    /// Content header seen.
    pub header_seen: bool,
    /// Notes for `error.message`.
    pub notes: Vec<String>,
}

impl Msg {
    /// `reply-code` ≥ 300 (an error close or return).
    pub fn is_error_code(&self) -> bool {
        self.reply_code.is_some_and(|c| c >= 300)
    }

    /// `reply-text`, when present.
    pub fn reply_text(&self) -> Option<&str> {
        self.fields.get("reply-text").and_then(Value::as_str)
    }
}

/// What a direction produced.
#[derive(Debug)]
pub enum Out {
    /// The 8-byte protocol header (client → server).
    ProtocolHeader,
    /// A complete method.
    Msg(Box<Msg>),
    /// Malformed input (counted as an anomaly).
    Anomaly,
}

/// Per-call inputs of [`Stream::feed`].
pub struct FeedCx {
    /// Time of the current packet.
    pub ts: Ts,
    /// Body bytes kept per message.
    pub max_body: usize,
    /// Decode content properties.
    pub parse_headers: bool,
    /// Decode `arguments` tables.
    pub parse_arguments: bool,
}

/// Result of [`Stream::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Everything used.
    Consumed,
    /// `consumed` used; call again with the rest and `needed` more bytes.
    NeedMore { consumed: usize, needed: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// At a frame boundary.
    Frame,
    /// Inside a body frame's payload.
    Body { channel: u16, remaining: u64 },
    /// Expecting the frame-end octet of a body frame.
    BodyEnd { channel: u16 },
    /// Looking for the next plausible method frame.
    Resync,
}

/// Framing state of one direction.
#[derive(Debug)]
pub struct Stream {
    phase: Phase,
    /// Time of the first byte of the frame in progress.
    frame_ts: Option<Ts>,
    /// Content methods being assembled (one per channel).
    open: Vec<Msg>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            phase: Phase::Frame,
            frame_ts: None,
            open: Vec::new(),
        }
    }
}

fn need(consumed: usize, needed: usize) -> Feed {
    Feed::NeedMore { consumed, needed }
}

impl Stream {
    /// Parse the unconsumed bytes `data` of this direction; completed methods go to `out`.
    pub fn feed(&mut self, fx: &FeedCx, data: &[u8], out: &mut Vec<Out>) -> Feed {
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            match self.phase {
                Phase::Frame => {
                    if rest.is_empty() {
                        return Feed::Consumed;
                    }
                    let start = *self.frame_ts.get_or_insert(fx.ts);
                    match parse::is_protocol_header(rest) {
                        None => return need(off, 1),
                        Some(true) => {
                            if rest.len() < PROTOCOL_HEADER_LEN {
                                return need(off, PROTOCOL_HEADER_LEN - rest.len());
                            }
                            out.push(Out::ProtocolHeader);
                            self.frame_ts = None;
                            off += PROTOCOL_HEADER_LEN;
                            continue;
                        }
                        Some(false) => {}
                    }
                    let Some(head) = parse::frame_head(rest) else {
                        return need(off, FRAME_HEADER_LEN - rest.len());
                    };
                    match self.frame(fx, start, head, rest, out) {
                        Step::Used(n) => {
                            off += n;
                        }
                        Step::Need(n) => return need(off, n),
                        Step::Bad => {
                            // Resync from the next byte (this one starts no valid frame).
                            out.push(Out::Anomaly);
                            self.phase = Phase::Resync;
                            self.frame_ts = None;
                            off += 1;
                        }
                    }
                }
                Phase::Body { channel, remaining } => {
                    if rest.is_empty() {
                        return Feed::Consumed;
                    }
                    let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    if let Some(m) = self.open.iter_mut().find(|m| m.channel == channel) {
                        let room = fx.max_body.saturating_sub(m.body.len());
                        let keep = rest.get(..n.min(room)).unwrap_or_default();
                        m.body.extend_from_slice(keep);
                        m.body_seen = m.body_seen.saturating_add(n as u64);
                    }
                    let left = remaining.saturating_sub(n as u64);
                    self.phase = if left == 0 {
                        Phase::BodyEnd { channel }
                    } else {
                        Phase::Body {
                            channel,
                            remaining: left,
                        }
                    };
                    off += n;
                }
                Phase::BodyEnd { channel } => {
                    let Some(&b) = rest.first() else {
                        return need(off, 1);
                    };
                    if b != FRAME_END {
                        self.drop_open(channel, out);
                        out.push(Out::Anomaly);
                        self.phase = Phase::Resync;
                        continue;
                    }
                    off += 1;
                    self.phase = Phase::Frame;
                    self.frame_ts = None;
                    self.finish_if_complete(channel, out);
                }
                Phase::Resync => match resync_point(rest) {
                    Resync::At(i) => {
                        off += i;
                        self.phase = Phase::Frame;
                        self.frame_ts = None;
                    }
                    Resync::Wait(i, n) => return need(off + i, n),
                },
            }
        }
    }

    /// One frame at a frame boundary (`rest` starts with its header).
    fn frame(
        &mut self,
        fx: &FeedCx,
        start: Ts,
        head: FrameHead,
        rest: &[u8],
        out: &mut Vec<Out>,
    ) -> Step {
        if !parse::known_frame_type(head.kind) {
            return Step::Bad;
        }
        if head.kind == FRAME_BODY {
            let Some(m) = self.open.iter_mut().find(|m| m.channel == head.channel) else {
                return Step::Bad;
            };
            if !m.header_seen {
                return Step::Bad;
            }
            m.bytes = m.bytes.saturating_add(head.wire_len());
            self.phase = Phase::Body {
                channel: head.channel,
                remaining: u64::from(head.size),
            };
            return Step::Used(FRAME_HEADER_LEN);
        }
        if head.size > MAX_CONTROL_FRAME {
            return Step::Bad;
        }
        let total = usize::try_from(head.wire_len()).unwrap_or(usize::MAX);
        let Some(frame) = rest.get(..total) else {
            return Step::Need(total.saturating_sub(rest.len()));
        };
        let Some((&end, body)) = frame.split_last() else {
            return Step::Bad;
        };
        if end != FRAME_END {
            return Step::Bad;
        }
        let payload = body.get(FRAME_HEADER_LEN..).unwrap_or_default();
        let ok = match head.kind {
            FRAME_METHOD => self.method(fx, start, head, payload, out),
            FRAME_HEADER => self.header(fx, head, payload, out),
            FRAME_HEARTBEAT => true,
            _ => false,
        };
        if !ok {
            return Step::Bad;
        }
        self.frame_ts = None;
        Step::Used(total)
    }

    fn method(
        &mut self,
        fx: &FeedCx,
        start: Ts,
        head: FrameHead,
        payload: &[u8],
        out: &mut Vec<Out>,
    ) -> bool {
        let mut c = parse::Cur::new(payload);
        let (Some(class), Some(method)) = (c.u16(), c.u16()) else {
            return false;
        };
        let Some(def) = methods::method_def(class, method) else {
            return false;
        };
        let Some(args) = methods::decode_args(&def, c.rest(), fx.parse_arguments) else {
            return false;
        };
        let mut notes = Vec::new();
        if args.bad_table {
            notes.push("Failed to parse additional arguments".to_owned());
        }
        let msg = Msg {
            ts: start,
            channel: head.channel,
            class,
            method,
            def,
            fields: args.fields,
            reply_code: args.reply_code,
            no_wait: args.no_wait,
            bytes: head.wire_len(),
            body_size: 0,
            body_seen: 0,
            body: Vec::new(),
            header_seen: false,
            notes,
        };
        // A new method on a channel ends any content still being assembled there.
        self.drop_open(head.channel, out);
        if def.content {
            if self.open.len() >= MAX_OPEN_CONTENTS {
                let mut old = self.open.remove(0);
                old.notes.push(NOTE_INCOMPLETE.to_owned());
                out.push(Out::Msg(Box::new(old)));
            }
            self.open.push(msg);
        } else {
            out.push(Out::Msg(Box::new(msg)));
        }
        true
    }

    fn header(&mut self, fx: &FeedCx, head: FrameHead, payload: &[u8], out: &mut Vec<Out>) -> bool {
        let Some(pos) = self.open.iter().position(|m| m.channel == head.channel) else {
            return false;
        };
        let Some(h) = parse::content_header(payload, fx.parse_headers) else {
            return false;
        };
        let Some(m) = self.open.get_mut(pos) else {
            return false;
        };
        if m.header_seen || h.class != m.class {
            return false;
        }
        m.header_seen = true;
        m.body_size = h.body_size;
        m.bytes = m.bytes.saturating_add(head.wire_len());
        for (k, v) in h.props {
            m.fields.entry(k).or_insert(v);
        }
        self.finish_if_complete(head.channel, out);
        true
    }

    /// Hand out the content message of `channel` when its body is complete.
    fn finish_if_complete(&mut self, channel: u16, out: &mut Vec<Out>) {
        if let Some(pos) = self
            .open
            .iter()
            .position(|m| m.channel == channel && m.header_seen && m.body_seen >= m.body_size)
        {
            out.push(Out::Msg(Box::new(self.open.remove(pos))));
        }
    }

    /// Publish the incomplete content message of `channel`, if any.
    fn drop_open(&mut self, channel: u16, out: &mut Vec<Out>) {
        if let Some(pos) = self.open.iter().position(|m| m.channel == channel) {
            let mut m = self.open.remove(pos);
            m.notes.push(NOTE_INCOMPLETE.to_owned());
            out.push(Out::Msg(Box::new(m)));
        }
    }

    /// `len` bytes were lost; the unconsumed tail was dropped.
    pub fn gap(&mut self, len: usize, out: &mut Vec<Out>) {
        let len64 = len as u64;
        if let Phase::Body { channel, remaining } = self.phase {
            if let Some(m) = self.open.iter_mut().find(|m| m.channel == channel) {
                if !m.notes.iter().any(|n| n == NOTE_INCOMPLETE) {
                    m.notes.push(NOTE_INCOMPLETE.to_owned());
                }
                m.body_seen = m.body_seen.saturating_add(len64.min(remaining));
            }
            if len64 < remaining {
                self.phase = Phase::Body {
                    channel,
                    remaining: remaining - len64,
                };
                return;
            }
            if len64 == remaining {
                self.phase = Phase::BodyEnd { channel };
                return;
            }
        }
        self.flush(out);
        self.phase = Phase::Resync;
        self.frame_ts = None;
    }

    /// Publish every content message still being assembled (incomplete).
    pub fn flush(&mut self, out: &mut Vec<Out>) {
        for mut m in self.open.drain(..) {
            m.notes.push(NOTE_INCOMPLETE.to_owned());
            out.push(Out::Msg(Box::new(m)));
        }
    }
}

enum Step {
    Used(usize),
    Need(usize),
    Bad,
}

enum Resync {
    /// A plausible method frame starts at this offset.
    At(usize),
    /// Nothing certain yet: consume up to the offset, wait for this many more bytes.
    Wait(usize, usize),
}

/// Largest method frame accepted as a resynchronisation point: control methods are small,
/// and a bound keeps a false candidate from holding the stream.
const MAX_RESYNC_FRAME: u32 = 64 * 1024;

/// Find the next offset where a complete, valid method frame (or a protocol header) starts.
fn resync_point(data: &[u8]) -> Resync {
    let mut i = 0usize;
    while let Some(rest) = data.get(i..) {
        if rest.len() < FRAME_HEADER_LEN + 5 {
            return Resync::Wait(i, FRAME_HEADER_LEN + 5 - rest.len());
        }
        if parse::is_protocol_header(rest) == Some(true) {
            return Resync::At(i);
        }
        if let Some(h) = parse::frame_head(rest) {
            if h.kind == FRAME_METHOD && h.size >= 4 && h.size <= MAX_RESYNC_FRAME {
                let class = rest.get(7..).and_then(parse::be16);
                let method = rest.get(9..).and_then(parse::be16);
                if let (Some(c), Some(m)) = (class, method) {
                    if methods::method_def(c, m).is_some() {
                        let total = usize::try_from(h.wire_len()).unwrap_or(usize::MAX);
                        match rest.get(total.saturating_sub(1)) {
                            Some(&FRAME_END) => return Resync::At(i),
                            Some(_) => {}
                            None => return Resync::Wait(i, total.saturating_sub(rest.len())),
                        }
                    }
                }
            }
        }
        i += 1;
    }
    Resync::Wait(data.len(), 1)
}
