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

/// One argument of a method, as listed in the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    Octet(&'static str),
    Short(&'static str),
    Long(&'static str),
    LongLong(&'static str),
    ShortStr(&'static str),
    LongStr(&'static str),
    /// Consecutive bits packed into one octet, low bit first.
    Bits(&'static [&'static str]),
    /// A field table; `arguments` only with `parse_arguments`.
    Table(&'static str),
}

use Arg::{Bits, Long, LongLong, LongStr, Octet, Short, ShortStr, Table};

/// Arguments whose name starts with `_` are read and dropped (reserved fields, credentials).
const CLOSE: &[Arg] = &[
    Short("reply-code"),
    ShortStr("reply-text"),
    Short("class-id"),
    Short("method-id"),
];

/// What a method is, for correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Expects a reply method (`-ok`).
    Sync,
    /// Never answered (publish, deliver, ack, ...).
    Async,
    /// A reply to a synchronous method.
    Reply,
    /// `channel.close` / `connection.close`.
    Close,
    /// `channel.close-ok` / `connection.close-ok`.
    CloseOk,
}

/// Static description of a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodDef {
    /// `class.method`.
    pub name: &'static str,
    /// Role in correlation.
    pub role: Role,
    /// Followed by a content header and bodies.
    pub content: bool,
    args: &'static [Arg],
}

const fn m(name: &'static str, role: Role, args: &'static [Arg]) -> MethodDef {
    MethodDef {
        name,
        role,
        content: false,
        args,
    }
}

const fn mc(name: &'static str, role: Role, args: &'static [Arg]) -> MethodDef {
    MethodDef {
        name,
        role,
        content: true,
        args,
    }
}

/// The definition of method `(class, method)`.
pub fn method_def(class: u16, method: u16) -> Option<MethodDef> {
    use Role::{Async, Reply, Sync};
    let d = match (class, method) {
        (10, 10) => m(
            "connection.start",
            Sync,
            &[
                Octet("version-major"),
                Octet("version-minor"),
                Table("server-properties"),
                LongStr("mechanisms"),
                LongStr("locales"),
            ],
        ),
        (10, 11) => m(
            "connection.start-ok",
            Reply,
            &[
                Table("client-properties"),
                ShortStr("mechanism"),
                LongStr("_response"),
                ShortStr("locale"),
            ],
        ),
        (10, 20) => m("connection.secure", Sync, &[LongStr("_challenge")]),
        (10, 21) => m("connection.secure-ok", Reply, &[LongStr("_response")]),
        (10, 30) => m(
            "connection.tune",
            Sync,
            &[Short("channel-max"), Long("frame-max"), Short("heartbeat")],
        ),
        (10, 31) => m(
            "connection.tune-ok",
            Reply,
            &[Short("channel-max"), Long("frame-max"), Short("heartbeat")],
        ),
        (10, 40) => m(
            "connection.open",
            Sync,
            &[ShortStr("virtual-host"), ShortStr("_r1"), Bits(&["_r2"])],
        ),
        (10, 41) => m("connection.open-ok", Reply, &[ShortStr("_r1")]),
        (10, 50) => m("connection.close", Role::Close, CLOSE),
        (10, 51) => m("connection.close-ok", Role::CloseOk, &[]),
        (10, 60) => m("connection.blocked", Async, &[ShortStr("reason")]),
        (10, 61) => m("connection.unblocked", Async, &[]),
        (10, 70) => m(
            "connection.update-secret",
            Sync,
            &[LongStr("_secret"), ShortStr("reason")],
        ),
        (10, 71) => m("connection.update-secret-ok", Reply, &[]),
        (20, 10) => m("channel.open", Sync, &[ShortStr("_r1")]),
        (20, 11) => m("channel.open-ok", Reply, &[LongStr("_r1")]),
        (20, 20) => m("channel.flow", Sync, &[Bits(&["active"])]),
        (20, 21) => m("channel.flow-ok", Reply, &[Bits(&["active"])]),
        (20, 40) => m("channel.close", Role::Close, CLOSE),
        (20, 41) => m("channel.close-ok", Role::CloseOk, &[]),
        (40, 10) => m(
            "exchange.declare",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("exchange"),
                ShortStr("exchange-type"),
                Bits(&["passive", "durable", "auto-delete", "internal", "no-wait"]),
                Table("arguments"),
            ],
        ),
        (40, 11) => m("exchange.declare-ok", Reply, &[]),
        (40, 20) => m(
            "exchange.delete",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("exchange"),
                Bits(&["if-unused", "no-wait"]),
            ],
        ),
        (40, 21) => m("exchange.delete-ok", Reply, &[]),
        (40, 30) | (40, 40) => m(
            if method == 30 {
                "exchange.bind"
            } else {
                "exchange.unbind"
            },
            Sync,
            &[
                Short("_ticket"),
                ShortStr("destination"),
                ShortStr("source"),
                ShortStr("routing-key"),
                Bits(&["no-wait"]),
                Table("arguments"),
            ],
        ),
        (40, 31) => m("exchange.bind-ok", Reply, &[]),
        (40, 51) => m("exchange.unbind-ok", Reply, &[]),
        (50, 10) => m(
            "queue.declare",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                Bits(&["passive", "durable", "exclusive", "auto-delete", "no-wait"]),
                Table("arguments"),
            ],
        ),
        (50, 11) => m(
            "queue.declare-ok",
            Reply,
            &[
                ShortStr("queue"),
                Long("message-count"),
                Long("consumer-count"),
            ],
        ),
        (50, 20) => m(
            "queue.bind",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Bits(&["no-wait"]),
                Table("arguments"),
            ],
        ),
        (50, 21) => m("queue.bind-ok", Reply, &[]),
        (50, 30) => m(
            "queue.purge",
            Sync,
            &[Short("_ticket"), ShortStr("queue"), Bits(&["no-wait"])],
        ),
        (50, 31) => m("queue.purge-ok", Reply, &[Long("message-count")]),
        (50, 40) => m(
            "queue.delete",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                Bits(&["if-unused", "if-empty", "no-wait"]),
            ],
        ),
        (50, 41) => m("queue.delete-ok", Reply, &[Long("message-count")]),
        (50, 50) => m(
            "queue.unbind",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Table("arguments"),
            ],
        ),
        (50, 51) => m("queue.unbind-ok", Reply, &[]),
        (60, 10) => m(
            "basic.qos",
            Sync,
            &[
                Long("prefetch-size"),
                Short("prefetch-count"),
                Bits(&["global"]),
            ],
        ),
        (60, 11) => m("basic.qos-ok", Reply, &[]),
        (60, 20) => m(
            "basic.consume",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                ShortStr("consumer-tag"),
                Bits(&["no-local", "no-ack", "exclusive", "no-wait"]),
                Table("arguments"),
            ],
        ),
        (60, 21) => m("basic.consume-ok", Reply, &[ShortStr("consumer-tag")]),
        (60, 30) => m(
            "basic.cancel",
            Sync,
            &[ShortStr("consumer-tag"), Bits(&["no-wait"])],
        ),
        (60, 31) => m("basic.cancel-ok", Reply, &[ShortStr("consumer-tag")]),
        (60, 40) => mc(
            "basic.publish",
            Async,
            &[
                Short("_ticket"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Bits(&["mandatory", "immediate"]),
            ],
        ),
        (60, 50) => mc(
            "basic.return",
            Async,
            &[
                Short("reply-code"),
                ShortStr("reply-text"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
            ],
        ),
        (60, 60) => mc(
            "basic.deliver",
            Async,
            &[
                ShortStr("consumer-tag"),
                LongLong("delivery-tag"),
                Bits(&["redelivered"]),
                ShortStr("exchange"),
                ShortStr("routing-key"),
            ],
        ),
        (60, 70) => m(
            "basic.get",
            Sync,
            &[Short("_ticket"), ShortStr("queue"), Bits(&["no-ack"])],
        ),
        (60, 71) => mc(
            "basic.get-ok",
            Reply,
            &[
                LongLong("delivery-tag"),
                Bits(&["redelivered"]),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Long("message-count"),
            ],
        ),
        (60, 72) => m("basic.get-empty", Reply, &[ShortStr("_cluster-id")]),
        (60, 80) => m(
            "basic.ack",
            Async,
            &[LongLong("delivery-tag"), Bits(&["multiple"])],
        ),
        (60, 90) => m(
            "basic.reject",
            Async,
            &[LongLong("delivery-tag"), Bits(&["requeue"])],
        ),
        (60, 100) => m("basic.recover-async", Async, &[Bits(&["requeue"])]),
        (60, 110) => m("basic.recover", Sync, &[Bits(&["requeue"])]),
        (60, 111) => m("basic.recover-ok", Reply, &[]),
        (60, 120) => m(
            "basic.nack",
            Async,
            &[LongLong("delivery-tag"), Bits(&["multiple", "requeue"])],
        ),
        (85, 10) => m("confirm.select", Sync, &[Bits(&["no-wait"])]),
        (85, 11) => m("confirm.select-ok", Reply, &[]),
        (90, 10) => m("tx.select", Sync, &[]),
        (90, 11) => m("tx.select-ok", Reply, &[]),
        (90, 20) => m("tx.commit", Sync, &[]),
        (90, 21) => m("tx.commit-ok", Reply, &[]),
        (90, 30) => m("tx.rollback", Sync, &[]),
        (90, 31) => m("tx.rollback-ok", Reply, &[]),
        _ => return None,
    };
    Some(d)
}

/// Is `(rc, rm)` a reply to the synchronous method `(class, method)`?
pub fn answers(class: u16, method: u16, rc: u16, rm: u16) -> bool {
    if rc != class {
        return false;
    }
    match (class, method) {
        (60, 70) => rm == 71 || rm == 72,
        (40, 40) => rm == 51,
        _ => rm == method.saturating_add(1),
    }
}

/// Decoded arguments of a method frame.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Argument fields (Packetbeat names).
    pub fields: Map<String, Value>,
    /// `reply-code` of close/return methods.
    pub reply_code: Option<u16>,
    /// `no-wait` bit set.
    pub no_wait: bool,
    /// An argument table could not be decoded.
    pub bad_table: bool,
}

/// Decode the arguments of `def` from a method payload (after class/method ids). `None` when
/// the payload is shorter than the argument list.
pub fn decode_args(def: &MethodDef, payload: &[u8], parse_arguments: bool) -> Option<Decoded> {
    let mut c = Cur::new(payload);
    let mut out = Decoded::default();
    fn put(k: &'static str, v: Value, out: &mut Decoded) {
        if !k.starts_with('_') {
            out.fields.insert(k.to_owned(), v);
        }
    }
    for arg in def.args {
        match *arg {
            Octet(k) => put(k, c.u8()?.into(), &mut out),
            Short(k) => {
                let v = c.u16()?;
                if k == "reply-code" {
                    out.reply_code = Some(v);
                }
                put(k, v.into(), &mut out);
            }
            Long(k) => put(k, c.u32()?.into(), &mut out),
            LongLong(k) => put(k, c.u64()?.into(), &mut out),
            ShortStr(k) => {
                let s = text(c.short_bytes()?);
                if k == "exchange" && s.is_empty() {
                    continue; // the default exchange: left out, as Packetbeat does
                }
                let s = if k == "exchange-type" && s.is_empty() {
                    "direct".to_owned()
                } else {
                    s
                };
                put(k, s.into(), &mut out);
            }
            LongStr(k) => {
                let b = c.long_bytes()?;
                put(k, text(b).into(), &mut out);
            }
            Bits(names) => {
                let bits = c.u8()?;
                for (i, k) in names.iter().enumerate() {
                    let on = bits >> i & 1 == 1;
                    if *k == "no-wait" && on {
                        out.no_wait = true;
                    }
                    put(k, on.into(), &mut out);
                }
            }
            Table(k) => {
                if c.rest().is_empty() {
                    continue; // some senders leave a trailing empty table out
                }
                let b = c.long_bytes()?;
                if k == "arguments" && !parse_arguments {
                    continue;
                }
                match table(b, 0) {
                    Some(t) if !t.is_empty() => put(k, Value::Object(t), &mut out),
                    Some(_) => {}
                    None => out.bad_table = true,
                }
            }
        }
    }
    Some(out)
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
        format!("{}{digits}", "0".repeat(scale.saturating_sub(digits.len()) + 1))
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
