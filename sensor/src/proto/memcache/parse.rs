//! Pure, borrowing helpers for the memcache text and binary protocols and the UDP frame header:
//! command and opcode tables (Packetbeat's names), header decoding, line splitting.

/// Size of the binary protocol header.
pub const BIN_HEADER: usize = 24;
/// Magic byte of a binary request.
pub const MAGIC_REQUEST: u8 = 0x80;
/// Magic byte of a binary response.
pub const MAGIC_RESPONSE: u8 = 0x81;
/// Size of the UDP frame header (request id, sequence, total, reserved).
pub const UDP_HEADER: usize = 8;

/// Binary opcodes referred to by name.
pub mod op {
    /// Increment.
    pub const INCREMENT: u8 = 0x05;
    /// Decrement.
    pub const DECREMENT: u8 = 0x06;
    /// Version.
    pub const VERSION: u8 = 0x0b;
    /// Stat.
    pub const STAT: u8 = 0x10;
    /// IncrementQ.
    pub const INCREMENTQ: u8 = 0x15;
    /// DecrementQ.
    pub const DECREMENTQ: u8 = 0x16;
    /// QuitQ.
    pub const QUITQ: u8 = 0x17;
}

/// Packetbeat's opcode names (`memcache.*.opcode`); the lowercase form is the command.
pub fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        0x00 => "Get",
        0x01 => "Set",
        0x02 => "Add",
        0x03 => "Replace",
        0x04 => "Delete",
        0x05 => "Increment",
        0x06 => "Decrement",
        0x07 => "Quit",
        0x08 => "Flush",
        0x09 => "GetQ",
        0x0a => "No-op",
        0x0b => "Version",
        0x0c => "GetK",
        0x0d => "GetKQ",
        0x0e => "Append",
        0x0f => "Prepend",
        0x10 => "Stat",
        0x11 => "SetQ",
        0x12 => "AddQ",
        0x13 => "ReplaceQ",
        0x14 => "DeleteQ",
        0x15 => "IncrementQ",
        0x16 => "DecrementQ",
        0x17 => "QuitQ",
        0x18 => "FlushQ",
        0x19 => "AppendQ",
        0x1a => "PrependQ",
        0x1b => "Verbosity",
        0x1c => "Touch",
        0x1d => "GAT",
        0x1e => "GATQ",
        0x20 => "SASL list mechs",
        0x21 => "SASL Auth",
        0x22 => "SASL Step",
        0x23 => "GatK",
        0x24 => "GatKQ",
        0x30 => "RGet",
        0x31 => "RSet",
        0x32 => "RSetQ",
        0x33 => "RAppend",
        0x34 => "RAppendQ",
        0x35 => "RPrepend",
        0x36 => "RPrependQ",
        0x37 => "RDelete",
        0x38 => "RDeleteQ",
        0x39 => "RIncr",
        0x3a => "RIncrQ",
        0x3b => "RDecr",
        0x3c => "RDecrQ",
        0x3d => "Set VBucket",
        0x3e => "Get VBucket",
        0x3f => "Del VBucket",
        0x40 => "TAP Connect",
        0x41 => "TAP Mutation",
        0x42 => "TAP Delete",
        0x43 => "TAP Flush",
        0x44 => "TAP Opaque",
        0x45 => "TAP VBucket Set",
        0x46 => "TAP Checkpoint Start",
        0x47 => "TAP Checkpoint End",
        _ => return None,
    })
}

/// Quiet opcodes: answered only on failure (gets: only on a hit).
pub fn is_quiet(op: u8) -> bool {
    matches!(
        op,
        0x09 | 0x0d | 0x11..=0x1a | 0x1e | 0x24 | 0x32 | 0x34 | 0x36 | 0x38 | 0x3a | 0x3c
    )
}

/// Packetbeat's message class (`memcache.*.type`) of a binary opcode.
pub fn opcode_type(op: u8) -> &'static str {
    match op {
        0x00 | 0x09 | 0x0c | 0x0d | 0x1d | 0x1e | 0x23 | 0x24 => "Load",
        0x01..=0x03 | 0x0e | 0x0f | 0x11..=0x13 | 0x19 | 0x1a | 0x1c => "Store",
        0x04 | 0x08 | 0x14 | 0x18 => "Delete",
        0x05 | 0x06 | 0x15 | 0x16 => "Counter",
        0x07 | 0x0a | 0x0b | 0x17 | 0x1b => "Info",
        0x10 => "Stats",
        0x20..=0x22 => "Auth",
        _ => "UNKNOWN",
    }
}

/// Packetbeat's status names (`memcache.response.status`).
pub fn status_name(code: u16) -> &'static str {
    match code {
        0x00 => "Success",
        0x01 => "Key not found",
        0x02 => "Key exists",
        0x03 => "Value too large",
        0x04 => "Invalid arguments",
        0x05 => "Item not stored",
        0x06 => "Incr/Decr on non-numeric value.",
        0x07 => "The vbucket belongs to another server",
        0x20 => "Authentication error",
        0x21 => "Authentication continue",
        0x81 => "Unknown command",
        0x82 => "Out of memory",
        0x83 => "Not supported",
        0x84 => "Internal error",
        0x85 => "Busy",
        0x86 => "Temporary failure",
        _ => "UNKNOWN",
    }
}

/// Is a binary status an outcome rather than a failure (success, miss, CAS conflict, not
/// stored, SASL continue)?
pub fn status_ok(code: u16) -> bool {
    matches!(code, 0x00 | 0x01 | 0x02 | 0x05 | 0x21)
}

/// A binary protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinHeader {
    /// 0x80 request, 0x81 response.
    pub magic: u8,
    /// Command.
    pub opcode: u8,
    /// Key length.
    pub key_len: u16,
    /// Extras length.
    pub extras_len: u8,
    /// Request: vbucket id; response: status.
    pub vbucket_or_status: u16,
    /// Extras + key + value.
    pub total_body: u32,
    /// Echoed by the server.
    pub opaque: u32,
    /// CAS.
    pub cas: u64,
}

impl BinHeader {
    /// Decode the first 24 bytes of `b` (`None` when short or the magic is wrong).
    pub fn parse(b: &[u8]) -> Option<BinHeader> {
        let h: &[u8; BIN_HEADER] = b.get(..BIN_HEADER)?.try_into().ok()?;
        let [magic, opcode, k0, k1, extras_len, _dtype, v0, v1, t0, t1, t2, t3, o0, o1, o2, o3, c0, c1, c2, c3, c4, c5, c6, c7] =
            *h;
        if magic != MAGIC_REQUEST && magic != MAGIC_RESPONSE {
            return None;
        }
        let hdr = BinHeader {
            magic,
            opcode,
            key_len: u16::from_be_bytes([k0, k1]),
            extras_len,
            vbucket_or_status: u16::from_be_bytes([v0, v1]),
            total_body: u32::from_be_bytes([t0, t1, t2, t3]),
            opaque: u32::from_be_bytes([o0, o1, o2, o3]),
            cas: u64::from_be_bytes([c0, c1, c2, c3, c4, c5, c6, c7]),
        };
        let fixed = u32::from(hdr.key_len) + u32::from(hdr.extras_len);
        (fixed <= hdr.total_body).then_some(hdr)
    }

    /// Bytes of the value (body minus extras and key).
    pub fn value_len(&self) -> u64 {
        u64::from(self.total_body)
            .saturating_sub(u64::from(self.key_len) + u64::from(self.extras_len))
    }
}

/// The UDP frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Request id (echoed by the server).
    pub request_id: u16,
    /// Sequence number of this datagram.
    pub seq: u16,
    /// Datagrams in the message.
    pub total: u16,
}

impl UdpHeader {
    /// Decode the frame header; `None` when short or inconsistent.
    pub fn parse(b: &[u8]) -> Option<UdpHeader> {
        let [r0, r1, s0, s1, t0, t1, _, _] = *b.get(..UDP_HEADER)?.first_chunk::<8>()?;
        let h = UdpHeader {
            request_id: u16::from_be_bytes([r0, r1]),
            seq: u16::from_be_bytes([s0, s1]),
            total: u16::from_be_bytes([t0, t1]),
        };
        (h.total > 0 && h.seq < h.total).then_some(h)
    }
}

/// How a text command's reply is framed and what the request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `get`/`gets`: keys from the first argument.
    Retrieve,
    /// `gat`/`gats`: exptime, then keys.
    Touch,
    /// `set`… `key flags exptime bytes [noreply]` + data block.
    Store,
    /// `cas key flags exptime bytes cas [noreply]` + data block.
    Cas,
    /// `incr`/`decr key delta [noreply]`.
    Counter,
    /// `touch key exptime [noreply]`.
    TouchKey,
    /// `delete key [time] [noreply]`.
    Delete,
    /// `stats [args]`.
    Stats,
    /// `flush_all [delay] [noreply]`.
    Flush,
    /// `verbosity level [noreply]`.
    Verbosity,
    /// `version`, and other argument-less commands.
    Plain,
    /// `quit`: no reply.
    Quit,
    /// Meta commands with a key (`mg`, `md`, `ma`, `me`).
    Meta,
    /// Meta set: `ms key datalen flags*` + data block.
    MetaSet,
    /// Meta no-op `mn`.
    MetaNoop,
    /// Sub-command families and admin commands (raw arguments kept).
    Admin,
}

/// A known text command: Packetbeat's class name and the shape.
pub fn text_command(word: &str) -> Option<(&'static str, Shape)> {
    Some(match word {
        "get" | "gets" => ("Load", Shape::Retrieve),
        "gat" | "gats" => ("Load", Shape::Touch),
        "set" | "add" | "replace" | "append" | "prepend" => ("Store", Shape::Store),
        "cas" => ("Store", Shape::Cas),
        "incr" | "decr" => ("Counter", Shape::Counter),
        "touch" => ("Store", Shape::TouchKey),
        "delete" => ("Delete", Shape::Delete),
        "flush_all" => ("Delete", Shape::Flush),
        "stats" => ("Stats", Shape::Stats),
        "verbosity" => ("Info", Shape::Verbosity),
        "version" => ("Info", Shape::Plain),
        "quit" => ("Info", Shape::Quit),
        "mg" | "ma" => ("Load", Shape::Meta),
        "md" => ("Delete", Shape::Meta),
        "me" => ("Info", Shape::Meta),
        "ms" => ("Store", Shape::MetaSet),
        "mn" => ("Info", Shape::MetaNoop),
        "slabs" => ("SlabCtrl", Shape::Admin),
        "lru_crawler" => ("LRUCrawler", Shape::Admin),
        "lru" | "watch" | "cache_memlimit" | "shutdown" | "misbehave" | "debugtime" => {
            ("Info", Shape::Admin)
        }
        _ => return None,
    })
}

/// Words of a text line (separated by spaces).
pub fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
}

/// A decimal unsigned number.
pub fn num(w: &[u8]) -> Option<u64> {
    std::str::from_utf8(w).ok()?.parse().ok()
}

/// Status class of a text reply line's first word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextResult {
    /// Not an error.
    Ok,
    /// `ERROR`.
    Error,
    /// `CLIENT_ERROR msg`.
    ClientError,
    /// `SERVER_ERROR msg`.
    ServerError,
}

/// Classify a reply's first word.
pub fn text_result(word: &[u8]) -> TextResult {
    match word {
        b"ERROR" => TextResult::Error,
        b"CLIENT_ERROR" => TextResult::ClientError,
        b"SERVER_ERROR" => TextResult::ServerError,
        _ => TextResult::Ok,
    }
}

/// Packetbeat's class (`memcache.response.type`) of a text reply word.
pub fn reply_type(word: &[u8]) -> &'static str {
    match word {
        b"VALUE" | b"END" | b"VA" | b"EN" => "Load",
        b"STORED" | b"EXISTS" | b"TOUCHED" | b"DELETED" | b"OK" | b"HD" | b"MN" => "Success",
        b"NOT_STORED" | b"NOT_FOUND" | b"ERROR" | b"CLIENT_ERROR" | b"SERVER_ERROR" | b"BUSY"
        | b"BADCLASS" | b"NOSPARE" | b"NOTFULL" | b"UNSAFE" | b"SAME" | b"NS" | b"EX" | b"NF" => {
            "Fail"
        }
        b"STAT" => "Stats",
        b"VERSION" | b"ME" => "Info",
        w if w.first().is_some_and(u8::is_ascii_digit) => "Counter",
        _ => "UNKNOWN",
    }
}

/// Is a reply line's first word one the text protocol defines?
pub fn known_reply(word: &[u8]) -> bool {
    reply_type(word) != "UNKNOWN" || word == b"RESET" || word == b"ITEM"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let mut b = vec![0x80, 0x01, 0, 3, 8, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 9];
        b.extend_from_slice(&[0; 8]);
        let h = BinHeader::parse(&b).unwrap();
        assert_eq!(
            (h.opcode, h.key_len, h.extras_len, h.value_len(), h.opaque),
            (1, 3, 8, 5, 9)
        );
        b[11] = 2; // body shorter than extras + key
        assert!(BinHeader::parse(&b).is_none());
        assert!(BinHeader::parse(&[0x80; 10]).is_none());
        let u = UdpHeader::parse(&[0, 7, 0, 1, 0, 2, 0, 0]).unwrap();
        assert_eq!((u.request_id, u.seq, u.total), (7, 1, 2));
        assert!(UdpHeader::parse(&[0, 7, 0, 2, 0, 2, 0, 0]).is_none());
    }

    #[test]
    fn tables() {
        assert_eq!(opcode_name(0x05), Some("Increment"));
        assert!(is_quiet(0x09) && is_quiet(0x11) && !is_quiet(0x0a));
        assert_eq!(text_command("gets"), Some(("Load", Shape::Retrieve)));
        assert_eq!(text_result(b"CLIENT_ERROR"), TextResult::ClientError);
        assert_eq!(reply_type(b"42"), "Counter");
        assert!(status_ok(1) && !status_ok(0x81));
    }
}
