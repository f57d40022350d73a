//! Pure parsers for Thrift messages in the binary (strict and old non-strict) and compact
//! protocols, producing Packetbeat's text rendering of values: `(1: 2, 2: "x")` for structs,
//! `[a, b]` lists, `{a, b}` sets, `{k: v}` maps, quoted strings (hex when not UTF-8).

use std::fmt::Write as _;

/// Deepest nesting of structs/collections followed: real IDLs nest a handful of levels; the
/// bound keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// Longest method name accepted in a message header: real names are short identifiers; the
/// bound lets garbage be rejected early.
pub const MAX_NAME: usize = 1024;

/// Message types.
pub const T_CALL: u8 = 1;
/// Reply.
pub const T_REPLY: u8 = 2;
/// TApplicationException.
pub const T_EXCEPTION: u8 = 3;
/// One-way call.
pub const T_ONEWAY: u8 = 4;

/// Wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// TBinaryProtocol.
    Binary,
    /// TCompactProtocol.
    Compact,
}

/// Why parsing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Err {
    /// At least this many more bytes are needed.
    Short(usize),
    /// Not a valid message.
    Bad,
}

/// Rendering limits (Packetbeat options).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Strings longer than this are cut (`...` appended).
    pub string_max: usize,
    /// Collections and structs show at most this many elements (`...` after).
    pub collection_max: usize,
    /// A struct with this many fields is treated as garbage.
    pub max_fields: usize,
    /// Strings are rendered as `"*"`.
    pub obfuscate: bool,
}

/// A message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    /// Message type (call, reply, exception, oneway).
    pub mtype: u8,
    /// Method name.
    pub name: &'a [u8],
    /// Sequence id.
    pub seqid: i32,
    /// Header length.
    pub len: usize,
}

/// Value types, protocol-independent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum T {
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    Str,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

fn bin_type(t: u8) -> Result<T, Err> {
    Ok(match t {
        2 => T::Bool,
        3 => T::Byte,
        4 => T::Double,
        6 => T::I16,
        8 => T::I32,
        10 => T::I64,
        11 => T::Str,
        12 => T::Struct,
        13 => T::Map,
        14 => T::Set,
        15 => T::List,
        16 => T::Uuid,
        _ => return Err(Err::Bad),
    })
}

fn compact_type(t: u8) -> Result<T, Err> {
    Ok(match t {
        1 | 2 => T::Bool,
        3 => T::Byte,
        4 => T::I16,
        5 => T::I32,
        6 => T::I64,
        7 => T::Double,
        8 => T::Str,
        9 => T::List,
        10 => T::Set,
        11 => T::Map,
        12 => T::Struct,
        13 => T::Uuid,
        _ => return Err(Err::Bad),
    })
}

/// A reader over one message.
struct R<'a> {
    d: &'a [u8],
    pos: usize,
    proto: Proto,
    /// Compact: value of a bool carried in its field header.
    pending_bool: Option<bool>,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Err> {
        let end = self.pos.checked_add(n).ok_or(Err::Bad)?;
        match self.d.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(Err::Short(end.saturating_sub(self.d.len()))),
        }
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], Err> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Err> {
        self.arr::<1>().map(|[b]| b)
    }
    fn varint(&mut self) -> Result<u64, Err> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Err::Bad)
    }
    fn zigzag(&mut self) -> Result<i64, Err> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    fn i16(&mut self) -> Result<i16, Err> {
        match self.proto {
            Proto::Binary => self.arr().map(i16::from_be_bytes),
            Proto::Compact => i16::try_from(self.zigzag()?).map_err(|_| Err::Bad),
        }
    }
    fn i32(&mut self) -> Result<i32, Err> {
        match self.proto {
            Proto::Binary => self.arr().map(i32::from_be_bytes),
            Proto::Compact => i32::try_from(self.zigzag()?).map_err(|_| Err::Bad),
        }
    }
    fn i64(&mut self) -> Result<i64, Err> {
        match self.proto {
            Proto::Binary => self.arr().map(i64::from_be_bytes),
            Proto::Compact => self.zigzag(),
        }
    }
    fn f64(&mut self) -> Result<f64, Err> {
        let b = self.arr::<8>()?;
        Ok(match self.proto {
            Proto::Binary => f64::from_be_bytes(b),
            Proto::Compact => f64::from_le_bytes(b),
        })
    }
    fn size(&mut self) -> Result<usize, Err> {
        match self.proto {
            Proto::Binary => usize::try_from(self.i32()?).map_err(|_| Err::Bad),
            Proto::Compact => usize::try_from(self.varint()?).map_err(|_| Err::Bad),
        }
    }
    fn bytes(&mut self) -> Result<&'a [u8], Err> {
        let n = self.size()?;
        self.take(n)
    }
    fn bool(&mut self) -> Result<bool, Err> {
        if let Some(b) = self.pending_bool.take() {
            return Ok(b);
        }
        let b = self.u8()?;
        Ok(match self.proto {
            Proto::Binary => b != 0,
            Proto::Compact => b == 1,
        })
    }
    /// Next field header; `None` at STOP.
    fn field(&mut self, last: &mut i16) -> Result<Option<(T, i16)>, Err> {
        let b = self.u8()?;
        if b == 0 {
            return Ok(None);
        }
        match self.proto {
            Proto::Binary => {
                let t = bin_type(b)?;
                let id = self.i16()?;
                Ok(Some((t, id)))
            }
            Proto::Compact => {
                let ct = b & 0x0F;
                let delta = b >> 4;
                let t = compact_type(ct)?;
                let id = if delta == 0 {
                    self.i16()?
                } else {
                    last.checked_add(i16::from(delta)).ok_or(Err::Bad)?
                };
                *last = id;
                if t == T::Bool {
                    self.pending_bool = Some(ct == 1);
                }
                Ok(Some((t, id)))
            }
        }
    }
    /// List/set header: element type and count.
    fn list(&mut self) -> Result<(T, usize), Err> {
        match self.proto {
            Proto::Binary => {
                let t = bin_type(self.u8()?)?;
                Ok((t, self.size()?))
            }
            Proto::Compact => {
                let b = self.u8()?;
                let t = compact_type(b & 0x0F)?;
                let n = if b >> 4 == 15 {
                    self.size()?
                } else {
                    usize::from(b >> 4)
                };
                Ok((t, n))
            }
        }
    }
    /// Map header: key type, value type, count.
    fn map(&mut self) -> Result<(T, T, usize), Err> {
        match self.proto {
            Proto::Binary => {
                let k = bin_type(self.u8()?)?;
                let v = bin_type(self.u8()?)?;
                Ok((k, v, self.size()?))
            }
            Proto::Compact => {
                let n = self.size()?;
                if n == 0 {
                    return Ok((T::Byte, T::Byte, 0));
                }
                let b = self.u8()?;
                Ok((compact_type(b >> 4)?, compact_type(b & 0x0F)?, n))
            }
        }
    }
    /// Elements still possible in the rest (each takes at least one byte): a larger count is
    /// either more data to come or garbage.
    fn check_count(&self, n: usize) -> Result<(), Err> {
        let left = self.d.len().saturating_sub(self.pos);
        if n > left {
            return Err(Err::Short(n - left));
        }
        Ok(())
    }
}

/// Parse a message header of `proto` (binary: strict or old-style).
pub fn head(proto: Proto, data: &[u8]) -> Result<Head<'_>, Err> {
    let mut r = R {
        d: data,
        pos: 0,
        proto,
        pending_bool: None,
    };
    match proto {
        Proto::Binary => {
            let v = r.arr::<4>()?;
            let word = u32::from_be_bytes(v);
            if word & 0x8000_0000 != 0 {
                if word & 0xFFFF_0000 != 0x8001_0000 {
                    return Err(Err::Bad);
                }
                let mtype = (word & 0xFF) as u8;
                let n =
                    usize::try_from(r.arr::<4>().map(i32::from_be_bytes)?).map_err(|_| Err::Bad)?;
                if n > MAX_NAME {
                    return Err(Err::Bad);
                }
                let name = r.take(n)?;
                let seqid = r.i32()?;
                check_type(mtype)?;
                Ok(Head {
                    mtype,
                    name,
                    seqid,
                    len: r.pos,
                })
            } else {
                let n = usize::try_from(word).map_err(|_| Err::Bad)?;
                if n > MAX_NAME {
                    return Err(Err::Bad);
                }
                let name = r.take(n)?;
                let mtype = r.u8()?;
                let seqid = r.i32()?;
                check_type(mtype)?;
                Ok(Head {
                    mtype,
                    name,
                    seqid,
                    len: r.pos,
                })
            }
        }
        Proto::Compact => {
            if r.u8()? != 0x82 {
                return Err(Err::Bad);
            }
            let vt = r.u8()?;
            if vt & 0x1F != 1 {
                return Err(Err::Bad);
            }
            let mtype = vt >> 5;
            check_type(mtype)?;
            let seqid = u32::try_from(r.varint()?).map_err(|_| Err::Bad)? as i32;
            let n = r.size()?;
            if n > MAX_NAME {
                return Err(Err::Bad);
            }
            let name = r.take(n)?;
            Ok(Head {
                mtype,
                name,
                seqid,
                len: r.pos,
            })
        }
    }
}

fn check_type(t: u8) -> Result<(), Err> {
    if (T_CALL..=T_ONEWAY).contains(&t) {
        Ok(())
    } else {
        Err(Err::Bad)
    }
}

/// Top-level fields of a message: id and rendered value.
pub type Fields = Vec<(i16, String)>;

/// Parse the top-level struct of a message body: its fields rendered, and the bytes used.
pub fn body(proto: Proto, data: &[u8], lim: &Limits) -> Result<(Fields, usize), Err> {
    let mut r = R {
        d: data,
        pos: 0,
        proto,
        pending_bool: None,
    };
    let mut fields = Vec::new();
    let mut last = 0i16;
    while let Some((t, id)) = r.field(&mut last)? {
        if fields.len() >= lim.max_fields {
            return Err(Err::Bad);
        }
        let mut s = String::new();
        value(&mut r, t, lim, 0, Some(&mut s))?;
        fields.push((id, s));
    }
    Ok((fields, r.pos))
}

/// Render (or, with `out = None`, skip) one value of type `t`.
fn value(
    r: &mut R<'_>,
    t: T,
    lim: &Limits,
    depth: usize,
    out: Option<&mut String>,
) -> Result<(), Err> {
    if depth > MAX_DEPTH {
        return Err(Err::Bad);
    }
    match t {
        T::Bool => {
            let b = r.bool()?;
            if let Some(o) = out {
                o.push_str(if b { "true" } else { "false" });
            }
        }
        T::Byte => {
            let b = r.u8()? as i8;
            if let Some(o) = out {
                let _ = write!(o, "{b}");
            }
        }
        T::I16 => {
            let v = r.i16()?;
            if let Some(o) = out {
                let _ = write!(o, "{v}");
            }
        }
        T::I32 => {
            let v = r.i32()?;
            if let Some(o) = out {
                let _ = write!(o, "{v}");
            }
        }
        T::I64 => {
            let v = r.i64()?;
            if let Some(o) = out {
                let _ = write!(o, "{v}");
            }
        }
        T::Double => {
            let v = r.f64()?;
            if let Some(o) = out {
                if v.is_infinite() {
                    o.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
                } else {
                    let _ = write!(o, "{v}");
                }
            }
        }
        T::Str => {
            let b = r.bytes()?;
            if let Some(o) = out {
                quote(o, b, lim);
            }
        }
        T::Uuid => {
            let b = r.arr::<16>()?;
            if let Some(o) = out {
                for (i, x) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        o.push('-');
                    }
                    let _ = write!(o, "{x:02x}");
                }
            }
        }
        T::Struct => {
            let mut out = out;
            if let Some(o) = out.as_deref_mut() {
                o.push('(');
            }
            let saved = r.pending_bool.take();
            let mut last = 0i16;
            let mut n = 0usize;
            while let Some((ft, id)) = r.field(&mut last)? {
                if n >= lim.max_fields {
                    return Err(Err::Bad);
                }
                let shown = n < lim.collection_max;
                if let Some(o) = out.as_deref_mut() {
                    if n > 0 && n <= lim.collection_max {
                        o.push_str(", ");
                    }
                    if shown {
                        let _ = write!(o, "{id}: ");
                    } else if n == lim.collection_max {
                        o.push_str("...");
                    }
                }
                let sub = if shown { out.as_deref_mut() } else { None };
                value(r, ft, lim, depth + 1, sub)?;
                n += 1;
            }
            r.pending_bool = saved;
            if let Some(o) = out {
                o.push(')');
            }
        }
        T::List | T::Set => {
            let (et, n) = r.list()?;
            r.check_count(n)?;
            let (open, close) = if t == T::List { ('[', ']') } else { ('{', '}') };
            seq(r, out, lim, n, open, close, |r, lim, o| {
                value(r, et, lim, depth + 1, o)
            })?;
        }
        T::Map => {
            let (kt, vt, n) = r.map()?;
            r.check_count(n)?;
            let mut out = out;
            let start = out.as_deref().map_or(0, String::len);
            seq(r, out.as_deref_mut(), lim, n, '{', '}', |r, lim, o| {
                let mut o = o;
                value(r, kt, lim, depth + 1, o.as_deref_mut())?;
                if let Some(s) = o.as_deref_mut() {
                    s.push_str(": ");
                }
                value(r, vt, lim, depth + 1, o)
            })?;
            // Packetbeat renders an empty map as `{}` (but empty lists/sets as nothing).
            if let Some(o) = out {
                if o.len() == start {
                    o.push_str("{}");
                }
            }
        }
    }
    Ok(())
}

/// Render `n` elements between `open` and `close` (nothing at all when empty), `...` after
/// `collection_max` of them.
fn seq(
    r: &mut R<'_>,
    out: Option<&mut String>,
    lim: &Limits,
    n: usize,
    open: char,
    close: char,
    mut elem: impl FnMut(&mut R<'_>, &Limits, Option<&mut String>) -> Result<(), Err>,
) -> Result<(), Err> {
    let mut out = out;
    if n > 0 {
        if let Some(o) = out.as_deref_mut() {
            o.push(open);
        }
    }
    for i in 0..n {
        let shown = i < lim.collection_max;
        if let Some(o) = out.as_deref_mut() {
            if i > 0 && i <= lim.collection_max {
                o.push_str(", ");
            }
            if i == lim.collection_max {
                o.push_str("...");
            }
        }
        let sub = if shown { out.as_deref_mut() } else { None };
        elem(r, lim, sub)?;
    }
    if n > 0 {
        if let Some(o) = out {
            o.push(close);
        }
    }
    Ok(())
}

/// Render a string as Packetbeat does: `""` when empty, `"*"` when obfuscated, Go-quoted when
/// UTF-8 (cut at `string_max` bytes + `...`), else hex.
fn quote(o: &mut String, b: &[u8], lim: &Limits) {
    if b.is_empty() {
        o.push_str("\"\"");
        return;
    }
    if lim.obfuscate {
        o.push_str("\"*\"");
        return;
    }
    let (cut, more) = if b.len() > lim.string_max {
        (b.get(..lim.string_max).unwrap_or(b), true)
    } else {
        (b, false)
    };
    let s = match std::str::from_utf8(cut) {
        Ok(s) => s,
        // Cut inside a character: keep the valid prefix.
        Err(e) if more && e.error_len().is_none() => {
            std::str::from_utf8(cut.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
        Err(_) => {
            for x in cut {
                let _ = write!(o, "{x:02x}");
            }
            if more {
                o.push_str("...");
            }
            return;
        }
    };
    o.push('"');
    go_escape(o, s);
    if more {
        o.push_str("...");
    }
    o.push('"');
}

/// Escape like Go's `strconv.Quote` (without the quotes).
pub fn go_escape(o: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\u{7}' => o.push_str("\\a"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{b}' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
}
