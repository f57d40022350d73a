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

/// Most elements of a list/map notation read (columns, keys, ...): far above real metadata
/// (Cassandra's column limit is in the thousands), keeps crafted counts from looping long.
pub const MAX_ITEMS: usize = 65_536;

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
