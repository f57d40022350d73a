//! Incremental framing of one direction (TCP stream, or one UDP message): text command lines
//! with their data blocks, text replies through `END`, binary messages (24-byte header, extras,
//! key, value). Data blocks and binary values are consumed as they arrive (counted, at most the
//! configured value bytes kept), so large values spanning many segments are never buffered.

use super::fields::{
    binary_extras, finish_binary, keep_value, lossy, reply_line, request_line, small_value, Next,
    Then,
};
use super::parse::{self, op, BinHeader, Shape, TextResult};
use crate::time::Ts;

/// Longest text line accepted: multi-key `get` lines are the longest real ones (memcached
/// reads keys of up to 250 bytes each); a longer line means we are out of sync.
pub const MAX_LINE: usize = 64 * 1024;

/// Value-publishing options (`maxvalues`, `maxbytespervalue`) and `parseunknown`.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// Values kept per message: 0 none, -1 all.
    pub max_values: i64,
    /// Bytes kept per value.
    pub max_bytes_per_value: usize,
    /// Accept reply lines of unknown words without counting an anomaly.
    pub parse_unknown: bool,
}

/// One complete message (request or reply, text or binary).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Msg {
    /// First packet.
    pub ts: Ts,
    /// Bytes on the wire (UDP: datagrams with their frame headers).
    pub size: u64,
    /// Binary protocol.
    pub binary: bool,
    /// Sent by the client.
    pub request: bool,
    /// Text: command / first reply word; binary: opcode name lowercase.
    pub command: String,
    /// Packetbeat's class (`Load`, `Store`, `Success`, `Fail`, ...).
    pub typ: &'static str,
    /// Text request: framing of the command.
    pub shape: Option<Shape>,
    /// Text: the command line (requests) / reply's last line.
    pub line: Option<String>,
    /// Keys.
    pub keys: Vec<String>,
    /// Text `noreply`.
    pub noreply: bool,
    /// Quiet binary opcode or meta `q` flag.
    pub quiet: bool,
    /// Flags.
    pub flags: Option<u32>,
    /// Expiration time.
    pub exptime: Option<u32>,
    /// Data length announced by a text storage command.
    pub bytes: Option<u64>,
    /// CAS value.
    pub cas: Option<u64>,
    /// Counter delta.
    pub delta: Option<u64>,
    /// Binary counter initial value.
    pub initial: Option<u64>,
    /// Verbosity level.
    pub verbosity: Option<u64>,
    /// Counter reply value.
    pub value: Option<u64>,
    /// Raw arguments (`stats`, admin and unknown commands).
    pub raw_args: Option<String>,
    /// Kept values (per `maxvalues` / `maxbytespervalue`).
    pub values: Vec<Vec<u8>>,
    /// Number of values (data blocks) in the message.
    pub count_values: u32,
    /// Bytes of all values.
    pub value_bytes: u64,
    /// `STAT name value` pairs.
    pub stats: Vec<(String, String)>,
    /// `VERSION` reply.
    pub version: Option<String>,
    /// Message of `CLIENT_ERROR` / `SERVER_ERROR`.
    pub error_msg: Option<String>,
    /// Text reply class.
    pub result: Option<TextResult>,
    /// Binary opcode.
    pub opcode: u8,
    /// Binary opaque.
    pub opaque: u32,
    /// Binary request vbucket.
    pub vbucket: u16,
    /// Binary reply status.
    pub status: u16,
    /// The command is not one the text protocol defines.
    pub unknown: bool,
    /// Bytes were lost to a capture gap.
    pub lost: bool,
    /// Stands for a request lost to a gap (never published).
    pub placeholder: bool,
    /// Small binary value (counter, version, stat value, error message) while it is read.
    pub small: Vec<u8>,
}

impl Msg {
    /// Does the request wait for a reply?
    pub fn expects_reply(&self) -> bool {
        if self.binary {
            return self.opcode != op::QUITQ;
        }
        !self.noreply && self.shape != Some(Shape::Quit)
    }

    /// A binary `Stat` reply that is not the terminating (key-less) one.
    pub fn stat_continues(&self) -> bool {
        self.binary && !self.request && self.opcode == op::STAT && !self.keys.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Expecting a new message.
    Start,
    /// Value bytes left; `crlf` = a text data block (CRLF after it).
    Data { left: u64, crlf: bool, then: Then },
    /// CRLF bytes left after a text data block.
    Crlf { left: u8, then: Then },
    /// A text reply continues (after `VALUE` data or `STAT` lines).
    MoreLines,
}

/// Result of [`Reader::feed`].
#[derive(Debug)]
pub enum Out {
    /// Every byte used.
    Consumed,
    /// Bytes from the returned offset on are an incomplete line/header.
    NeedMore,
    /// A message is complete.
    Msg(Box<Msg>),
    /// Not memcache (the rest of the chunk is dropped).
    Malformed,
}

/// What [`Reader::gap`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum GapOut {
    /// No message in progress.
    Idle,
    /// Inside a value of known size: parsing continues.
    Absorbed,
    /// The message in progress was lost.
    Lost,
}

/// Reader of one direction.
#[derive(Debug)]
pub struct Reader {
    request: bool,
    phase: Phase,
    msg: Option<Box<Msg>>,
    start_ts: Option<Ts>,
    /// Unknown reply words seen (anomalies to count).
    pub unknown_replies: u32,
}

impl Reader {
    /// A reader of requests (`true`) or replies.
    pub fn new(request: bool) -> Self {
        Reader {
            request,
            phase: Phase::Start,
            msg: None,
            start_ts: None,
            unknown_replies: 0,
        }
    }

    /// A message has started and is not finished.
    pub fn in_progress(&self) -> bool {
        self.start_ts.is_some()
    }

    fn reset(&mut self) {
        self.phase = Phase::Start;
        self.msg = None;
        self.start_ts = None;
    }

    /// Drop what is in progress; true when something was.
    pub fn abandon(&mut self) -> bool {
        let was = self.in_progress();
        self.reset();
        was
    }

    /// Capture loss of `len` bytes.
    pub fn gap(&mut self, len: usize) -> GapOut {
        if !self.in_progress() {
            self.reset();
            return GapOut::Idle;
        }
        let n = u64::try_from(len).unwrap_or(u64::MAX);
        if let (Phase::Data { left, crlf, then }, Some(m)) = (self.phase, self.msg.as_mut()) {
            if n <= left {
                m.size = m.size.saturating_add(n);
                m.value_bytes = m.value_bytes.saturating_add(n);
                m.lost = true;
                let left = left - n;
                self.phase = match (left, crlf) {
                    (0, true) => Phase::Crlf { left: 2, then },
                    _ => Phase::Data { left, crlf, then },
                };
                if left == 0 && !crlf {
                    // The binary value ended inside the gap: the message is complete but
                    // handing it out needs bytes; finish at the next call.
                    self.phase = Phase::Data {
                        left: 0,
                        crlf: false,
                        then,
                    };
                }
                return GapOut::Absorbed;
            }
        }
        self.reset();
        GapOut::Lost
    }

    fn add_size(&mut self, n: usize) {
        if let Some(m) = self.msg.as_mut() {
            m.size = m.size.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    fn complete(&mut self) -> Out {
        let m = self.msg.take();
        self.reset();
        match m {
            Some(mut m) => {
                finish_binary(&mut m);
                Out::Msg(m)
            }
            None => Out::Consumed,
        }
    }

    /// Parse from `data`; returns bytes used and why it stopped.
    pub fn feed(&mut self, ts: Ts, data: &[u8], o: &Opts) -> (usize, Out) {
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            if let Phase::Data {
                left: 0,
                crlf: false,
                ..
            } = self.phase
            {
                return (off, self.complete());
            }
            if rest.is_empty() {
                return (off, Out::Consumed);
            }
            if self.start_ts.is_none() {
                self.start_ts = Some(ts);
            }
            match self.phase {
                Phase::Data { left, crlf, then } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    let (bytes, _) = rest.split_at(take);
                    if let Some(m) = self.msg.as_mut() {
                        keep_value(m, bytes, o);
                        m.value_bytes = m.value_bytes.saturating_add(take as u64);
                    }
                    self.add_size(take);
                    off += take;
                    let left = left - take as u64;
                    self.phase = match (left, crlf) {
                        (0, true) => Phase::Crlf { left: 2, then },
                        _ => Phase::Data { left, crlf, then },
                    };
                }
                Phase::Crlf { left, then } => {
                    let want = if left == 2 { b'\r' } else { b'\n' };
                    match rest.first() {
                        Some(&b) if b == want => {}
                        // A bare LF after the data block is tolerated like memcached does.
                        Some(b'\n') if left == 2 => {
                            self.add_size(1);
                            off += 1;
                            if let Some(out) = self.after_data(then) {
                                return (off, out);
                            }
                            continue;
                        }
                        _ => {
                            self.reset();
                            return (data.len(), Out::Malformed);
                        }
                    }
                    self.add_size(1);
                    off += 1;
                    if left == 2 {
                        self.phase = Phase::Crlf { left: 1, then };
                    } else if let Some(out) = self.after_data(then) {
                        return (off, out);
                    }
                }
                Phase::Start | Phase::MoreLines => {
                    let binary_start = self.phase == Phase::Start
                        && matches!(
                            rest.first(),
                            Some(&parse::MAGIC_REQUEST | &parse::MAGIC_RESPONSE)
                        );
                    let r = if binary_start {
                        self.binary(ts, rest)
                    } else {
                        self.text_line(ts, rest, o)
                    };
                    match r {
                        Step::Used(n) => off += n,
                        Step::Done(n) => {
                            off += n;
                            return (off, self.complete());
                        }
                        Step::Need => return (off, Out::NeedMore),
                        Step::Bad => {
                            self.reset();
                            return (data.len(), Out::Malformed);
                        }
                    }
                }
            }
        }
    }

    fn after_data(&mut self, then: Then) -> Option<Out> {
        match then {
            Then::Complete => Some(self.complete()),
            Then::MoreLines => {
                self.phase = Phase::MoreLines;
                None
            }
        }
    }

    fn binary(&mut self, ts: Ts, rest: &[u8]) -> Step {
        if rest.len() < parse::BIN_HEADER {
            return Step::Need;
        }
        let Some(h) = BinHeader::parse(rest) else {
            return Step::Bad;
        };
        let fixed = parse::BIN_HEADER + usize::from(h.extras_len) + usize::from(h.key_len);
        let Some(head) = rest.get(..fixed) else {
            return Step::Need;
        };
        let extras = head
            .get(parse::BIN_HEADER..parse::BIN_HEADER + usize::from(h.extras_len))
            .unwrap_or_default();
        let key = head
            .get(parse::BIN_HEADER + usize::from(h.extras_len)..)
            .unwrap_or_default();
        let request = h.magic == parse::MAGIC_REQUEST;
        let mut m = Box::new(Msg {
            ts: self.start_ts.unwrap_or(ts),
            size: fixed as u64,
            binary: true,
            request,
            command: parse::opcode_name(h.opcode)
                .unwrap_or("UNKNOWN")
                .to_ascii_lowercase(),
            typ: parse::opcode_type(h.opcode),
            opcode: h.opcode,
            opaque: h.opaque,
            quiet: request && parse::is_quiet(h.opcode),
            cas: (h.cas != 0).then_some(h.cas),
            ..Msg::default()
        });
        if request {
            m.vbucket = h.vbucket_or_status;
        } else {
            m.status = h.vbucket_or_status;
        }
        if !key.is_empty() {
            m.keys.push(lossy(key));
        }
        binary_extras(&mut m, extras);
        let value = h.value_len();
        if value > 0 && !small_value(&m) {
            m.count_values = 1;
        }
        self.msg = Some(m);
        self.phase = Phase::Data {
            left: value,
            crlf: false,
            then: Then::Complete,
        };
        if value == 0 {
            return Step::Done(fixed);
        }
        Step::Used(fixed)
    }

    fn text_line(&mut self, ts: Ts, rest: &[u8], o: &Opts) -> Step {
        let window = rest.get(..rest.len().min(MAX_LINE + 2)).unwrap_or(rest);
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            return if window.len() > MAX_LINE {
                Step::Bad
            } else {
                Step::Need
            };
        };
        let used = nl + 1;
        let line = window.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.msg.is_none() {
            if line.is_empty() {
                self.start_ts = None;
                return Step::Used(used);
            }
            if line.iter().any(|&b| b < 0x09 || b == 0x7f) {
                return Step::Bad;
            }
            self.msg = Some(Box::new(Msg {
                ts: self.start_ts.unwrap_or(ts),
                request: self.request,
                ..Msg::default()
            }));
        }
        self.add_size(used);
        let Some(m) = self.msg.as_mut() else {
            return Step::Bad;
        };
        let next = if self.request {
            request_line(m, line, o)
        } else {
            match reply_line(m, line) {
                Some(n) => n,
                None => {
                    self.unknown_replies = self.unknown_replies.saturating_add(1);
                    if !o.parse_unknown {
                        // Counted by the caller; the line still ends the reply.
                    }
                    Next::Complete
                }
            }
        };
        match next {
            Next::Complete => Step::Done(used),
            Next::Data(n, then) => {
                self.phase = Phase::Data {
                    left: n,
                    crlf: true,
                    then,
                };
                Step::Used(used)
            }
            Next::More => {
                self.phase = Phase::MoreLines;
                Step::Used(used)
            }
        }
    }
}

enum Step {
    Used(usize),
    Done(usize),
    Need,
    Bad,
}
