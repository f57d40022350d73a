//! Pure, borrowing parsers for AMQP 0-9-1: frame headers, method arguments (driven by a table of
//! the spec's argument lists), content-header properties and field tables (all AMQP field types,
//! RabbitMQ's errata variant where the spec and the brokers disagree).

use serde_json::{Map, Value};

/// Frame type of a method frame.
pub const FRAME_METHOD: u8 = 1;
/// Frame type of a content header frame.
pub const FRAME_HEADER: u8 = 2;
/// Frame type of a content body frame.
pub const FRAME_BODY: u8 = 3;
/// Frame type of a heartbeat frame.
pub const FRAME_HEARTBEAT: u8 = 8;
/// Octet closing every frame.
pub const FRAME_END: u8 = 0xCE;
/// Frame header: type (1), channel (2), payload size (4).
pub const FRAME_HEADER_LEN: usize = 7;
/// Length of the protocol header `AMQP\0\0\9\1`.
pub const PROTOCOL_HEADER_LEN: usize = 8;

/// Deepest nesting of field tables/arrays decoded: real headers nest one or two levels; the
/// bound keeps hostile input from exhausting the stack.
const MAX_TABLE_DEPTH: usize = 16;

/// Class ids.
pub const CLASS_CONNECTION: u16 = 10;
/// Channel class.
pub const CLASS_CHANNEL: u16 = 20;

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// Frame type.
    pub kind: u8,
    /// Channel number.
    pub channel: u16,
    /// Payload size (without header and frame-end octet).
    pub size: u32,
}

impl FrameHead {
    /// Whole frame length on the wire.
    pub fn wire_len(&self) -> u64 {
        u64::from(self.size).saturating_add(8)
    }
}

/// Parse a frame header from the first 7 bytes.
pub fn frame_head(data: &[u8]) -> Option<FrameHead> {
    let (&kind, rest) = data.split_first()?;
    let channel = be16(rest)?;
    let size = be32(rest.get(2..)?)?;
    Some(FrameHead {
        kind,
        channel,
        size,
    })
}

/// Is this a known frame type?
pub fn known_frame_type(kind: u8) -> bool {
    matches!(
        kind,
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
    )
}

/// Does `data` start with the protocol header (`AMQP` + 0)? `None` = too short to tell.
pub fn is_protocol_header(data: &[u8]) -> Option<bool> {
    let n = data.len().min(5);
    let want = b"AMQP\0";
    if data.get(..n) != want.get(..n) {
        return Some(false);
    }
    if n < 5 {
        None
    } else {
        Some(true)
    }
}

/// Big-endian u16 at the start of `d`.
pub fn be16(d: &[u8]) -> Option<u16> {
    let (a, _) = d.split_first_chunk::<2>()?;
    Some(u16::from_be_bytes(*a))
}

fn be32(d: &[u8]) -> Option<u32> {
    let (a, _) = d.split_first_chunk::<4>()?;
    Some(u32::from_be_bytes(*a))
}

/// A forward-only reader over a byte slice.
pub struct Cur<'a> {
    d: &'a [u8],
}

impl<'a> Cur<'a> {
    /// Read from `d`.
    pub fn new(d: &'a [u8]) -> Self {
        Cur { d }
    }

    /// Bytes left.
    pub fn rest(&self) -> &'a [u8] {
        self.d
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.d.split_at_checked(n)?;
        self.d = b;
        Some(a)
    }

    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (a, b) = self.d.split_first_chunk::<N>()?;
        self.d = b;
        Some(*a)
    }

    /// One octet.
    pub fn u8(&mut self) -> Option<u8> {
        self.arr::<1>().map(|[b]| b)
    }
    /// Big-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.arr().map(u16::from_be_bytes)
    }
    /// Big-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.arr().map(u32::from_be_bytes)
    }
    /// Big-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.arr().map(u64::from_be_bytes)
    }
    /// Short string (octet length).
    pub fn short_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    /// Long string (u32 length).
    pub fn long_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

/// Text of a string field (lossy UTF-8).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A decoded content header.
#[derive(Debug, Default)]
pub struct ContentHeader {
    /// Class of the content (60 = basic).
    pub class: u16,
    /// Total body size announced.
    pub body_size: u64,
    /// Properties (Packetbeat names), empty unless asked for.
    pub props: Map<String, Value>,
}

/// Decode a content header frame payload. Properties are decoded when `props` is set.
pub fn content_header(payload: &[u8], props: bool) -> Option<ContentHeader> {
    let mut c = Cur::new(payload);
    let class = c.u16()?;
    let _weight = c.u16()?;
    let body_size = c.u64()?;
    let mut flags: u32 = u32::from(c.u16()?);
    let mut out = ContentHeader {
        class,
        body_size,
        props: Map::new(),
    };
    // Further flag words (bit 0 set) carry no property this parser knows.
    let mut more = flags & 1 == 1;
    while more {
        more = c.u16()? & 1 == 1;
    }
    if !props {
        return Some(out);
    }
    flags &= 0xFFFE;
    const NAMES: [&str; 14] = [
        "content-type",
        "content-encoding",
        "headers",
        "delivery-mode",
        "priority",
        "correlation-id",
        "reply-to",
        "expiration",
        "message-id",
        "timestamp",
        "type",
        "user-id",
        "app-id",
        "_cluster-id",
    ];
    for (i, name) in NAMES.iter().enumerate() {
        let bit = 15usize.saturating_sub(i);
        if flags >> bit & 1 == 0 {
            continue;
        }
        let v: Value = match *name {
            "headers" => {
                let t = table(c.long_bytes()?, 0)?;
                if t.is_empty() {
                    continue;
                }
                Value::Object(t)
            }
            "delivery-mode" => match c.u8()? {
                1 => "non-persistent".into(),
                2 => "persistent".into(),
                n => n.into(),
            },
            "priority" => c.u8()?.into(),
            "timestamp" => amqp_time(c.u64()?).into(),
            _ => text(c.short_bytes()?).into(),
        };
        if !name.starts_with('_') {
            out.props.insert((*name).to_owned(), v);
        }
    }
    Some(out)
}

/// Decode a field table (the bytes after its u32 length). `None` when malformed.
pub fn table(data: &[u8], depth: usize) -> Option<Map<String, Value>> {
    if depth > MAX_TABLE_DEPTH {
        return None;
    }
    let mut c = Cur::new(data);
    let mut out = Map::new();
    while !c.rest().is_empty() {
        let name = text(c.short_bytes()?);
        let v = field_value(&mut c, depth)?;
        out.insert(name, v);
    }
    Some(out)
}

/// Decode a field array as an object keyed by index, as Packetbeat does.
fn array(data: &[u8], depth: usize) -> Option<Map<String, Value>> {
    if depth > MAX_TABLE_DEPTH {
        return None;
    }
    let mut c = Cur::new(data);
    let mut out = Map::new();
    let mut i = 0usize;
    while !c.rest().is_empty() {
        let v = field_value(&mut c, depth)?;
        out.insert(i.to_string(), v);
        i = i.saturating_add(1);
    }
    Some(out)
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// One typed field value (RabbitMQ/Qpid errata types: `s` = signed 16-bit, `l` = signed
/// 64-bit, `x` = byte array; the spec's `u`, `U`, `i`, `L` are accepted too).
fn field_value(c: &mut Cur<'_>, depth: usize) -> Option<Value> {
    let t = c.u8()?;
    let v = match t {
        b't' => (c.u8()? != 0).into(),
        b'b' => i8::from_be_bytes([c.u8()?]).into(),
        b'B' => c.u8()?.into(),
        b's' | b'U' => i16::from_be_bytes(c.u16()?.to_be_bytes()).into(),
        b'u' => c.u16()?.into(),
        b'I' => i32::from_be_bytes(c.u32()?.to_be_bytes()).into(),
        b'i' => c.u32()?.into(),
        b'l' | b'L' => i64::from_be_bytes(c.u64()?.to_be_bytes()).into(),
        b'f' => float(f64::from(f32::from_bits(c.u32()?))),
        b'd' => float(f64::from_bits(c.u64()?)),
        b'D' => {
            let scale = c.u8()?;
            let raw = i32::from_be_bytes(c.u32()?.to_be_bytes());
            decimal(raw, scale).into()
        }
        b'S' => text(c.long_bytes()?).into(),
        b'A' => Value::Object(array(c.long_bytes()?, depth.saturating_add(1))?),
        b'T' => amqp_time(c.u64()?).into(),
        b'F' => Value::Object(table(c.long_bytes()?, depth.saturating_add(1))?),
        b'V' => Value::Null,
        b'x' => {
            let b = c.long_bytes()?;
            let items: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            format!("[{}]", items.join(", ")).into()
        }
        _ => return None,
    };
    Some(v)
}

/// `raw / 10^scale` as text, e.g. (12345, 2) → `123.45`.
fn decimal(raw: i32, scale: u8) -> String {
    let neg = raw < 0;
    let digits = raw.unsigned_abs().to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{}{digits}", if neg { "-" } else { "" });
    }
    let padded = if digits.len() <= scale {
        format!(
            "{}{digits}",
            "0".repeat(scale.saturating_sub(digits.len()) + 1)
        )
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len().saturating_sub(scale));
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// An AMQP timestamp (seconds since the epoch) in Packetbeat's layout
/// `January _2 15:04:05 2006` (UTC).
pub fn amqp_time(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Civil-from-days (H. Hinnant).
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = usize::try_from(month - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("January");
    format!(
        "{name} {day:>2} {:02}:{:02}:{:02} {year}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
