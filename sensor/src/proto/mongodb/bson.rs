//! A small, pure, borrowing BSON reader (spec: bsonspec.org 1.1) and a bounded writer of
//! documents as JSON text (MongoDB Extended JSON, relaxed form, keys in wire order).
//!
//! Nothing here allocates except the JSON writer's output string; malformed input ends the
//! element iteration and is reported by [`Iter::malformed`].

use base64::Engine;

/// Deepest nesting rendered as JSON: MongoDB itself refuses more than 100 levels; 32 keeps the
/// recursion shallow while covering every real query shape.
pub const MAX_DEPTH: usize = 32;

/// Smallest valid document: the 4-byte length and the terminating NUL.
const MIN_DOC: usize = 5;

/// A BSON document: the element bytes between the length prefix and the final NUL.
#[derive(Clone, Copy, Debug)]
pub struct Doc<'a> {
    elems: &'a [u8],
    /// The declared length exceeded the bytes available (lenient parse of a cut message).
    pub cut: bool,
}

/// One BSON value.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// 0x01 double.
    Double(f64),
    /// 0x02 UTF-8 string (not validated; rendered lossily).
    Str(&'a [u8]),
    /// 0x03 embedded document.
    Doc(Doc<'a>),
    /// 0x04 array (a document with keys "0", "1", ...).
    Array(Doc<'a>),
    /// 0x05 binary: subtype and bytes.
    Binary(u8, &'a [u8]),
    /// 0x06 undefined (deprecated).
    Undefined,
    /// 0x07 ObjectId (12 bytes).
    ObjectId(&'a [u8]),
    /// 0x08 boolean.
    Bool(bool),
    /// 0x09 UTC datetime, milliseconds since the epoch.
    DateTime(i64),
    /// 0x0A null.
    Null,
    /// 0x0B regular expression: pattern and options.
    Regex(&'a [u8], &'a [u8]),
    /// 0x0C DBPointer (deprecated): namespace and ObjectId.
    DbPointer(&'a [u8], &'a [u8]),
    /// 0x0D JavaScript code.
    Code(&'a [u8]),
    /// 0x0E symbol (deprecated).
    Symbol(&'a [u8]),
    /// 0x0F code with scope.
    CodeWScope(&'a [u8], Doc<'a>),
    /// 0x10 int32.
    Int32(i32),
    /// 0x11 timestamp: increment, seconds.
    Timestamp(u32, u32),
    /// 0x12 int64.
    Int64(i64),
    /// 0x13 decimal128 (16 bytes, little-endian).
    Decimal(&'a [u8]),
    /// 0xFF min key.
    MinKey,
    /// 0x7F max key.
    MaxKey,
}

fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(s.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(i64::from_le_bytes(s.try_into().ok()?))
}

/// A NUL-terminated string at `at`: its bytes and the offset after the NUL.
pub fn cstr(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = b.get(at..)?;
    let n = rest.iter().position(|&c| c == 0)?;
    Some((rest.get(..n)?, at + n + 1))
}

/// A BSON string (int32 length incl. NUL, bytes, NUL) at `at`: bytes and the offset after it.
fn bstr(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let n = usize::try_from(le_i32(b, at)?).ok()?;
    if n == 0 {
        return None;
    }
    let start = at.checked_add(4)?;
    let end = start.checked_add(n)?;
    let s = b.get(start..end.checked_sub(1)?)?;
    if b.get(end - 1) != Some(&0) {
        return None;
    }
    Some((s, end))
}

impl<'a> Doc<'a> {
    /// The document at the start of `b` (its declared length must fit): the document and the
    /// number of bytes it occupies.
    pub fn parse(b: &'a [u8]) -> Option<(Doc<'a>, usize)> {
        let n = usize::try_from(le_i32(b, 0)?).ok()?;
        if n < MIN_DOC {
            return None;
        }
        let all = b.get(..n)?;
        if all.last() != Some(&0) {
            return None;
        }
        Some((
            Doc {
                elems: all.get(4..n - 1)?,
                cut: false,
            },
            n,
        ))
    }

    /// Like [`Doc::parse`], but a document longer than `b` is read as far as `b` goes
    /// (`cut` is set); iteration stops at the first element that does not fit.
    pub fn lenient(b: &'a [u8]) -> Option<(Doc<'a>, usize)> {
        let n = usize::try_from(le_i32(b, 0)?).ok()?;
        if n < MIN_DOC {
            return None;
        }
        if n <= b.len() {
            return Doc::parse(b);
        }
        Some((
            Doc {
                elems: b.get(4..)?,
                cut: true,
            },
            b.len(),
        ))
    }

    /// The elements in wire order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            b: self.elems,
            at: 0,
            bad: false,
        }
    }

    /// The first element whose key is `key`.
    pub fn get(&self, key: &str) -> Option<Val<'a>> {
        self.iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// The first element.
    pub fn first(&self) -> Option<(&'a [u8], Val<'a>)> {
        self.iter().next()
    }
}

/// Iterator over the elements of a [`Doc`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    b: &'a [u8],
    at: usize,
    bad: bool,
}

impl Iter<'_> {
    /// True when iteration stopped at a malformed (or cut) element.
    pub fn malformed(&self) -> bool {
        self.bad
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], Val<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.bad || self.at >= self.b.len() {
            return None;
        }
        match element(self.b, self.at) {
            Some((k, v, next)) => {
                self.at = next;
                Some((k, v))
            }
            None => {
                self.bad = true;
                None
            }
        }
    }
}

/// The element at `at` of the element area `b`: key, value, offset after it.
fn element(b: &[u8], at: usize) -> Option<(&[u8], Val<'_>, usize)> {
    let t = *b.get(at)?;
    let (key, p) = cstr(b, at + 1)?;
    let (v, next) = match t {
        0x01 => (
            Val::Double(f64::from_le_bytes(b.get(p..p + 8)?.try_into().ok()?)),
            p + 8,
        ),
        0x02 => {
            let (s, n) = bstr(b, p)?;
            (Val::Str(s), n)
        }
        0x03 | 0x04 => {
            let (d, n) = Doc::parse(b.get(p..)?)?;
            let v = if t == 0x03 {
                Val::Doc(d)
            } else {
                Val::Array(d)
            };
            (v, p + n)
        }
        0x05 => {
            let n = usize::try_from(le_i32(b, p)?).ok()?;
            let sub = *b.get(p + 4)?;
            let start = p + 5;
            let end = start.checked_add(n)?;
            (Val::Binary(sub, b.get(start..end)?), end)
        }
        0x06 => (Val::Undefined, p),
        0x07 => (Val::ObjectId(b.get(p..p + 12)?), p + 12),
        0x08 => (Val::Bool(*b.get(p)? != 0), p + 1),
        0x09 => (Val::DateTime(le_i64(b, p)?), p + 8),
        0x0A => (Val::Null, p),
        0x0B => {
            let (pat, q) = cstr(b, p)?;
            let (opt, r) = cstr(b, q)?;
            (Val::Regex(pat, opt), r)
        }
        0x0C => {
            let (ns, q) = bstr(b, p)?;
            (Val::DbPointer(ns, b.get(q..q + 12)?), q + 12)
        }
        0x0D => {
            let (s, n) = bstr(b, p)?;
            (Val::Code(s), n)
        }
        0x0E => {
            let (s, n) = bstr(b, p)?;
            (Val::Symbol(s), n)
        }
        0x0F => {
            let total = usize::try_from(le_i32(b, p)?).ok()?;
            let end = p.checked_add(total)?;
            let inner = b.get(p + 4..end)?;
            let (code, q) = bstr(inner, 0)?;
            let (scope, _) = Doc::parse(inner.get(q..)?)?;
            (Val::CodeWScope(code, scope), end)
        }
        0x10 => (Val::Int32(le_i32(b, p)?), p + 4),
        0x11 => (Val::Timestamp(le_u32(b, p)?, le_u32(b, p + 4)?), p + 8),
        0x12 => (Val::Int64(le_i64(b, p)?), p + 8),
        0x13 => (Val::Decimal(b.get(p..p + 16)?), p + 16),
        0xFF => (Val::MinKey, p),
        0x7F => (Val::MaxKey, p),
        _ => return None,
    };
    Some((key, v, next))
}

impl<'a> Val<'a> {
    /// A number as f64 (double, int32, int64, bool).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Val::Double(d) => Some(d),
            Val::Int32(i) => Some(f64::from(i)),
            #[allow(
                clippy::cast_precision_loss,
                reason = "only compared with small values such as ok: 1"
            )]
            Val::Int64(i) => Some(i as f64),
            Val::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// An integral number as i64 (int32, int64, integral double).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Val::Int32(i) => Some(i64::from(i)),
            Val::Int64(i) => Some(i),
            #[allow(
                clippy::cast_possible_truncation,
                reason = "checked integral and within range just before"
            )]
            Val::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(d as i64),
            _ => None,
        }
    }

    /// A string value (invalid UTF-8 is replaced).
    pub fn as_str(&self) -> Option<std::borrow::Cow<'a, str>> {
        match *self {
            Val::Str(s) => Some(String::from_utf8_lossy(s)),
            _ => None,
        }
    }

    /// An embedded document or array.
    pub fn as_doc(&self) -> Option<Doc<'a>> {
        match *self {
            Val::Doc(d) | Val::Array(d) => Some(d),
            _ => None,
        }
    }
}

/// Bounded JSON text writer: stops writing once `limit` bytes are reached (`cut` is set).
#[derive(Debug)]
pub struct Json {
    /// The text so far.
    pub out: String,
    limit: usize,
    /// The limit was reached; the text is incomplete.
    pub cut: bool,
}

impl Json {
    /// A writer that stops after about `limit` bytes (0 = no limit other than `hard`).
    pub fn new(limit: usize, hard: usize) -> Json {
        let limit = if limit == 0 { hard } else { limit.min(hard) };
        Json {
            out: String::new(),
            limit,
            cut: false,
        }
    }

    fn full(&mut self) -> bool {
        if self.out.len() > self.limit {
            self.cut = true;
        }
        self.cut
    }

    fn raw(&mut self, s: &str) {
        if !self.full() {
            self.out.push_str(s);
        }
    }

    /// A JSON string literal from (possibly invalid) UTF-8 bytes.
    pub fn string(&mut self, b: &[u8]) {
        if self.full() {
            return;
        }
        push_json_str(&mut self.out, &String::from_utf8_lossy(b));
    }

    /// The whole document as a JSON object.
    pub fn doc(&mut self, d: &Doc<'_>) {
        self.obj(d, 0);
    }

    /// One value.
    pub fn value(&mut self, v: &Val<'_>) {
        self.val(v, 0);
    }

    /// Finish: cut at `limit` (on a char boundary) and append the truncation marker.
    pub fn finish(mut self, marker: &str) -> String {
        if self.cut || self.out.len() > self.limit {
            let mut end = self.limit.min(self.out.len());
            while !self.out.is_char_boundary(end) {
                end -= 1;
            }
            self.out.truncate(end);
            self.out.push_str(marker);
        }
        self.out
    }

    fn obj(&mut self, d: &Doc<'_>, depth: usize) {
        if depth >= MAX_DEPTH {
            self.raw("{\"$truncated\":true}");
            return;
        }
        self.raw("{");
        let mut it = d.iter();
        let mut first = true;
        for (k, v) in it.by_ref() {
            if self.full() {
                return;
            }
            if !first {
                self.raw(",");
            }
            first = false;
            self.string(k);
            self.raw(":");
            self.val(&v, depth + 1);
        }
        if it.malformed() {
            if !first {
                self.raw(",");
            }
            self.raw(if d.cut {
                "\"$truncated\":true"
            } else {
                "\"$malformed\":true"
            });
        }
        self.raw("}");
    }

    fn arr(&mut self, d: &Doc<'_>, depth: usize) {
        if depth >= MAX_DEPTH {
            self.raw("[]");
            return;
        }
        self.raw("[");
        let mut first = true;
        for (_, v) in d.iter() {
            if self.full() {
                return;
            }
            if !first {
                self.raw(",");
            }
            first = false;
            self.val(&v, depth + 1);
        }
        self.raw("]");
    }

    fn hex(&mut self, b: &[u8]) {
        if self.full() {
            return;
        }
        self.out.push('"');
        for c in b {
            self.out.push_str(&format!("{c:02x}"));
        }
        self.out.push('"');
    }

    fn val(&mut self, v: &Val<'_>, depth: usize) {
        if self.full() {
            return;
        }
        match *v {
            Val::Double(d) => {
                if d.is_finite() {
                    let s = if d.fract() == 0.0 && d.abs() < 1e15 {
                        format!("{d:.1}")
                    } else {
                        format!("{d}")
                    };
                    self.raw(&s);
                } else {
                    let s = if d.is_nan() {
                        "NaN"
                    } else if d > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    };
                    self.raw(&format!("{{\"$numberDouble\":\"{s}\"}}"));
                }
            }
            Val::Str(s) => self.string(s),
            Val::Doc(d) => self.obj(&d, depth),
            Val::Array(d) => self.arr(&d, depth),
            Val::Binary(sub, b) => {
                let enc = base64::engine::general_purpose::STANDARD.encode(b);
                self.raw(&format!(
                    "{{\"$binary\":{{\"base64\":\"{enc}\",\"subType\":\"{sub:02x}\"}}}}"
                ));
            }
            Val::Undefined => self.raw("{\"$undefined\":true}"),
            Val::ObjectId(b) => {
                self.raw("{\"$oid\":");
                self.hex(b);
                self.raw("}");
            }
            Val::Bool(b) => self.raw(if b { "true" } else { "false" }),
            Val::DateTime(ms) => self.raw(&format!("{{\"$date\":{{\"$numberLong\":\"{ms}\"}}}}")),
            Val::Null => self.raw("null"),
            Val::Regex(p, o) => {
                self.raw("{\"$regularExpression\":{\"pattern\":");
                self.string(p);
                self.raw(",\"options\":");
                self.string(o);
                self.raw("}}");
            }
            Val::DbPointer(ns, id) => {
                self.raw("{\"$dbPointer\":{\"$ref\":");
                self.string(ns);
                self.raw(",\"$id\":{\"$oid\":");
                self.hex(id);
                self.raw("}}}");
            }
            Val::Code(c) => {
                self.raw("{\"$code\":");
                self.string(c);
                self.raw("}");
            }
            Val::Symbol(s) => {
                self.raw("{\"$symbol\":");
                self.string(s);
                self.raw("}");
            }
            Val::CodeWScope(c, scope) => {
                self.raw("{\"$code\":");
                self.string(c);
                self.raw(",\"$scope\":");
                self.obj(&scope, depth + 1);
                self.raw("}");
            }
            Val::Int32(i) => self.raw(&i.to_string()),
            Val::Timestamp(inc, t) => {
                self.raw(&format!("{{\"$timestamp\":{{\"t\":{t},\"i\":{inc}}}}}"));
            }
            Val::Int64(i) => self.raw(&i.to_string()),
            Val::Decimal(b) => {
                let s = decimal128(b);
                self.raw(&format!("{{\"$numberDecimal\":\"{s}\"}}"));
            }
            Val::MinKey => self.raw("{\"$minKey\":1}"),
            Val::MaxKey => self.raw("{\"$maxKey\":1}"),
        }
    }
}

/// Append `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// IEEE 754-2008 decimal128 (BID encoding) as text: `123`, `1.5E+3` style (scientific when
/// the exponent is not 0), `NaN`, `Infinity`.
pub fn decimal128(b: &[u8]) -> String {
    let Some(arr) = b.get(..16).and_then(|s| <[u8; 16]>::try_from(s).ok()) else {
        return "NaN".into();
    };
    let v = u128::from_le_bytes(arr);
    let neg = v >> 127 == 1;
    let sign = if neg { "-" } else { "" };
    let comb = (v >> 122) & 0x1F;
    if comb == 0x1F {
        return "NaN".into();
    }
    if comb == 0x1E {
        return format!("{sign}Infinity");
    }
    let (exp, coeff) = if (v >> 125) & 0x3 == 0x3 {
        // Coefficient starts with implicit 100: non-canonical, value 0 per the spec.
        (((v >> 111) & 0x3FFF) as i64, 0u128)
    } else {
        (((v >> 113) & 0x3FFF) as i64, v & ((1u128 << 113) - 1))
    };
    let exp = exp - 6176;
    let digits = coeff.to_string();
    if exp == 0 {
        return format!("{sign}{digits}");
    }
    if exp < 0 {
        let point = i64::try_from(digits.len()).unwrap_or(0) + exp;
        if point > 0 {
            let p = usize::try_from(point).unwrap_or(0);
            let (a, c) = digits.split_at(p.min(digits.len()));
            return format!("{sign}{a}.{c}");
        }
        if point > -6 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            return format!("{sign}0.{zeros}{digits}");
        }
    }
    format!("{sign}{digits}E{exp:+}")
}
