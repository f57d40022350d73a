//! MongoDB wire protocol: the 16-byte header and every opcode's body (OP_MSG with its flag
//! bits, checksum and sections; the legacy OP_QUERY/OP_REPLY/OP_INSERT/OP_UPDATE/OP_DELETE/
//! OP_GET_MORE/OP_KILL_CURSORS; OP_COMPRESSED with snappy and zlib), turned into a [`Msg`]
//! summary with Packetbeat's `mongodb.*` fields.

use std::io::Read;

use serde_json::{Map, Value};

use super::bson::{cstr, Doc, Json, Val};
use super::command::op_msg;
use super::legacy::{
    op_delete, op_get_more, op_insert, op_kill_cursors, op_query, op_reply, op_update,
};

/// Size of the standard message header.
pub const HEADER_LEN: usize = 16;

/// Largest message accepted: MongoDB's `maxMessageSizeBytes` (48 000 000) with headroom for
/// OP_COMPRESSED framing. A larger length field means the stream is not MongoDB (or is lost).
pub const MAX_MESSAGE_LEN: u32 = 48 * 1024 * 1024;

/// Largest decompressed OP_COMPRESSED body inflated: a 16 MiB BSON document plus its command
/// envelope; beyond that the message is published from its header only.
pub const MAX_INFLATE: usize = 17 * 1024 * 1024;

/// Upper bound of one rendered JSON document even with `max_doc_length: 0` (unlimited): keeps a
/// 16 MiB document from being copied into an event.
pub const HARD_DOC_LEN: usize = 1024 * 1024;

/// Upper bound of documents listed in `response` even with `max_docs: 0` (unlimited).
pub const HARD_MAX_DOCS: usize = 1000;

/// Truncation marker of a document cut at `max_doc_length` (Packetbeat's).
pub const DOC_CUT: &str = " ...";

/// Marker appended after `max_docs` documents (Packetbeat's).
pub const DOCS_CUT: &str = "[...]";

/// OP_REPLY.
pub const OP_REPLY: i32 = 1;
/// Legacy OP_MSG (a diagnostic C string, removed in 2011).
pub const OP_MSG_LEGACY: i32 = 1000;
/// OP_UPDATE.
pub const OP_UPDATE: i32 = 2001;
/// OP_INSERT.
pub const OP_INSERT: i32 = 2002;
/// Reserved.
pub const OP_RESERVED: i32 = 2003;
/// OP_QUERY.
pub const OP_QUERY: i32 = 2004;
/// OP_GET_MORE.
pub const OP_GET_MORE: i32 = 2005;
/// OP_DELETE.
pub const OP_DELETE: i32 = 2006;
/// OP_KILL_CURSORS.
pub const OP_KILL_CURSORS: i32 = 2007;
/// OP_COMMAND (3.2-3.6 internal, removed).
pub const OP_COMMAND: i32 = 2010;
/// OP_COMMANDREPLY.
pub const OP_COMMANDREPLY: i32 = 2011;
/// OP_COMPRESSED.
pub const OP_COMPRESSED: i32 = 2012;
/// OP_MSG (3.6+).
pub const OP_MSG: i32 = 2013;

/// The standard message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Total message length including the header.
    pub length: u32,
    /// Sender's id of this message.
    pub request_id: i32,
    /// The request this message answers (0 for requests).
    pub response_to: i32,
    /// Operation code.
    pub opcode: i32,
}

pub(super) fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(s.try_into().ok()?))
}

/// The header at the start of `b` (no validation).
pub fn header(b: &[u8]) -> Option<Header> {
    Some(Header {
        length: u32::try_from(le_i32(b, 0)?).unwrap_or(u32::MAX),
        request_id: le_i32(b, 4)?,
        response_to: le_i32(b, 8)?,
        opcode: le_i32(b, 12)?,
    })
}

/// Is `op` an opcode this parser knows?
pub fn known_opcode(op: i32) -> bool {
    matches!(
        op,
        OP_REPLY
            | OP_MSG_LEGACY
            | OP_UPDATE
            | OP_INSERT
            | OP_RESERVED
            | OP_QUERY
            | OP_GET_MORE
            | OP_DELETE
            | OP_KILL_CURSORS
            | OP_COMMAND
            | OP_COMMANDREPLY
            | OP_COMPRESSED
            | OP_MSG
    )
}

/// Is this header plausible (length within bounds, known opcode)?
pub fn plausible(h: &Header) -> bool {
    h.length > u32::try_from(HEADER_LEN).unwrap_or(16)
        && h.length <= MAX_MESSAGE_LEN
        && known_opcode(h.opcode)
}

/// Packetbeat's opcode name.
pub fn opcode_name(op: i32) -> &'static str {
    match op {
        OP_REPLY => "OP_REPLY",
        OP_MSG_LEGACY | OP_MSG => "OP_MSG",
        OP_UPDATE => "OP_UPDATE",
        OP_INSERT => "OP_INSERT",
        OP_RESERVED => "RESERVED",
        OP_QUERY => "OP_QUERY",
        OP_GET_MORE => "OP_GET_MORE",
        OP_DELETE => "OP_DELETE",
        OP_KILL_CURSORS => "OP_KILL_CURSORS",
        OP_COMMAND => "OP_COMMAND",
        OP_COMMANDREPLY => "OP_COMMANDREPLY",
        OP_COMPRESSED => "OP_COMPRESSED",
        _ => "UNKNOWN",
    }
}

/// Rendering options.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// `max_docs` (0 = unlimited).
    pub max_docs: usize,
    /// `max_doc_length` (0 = unlimited).
    pub max_doc_length: usize,
    /// Render the reply documents (`send_response`).
    pub keep_docs: bool,
    /// Render the whole command (`send_request`).
    pub keep_full: bool,
}

/// What one message says, owned (built when the message is complete).
#[derive(Clone, Debug, Default)]
pub struct Msg {
    /// Bytes on the wire (whole message incl. header).
    pub size: u64,
    /// Header `requestID`.
    pub request_id: i32,
    /// Header `responseTo`.
    pub response_to: i32,
    /// The opcode (inside OP_COMPRESSED: the original one).
    pub opcode: i32,
    /// The compressor of an OP_COMPRESSED message.
    pub compressor: Option<&'static str>,
    /// OP_MSG `moreToCome`: no reply follows (requests) / more replies follow (replies).
    pub more_to_come: bool,
    /// The sender expects a reply (OP_QUERY, OP_GET_MORE, OP_MSG without moreToCome).
    pub expects_reply: bool,
    /// Legacy `method`: command name or operation.
    pub method: Option<String>,
    /// Legacy `resource`: `db.collection` or db.
    pub resource: Option<String>,
    /// `mongodb.*` fields.
    pub fields: Map<String, Value>,
    /// Command parameters for the legacy `query` (JSON), without bulk data.
    pub params: Option<String>,
    /// All command parameters (JSON) for `request` (`send_request`).
    pub params_full: Option<String>,
    /// `numberToSkip` / `numberToReturn` for the `.skip()/.limit()` suffix.
    pub skip: i64,
    /// See `skip`.
    pub limit: i64,
    /// Rendered reply documents (`send_response`), markers included.
    pub docs: Vec<String>,
    /// Error text: `$err`, `errmsg` of `ok: 0`, `writeErrors`, `writeConcernError`.
    pub error: Option<String>,
    /// Parse problems (`error.message`).
    pub notes: Vec<String>,
    /// Malformed parts were found (count an anomaly).
    pub malformed: bool,
}

impl Msg {
    pub(super) fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.fields.insert(k.to_owned(), v.into());
    }

    pub(super) fn bad(&mut self, note: &str) {
        self.malformed = true;
        if !self.notes.iter().any(|n| n == note) {
            self.notes.push(note.to_owned());
        }
    }
}

/// Render one value (an array stays an array) as JSON text, cut like [`render`].
pub fn render_val(v: &Val<'_>, opts: &Opts) -> String {
    let mut j = Json::new(opts.max_doc_length, HARD_DOC_LEN);
    j.value(v);
    j.finish(DOC_CUT)
}

/// Render `d` as JSON text, cut at `max_doc_length` with Packetbeat's marker.
pub fn render(d: &Doc<'_>, opts: &Opts) -> String {
    let mut j = Json::new(opts.max_doc_length, HARD_DOC_LEN);
    j.doc(d);
    j.finish(DOC_CUT)
}

/// Parse one whole message (`b` starts with the header). `cut`: `b` is only the beginning of
/// a longer message (parse what fits).
pub fn message(b: &[u8], h: &Header, cut: bool, request: bool, opts: &Opts) -> Msg {
    let mut m = Msg {
        size: u64::from(h.length),
        request_id: h.request_id,
        response_to: h.response_to,
        opcode: h.opcode,
        ..Msg::default()
    };
    let body = b
        .get(HEADER_LEN..usize::try_from(h.length).unwrap_or(usize::MAX).min(b.len()))
        .unwrap_or_default();
    if h.opcode == OP_COMPRESSED {
        compressed(body, cut, request, opts, &mut m);
    } else {
        if h.opcode == OP_MSG && !cut {
            verify_checksum(b, h, &mut m);
        }
        op_body(h.opcode, body, cut, request, opts, &mut m);
    }
    m.fields
        .insert("opcodeName".into(), opcode_name(m.opcode).into());
    m
}

/// Dispatch on the (original) opcode.
fn op_body(op: i32, body: &[u8], cut: bool, request: bool, opts: &Opts, m: &mut Msg) {
    m.opcode = op;
    match op {
        OP_MSG => op_msg(body, cut, request, opts, m),
        OP_REPLY => op_reply(body, cut, opts, m),
        OP_QUERY => op_query(body, cut, opts, m),
        OP_GET_MORE => op_get_more(body, m),
        OP_INSERT => op_insert(body, cut, m),
        OP_UPDATE => op_update(body, cut, opts, m),
        OP_DELETE => op_delete(body, cut, opts, m),
        OP_KILL_CURSORS => op_kill_cursors(body, m),
        OP_MSG_LEGACY => {
            m.method = Some("msg".into());
            if let Some((s, _)) = cstr(body, 0) {
                m.set("message", String::from_utf8_lossy(s).into_owned());
            }
        }
        _ => {
            m.method = Some(opcode_name(op).to_ascii_lowercase());
            m.expects_reply = op == OP_COMMAND;
        }
    }
}

/// CRC-32C (Castagnoli), bitwise: only run on whole OP_MSG messages that carry the flag.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

/// Largest message whose checksum is verified: the bitwise CRC costs ~8 operations per bit,
/// acceptable for commands, wasteful for 48 MB bulk inserts.
const MAX_CHECKSUM_VERIFY: usize = 1024 * 1024;

/// OP_MSG flag: a CRC-32C checksum ends the message.
const FLAG_CHECKSUM: u32 = 1;

fn verify_checksum(b: &[u8], h: &Header, m: &mut Msg) {
    let Some(flags) = le_i32(b, HEADER_LEN) else {
        return;
    };
    #[allow(clippy::cast_sign_loss, reason = "flag bits")]
    let flags = flags as u32;
    let len = usize::try_from(h.length).unwrap_or(0);
    if flags & FLAG_CHECKSUM == 0 || !(HEADER_LEN + 8..=MAX_CHECKSUM_VERIFY).contains(&len) {
        return;
    }
    let (Some(data), Some(sum)) = (b.get(..len - 4), b.get(len - 4..len)) else {
        return;
    };
    let want = u32::from_le_bytes(sum.try_into().unwrap_or([0; 4]));
    if crc32c(data) != want {
        m.bad("OP_MSG checksum mismatch");
    }
}

fn compressed(body: &[u8], cut: bool, request: bool, opts: &Opts, m: &mut Msg) {
    let (Some(orig), Some(size), Some(&cid)) = (le_i32(body, 0), le_i32(body, 4), body.get(8))
    else {
        m.bad("Truncated OP_COMPRESSED header");
        return;
    };
    m.opcode = orig;
    let data = body.get(9..).unwrap_or_default();
    let name = match cid {
        0 => "noop",
        1 => "snappy",
        2 => "zlib",
        3 => "zstd",
        _ => "unknown",
    };
    m.compressor = Some(name);
    m.set("compressor", name);
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let header_only = |m: &mut Msg| {
        // Publish what the header tells: the operation, no command details.
        m.method = Some(legacy_method(orig).into());
        m.expects_reply = matches!(orig, OP_QUERY | OP_GET_MORE | OP_MSG);
    };
    if cut || size > MAX_INFLATE || !known_opcode(orig) || orig == OP_COMPRESSED {
        if !cut {
            m.bad("OP_COMPRESSED message not decoded");
        }
        header_only(m);
        return;
    }
    let inflated: Option<Vec<u8>> = match cid {
        0 => Some(data.to_vec()),
        1 => snap::raw::Decoder::new().decompress_vec(data).ok(),
        2 => {
            let mut out = Vec::with_capacity(size);
            let limit = u64::try_from(size).unwrap_or(0).saturating_add(1);
            flate2::read::ZlibDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
                .ok()
                .map(|_| out)
        }
        _ => None,
    };
    match inflated {
        Some(d) if d.len() == size => op_body(orig, &d, false, request, opts, m),
        Some(_) | None => {
            m.bad(if cid == 3 {
                "zstd-compressed message not decoded"
            } else {
                "OP_COMPRESSED message could not be decompressed"
            });
            header_only(m);
        }
    }
}

/// Packetbeat's `method` of a legacy operation.
fn legacy_method(op: i32) -> &'static str {
    match op {
        OP_UPDATE => "update",
        OP_INSERT => "insert",
        OP_QUERY => "find",
        OP_GET_MORE => "getMore",
        OP_DELETE => "delete",
        OP_KILL_CURSORS => "killCursors",
        OP_REPLY => "reply",
        _ => "msg",
    }
}
