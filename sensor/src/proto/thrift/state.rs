//! Framing of one direction: framed (4-byte length) or unframed transport, binary or compact
//! protocol, detected per message unless forced by the options. Oversized frames are skipped
//! incrementally; after garbage or a gap the stream resynchronises on the next message header.

use super::parse::{self, Err, Limits, Proto};
use crate::time::Ts;

/// Largest message parsed (Packetbeat's TCP stream buffer is 10 MB); longer frames are skipped
/// and counted, longer unframed messages make the direction resynchronise.
pub const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// Note on a message whose body could not be decoded.
pub const NOTE_BAD_BODY: &str = "Failed to decode the Thrift message body";

/// Note on a message too large to be decoded.
pub const NOTE_TOO_LARGE: &str = "Thrift message too large to be decoded";

/// Transport framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// TSocket/TBufferedTransport: messages back to back.
    Unframed,
    /// TFramedTransport: a 4-byte length before each message.
    Framed,
}

/// What the options force (`None` = detect).
#[derive(Clone, Copy, Debug, Default)]
pub struct Forced {
    /// `transport_type`.
    pub framing: Option<Framing>,
    /// `protocol_type`.
    pub proto: Option<Proto>,
}

/// One decoded message.
#[derive(Debug, PartialEq)]
pub struct Msg {
    /// First packet of the message.
    pub ts: Ts,
    /// Message type.
    pub mtype: u8,
    /// Method name.
    pub name: String,
    /// Sequence id.
    pub seqid: i32,
    /// Bytes on the wire (incl. the frame length).
    pub bytes: u64,
    /// Top-level fields (id, rendered value); empty when the body was not decoded.
    pub fields: Vec<(i16, String)>,
    /// Notes for `error.message`.
    pub notes: Vec<String>,
}

/// Per-call inputs of [`Stream::feed`].
pub struct FeedCx<'a> {
    /// Time of the current packet.
    pub ts: Ts,
    /// Rendering limits.
    pub lim: &'a Limits,
    /// Forced framing/protocol.
    pub forced: Forced,
}

/// What a direction produced.
#[derive(Debug)]
pub enum Out {
    /// A complete message.
    Msg(Box<Msg>),
    /// Malformed input (counted).
    Anomaly,
}

/// Result of [`Stream::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Everything used.
    Consumed,
    /// `consumed` used; call again with the rest plus more bytes.
    NeedMore { consumed: usize },
}

/// Framing state of one direction.
#[derive(Debug, Default)]
pub struct Stream {
    /// First packet of the message in progress.
    start: Option<Ts>,
    /// Don't parse again before this many unconsumed bytes are there (known message size).
    want: usize,
    /// Bytes of an oversized frame still to skip.
    skip: u64,
    /// Looking for the next message header.
    resync: bool,
}

/// Does a message header of `proto` start here (first bytes only)?
fn looks_head(d: &[u8], forced: Option<Proto>) -> Option<Proto> {
    match (d, forced) {
        ([0x80, 0x01, 0x00, 1..=4, ..], None | Some(Proto::Binary)) => Some(Proto::Binary),
        ([0x82, vt, ..], None | Some(Proto::Compact))
            if vt & 0x1F == 1 && (1..=4).contains(&(vt >> 5)) =>
        {
            Some(Proto::Compact)
        }
        _ => None,
    }
}

/// Old-style (non-strict) binary header: name length, printable name, type 1..=4.
fn looks_old_binary(d: &[u8]) -> bool {
    let Some((len, rest)) = d.split_first_chunk::<4>() else {
        return false;
    };
    let n = u32::from_be_bytes(*len) as usize;
    if n == 0 || n > 255 {
        return false;
    }
    match (rest.get(..n), rest.get(n)) {
        (Some(name), Some(&t)) => {
            name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') && (1..=4).contains(&t)
        }
        _ => false,
    }
}

enum Detect {
    Found(Framing, Proto),
    NeedMore,
    Unknown,
}

/// Bytes needed to recognise a header: the framed case reads 4 + 2.
const DETECT_BYTES: usize = 6;

fn detect(d: &[u8], f: Forced) -> Detect {
    if d.len() < DETECT_BYTES {
        return Detect::NeedMore;
    }
    let framed_ok = f.framing != Some(Framing::Unframed);
    let unframed_ok = f.framing != Some(Framing::Framed);
    if unframed_ok {
        if let Some(p) = looks_head(d, f.proto) {
            return Detect::Found(Framing::Unframed, p);
        }
    }
    if framed_ok {
        if let Some(p) = d.get(4..).and_then(|r| looks_head(r, f.proto)) {
            return Detect::Found(Framing::Framed, p);
        }
    }
    if f.proto != Some(Proto::Compact) {
        if unframed_ok && looks_old_binary(d) {
            return Detect::Found(Framing::Unframed, Proto::Binary);
        }
        if framed_ok && d.get(4..).is_some_and(looks_old_binary) {
            return Detect::Found(Framing::Framed, Proto::Binary);
        }
        // Too few bytes to check an old-style name yet.
        if d.len() < 64 && (d.first() == Some(&0) || d.get(4) == Some(&0)) {
            return Detect::NeedMore;
        }
    }
    Detect::Unknown
}

/// The first offset where a message (or a plausible frame) starts; `None` = none among the
/// offsets that can be judged yet (the last few bytes are kept for the next call).
fn resync_point(d: &[u8], f: Forced) -> Option<usize> {
    let last = d.len().checked_sub(DETECT_BYTES)?;
    (0..=last).find(|&i| {
        let r = d.get(i..).unwrap_or_default();
        let unframed = f.framing != Some(Framing::Framed) && looks_head(r, f.proto).is_some();
        let framed = f.framing != Some(Framing::Unframed)
            && r.get(4..).and_then(|x| looks_head(x, f.proto)).is_some()
            && r.first_chunk::<4>().is_some_and(|l| {
                (MIN_FRAME..=MAX_MESSAGE).contains(&(u32::from_be_bytes(*l) as usize))
            });
        unframed || framed
    })
}

/// Smallest plausible frame: a compact header with a one-letter name and an empty struct.
const MIN_FRAME: usize = 6;

/// Decode one whole message of `proto` from `d` (exactly the message, or a prefix holding it).
fn message<'a>(
    proto: Proto,
    d: &'a [u8],
    lim: &Limits,
) -> Result<(parse::Head<'a>, parse::Fields, usize), Err> {
    let h = parse::head(proto, d)?;
    let rest = d.get(h.len..).unwrap_or_default();
    let (fields, used) = parse::body(proto, rest, lim)?;
    Ok((h, fields, h.len.saturating_add(used)))
}

fn build(ts: Ts, h: &parse::Head<'_>, fields: Vec<(i16, String)>, bytes: usize) -> Box<Msg> {
    Box::new(Msg {
        ts,
        mtype: h.mtype,
        name: String::from_utf8_lossy(h.name).into_owned(),
        seqid: h.seqid,
        bytes: bytes as u64,
        fields,
        notes: Vec::new(),
    })
}

impl Stream {
    /// Parse the unconsumed bytes `data` of this direction.
    pub fn feed(&mut self, fx: &FeedCx<'_>, data: &[u8], out: &mut Vec<Out>) -> Feed {
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            if rest.is_empty() {
                return Feed::Consumed;
            }
            if self.skip > 0 {
                let n = usize::try_from(self.skip).map_or(rest.len(), |s| s.min(rest.len()));
                self.skip -= n as u64;
                off += n;
                continue;
            }
            if self.resync {
                match resync_point(rest, fx.forced) {
                    Some(i) => {
                        off += i;
                        self.resync = false;
                    }
                    None => {
                        let keep = rest.len().min(DETECT_BYTES - 1);
                        return Feed::NeedMore {
                            consumed: off + rest.len() - keep,
                        };
                    }
                }
                continue;
            }
            if rest.len() < self.want {
                return Feed::NeedMore { consumed: off };
            }
            let start = *self.start.get_or_insert(fx.ts);
            let (framing, proto) = match detect(rest, fx.forced) {
                Detect::Found(f, p) => (f, p),
                Detect::NeedMore => return Feed::NeedMore { consumed: off },
                Detect::Unknown => {
                    self.bad(out);
                    off += 1;
                    continue;
                }
            };
            match framing {
                Framing::Framed => {
                    let Some((len, body)) = rest.split_first_chunk::<4>() else {
                        return Feed::NeedMore { consumed: off };
                    };
                    let len = u32::from_be_bytes(*len) as usize;
                    if len > MAX_MESSAGE {
                        // Too large to decode: publish what the header says, skip the rest.
                        match parse::head(proto, body) {
                            Ok(h) => {
                                let mut m = build(start, &h, Vec::new(), len + 4);
                                m.notes.push(NOTE_TOO_LARGE.to_owned());
                                out.push(Out::Msg(m));
                            }
                            Err(Err::Short(_)) => return Feed::NeedMore { consumed: off },
                            Err(Err::Bad) => out.push(Out::Anomaly),
                        }
                        self.skip = len as u64;
                        self.start = None;
                        off += 4;
                        continue;
                    }
                    let Some(frame) = body.get(..len) else {
                        self.want = len + 4;
                        return Feed::NeedMore { consumed: off };
                    };
                    match message(proto, frame, fx.lim) {
                        Ok((h, fields, _)) => out.push(Out::Msg(build(start, &h, fields, len + 4))),
                        Err(_) => match parse::head(proto, frame) {
                            Ok(h) => {
                                let mut m = build(start, &h, Vec::new(), len + 4);
                                m.notes.push(NOTE_BAD_BODY.to_owned());
                                out.push(Out::Anomaly);
                                out.push(Out::Msg(m));
                            }
                            Err(_) => out.push(Out::Anomaly),
                        },
                    }
                    off += len + 4;
                }
                Framing::Unframed => match message(proto, rest, fx.lim) {
                    Ok((h, fields, used)) => {
                        out.push(Out::Msg(build(start, &h, fields, used)));
                        off += used;
                    }
                    Err(Err::Short(n)) => {
                        let want = rest.len().saturating_add(n);
                        if want > MAX_MESSAGE {
                            self.bad(out);
                            off += 1;
                            continue;
                        }
                        self.want = want;
                        return Feed::NeedMore { consumed: off };
                    }
                    Err(Err::Bad) => {
                        self.bad(out);
                        // Step past this header so the resync finds the next one.
                        off += 1;
                        continue;
                    }
                },
            }
            self.start = None;
            self.want = 0;
        }
    }

    fn bad(&mut self, out: &mut Vec<Out>) {
        out.push(Out::Anomaly);
        self.resync = true;
        self.start = None;
        self.want = 0;
    }

    /// `len` bytes were lost; the unconsumed tail was dropped.
    pub fn gap(&mut self, len: usize) {
        let len = len as u64;
        if self.skip > len {
            self.skip -= len;
            return;
        }
        self.skip = 0;
        self.resync = true;
        self.start = None;
        self.want = 0;
    }
}
