//! Framing of one direction: start line + headers, then a body delimited by Content-Length,
//! chunked coding (extensions, trailers) or the end of the connection. Bodies are consumed
//! incrementally (counted, at most `max_message_size` of them kept); header blocks are parsed
//! once complete. After a gap or malformed input the stream resynchronises on the next line
//! that looks like a start line.

use super::parse::{self, HeadError, HeadInfo, HeadOpts, Looks, Start};
use super::Config;
use crate::proto::Direction;
use crate::time::Ts;

/// Largest header block (start line + fields) accepted: far above what servers accept
/// (nginx 32 KiB, Apache ~8 KiB per line), small enough to bound the buffered tail.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest chunk-size line (size + extensions) accepted before the stream is declared
/// malformed; real senders write a few hex digits.
const MAX_CHUNK_LINE: usize = 4096;

/// Note on a message published although part of it was never seen.
const NOTE_TRUNCATED: &str = "Message truncated by connection close";

/// Note on a message whose chunked framing was broken.
const NOTE_BAD_CHUNK: &str = "Malformed chunked body";

/// What the request of a response was, for the response's framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReqKind {
    /// A HEAD request: the response has no body.
    pub head: bool,
    /// A CONNECT request: a 2xx response starts a tunnel.
    pub connect: bool,
}

/// Where a direction is in its current message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Expecting a start line (leading empty lines are skipped).
    Start,
    /// Looking for a start line after a gap or malformed input; `skip_line` = the current
    /// position is known not to start one.
    Resync {
        /// Skip to the next line first.
        skip_line: bool,
    },
    /// Content-Length body, bytes still expected.
    Body(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Chunk data, bytes still expected.
    ChunkData(u64),
    /// The CRLF after chunk data.
    ChunkEnd,
    /// Trailer fields after the last chunk, up to the empty line.
    Trailers,
    /// Body delimited by the end of the connection.
    UntilClose,
    /// The message is complete; it is handed out by the next step.
    Finish,
}

/// A message whose header block was parsed.
#[derive(Debug)]
pub struct Msg {
    /// First packet of the message.
    pub ts: Ts,
    /// Start line.
    pub start: Start,
    /// Header information.
    pub info: HeadInfo,
    /// Bytes on the wire so far (headers + body incl. chunk framing).
    pub size: u64,
    /// Body bytes after removing the chunk framing.
    pub body_len: u64,
    /// Kept body bytes (only when the body is to be published).
    pub body: Vec<u8>,
    /// The body is to be published (`include_*body_for`).
    pub save_body: bool,
    /// `error.message` entries.
    pub notes: Vec<String>,
    /// Part of the body was lost to a gap (note already added).
    pub lost: bool,
    /// The connection switches protocols after this response (101, CONNECT 2xx).
    pub upgrade: bool,
    /// Answer to a HEAD request (no body).
    pub req_kind: ReqKind,
}

impl Msg {
    /// Is this a request?
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request(_))
    }

    fn add_body(&mut self, bytes: &[u8], max: usize) {
        let n = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.size = self.size.saturating_add(n);
        self.body_len = self.body_len.saturating_add(n);
        if self.save_body && self.body.len() < max {
            let room = max.saturating_sub(self.body.len());
            self.body
                .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
    }

    fn add_framing(&mut self, n: usize) {
        self.size = self
            .size
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }

    fn note_loss(&mut self) {
        if !self.lost {
            self.lost = true;
            self.notes.push(
                if self.is_request() {
                    "Packet loss while capturing the request"
                } else {
                    "Packet loss while capturing the response"
                }
                .to_owned(),
            );
        }
    }
}

/// One direction of a connection.
#[derive(Debug)]
pub struct Stream {
    /// Framing state.
    pub phase: Phase,
    /// First packet of the message being read (set before its header block is complete).
    pub start_ts: Option<Ts>,
    /// How far the buffered header bytes were already searched for the end of the block.
    scanned: usize,
    /// The message whose header block was parsed.
    pub msg: Option<Box<Msg>>,
}

/// Result of one framing step.
#[derive(Debug)]
pub enum Step {
    /// `n` bytes used; keep going.
    Advance(usize),
    /// Nothing more can be done with the bytes given; `needed` more bytes (hint, 0 = unknown).
    NeedMore(usize),
    /// `n` bytes used; a request header block was parsed.
    RequestHead(usize, ReqKind),
    /// `n` bytes used; a final (non-1xx) response header block was parsed.
    ResponseHead(usize),
    /// `n` bytes used; an interim 1xx response was skipped.
    Interim(usize),
    /// A message is complete.
    Complete(Box<Msg>),
    /// `n` bytes used; the input is malformed (count an anomaly). A message in progress is
    /// handed back to be published with a note.
    Malformed(usize, Option<Box<Msg>>),
}

/// What [`Stream::gap`] did with the current message.
#[derive(Debug)]
pub enum GapOut {
    /// Nothing to publish.
    Nothing,
    /// The message is complete (its end fell into the gap) or was cut: publish it.
    Publish(Box<Msg>),
}

/// Per-call inputs of [`Stream::step`].
pub struct StepCx<'a> {
    /// Protocol options.
    pub cfg: &'a Config,
    /// Direction of the bytes.
    pub dir: Direction,
    /// Time of the current packet.
    pub ts: Ts,
    /// Keep the raw header text (`send_request`/`send_response`).
    pub keep_raw: bool,
    /// The oldest request not yet answered by a final response (for response framing).
    pub req_kind: ReqKind,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            phase: Phase::Start,
            start_ts: None,
            scanned: 0,
            msg: None,
        }
    }
}

impl Stream {
    /// True when a message has started in this direction and is not finished.
    pub fn in_progress(&self) -> bool {
        self.msg.is_some() || self.start_ts.is_some()
    }

    /// True when a step must run even without new bytes.
    pub fn wants_step(&self) -> bool {
        self.phase == Phase::Finish
    }

    fn reset(&mut self, phase: Phase) {
        self.phase = phase;
        self.start_ts = None;
        self.scanned = 0;
    }

    /// One framing step over `data` (the unconsumed bytes of this direction).
    pub fn step(&mut self, sx: &StepCx<'_>, data: &[u8]) -> Step {
        let max = sx.cfg.max_message_size;
        match self.phase {
            Phase::Start => self.step_start(sx, data),
            Phase::Resync { skip_line } => self.step_resync(sx.dir, data, skip_line),
            Phase::Finish => match self.msg.take() {
                Some(m) => {
                    self.reset(Phase::Start);
                    Step::Complete(m)
                }
                None => {
                    self.reset(Phase::Start);
                    Step::Advance(0)
                }
            },
            Phase::Body(remaining) => {
                let n = take_len(data.len(), remaining);
                if let Some(m) = self.msg.as_mut() {
                    m.add_body(data.get(..n).unwrap_or_default(), max);
                }
                let left = remaining.saturating_sub(n as u64);
                self.phase = if left == 0 {
                    Phase::Finish
                } else {
                    Phase::Body(left)
                };
                Step::Advance(n)
            }
            Phase::UntilClose => {
                if let Some(m) = self.msg.as_mut() {
                    m.add_body(data, max);
                }
                Step::Advance(data.len())
            }
            Phase::ChunkData(remaining) => {
                let n = take_len(data.len(), remaining);
                if let Some(m) = self.msg.as_mut() {
                    m.add_body(data.get(..n).unwrap_or_default(), max);
                }
                let left = remaining.saturating_sub(n as u64);
                self.phase = if left == 0 {
                    Phase::ChunkEnd
                } else {
                    Phase::ChunkData(left)
                };
                Step::Advance(n)
            }
            Phase::ChunkEnd => {
                let n = match data {
                    [b'\r', b'\n', ..] => 2,
                    [b'\n', ..] => 1,
                    [b'\r'] | [] => return Step::NeedMore(2usize.saturating_sub(data.len())),
                    _ => return self.malformed(0, NOTE_BAD_CHUNK),
                };
                if let Some(m) = self.msg.as_mut() {
                    m.add_framing(n);
                }
                self.phase = Phase::ChunkSize;
                Step::Advance(n)
            }
            Phase::ChunkSize => {
                let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                    if data.len() > MAX_CHUNK_LINE {
                        return self.malformed(0, NOTE_BAD_CHUNK);
                    }
                    return Step::NeedMore(0);
                };
                let line = parse::trim_cr(data.get(..nl).unwrap_or_default());
                let Some(size) = parse::parse_chunk_size(line) else {
                    return self.malformed(0, NOTE_BAD_CHUNK);
                };
                let used = nl.saturating_add(1);
                if let Some(m) = self.msg.as_mut() {
                    m.add_framing(used);
                }
                self.phase = if size == 0 {
                    Phase::Trailers
                } else {
                    Phase::ChunkData(size)
                };
                Step::Advance(used)
            }
            Phase::Trailers => {
                let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                    if data.len() > MAX_HEAD_BYTES {
                        return self.malformed(0, NOTE_BAD_CHUNK);
                    }
                    return Step::NeedMore(0);
                };
                let used = nl.saturating_add(1);
                if let Some(m) = self.msg.as_mut() {
                    m.add_framing(used);
                }
                if parse::trim_cr(data.get(..nl).unwrap_or_default()).is_empty() {
                    self.phase = Phase::Finish;
                }
                Step::Advance(used)
            }
        }
    }

    /// Hand back the message in progress (if any) with `note`, and resync.
    fn malformed(&mut self, used: usize, note: &str) -> Step {
        let msg = self.msg.take().map(|mut m| {
            m.notes.push(note.to_owned());
            m
        });
        self.reset(Phase::Resync { skip_line: true });
        Step::Malformed(used, msg)
    }

    fn step_resync(&mut self, dir: Direction, data: &[u8], skip_line: bool) -> Step {
        if skip_line {
            return match data.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.phase = Phase::Resync { skip_line: false };
                    Step::Advance(nl.saturating_add(1))
                }
                None => Step::Advance(data.len()),
            };
        }
        let looks = match dir {
            Direction::ToServer => parse::looks_like_request(data),
            Direction::ToClient => parse::looks_like_response(data),
        };
        match looks {
            Looks::Yes => {
                self.reset(Phase::Start);
                Step::Advance(0)
            }
            Looks::Maybe if data.len() < MAX_HEAD_BYTES => Step::NeedMore(0),
            Looks::Maybe | Looks::No => {
                self.phase = Phase::Resync { skip_line: true };
                Step::Advance(0)
            }
        }
    }

    fn step_start(&mut self, sx: &StepCx<'_>, data: &[u8]) -> Step {
        // Empty lines between messages are allowed (RFC 9112 §2.2).
        let blank = data
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(data.len());
        if blank > 0 && self.start_ts.is_none() {
            return Step::Advance(blank);
        }
        if data.is_empty() {
            return Step::NeedMore(0);
        }
        if self.start_ts.is_none() {
            self.start_ts = Some(sx.ts);
            self.scanned = 0;
        }
        let looks = match sx.dir {
            Direction::ToServer => parse::looks_like_request(data),
            Direction::ToClient => parse::looks_like_response(data),
        };
        if looks == Looks::No {
            self.reset(Phase::Resync { skip_line: true });
            return Step::Malformed(0, None);
        }
        let Some(end) = parse::find_head_end(data, self.scanned.saturating_sub(2)) else {
            if data.len() > MAX_HEAD_BYTES {
                self.reset(Phase::Resync { skip_line: true });
                return Step::Malformed(0, None);
            }
            self.scanned = data.len();
            return Step::NeedMore(0);
        };
        let block = data.get(..end).unwrap_or_default();
        if block.len() > MAX_HEAD_BYTES {
            self.reset(Phase::Resync { skip_line: true });
            return Step::Malformed(0, None);
        }
        let request = sx.dir == Direction::ToServer;
        let opts = HeadOpts {
            cfg: sx.cfg,
            request,
            keep_raw: sx.keep_raw,
        };
        let (start, info) = match parse::parse_head(block, &opts) {
            Ok(x) => x,
            Err(HeadError::Syntax | HeadError::TooManyHeaders | HeadError::BadContentLength) => {
                self.reset(Phase::Resync { skip_line: true });
                return Step::Malformed(0, None);
            }
        };
        let ts = self.start_ts.unwrap_or(sx.ts);
        let save_body = sx.cfg.includes_body(request, info.content_type.as_deref());
        let mut msg = Box::new(Msg {
            ts,
            start,
            info,
            size: u64::try_from(end).unwrap_or(u64::MAX),
            body_len: 0,
            body: Vec::new(),
            save_body,
            notes: Vec::new(),
            lost: false,
            upgrade: false,
            req_kind: ReqKind::default(),
        });
        self.start_ts = None;
        self.scanned = 0;
        match &msg.start {
            Start::Request(rl) => {
                let kind = ReqKind {
                    head: rl.method.eq_ignore_ascii_case("HEAD"),
                    connect: rl.method.eq_ignore_ascii_case("CONNECT"),
                };
                self.phase = request_body(&msg.info);
                self.msg = Some(msg);
                Step::RequestHead(end, kind)
            }
            Start::Response(sl) => {
                let code = sl.code;
                if (100..200).contains(&code) && code != 101 {
                    // Interim response: not the answer, not counted.
                    self.reset(Phase::Start);
                    return Step::Interim(end);
                }
                msg.req_kind = sx.req_kind;
                msg.upgrade = code == 101 || (sx.req_kind.connect && (200..300).contains(&code));
                self.phase = if msg.upgrade {
                    Phase::Finish
                } else {
                    response_body(&msg.info, code, sx.req_kind)
                };
                self.msg = Some(msg);
                Step::ResponseHead(end)
            }
        }
    }

    /// `len` bytes of this direction were lost; the unconsumed tail was dropped.
    pub fn gap(&mut self, len: usize) -> GapOut {
        let len64 = u64::try_from(len).unwrap_or(u64::MAX);
        match self.phase {
            Phase::Body(remaining) | Phase::ChunkData(remaining) => {
                let chunked = matches!(self.phase, Phase::ChunkData(_));
                let Some(m) = self.msg.as_mut() else {
                    self.reset(Phase::Resync { skip_line: false });
                    return GapOut::Nothing;
                };
                m.note_loss();
                let lost = len64.min(remaining);
                m.size = m.size.saturating_add(lost);
                m.body_len = m.body_len.saturating_add(lost);
                if len64 < remaining {
                    self.phase = if chunked {
                        Phase::ChunkData(remaining.saturating_sub(len64))
                    } else {
                        Phase::Body(remaining.saturating_sub(len64))
                    };
                    return GapOut::Nothing;
                }
                if len64 == remaining && chunked {
                    self.phase = Phase::ChunkEnd;
                    return GapOut::Nothing;
                }
                if len64 == remaining {
                    // The body ended exactly with the gap: the message is complete.
                    let m = self.msg.take();
                    self.reset(Phase::Start);
                    return m.map_or(GapOut::Nothing, GapOut::Publish);
                }
                // The gap runs past this message: where the next one starts is unknown.
                let m = self.msg.take();
                self.reset(Phase::Resync { skip_line: false });
                m.map_or(GapOut::Nothing, GapOut::Publish)
            }
            Phase::UntilClose => {
                if let Some(m) = self.msg.as_mut() {
                    m.note_loss();
                    m.size = m.size.saturating_add(len64);
                    m.body_len = m.body_len.saturating_add(len64);
                }
                GapOut::Nothing
            }
            Phase::ChunkSize | Phase::ChunkEnd | Phase::Trailers => {
                let m = self.msg.take().map(|mut m| {
                    m.note_loss();
                    m.size = m.size.saturating_add(len64);
                    m
                });
                self.reset(Phase::Resync { skip_line: false });
                m.map_or(GapOut::Nothing, GapOut::Publish)
            }
            Phase::Finish => {
                // Complete message still to hand out; what follows is unknown.
                let m = self.msg.take();
                self.reset(Phase::Resync { skip_line: false });
                m.map_or(GapOut::Nothing, GapOut::Publish)
            }
            Phase::Start | Phase::Resync { .. } => {
                // A header block (or the start of one) was lost: drop it and resync.
                self.msg = None;
                self.reset(Phase::Resync { skip_line: false });
                GapOut::Nothing
            }
        }
    }

    /// The sender closed this direction (FIN) or the connection ends: a close-delimited body
    /// is complete; any other message in progress is published as truncated. Returns the
    /// message to publish and whether a partial header block was lost.
    pub fn close(&mut self) -> (Option<Box<Msg>>, bool) {
        let lost_head = self.msg.is_none() && self.start_ts.is_some();
        let phase = self.phase;
        let msg = self.msg.take().map(|mut m| {
            if !matches!(phase, Phase::UntilClose | Phase::Finish) {
                m.notes.push(NOTE_TRUNCATED.to_owned());
            }
            m
        });
        self.reset(Phase::Start);
        (msg, lost_head)
    }
}

/// `min(available, remaining)` as a usize.
fn take_len(available: usize, remaining: u64) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// Body framing of a request (RFC 9112 §6.3): chunked, Content-Length, else none.
fn request_body(info: &HeadInfo) -> Phase {
    if info.chunked {
        Phase::ChunkSize
    } else {
        match info.content_length {
            Some(n) if n > 0 => Phase::Body(n),
            _ => Phase::Finish,
        }
    }
}

/// Body framing of a final response (RFC 9112 §6.3).
fn response_body(info: &HeadInfo, code: u16, req: ReqKind) -> Phase {
    if req.head || code == 204 || code == 304 {
        return Phase::Finish;
    }
    if info.chunked {
        return Phase::ChunkSize;
    }
    if info.has_te {
        return Phase::UntilClose;
    }
    match info.content_length {
        Some(0) => Phase::Finish,
        Some(n) => Phase::Body(n),
        None => Phase::UntilClose,
    }
}
