//! Incremental RESP reader of one direction: values are consumed as bytes arrive (bulk strings
//! of any size are counted, not buffered), nested aggregates are tracked on a bounded stack,
//! and each complete top-level value becomes a [`Msg`] with its byte count, a Packetbeat-style
//! text rendering and the first elements needed for correlation (command, key, pub/sub kind).

use super::parse::{self, AggKind, BulkKind, Header, Line};
use crate::time::Ts;

/// Deepest nesting accepted: real replies nest a handful of levels (COMMAND DOCS ~6); deeper
/// input is treated as garbage so the stack stays small.
pub const MAX_DEPTH: usize = 64;
/// Bytes of text kept per message (`query`, `redis.return_value`): enough for any real
/// command line or reply summary, bounded for multi-megabyte values.
pub const MAX_TEXT: usize = 32 * 1024;
/// Bytes kept of each of the first two top-level elements (command name, key/channel).
pub const MAX_CAPTURE: usize = 1024;

/// What the top-level value of a message is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Top {
    /// Not known yet.
    #[default]
    None,
    /// A simple or bulk string, number, boolean, verbatim string.
    Scalar,
    /// `-` or `!`.
    Error,
    /// Null / nil.
    Null,
    /// An aggregate of that kind.
    Aggregate(AggKind),
    /// An inline command line.
    Inline,
}

/// One complete top-level RESP value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Msg {
    /// First packet of the message.
    pub ts: Ts,
    /// Bytes on the wire (attributes included).
    pub size: u64,
    /// Kind of the top-level value.
    pub top: Top,
    /// Packetbeat rendering: request = arguments joined by spaces; reply = value, arrays as
    /// `[a, b]`, nil as `nil`.
    pub text: Vec<u8>,
    /// `text` was cut at [`MAX_TEXT`].
    pub truncated: bool,
    /// First two top-level elements (aggregates) or inline words, each cut at [`MAX_CAPTURE`].
    pub first: Option<Vec<u8>>,
    /// Second element.
    pub second: Option<Vec<u8>>,
    /// The second element was null.
    pub second_null: bool,
    /// Third element, when it is an integer.
    pub third_int: Option<i64>,
    /// Number of top-level elements (inline: words).
    pub count: u64,
    /// Bytes of this message were lost to a capture gap.
    pub lost: bool,
}

/// Where the reader is inside the current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Expecting a type line.
    Value,
    /// Inside blob content: bytes left, bytes of a verbatim prefix still to hide, streamed chunk.
    Bulk { left: u64, hide: u8, chunk: bool },
    /// The CRLF after blob content: bytes left; `chunk` = back to the next streamed chunk.
    Crlf { left: u8, chunk: bool },
    /// Expecting the next `;len` line of a streamed string.
    Chunk,
}

/// Which top-level element a value is captured into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cap {
    None,
    First,
    Second,
    Third,
}

/// An open aggregate.
#[derive(Clone, Copy, Debug)]
struct Frame {
    kind: AggKind,
    /// Elements left (`None` = streamed, ended by `.`).
    left: Option<u64>,
    /// Elements seen.
    idx: u64,
}

/// Result of [`Reader::feed`].
#[derive(Debug)]
pub enum Out {
    /// Every byte was used.
    Consumed,
    /// Bytes from the returned offset on are an incomplete line: hand them back with more.
    NeedMore,
    /// A message is complete (at the returned offset).
    Msg(Box<Msg>),
    /// The bytes are not RESP (the rest of the chunk is dropped).
    Malformed,
}

/// What [`Reader::gap`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum GapOut {
    /// No message was in progress.
    Idle,
    /// The gap fell inside blob content of known size: parsing continues.
    Absorbed,
    /// A message in progress was lost.
    Lost,
}

/// Reader of one direction.
#[derive(Debug)]
pub struct Reader {
    /// Client → server (inline commands allowed; top-level arrays rendered as command lines).
    request: bool,
    at: At,
    stack: Vec<Frame>,
    /// Attribute frames on the stack (their content is not rendered).
    hidden: usize,
    cap: Cap,
    msg: Option<Box<Msg>>,
    /// First packet of the message being read.
    start_ts: Option<Ts>,
}

impl Reader {
    /// A reader for requests (`true`) or replies.
    pub fn new(request: bool) -> Self {
        Reader {
            request,
            at: At::Value,
            stack: Vec::new(),
            hidden: 0,
            cap: Cap::None,
            msg: None,
            start_ts: None,
        }
    }

    /// A message has started and is not finished.
    pub fn in_progress(&self) -> bool {
        self.start_ts.is_some()
    }

    fn reset(&mut self) {
        self.at = At::Value;
        self.stack.clear();
        self.hidden = 0;
        self.cap = Cap::None;
        self.msg = None;
        self.start_ts = None;
    }

    /// Capture loss of `len` bytes.
    pub fn gap(&mut self, len: usize) -> GapOut {
        if !self.in_progress() {
            self.reset();
            return GapOut::Idle;
        }
        let n = u64::try_from(len).unwrap_or(u64::MAX);
        if let (At::Bulk { left, hide, chunk }, Some(m)) = (self.at, self.msg.as_mut()) {
            if n <= left {
                m.size = m.size.saturating_add(n);
                m.lost = true;
                let left = left - n;
                self.at = if left == 0 {
                    At::Crlf { left: 2, chunk }
                } else {
                    At::Bulk {
                        left,
                        hide: hide.saturating_sub(u8::try_from(len).unwrap_or(u8::MAX)),
                        chunk,
                    }
                };
                return GapOut::Absorbed;
            }
        }
        self.reset();
        GapOut::Lost
    }

    /// Drop whatever is in progress (connection end); true when something was.
    pub fn abandon(&mut self) -> bool {
        let was = self.in_progress();
        self.reset();
        was
    }

    /// Parse from `data`; returns the bytes used and why it stopped.
    pub fn feed(&mut self, ts: Ts, data: &[u8]) -> (usize, Out) {
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            if rest.is_empty() {
                return (off, Out::Consumed);
            }
            if self.start_ts.is_none() {
                self.start_ts = Some(ts);
            }
            match self.at {
                At::Bulk { left, hide, chunk } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    let (bytes, _) = rest.split_at(take);
                    let shown = bytes
                        .get(usize::from(hide).min(bytes.len())..)
                        .unwrap_or_default();
                    self.render(shown);
                    self.capture(bytes);
                    self.add_size(take);
                    off += take;
                    let left = left - u64::try_from(take).unwrap_or(left);
                    self.at = if left == 0 {
                        At::Crlf { left: 2, chunk }
                    } else {
                        At::Bulk {
                            left,
                            hide: hide.saturating_sub(u8::try_from(take).unwrap_or(u8::MAX)),
                            chunk,
                        }
                    };
                }
                At::Crlf { left, chunk } => {
                    let Some(&b) = rest.first() else {
                        return (off, Out::Consumed);
                    };
                    let want = if left == 2 { b'\r' } else { b'\n' };
                    if b != want {
                        self.reset();
                        return (data.len(), Out::Malformed);
                    }
                    self.add_size(1);
                    off += 1;
                    if left > 1 {
                        self.at = At::Crlf { left: 1, chunk };
                    } else if chunk {
                        self.at = At::Chunk;
                    } else {
                        self.at = At::Value;
                        if self.finish_elem() {
                            return (off, self.complete());
                        }
                    }
                }
                At::Chunk | At::Value => {
                    if self.at == At::Value
                        && self.stack.is_empty()
                        && self.msg.is_none()
                        && self.request
                        && rest.first() != Some(&b'*')
                    {
                        match self.inline(rest) {
                            Ok((used, msg)) => {
                                off += used;
                                if let Some(m) = msg {
                                    return (off, Out::Msg(m));
                                }
                                continue;
                            }
                            Err(out) => return (off, out),
                        }
                    }
                    let (text, used) = match parse::line(rest) {
                        Line::Full(t, n) => (t, n),
                        Line::Partial => return (off, Out::NeedMore),
                        Line::TooLong => {
                            self.reset();
                            return (data.len(), Out::Malformed);
                        }
                    };
                    let Some(h) = parse::header(text) else {
                        self.reset();
                        return (data.len(), Out::Malformed);
                    };
                    if self.msg.is_none() {
                        self.msg = Some(Box::new(Msg {
                            ts: self.start_ts.unwrap_or(ts),
                            ..Msg::default()
                        }));
                    }
                    self.add_size(used);
                    off += used;
                    match self.on_header(h) {
                        Ok(true) => return (off, self.complete()),
                        Ok(false) => {}
                        Err(()) => {
                            self.reset();
                            return (data.len(), Out::Malformed);
                        }
                    }
                }
            }
        }
    }

    /// An inline command line at the start of `rest`: `(used, message)`; empty lines are
    /// skipped without a message.
    fn inline(&mut self, rest: &[u8]) -> Result<(usize, Option<Box<Msg>>), Out> {
        let (text, used) = match parse::line(rest) {
            Line::Full(t, n) => (t, n),
            Line::Partial => return Err(Out::NeedMore),
            Line::TooLong => {
                self.reset();
                return Err(Out::Malformed);
            }
        };
        let words = parse::split_inline(text).unwrap_or_else(|| {
            text.split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        });
        if words.is_empty() {
            self.start_ts = None;
            return Ok((used, None));
        }
        let mut m = Box::new(Msg {
            ts: self.start_ts.unwrap_or_default(),
            size: u64::try_from(used).unwrap_or(u64::MAX),
            top: Top::Inline,
            count: u64::try_from(words.len()).unwrap_or(u64::MAX),
            ..Msg::default()
        });
        let mut it = words.into_iter();
        m.first = it.next().map(cut);
        m.second = it.next().map(cut);
        m.text = text
            .get(..text.len().min(MAX_TEXT))
            .unwrap_or_default()
            .to_vec();
        m.truncated = text.len() > MAX_TEXT;
        self.start_ts = None;
        Ok((used, Some(m)))
    }

    fn complete(&mut self) -> Out {
        let m = self.msg.take();
        self.reset();
        match m {
            Some(m) => Out::Msg(m),
            None => Out::Consumed,
        }
    }

    fn add_size(&mut self, n: usize) {
        if let Some(m) = self.msg.as_mut() {
            m.size = m.size.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    fn render(&mut self, s: &[u8]) {
        if self.hidden > 0 {
            return;
        }
        if let Some(m) = self.msg.as_mut() {
            let room = MAX_TEXT.saturating_sub(m.text.len());
            if s.len() > room {
                m.truncated = true;
            }
            m.text
                .extend_from_slice(s.get(..room.min(s.len())).unwrap_or_default());
        }
    }

    fn capture(&mut self, s: &[u8]) {
        let Some(m) = self.msg.as_mut() else {
            return;
        };
        let slot = match self.cap {
            Cap::None => return,
            Cap::First => &mut m.first,
            Cap::Second => &mut m.second,
            Cap::Third => {
                m.third_int = parse::int(s);
                return;
            }
        };
        let v = slot.get_or_insert_with(Vec::new);
        let room = MAX_CAPTURE.saturating_sub(v.len());
        v.extend_from_slice(s.get(..room.min(s.len())).unwrap_or_default());
    }

    /// Is the top-level value rendered as a command line (no brackets, spaces)?
    fn command_line(&self) -> bool {
        self.request && self.stack.len() == 1
    }

    /// Separator and capture slot before an element.
    fn open_elem(&mut self) {
        self.cap = Cap::None;
        let cmd = self.command_line();
        let Some(f) = self.stack.last().copied() else {
            return;
        };
        if f.idx > 0 {
            let sep: &[u8] = if f.kind == AggKind::Map || f.kind == AggKind::Attribute {
                if f.idx % 2 == 1 {
                    b": "
                } else {
                    b", "
                }
            } else if cmd {
                b" "
            } else {
                b", "
            };
            self.render(sep);
        }
        if self.stack.len() == 1 && self.hidden == 0 {
            self.cap = match f.idx {
                0 => Cap::First,
                1 => Cap::Second,
                2 => Cap::Third,
                _ => Cap::None,
            };
        }
    }

    /// A scalar value given whole (line types).
    fn scalar(&mut self, text: &[u8]) -> bool {
        self.render(text);
        self.capture(text);
        self.finish_elem()
    }

    fn set_top(&mut self, top: Top) {
        if self.stack.is_empty() {
            if let Some(m) = self.msg.as_mut() {
                m.top = top;
            }
        }
    }

    /// Handle one header; `Ok(true)` = the message is complete.
    fn on_header(&mut self, h: Header<'_>) -> Result<bool, ()> {
        if self.at == At::Chunk {
            return match h {
                Header::Chunk(0) => {
                    self.at = At::Value;
                    Ok(self.finish_elem())
                }
                Header::Chunk(n) => {
                    self.at = At::Bulk {
                        left: n,
                        hide: 0,
                        chunk: true,
                    };
                    Ok(false)
                }
                _ => Err(()),
            };
        }
        if !matches!(h, Header::Aggregate(AggKind::Attribute, _) | Header::End) {
            self.open_elem();
        }
        match h {
            Header::Simple(t) | Header::Integer(t) | Header::Number(t) => {
                self.set_top(Top::Scalar);
                Ok(self.scalar(t))
            }
            Header::Error(t) => {
                self.set_top(Top::Error);
                Ok(self.scalar(t))
            }
            Header::Boolean(b) => {
                self.set_top(Top::Scalar);
                Ok(self.scalar(if b { b"true" } else { b"false" }))
            }
            Header::Null => {
                self.set_top(Top::Null);
                if self.cap == Cap::Second {
                    if let Some(m) = self.msg.as_mut() {
                        m.second_null = true;
                    }
                }
                self.render(b"nil");
                Ok(self.finish_elem())
            }
            Header::Bulk(kind, n) => {
                // An empty blob still fills its capture slot.
                self.capture(b"");
                self.set_top(if kind == BulkKind::Error {
                    Top::Error
                } else {
                    Top::Scalar
                });
                let hide = if kind == BulkKind::Verbatim && n >= 4 {
                    4
                } else {
                    0
                };
                self.at = At::Bulk {
                    left: n,
                    hide,
                    chunk: false,
                };
                if n == 0 {
                    self.at = At::Crlf {
                        left: 2,
                        chunk: false,
                    };
                }
                Ok(false)
            }
            Header::StreamedBulk => {
                self.set_top(Top::Scalar);
                self.at = At::Chunk;
                Ok(false)
            }
            Header::Chunk(_) => Err(()),
            Header::Aggregate(kind, n) => {
                let left = if matches!(kind, AggKind::Map | AggKind::Attribute) {
                    n.saturating_mul(2)
                } else {
                    n
                };
                self.open_frame(kind, Some(left))?;
                if left == 0 {
                    return Ok(self.complete_frame());
                }
                Ok(false)
            }
            Header::StreamedAggregate(kind) => {
                self.open_frame(kind, None)?;
                Ok(false)
            }
            Header::End => match self.stack.last() {
                Some(f) if f.left.is_none() => Ok(self.complete_frame()),
                _ => Err(()),
            },
        }
    }

    fn open_frame(&mut self, kind: AggKind, left: Option<u64>) -> Result<(), ()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(());
        }
        if kind != AggKind::Attribute {
            self.set_top(Top::Aggregate(kind));
        }
        if self.stack.is_empty() && kind != AggKind::Attribute {
            if let Some(m) = self.msg.as_mut() {
                m.count = left.unwrap_or(0);
                if kind == AggKind::Map {
                    m.count /= 2;
                }
            }
        }
        let cmd = self.request && self.stack.is_empty();
        self.cap = Cap::None;
        if kind == AggKind::Attribute {
            self.hidden += 1;
        } else if !cmd {
            self.render(if kind == AggKind::Map { b"{" } else { b"[" });
        }
        self.stack.push(Frame { kind, left, idx: 0 });
        Ok(())
    }

    /// Close the innermost aggregate; true = the message is complete.
    fn complete_frame(&mut self) -> bool {
        let cmd = self.command_line();
        let Some(f) = self.stack.pop() else {
            return true;
        };
        if f.kind == AggKind::Attribute {
            self.hidden = self.hidden.saturating_sub(1);
            // Metadata of the next value: not an element of its parent.
            return false;
        }
        if !cmd {
            self.render(if f.kind == AggKind::Map { b"}" } else { b"]" });
        }
        self.finish_elem()
    }

    /// An element ended; true = the message is complete.
    fn finish_elem(&mut self) -> bool {
        self.cap = Cap::None;
        let Some(top) = self.stack.last_mut() else {
            return true;
        };
        top.idx = top.idx.saturating_add(1);
        if let Some(n) = top.left.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                return self.complete_frame();
            }
        }
        false
    }
}

fn cut(mut v: Vec<u8>) -> Vec<u8> {
    v.truncate(MAX_CAPTURE);
    v
}
