//! CQL native protocol (v1-v4 frames; v5's pre-negotiation frames) — frame header, body
//! notations (`[string]`, `[long string]`, `[bytes]`, `[option]`, ...), decompression and the
//! bodies of every opcode, turned into Packetbeat's `cassandra.request.*` /
//! `cassandra.response.*` fields.

use serde_json::{json, Map, Value};

/// Bytes of a v3+ frame header.
pub const HEADER_LEN: usize = 9;
/// Bytes of a v1/v2 frame header (one-byte stream id).
pub const HEADER_LEN_V2: usize = 8;

/// Largest frame body the protocol allows (256 MB, `native_transport_max_frame_size` cap).
pub const MAX_BODY: u32 = 256 * 1024 * 1024;

/// Largest decompressed body inflated: a driver's default page (5000 rows) of wide rows fits;
/// beyond it the frame is published from its header.
pub const MAX_INFLATE: usize = 16 * 1024 * 1024;

/// Deepest nested column type (`list<map<text, frozen<tuple<...>>>>`) followed: real schemas
/// nest a few levels; the bound stops recursion on crafted input.
const MAX_TYPE_DEPTH: usize = 16;

/// Most elements of a list/map notation read (columns, keys, ...): far above real metadata
/// (Cassandra's column limit is in the thousands), keeps crafted counts from looping long.
const MAX_ITEMS: usize = 65_536;

/// Header flag: the body is compressed.
pub const FLAG_COMPRESSION: u8 = 0x01;
/// Header flag: tracing (responses carry a tracing id first).
pub const FLAG_TRACING: u8 = 0x02;
/// Header flag: a custom payload precedes the body.
pub const FLAG_CUSTOM_PAYLOAD: u8 = 0x04;
/// Header flag: warnings precede the body (responses).
pub const FLAG_WARNING: u8 = 0x08;
/// Header flag: v5 beta.
pub const FLAG_USE_BETA: u8 = 0x10;

/// Opcodes.
pub mod op {
    /// ERROR.
    pub const ERROR: u8 = 0x00;
    /// STARTUP.
    pub const STARTUP: u8 = 0x01;
    /// READY.
    pub const READY: u8 = 0x02;
    /// AUTHENTICATE.
    pub const AUTHENTICATE: u8 = 0x03;
    /// OPTIONS.
    pub const OPTIONS: u8 = 0x05;
    /// SUPPORTED.
    pub const SUPPORTED: u8 = 0x06;
    /// QUERY.
    pub const QUERY: u8 = 0x07;
    /// RESULT.
    pub const RESULT: u8 = 0x08;
    /// PREPARE.
    pub const PREPARE: u8 = 0x09;
    /// EXECUTE.
    pub const EXECUTE: u8 = 0x0A;
    /// REGISTER.
    pub const REGISTER: u8 = 0x0B;
    /// EVENT.
    pub const EVENT: u8 = 0x0C;
    /// BATCH.
    pub const BATCH: u8 = 0x0D;
    /// AUTH_CHALLENGE.
    pub const AUTH_CHALLENGE: u8 = 0x0E;
    /// AUTH_RESPONSE.
    pub const AUTH_RESPONSE: u8 = 0x0F;
    /// AUTH_SUCCESS.
    pub const AUTH_SUCCESS: u8 = 0x10;
}

/// Opcode name (Packetbeat's), `None` for unknown opcodes.
pub fn op_name(o: u8) -> Option<&'static str> {
    Some(match o {
        op::ERROR => "ERROR",
        op::STARTUP => "STARTUP",
        op::READY => "READY",
        op::AUTHENTICATE => "AUTHENTICATE",
        op::OPTIONS => "OPTIONS",
        op::SUPPORTED => "SUPPORTED",
        op::QUERY => "QUERY",
        op::RESULT => "RESULT",
        op::PREPARE => "PREPARE",
        op::EXECUTE => "EXECUTE",
        op::REGISTER => "REGISTER",
        op::EVENT => "EVENT",
        op::BATCH => "BATCH",
        op::AUTH_CHALLENGE => "AUTH_CHALLENGE",
        op::AUTH_RESPONSE => "AUTH_RESPONSE",
        op::AUTH_SUCCESS => "AUTH_SUCCESS",
        _ => return None,
    })
}

/// The opcode with this name (case-insensitive).
pub fn op_from_name(s: &str) -> Option<u8> {
    (0u8..=0x10).find(|&o| op_name(o).is_some_and(|n| n.eq_ignore_ascii_case(s.trim())))
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Version byte as sent (bit 7 = response).
    pub version: u8,
    /// Flags.
    pub flags: u8,
    /// Stream id.
    pub stream: i16,
    /// Opcode.
    pub opcode: u8,
    /// Body length.
    pub length: u32,
    /// Header size (8 for v1/v2, else 9).
    pub head_len: usize,
}

impl Header {
    /// Protocol version (1-5).
    pub fn proto(&self) -> u8 {
        self.version & 0x7F
    }

    /// Sent by the server.
    pub fn is_response(&self) -> bool {
        self.version & 0x80 != 0
    }

    /// Whole frame size.
    pub fn frame_len(&self) -> u64 {
        u64::from(self.length).saturating_add(u64::try_from(self.head_len).unwrap_or(9))
    }

    /// Packetbeat's flag text: a name per set flag, joined by `|` (`Default` when none).
    pub fn flags_text(&self) -> String {
        if self.flags == 0 {
            return "Default".into();
        }
        let names = [
            (FLAG_COMPRESSION, "Compress"),
            (FLAG_TRACING, "Tracing"),
            (FLAG_CUSTOM_PAYLOAD, "CustomPayload"),
            (FLAG_WARNING, "Warning"),
            (FLAG_USE_BETA, "UseBeta"),
        ];
        let mut out: Vec<String> = names
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| (*n).to_owned())
            .collect();
        let unknown = self.flags & !0x1F;
        if unknown != 0 {
            out.push(format!("UnknownFlag_{unknown}"));
        }
        out.join("|")
    }

    /// Packetbeat's `headers` object.
    pub fn json(&self) -> Value {
        json!({
            "version": self.proto().to_string(),
            "flags": self.flags_text(),
            "stream": self.stream,
            "op": op_name(self.opcode).map_or_else(|| format!("UNKNOWN_OP_{}", self.opcode), str::to_owned),
            "length": self.length,
        })
    }
}

/// The frame header at the start of `b`, when the version is 1-5 and enough bytes are there.
pub fn header(b: &[u8]) -> Option<Header> {
    let v = *b.first()?;
    let proto = v & 0x7F;
    let flags = *b.get(1)?;
    match proto {
        1 | 2 => Some(Header {
            version: v,
            flags,
            stream: i16::from(i8::from_be_bytes([*b.get(2)?])),
            opcode: *b.get(3)?,
            length: u32::from_be_bytes(b.get(4..8)?.try_into().ok()?),
            head_len: HEADER_LEN_V2,
        }),
        3..=5 => Some(Header {
            version: v,
            flags,
            stream: i16::from_be_bytes(b.get(2..4)?.try_into().ok()?),
            opcode: *b.get(4)?,
            length: u32::from_be_bytes(b.get(5..9)?.try_into().ok()?),
            head_len: HEADER_LEN,
        }),
        _ => None,
    }
}

/// Is this a plausible frame header (known opcode, sane length)?
pub fn plausible(h: &Header) -> bool {
    op_name(h.opcode).is_some() && h.length <= MAX_BODY && h.flags & !0x1F == 0
}

/// Compression algorithms of the v4 protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// LZ4 block with a 4-byte big-endian uncompressed length prefix.
    Lz4,
    /// Raw Snappy.
    Snappy,
}

impl Compression {
    /// From STARTUP's `COMPRESSION` value.
    pub fn from_name(s: &str) -> Option<Compression> {
        match s.to_ascii_lowercase().as_str() {
            "lz4" => Some(Compression::Lz4),
            "snappy" => Some(Compression::Snappy),
            _ => None,
        }
    }

    /// Decompress a body (bounded by [`MAX_INFLATE`]).
    pub fn decompress(self, b: &[u8]) -> Option<Vec<u8>> {
        match self {
            Compression::Lz4 => {
                let n = usize::try_from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
                if n > MAX_INFLATE {
                    return None;
                }
                lz4_flex::block::decompress(b.get(4..)?, n)
                    .ok()
                    .filter(|d| d.len() == n)
            }
            Compression::Snappy => {
                let n = snap::raw::decompress_len(b).ok()?;
                if n > MAX_INFLATE {
                    return None;
                }
                snap::raw::Decoder::new().decompress_vec(b).ok()
            }
        }
    }
}

/// A cursor over a body with the protocol's notations; every read is bounds-checked.
#[derive(Clone, Debug)]
pub struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Rd<'a> {
        Rd { b, at: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    /// `[byte]`.
    pub fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// `[short]` (unsigned 16 bits).
    pub fn short(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    /// `[int]`.
    pub fn int(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// `[string]`.
    pub fn string(&mut self) -> Option<String> {
        let n = usize::from(self.short()?);
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    /// `[long string]`.
    pub fn long_string(&mut self) -> Option<String> {
        let n = usize::try_from(self.int()?).ok()?;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    /// `[bytes]` (`None` inside = null, negative length).
    pub fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.int()?;
        if n < 0 {
            return Some(None);
        }
        Some(Some(self.take(usize::try_from(n).ok()?)?))
    }

    /// `[value]`: like `[bytes]`, -2 = not set.
    pub fn value(&mut self) -> Option<()> {
        let n = self.int()?;
        if n >= 0 {
            self.take(usize::try_from(n).ok()?)?;
        }
        Some(())
    }

    /// `[short bytes]`.
    pub fn short_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.short()?);
        self.take(n)
    }

    /// `[string list]`.
    pub fn string_list(&mut self) -> Option<Vec<String>> {
        let n = usize::from(self.short()?);
        (0..n.min(MAX_ITEMS)).map(|_| self.string()).collect()
    }

    /// `[string map]`.
    pub fn string_map(&mut self) -> Option<Vec<(String, String)>> {
        let n = usize::from(self.short()?);
        (0..n.min(MAX_ITEMS))
            .map(|_| Some((self.string()?, self.string()?)))
            .collect()
    }

    /// `[string multimap]`.
    pub fn string_multimap(&mut self) -> Option<Map<String, Value>> {
        let n = usize::from(self.short()?);
        let mut m = Map::new();
        for _ in 0..n.min(MAX_ITEMS) {
            let k = self.string()?;
            let v = self.string_list()?;
            m.insert(k, v.into());
        }
        Some(m)
    }

    /// `[bytes map]`.
    pub fn bytes_map(&mut self) -> Option<()> {
        let n = usize::from(self.short()?);
        for _ in 0..n.min(MAX_ITEMS) {
            self.string()?;
            self.bytes()?;
        }
        Some(())
    }

    /// `[uuid]`, formatted.
    pub fn uuid(&mut self) -> Option<String> {
        Some(uuid_text(self.take(16)?))
    }

    /// `[inet]`: address and port.
    pub fn inet(&mut self) -> Option<(String, i32)> {
        let n = usize::from(self.byte()?);
        let a = self.take(n)?;
        let ip = match n {
            4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(a).ok()?).to_string(),
            16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(a).ok()?).to_string(),
            _ => return None,
        };
        Some((ip, self.int()?))
    }

    /// `[consistency]`, named.
    pub fn consistency(&mut self) -> Option<String> {
        Some(consistency_name(self.short()?))
    }
}

/// A 16-byte UUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid_text(b: &[u8]) -> String {
    let h = hex(b);
    if h.len() != 32 {
        return h;
    }
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// Consistency level name (Packetbeat's).
pub fn consistency_name(c: u16) -> String {
    match c {
        0x00 => "ANY".into(),
        0x01 => "ONE".into(),
        0x02 => "TWO".into(),
        0x03 => "THREE".into(),
        0x04 => "QUORUM".into(),
        0x05 => "ALL".into(),
        0x06 => "LOCAL_QUORUM".into(),
        0x07 => "EACH_QUORUM".into(),
        0x08 => "SERIAL".into(),
        0x09 => "LOCAL_SERIAL".into(),
        0x0A => "LOCAL_ONE".into(),
        _ => format!("UNKNOWN_CONS_0x{c:x}"),
    }
}

/// Packetbeat's error type names.
pub fn error_type(code: i32) -> &'static str {
    match code {
        0x0000 => "errServer",
        0x000A => "errProtocol",
        0x0100 => "errCredentials",
        0x1000 => "errUnavailable",
        0x1001 => "errOverloaded",
        0x1002 => "errBootstrapping",
        0x1003 => "errTruncate",
        0x1100 => "errWriteTimeout",
        0x1200 => "errReadTimeout",
        0x1300 => "errReadFailure",
        0x1400 => "errFunctionFailure",
        0x1500 => "errWriteFailure",
        0x1600 => "errCDCWriteFailure",
        0x1700 => "errCASWriteUnknown",
        0x2000 => "errSyntax",
        0x2100 => "errUnauthorized",
        0x2200 => "errInvalid",
        0x2300 => "errConfig",
        0x2400 => "errAlreadyExists",
        0x2500 => "errUnprepared",
        _ => "ErrUnknown",
    }
}

/// Skip one `[option]` (a column type), recursively.
fn skip_type(r: &mut Rd<'_>, depth: usize) -> Option<()> {
    if depth > MAX_TYPE_DEPTH {
        return None;
    }
    match r.short()? {
        0x0000 => {
            r.string()?;
        }
        0x0020 | 0x0022 => skip_type(r, depth + 1)?,
        0x0021 => {
            skip_type(r, depth + 1)?;
            skip_type(r, depth + 1)?;
        }
        0x0030 => {
            r.string()?;
            r.string()?;
            let n = usize::from(r.short()?);
            for _ in 0..n.min(MAX_ITEMS) {
                r.string()?;
                skip_type(r, depth + 1)?;
            }
        }
        0x0031 => {
            let n = usize::from(r.short()?);
            for _ in 0..n.min(MAX_ITEMS) {
                skip_type(r, depth + 1)?;
            }
        }
        _ => {}
    }
    Some(())
}

/// Rows metadata flag: one keyspace/table for all columns.
const ROWS_GLOBAL_SPEC: i32 = 0x01;
/// Rows metadata flag: a paging state follows.
const ROWS_HAS_MORE_PAGES: i32 = 0x02;
/// Rows metadata flag: no column specs.
const ROWS_NO_METADATA: i32 = 0x04;
/// v5 rows metadata flag: a new result metadata id follows.
const ROWS_METADATA_CHANGED: i32 = 0x08;

/// Packetbeat's rows-flag text, names joined by `|`.
fn rows_flags_text(f: i32) -> String {
    let names = [
        (ROWS_GLOBAL_SPEC, "GlobalTableSpec"),
        (ROWS_HAS_MORE_PAGES, "HasMorePages"),
        (ROWS_NO_METADATA, "NoMetaData"),
        (ROWS_METADATA_CHANGED, "MetadataChanged"),
    ];
    let out: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if out.is_empty() || f & !0x0F != 0 {
        return format!("FLAG_{f}");
    }
    out.join("|")
}

/// Rows / prepared metadata. `prepared`: the variant with partition-key indexes (v4+).
fn metadata(r: &mut Rd<'_>, proto: u8, prepared: bool) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    let flags = r.int()?;
    m.insert("flags".into(), rows_flags_text(flags).into());
    let cols = r.int()?;
    m.insert("col_count".into(), cols.into());
    if prepared && proto >= 4 {
        let n = usize::try_from(r.int()?).ok()?;
        let pk: Option<Vec<u16>> = (0..n.min(MAX_ITEMS)).map(|_| r.short()).collect();
        m.insert("pkey_columns".into(), pk?.into());
    }
    if !prepared && flags & ROWS_HAS_MORE_PAGES != 0 {
        if let Some(p) = r.bytes()? {
            m.insert("paging_state".into(), hex(p).to_ascii_uppercase().into());
        }
    }
    if !prepared && flags & ROWS_METADATA_CHANGED != 0 {
        r.short_bytes()?;
    }
    if flags & ROWS_NO_METADATA != 0 {
        return Some(m);
    }
    let global = flags & ROWS_GLOBAL_SPEC != 0;
    if global {
        m.insert("keyspace".into(), r.string()?.into());
        m.insert("table".into(), r.string()?.into());
    }
    for i in 0..usize::try_from(cols).unwrap_or(0).min(MAX_ITEMS) {
        if !global {
            let ks = r.string()?;
            let table = r.string()?;
            if i == 0 {
                m.insert("keyspace".into(), ks.into());
                m.insert("table".into(), table.into());
            }
        }
        r.string()?;
        skip_type(r, 0)?;
    }
    Some(m)
}

/// Schema change body (RESULT Schema_change and EVENT SCHEMA_CHANGE).
fn schema_change(r: &mut Rd<'_>, proto: u8) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    let change = r.string()?;
    m.insert("change".into(), change.into());
    if proto <= 2 {
        m.insert("keyspace".into(), r.string()?.into());
        m.insert("table".into(), r.string()?.into());
        return Some(m);
    }
    let target = r.string()?;
    m.insert("target".into(), target.clone().into());
    match target.as_str() {
        "KEYSPACE" => {
            m.insert("keyspace".into(), r.string()?.into());
        }
        "TABLE" | "TYPE" => {
            m.insert("keyspace".into(), r.string()?.into());
            m.insert("object".into(), r.string()?.into());
        }
        "FUNCTION" | "AGGREGATE" => {
            m.insert("keyspace".into(), r.string()?.into());
            m.insert("name".into(), r.string()?.into());
            m.insert("args".into(), r.string_list()?.into());
        }
        _ => return None,
    }
    Some(m)
}

/// What a request body says.
#[derive(Clone, Debug, Default)]
pub struct ReqInfo {
    /// CQL text (QUERY, PREPARE).
    pub query: Option<String>,
    /// Prepared statement ids (EXECUTE: one; BATCH: one per prepared statement, in order).
    pub ids: Vec<Vec<u8>>,
    /// BATCH statement texts (in order; `None` for prepared ones).
    pub batch: Vec<Option<String>>,
    /// STARTUP's COMPRESSION option.
    pub compression: Option<String>,
    /// Extra `cassandra.request.*` fields.
    pub fields: Map<String, Value>,
}

/// Parse a request body (after decompression). `None` = malformed.
pub fn request(h: &Header, body: &[u8]) -> Option<ReqInfo> {
    let mut r = Rd::new(body);
    if h.flags & FLAG_CUSTOM_PAYLOAD != 0 {
        r.bytes_map()?;
    }
    let mut info = ReqInfo::default();
    match h.opcode {
        op::QUERY | op::PREPARE => {
            info.query = Some(r.long_string()?);
            if h.opcode == op::QUERY {
                if let Some(c) = r.consistency() {
                    info.fields.insert("consistency".into(), c.into());
                }
            }
        }
        op::EXECUTE => {
            info.ids.push(r.short_bytes()?.to_vec());
            if h.proto() >= 5 {
                r.short_bytes()?;
            }
            if let Some(c) = r.consistency() {
                info.fields.insert("consistency".into(), c.into());
            }
        }
        op::BATCH => {
            let kind = r.byte()?;
            let name = match kind {
                0 => "LOGGED",
                1 => "UNLOGGED",
                2 => "COUNTER",
                _ => "UNKNOWN",
            };
            info.fields.insert("batch_type".into(), name.into());
            let n = usize::from(r.short()?);
            for _ in 0..n.min(MAX_ITEMS) {
                match r.byte()? {
                    0 => info.batch.push(Some(r.long_string()?)),
                    1 => {
                        info.ids.push(r.short_bytes()?.to_vec());
                        info.batch.push(None);
                    }
                    _ => return None,
                }
                let values = usize::from(r.short()?);
                for _ in 0..values.min(MAX_ITEMS) {
                    r.value()?;
                }
            }
            if let Some(c) = r.consistency() {
                info.fields.insert("consistency".into(), c.into());
            }
        }
        op::STARTUP => {
            for (k, v) in r.string_map()? {
                if k.eq_ignore_ascii_case("COMPRESSION") {
                    info.compression = Some(v.clone());
                }
                if k.eq_ignore_ascii_case("CQL_VERSION") {
                    info.fields.insert("cql_version".into(), v.into());
                }
            }
        }
        op::REGISTER => {
            info.fields.insert("events".into(), r.string_list()?.into());
        }
        op::AUTH_RESPONSE | op::OPTIONS => {}
        _ => return None,
    }
    Some(info)
}

/// What a response body says.
#[derive(Clone, Debug, Default)]
pub struct RespInfo {
    /// `cassandra.response.*` fields (result, error, supported, authentication, event, warnings).
    pub fields: Map<String, Value>,
    /// A PREPARED result: its statement id.
    pub prepared_id: Option<Vec<u8>>,
    /// An ERROR: code and message.
    pub error: Option<(i32, String)>,
}

/// Parse a response body (after decompression). Fields read before a malformed part are
/// kept; the flag says whether the whole body parsed.
pub fn response(h: &Header, body: &[u8], info: &mut RespInfo) -> bool {
    response_inner(h, body, info).is_some()
}

fn response_inner(h: &Header, body: &[u8], info: &mut RespInfo) -> Option<()> {
    let mut r = Rd::new(body);
    let proto = h.proto();
    if h.flags & FLAG_TRACING != 0 {
        info.fields.insert("tracing_id".into(), r.uuid()?.into());
    }
    if h.flags & FLAG_WARNING != 0 {
        info.fields
            .insert("warnings".into(), r.string_list()?.into());
    }
    if h.flags & FLAG_CUSTOM_PAYLOAD != 0 {
        r.bytes_map()?;
    }
    match h.opcode {
        op::ERROR => error(&mut r, info),
        op::READY => Some(()),
        op::AUTHENTICATE => {
            let class = r.string()?;
            info.fields
                .insert("authentication".into(), json!({ "class": class }));
            Some(())
        }
        op::AUTH_CHALLENGE | op::AUTH_SUCCESS => {
            let data = r.bytes()?.unwrap_or_default();
            let text = format!("{:?}", String::from_utf8_lossy(data));
            info.fields
                .insert("authentication".into(), json!({ "data": text }));
            Some(())
        }
        op::SUPPORTED => {
            let m = r.string_multimap()?;
            info.fields.insert("supported".into(), Value::Object(m));
            Some(())
        }
        op::RESULT => result(&mut r, proto, info),
        op::EVENT => {
            let mut ev = Map::new();
            let res = event(&mut r, proto, &mut ev);
            info.fields.insert("event".into(), Value::Object(ev));
            res
        }
        _ => None,
    }
}

fn error(r: &mut Rd<'_>, info: &mut RespInfo) -> Option<()> {
    let code = r.int()?;
    let msg = r.string()?;
    info.error = Some((code, msg.clone()));
    let mut e = Map::new();
    e.insert("code".into(), code.into());
    e.insert("msg".into(), msg.into());
    e.insert("type".into(), error_type(code).into());
    let mut d = Map::new();
    let res = error_details(r, code, &mut d);
    if !d.is_empty() {
        e.insert("details".into(), Value::Object(d));
    }
    info.fields.insert("error".into(), Value::Object(e));
    res
}

fn error_details(r: &mut Rd<'_>, code: i32, d: &mut Map<String, Value>) -> Option<()> {
    match code {
        0x1000 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("required".into(), r.int()?.into());
            d.insert("alive".into(), r.int()?.into());
        }
        0x1100 | 0x1700 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("received".into(), r.int()?.into());
            d.insert("blockfor".into(), r.int()?.into());
            if code == 0x1100 {
                d.insert("write_type".into(), r.string()?.into());
            }
        }
        0x1200 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("received".into(), r.int()?.into());
            d.insert("blockfor".into(), r.int()?.into());
            d.insert("data_present".into(), (r.byte()? != 0).into());
        }
        0x1300 | 0x1500 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("received".into(), r.int()?.into());
            d.insert("blockfor".into(), r.int()?.into());
            d.insert("num_failures".into(), r.int()?.into());
            if code == 0x1300 {
                d.insert("data_present".into(), (r.byte()? != 0).into());
            } else {
                d.insert("write_type".into(), r.string()?.into());
            }
        }
        0x1400 => {
            d.insert("keyspace".into(), r.string()?.into());
            d.insert("function".into(), r.string()?.into());
            d.insert("arg_types".into(), r.string_list()?.into());
        }
        0x2400 => {
            d.insert("keyspace".into(), r.string()?.into());
            d.insert("table".into(), r.string()?.into());
        }
        0x2500 => {
            d.insert("stmt_id".into(), hex(r.short_bytes()?).into());
        }
        _ => {}
    }
    Some(())
}

fn result(r: &mut Rd<'_>, proto: u8, info: &mut RespInfo) -> Option<()> {
    let mut res = Map::new();
    let kind = r.int()?;
    let out = match kind {
        1 => {
            res.insert("type".into(), "void".into());
            Some(())
        }
        2 => {
            res.insert("type".into(), "rows".into());
            let mut rows = Map::new();
            let ok = metadata(r, proto, false).map(|m| {
                rows.insert("meta".into(), Value::Object(m));
            });
            let ok = ok.and_then(|()| r.int()).map(|n| {
                rows.insert("num_rows".into(), n.into());
            });
            res.insert("rows".into(), Value::Object(rows));
            ok
        }
        3 => {
            res.insert("type".into(), "set_keyspace".into());
            let ks = r.string();
            if let Some(k) = &ks {
                res.insert("keyspace".into(), k.clone().into());
            }
            ks.map(|_| ())
        }
        4 => {
            res.insert("type".into(), "prepared".into());
            let mut p = Map::new();
            let id = r.short_bytes();
            if let Some(id) = id {
                info.prepared_id = Some(id.to_vec());
                p.insert("prepared_id".into(), uuid_text(id).into());
            }
            let ok = id
                .and_then(|_| {
                    if proto >= 5 {
                        r.short_bytes()
                    } else {
                        Some(&[][..])
                    }
                })
                .and_then(|_| metadata(r, proto, true))
                .map(|m| {
                    p.insert("req_meta".into(), Value::Object(m));
                })
                .and_then(|()| {
                    if proto >= 2 {
                        metadata(r, proto, false)
                    } else {
                        Some(Map::new())
                    }
                })
                .map(|m| {
                    if !m.is_empty() {
                        p.insert("resp_meta".into(), Value::Object(m));
                    }
                });
            res.insert("prepared".into(), Value::Object(p));
            ok
        }
        5 => {
            res.insert("type".into(), "schemaChanged".into());
            let sc = schema_change(r, proto);
            if let Some(sc) = &sc {
                res.insert("schema_change".into(), Value::Object(sc.clone()));
            }
            sc.map(|_| ())
        }
        _ => None,
    };
    info.fields.insert("result".into(), Value::Object(res));
    out
}

fn event(r: &mut Rd<'_>, proto: u8, ev: &mut Map<String, Value>) -> Option<()> {
    let t = r.string()?;
    ev.insert("type".into(), t.clone().into());
    match t.as_str() {
        "TOPOLOGY_CHANGE" | "STATUS_CHANGE" => {
            ev.insert("change".into(), r.string()?.into());
            let (host, port) = r.inet()?;
            ev.insert("host".into(), host.into());
            ev.insert("port".into(), port.into());
        }
        "SCHEMA_CHANGE" => {
            ev.insert(
                "schema_change".into(),
                Value::Object(schema_change(r, proto)?),
            );
        }
        _ => return None,
    }
    Some(())
}
