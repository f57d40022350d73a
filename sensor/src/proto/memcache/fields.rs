//! Filling a [`Msg`] from its parts: text command and reply lines, binary extras, binary
//! field values (counter, version, stat, error message), and the kept item values.

use super::parse::{self, op, Shape};
use super::state::{Msg, Opts};

/// Bytes kept of a binary value that is itself a field (counter, version string, stat value).
const MAX_SMALL: usize = 1024;
/// Keys kept per message (a multi-get may list many; the event need not list thousands).
const MAX_KEYS: usize = 1024;
/// Stats kept per reply (memcached `stats` prints about 100; `stats items/slabs` more).
const MAX_STATS: usize = 4096;

/// Lossy UTF-8 text of wire bytes.
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What follows a data block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// The message is complete.
    Complete,
    /// More reply lines follow.
    MoreLines,
}

/// What follows a command or reply line.
pub enum Next {
    /// The message is complete.
    Complete,
    /// A data block of that many bytes, then what.
    Data(u64, Then),
    /// More reply lines follow.
    More,
}

/// Keep value bytes per the options (binary field values always, up to [`MAX_SMALL`]).
pub fn keep_value(m: &mut Msg, bytes: &[u8], o: &Opts) {
    if m.binary && small_value(m) {
        let room = MAX_SMALL.saturating_sub(m.small.len());
        m.small
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        return;
    }
    let idx = usize::try_from(m.count_values.saturating_sub(1)).unwrap_or(usize::MAX);
    let wanted = match o.max_values {
        0 => false,
        n if n < 0 => true,
        n => (idx as u64) < n.unsigned_abs(),
    };
    if !wanted {
        return;
    }
    while m.values.len() <= idx && m.values.len() < MAX_KEYS {
        m.values.push(Vec::new());
    }
    if let Some(v) = m.values.get_mut(idx) {
        let room = o.max_bytes_per_value.saturating_sub(v.len());
        v.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }
}

/// Is the binary value a field of its own (counter, version, stat) rather than item data?
pub fn small_value(m: &Msg) -> bool {
    !m.request
        && (m.status != 0
            || matches!(
                m.opcode,
                op::INCREMENT
                    | op::DECREMENT
                    | op::INCREMENTQ
                    | op::DECREMENTQ
                    | op::VERSION
                    | op::STAT
            ))
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(*b.first_chunk::<4>()?))
}

fn be_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(*b.first_chunk::<8>()?))
}

/// Decode a binary message's extras into its fields.
pub fn binary_extras(m: &mut Msg, ex: &[u8]) {
    if ex.is_empty() {
        return;
    }
    if !m.request {
        m.flags = be_u32(ex);
        return;
    }
    match m.typ {
        "Store" if ex.len() >= 8 => {
            m.flags = be_u32(ex);
            m.exptime = ex.get(4..).and_then(be_u32);
        }
        "Counter" => {
            m.delta = be_u64(ex);
            m.initial = ex.get(8..).and_then(be_u64);
            m.exptime = ex.get(16..).and_then(be_u32);
        }
        "Info" => m.verbosity = be_u32(ex).map(u64::from),
        _ => m.exptime = be_u32(ex),
    }
}

/// Turn a finished binary reply's small value into its field.
pub fn finish_binary(m: &mut Msg) {
    if !m.binary || m.request {
        return;
    }
    let small = std::mem::take(&mut m.small);
    if m.status != 0 {
        // Failure replies carry a message as their value ("Not found", "Data exists for key.").
        if !small.is_empty() {
            m.error_msg = Some(lossy(&small));
        }
        return;
    }
    match m.opcode {
        op::INCREMENT | op::DECREMENT | op::INCREMENTQ | op::DECREMENTQ => {
            m.value = be_u64(&small);
        }
        op::VERSION if !small.is_empty() => m.version = Some(lossy(&small)),
        op::STAT => {
            if let Some(k) = m.keys.first() {
                m.stats.push((k.clone(), lossy(&small)));
            }
        }
        _ => {}
    }
}

/// Fill a request from its command line; what follows it.
pub fn request_line(m: &mut Msg, line: &[u8], o: &Opts) -> Next {
    let mut w = parse::words(line);
    let cmd = lossy(w.next().unwrap_or_default());
    let args: Vec<&[u8]> = w.collect();
    m.line = Some(lossy(line));
    let last_noreply = args.last().is_some_and(|a| *a == b"noreply");
    let (typ, shape) = match parse::text_command(&cmd) {
        Some(x) => x,
        None => {
            m.unknown = true;
            ("UNKNOWN", Shape::Plain)
        }
    };
    m.command = cmd;
    m.typ = typ;
    m.shape = Some(shape);
    let arg = |i: usize| args.get(i).copied();
    let num = |i: usize| arg(i).and_then(parse::num);
    let key = |m: &mut Msg, i: usize| {
        if let Some(k) = arg(i) {
            m.keys.push(lossy(k));
        }
    };
    match shape {
        Shape::Retrieve | Shape::Touch => {
            let skip = usize::from(shape == Shape::Touch);
            if shape == Shape::Touch {
                m.exptime = num(0).and_then(|v| u32::try_from(v).ok());
            }
            m.keys = args
                .iter()
                .skip(skip)
                .take(MAX_KEYS)
                .map(|k| lossy(k))
                .collect();
        }
        Shape::Store | Shape::Cas => {
            key(m, 0);
            m.flags = num(1).and_then(|v| u32::try_from(v).ok());
            m.exptime = num(2).and_then(|v| u32::try_from(v).ok());
            m.bytes = num(3);
            if shape == Shape::Cas {
                m.cas = num(4);
            }
            m.noreply = last_noreply;
            return match m.bytes {
                Some(n) => {
                    m.count_values = 1;
                    Next::Data(n, Then::Complete)
                }
                None => Next::Complete,
            };
        }
        Shape::Counter => {
            key(m, 0);
            m.delta = num(1);
            m.noreply = last_noreply;
        }
        Shape::TouchKey => {
            key(m, 0);
            m.exptime = num(1).and_then(|v| u32::try_from(v).ok());
            m.noreply = last_noreply;
        }
        Shape::Delete => {
            key(m, 0);
            m.noreply = last_noreply;
        }
        Shape::Flush => {
            m.exptime = num(0).and_then(|v| u32::try_from(v).ok());
            m.noreply = last_noreply;
        }
        Shape::Verbosity => {
            m.verbosity = num(0);
            m.noreply = last_noreply;
        }
        Shape::Stats | Shape::Admin => m.raw_args = raw_args(line),
        Shape::Plain | Shape::Quit => {
            if m.unknown && o.parse_unknown {
                m.raw_args = raw_args(line);
            }
        }
        Shape::Meta | Shape::MetaSet | Shape::MetaNoop => {
            key(m, 0);
            let flags = args
                .iter()
                .skip(if shape == Shape::MetaSet { 2 } else { 1 });
            m.quiet = flags.clone().any(|f| *f == b"q");
            m.raw_args = raw_args(line);
            if shape == Shape::MetaSet {
                m.bytes = num(1);
                if let Some(n) = m.bytes {
                    m.count_values = 1;
                    return Next::Data(n, Then::Complete);
                }
            }
        }
    }
    Next::Complete
}

fn raw_args(line: &[u8]) -> Option<String> {
    let s = lossy(line);
    s.split_once(' ')
        .map(|(_, a)| a.trim().to_owned())
        .filter(|a| !a.is_empty())
}

/// Add a reply line; `None` when its first word is unknown (the line ends the reply).
pub fn reply_line(m: &mut Msg, line: &[u8]) -> Option<Next> {
    let mut w = parse::words(line);
    let word = w.next().unwrap_or_default();
    let first = m.command.is_empty();
    if first {
        m.command = lossy(word);
        m.typ = parse::reply_type(word);
    }
    m.line = Some(lossy(line));
    m.result = Some(parse::text_result(word));
    let args: Vec<&[u8]> = w.collect();
    let num = |i: usize| args.get(i).copied().and_then(parse::num);
    let known = parse::known_reply(word);
    Some(match word {
        b"VALUE" => {
            if let Some(k) = args.first() {
                if m.keys.len() < MAX_KEYS {
                    m.keys.push(lossy(k));
                }
            }
            if m.flags.is_none() {
                m.flags = num(1).and_then(|v| u32::try_from(v).ok());
            }
            m.cas = num(3).or(m.cas);
            let n = num(2)?;
            m.count_values = m.count_values.saturating_add(1);
            m.bytes = Some(m.bytes.unwrap_or(0).saturating_add(n));
            Next::Data(n, Then::MoreLines)
        }
        b"VA" => {
            let n = num(0)?;
            m.count_values = m.count_values.saturating_add(1);
            m.bytes = Some(n);
            Next::Data(n, Then::Complete)
        }
        b"STAT" => {
            if m.stats.len() < MAX_STATS {
                let name = args.first().map(|a| lossy(a)).unwrap_or_default();
                let value = args
                    .get(1..)
                    .map(|r| r.iter().map(|a| lossy(a)).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default();
                m.stats.push((name, value));
            }
            Next::More
        }
        b"ITEM" => Next::More,
        b"VERSION" => {
            m.version = Some(args.iter().map(|a| lossy(a)).collect::<Vec<_>>().join(" "));
            Next::Complete
        }
        b"CLIENT_ERROR" | b"SERVER_ERROR" => {
            let msg = lossy(line);
            m.error_msg = msg.split_once(' ').map(|(_, r)| r.to_owned());
            Next::Complete
        }
        w if w.first().is_some_and(u8::is_ascii_digit) && first => {
            m.value = parse::num(w);
            m.command = "<counter_op_res>".to_owned();
            Next::Complete
        }
        _ if known => Next::Complete,
        _ => return None,
    })
}
