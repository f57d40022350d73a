//! MongoDB wire protocol: the 16-byte header and every opcode's body (OP_MSG with its flag
//! bits, checksum and sections; the legacy OP_QUERY/OP_REPLY/OP_INSERT/OP_UPDATE/OP_DELETE/
//! OP_GET_MORE/OP_KILL_CURSORS; OP_COMPRESSED with snappy and zlib), turned into a [`Msg`]
//! summary with Packetbeat's `mongodb.*` fields.

use std::io::Read;

use serde_json::{Map, Value};

use super::bson::{cstr, Doc, Json, Val};

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

/// Most documents whose batch is counted in a document sequence: sequences of more are counted
/// only up to here (a 48 MB message holds far fewer real documents).
const MAX_SEQ_DOCS: usize = 100_000;

/// Truncation marker of a document cut at `max_doc_length` (Packetbeat's).
pub const DOC_CUT: &str = " ...";

/// Marker appended after `max_docs` documents (Packetbeat's).
pub const DOCS_CUT: &str = "[...]";

/// Session-noise keys left out of the legacy `query` text.
const NOISE_KEYS: &[&str] = &[
    "$db",
    "lsid",
    "$clusterTime",
    "$readPreference",
    "txnNumber",
];

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

/// OP_MSG flag: a CRC-32C checksum ends the message.
const FLAG_CHECKSUM: u32 = 1;
/// OP_MSG flag: another message follows without waiting for a reply.
const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// OP_MSG flag bits 0-15 are "required": unknown ones must make a parser fail.
const REQUIRED_BITS_KNOWN: u32 = FLAG_CHECKSUM | FLAG_MORE_TO_COME;
/// OP_REPLY flag: the query failed (`$err` document).
const REPLY_QUERY_FAILURE: i32 = 1 << 1;
/// OP_REPLY flag: the cursor id was not found.
const REPLY_CURSOR_NOT_FOUND: i32 = 1;

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

fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(s.try_into().ok()?))
}

fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(i64::from_le_bytes(s.try_into().ok()?))
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
    fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.fields.insert(k.to_owned(), v.into());
    }

    fn bad(&mut self, note: &str) {
        self.malformed = true;
        if !self.notes.iter().any(|n| n == note) {
            self.notes.push(note.to_owned());
        }
    }
}

/// Render `d` as JSON text, cut at `max_doc_length` with Packetbeat's marker.
pub fn render(d: &Doc<'_>, opts: &Opts) -> String {
    let mut j = Json::new(opts.max_doc_length, HARD_DOC_LEN);
    j.doc(d);
    j.finish(DOC_CUT)
}

/// Render `d` without the keys in `skip` (and without its first key when `skip_first`).
fn render_without(d: &Doc<'_>, skip_first: bool, skip: &[&str], opts: &Opts) -> String {
    let mut j = Json::new(opts.max_doc_length, HARD_DOC_LEN);
    let mut text = String::from("{");
    let mut n = 0usize;
    for (i, (k, v)) in d.iter().enumerate() {
        if (i == 0 && skip_first) || skip.iter().any(|s| s.as_bytes() == k) {
            continue;
        }
        j.out.clear();
        j.string(k);
        j.out.push(':');
        j.value(&v);
        if n > 0 {
            text.push(',');
        }
        text.push_str(&j.out);
        n += 1;
        if text.len() > HARD_DOC_LEN {
            break;
        }
    }
    text.push('}');
    let limit = if opts.max_doc_length == 0 {
        HARD_DOC_LEN
    } else {
        opts.max_doc_length.min(HARD_DOC_LEN)
    };
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(DOC_CUT);
    }
    text
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

/// One OP_MSG section of kind 1.
struct Seq<'a> {
    id: &'a [u8],
    docs: &'a [u8],
}

fn op_msg(body: &[u8], cut: bool, request: bool, opts: &Opts, m: &mut Msg) {
    let Some(flags) = le_i32(body, 0) else {
        m.bad("Truncated OP_MSG");
        return;
    };
    #[allow(clippy::cast_sign_loss, reason = "flag bits")]
    let flags = flags as u32;
    m.more_to_come = flags & FLAG_MORE_TO_COME != 0;
    m.expects_reply = request && !m.more_to_come;
    if flags & 0xFFFF & !REQUIRED_BITS_KNOWN != 0 {
        m.bad("OP_MSG with unknown required flag bits");
    }
    let end = if flags & FLAG_CHECKSUM != 0 && !cut {
        body.len().saturating_sub(4)
    } else {
        body.len()
    };
    let sections = body.get(4..end).unwrap_or_default();
    let mut main: Option<Doc<'_>> = None;
    let mut seqs: Vec<Seq<'_>> = Vec::new();
    let mut at = 0usize;
    while at < sections.len() {
        let rest = sections.get(at..).unwrap_or_default();
        match rest.split_first() {
            Some((0, r)) => {
                let parsed = if cut { Doc::lenient(r) } else { Doc::parse(r) };
                let Some((d, n)) = parsed else {
                    m.bad("Malformed OP_MSG body section");
                    break;
                };
                if main.is_some() {
                    m.bad("OP_MSG with more than one body section");
                } else {
                    main = Some(d);
                }
                at += 1 + n;
            }
            Some((1, r)) => {
                let size = le_i32(r, 0).and_then(|s| usize::try_from(s).ok());
                let Some(size) = size.filter(|&s| s >= 5) else {
                    m.bad("Malformed OP_MSG document sequence");
                    break;
                };
                let avail = r.get(..size.min(r.len())).unwrap_or_default();
                if avail.len() < size && !cut {
                    m.bad("Malformed OP_MSG document sequence");
                    break;
                }
                let Some((id, p)) = cstr(avail, 4) else {
                    if !cut {
                        m.bad("Malformed OP_MSG document sequence");
                    }
                    break;
                };
                seqs.push(Seq {
                    id,
                    docs: avail.get(p..).unwrap_or_default(),
                });
                at += 1 + size;
            }
            _ => {
                m.bad("Unknown OP_MSG section kind");
                break;
            }
        }
    }
    let Some(doc) = main else {
        if !cut {
            m.bad("OP_MSG without body section");
        }
        m.method = Some("msg".into());
        return;
    };
    if request {
        command(&doc, &seqs, opts, m);
    } else {
        reply_doc(&doc, &seqs, opts, m);
    }
}

/// Count (and, when kept, render) the documents of a sequence.
fn seq_docs(s: &Seq<'_>, opts: &Opts, keep: bool, out: &mut Vec<String>) -> usize {
    let mut n = 0usize;
    let mut at = 0usize;
    while let Some((d, len)) = s.docs.get(at..).and_then(Doc::parse) {
        if keep {
            push_doc(out, &d, opts);
        }
        n += 1;
        at += len;
        if n >= MAX_SEQ_DOCS {
            break;
        }
    }
    n
}

/// Add a rendered document to a list bounded by `max_docs` (marker after the last one).
fn push_doc(out: &mut Vec<String>, d: &Doc<'_>, opts: &Opts) {
    let max = if opts.max_docs == 0 {
        HARD_MAX_DOCS
    } else {
        opts.max_docs.min(HARD_MAX_DOCS)
    };
    if out.len() < max {
        out.push(render(d, opts));
    } else if out.len() == max {
        out.push(DOCS_CUT.into());
    }
}

fn str_of(v: Option<Val<'_>>) -> Option<String> {
    v.and_then(|v| v.as_str()).map(|s| s.into_owned())
}

/// The command document of an OP_MSG (or OP_QUERY `$cmd`) request.
fn command(doc: &Doc<'_>, seqs: &[Seq<'_>], opts: &Opts, m: &mut Msg) {
    let Some((key, val)) = doc.first() else {
        m.method = Some("msg".into());
        return;
    };
    let name = String::from_utf8_lossy(key).into_owned();
    let db = str_of(doc.get("$db"));
    let mut coll = val.as_str().map(|s| s.into_owned());
    if name.eq_ignore_ascii_case("getMore") {
        coll = str_of(doc.get("collection"));
        if let Some(id) = val.as_i64() {
            m.set("cursorId", id);
        }
        if let Some(n) = doc.get("batchSize").and_then(|v| v.as_i64()) {
            m.set("numberToReturn", n);
        }
    }
    command_fields(&name, doc, opts, m);
    if let Some(s) = seqs.first() {
        m.set("message", String::from_utf8_lossy(s.id).into_owned());
    }
    let resource = match (&db, &coll) {
        (Some(d), Some(c)) => Some(format!("{d}.{c}")),
        (Some(d), None) => Some(d.clone()),
        (None, Some(c)) => Some(c.clone()),
        (None, None) => None,
    };
    if let (Some(_), Some(r)) = (&coll, &resource) {
        m.set("fullCollectionName", r.clone());
    }
    m.resource = resource;
    let bulk: &[&str] = match name.to_ascii_lowercase().as_str() {
        "insert" => &["documents"],
        "update" => &["updates"],
        "delete" => &["deletes"],
        "findandmodify" => &["update"],
        _ => &[],
    };
    let mut skip: Vec<&str> = NOISE_KEYS.to_vec();
    skip.extend_from_slice(bulk);
    m.params = Some(render_without(doc, true, &skip, opts));
    if opts.keep_full {
        m.params_full = Some(render_without(doc, true, &[], opts));
    }
    m.method = Some(name);
}

/// `mongodb.query/selector/update/...` from the arguments of well-known commands.
fn command_fields(name: &str, doc: &Doc<'_>, opts: &Opts, m: &mut Msg) {
    let render_key = |k: &str, m: &mut Msg, field: &str| {
        if let Some(d) = doc.get(k).and_then(|v| v.as_doc()) {
            m.set(field, render(&d, opts));
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "find" => {
            render_key("filter", m, "query");
            render_key("projection", m, "returnFieldsSelector");
            if let Some(n) = doc.get("skip").and_then(|v| v.as_i64()) {
                m.set("numberToSkip", n);
                m.skip = n;
            }
            if let Some(n) = doc.get("limit").and_then(|v| v.as_i64()) {
                m.set("numberToReturn", n);
                m.limit = n;
            }
        }
        "count" | "distinct" => render_key("query", m, "query"),
        "aggregate" => render_key("pipeline", m, "query"),
        "findandmodify" => {
            render_key("query", m, "query");
            render_key("update", m, "update");
        }
        "update" | "delete" => {
            let list = if name.eq_ignore_ascii_case("update") {
                "updates"
            } else {
                "deletes"
            };
            if let Some(first) = doc
                .get(list)
                .and_then(|v| v.as_doc())
                .and_then(|a| a.first())
                .and_then(|(_, v)| v.as_doc())
            {
                if let Some(q) = first.get("q").and_then(|v| v.as_doc()) {
                    m.set("selector", render(&q, opts));
                }
                if let Some(u) = first.get("u").and_then(|v| v.as_doc()) {
                    m.set("update", render(&u, opts));
                }
            }
        }
        _ => {}
    }
}

/// Error text of a command reply: `ok` ≠ 1, `writeErrors`, `writeConcernError`, `$err`.
fn reply_error(doc: &Doc<'_>) -> Option<String> {
    if let Some(e) = str_of(doc.get("$err")) {
        return Some(e);
    }
    let mut errs: Vec<String> = Vec::new();
    if let Some(list) = doc.get("writeErrors").and_then(|v| v.as_doc()) {
        for (_, e) in list.iter() {
            if let Some(e) = e.as_doc() {
                errs.push(str_of(e.get("errmsg")).unwrap_or_else(|| "write error".into()));
            }
        }
    }
    if let Some(wce) = doc.get("writeConcernError").and_then(|v| v.as_doc()) {
        errs.push(str_of(wce.get("errmsg")).unwrap_or_else(|| "write concern error".into()));
    }
    if let Some(ok) = doc.get("ok").and_then(|v| v.as_f64()) {
        if ok != 1.0 {
            let msg = str_of(doc.get("errmsg")).unwrap_or_else(|| "command failed".into());
            errs.insert(0, msg);
        }
    }
    if errs.is_empty() {
        None
    } else {
        Some(errs.join("; "))
    }
}

/// The body of a command reply (OP_MSG reply, or the first OP_REPLY document of a command).
fn reply_doc(doc: &Doc<'_>, seqs: &[Seq<'_>], opts: &Opts, m: &mut Msg) {
    m.error = reply_error(doc);
    let cursor = doc.get("cursor").and_then(|v| v.as_doc());
    let mut returned = 1usize;
    if let Some(c) = cursor {
        if let Some(id) = c.get("id").and_then(|v| v.as_i64()) {
            m.set("cursorId", id);
        }
        let batch = c
            .get("firstBatch")
            .or_else(|| c.get("nextBatch"))
            .and_then(|v| v.as_doc());
        if let Some(b) = batch {
            returned = 0;
            for (_, d) in b.iter() {
                returned += 1;
                if opts.keep_docs {
                    if let Some(d) = d.as_doc() {
                        push_doc(&mut m.docs, &d, opts);
                    }
                }
            }
        }
    } else if opts.keep_docs {
        push_doc(&mut m.docs, doc, opts);
    }
    for s in seqs {
        returned += seq_docs(s, opts, opts.keep_docs, &mut m.docs);
    }
    m.set("numberReturned", returned);
}

fn op_reply(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
    let (Some(flags), Some(cursor), Some(from), Some(n)) = (
        le_i32(body, 0),
        le_i64(body, 4),
        le_i32(body, 12),
        le_i32(body, 16),
    ) else {
        m.bad("Truncated OP_REPLY");
        return;
    };
    m.set("cursorId", cursor);
    m.set("startingFrom", from);
    m.set("numberReturned", n);
    let mut at = 20usize;
    let mut first = true;
    for _ in 0..usize::try_from(n).unwrap_or(0).min(MAX_SEQ_DOCS) {
        let rest = body.get(at..).unwrap_or_default();
        let parsed = if cut {
            Doc::lenient(rest)
        } else {
            Doc::parse(rest)
        };
        let Some((d, len)) = parsed else {
            if !cut {
                m.bad("Malformed OP_REPLY document");
            }
            break;
        };
        if first {
            m.error = reply_error(&d);
            first = false;
        }
        if opts.keep_docs {
            push_doc(&mut m.docs, &d, opts);
        }
        at += len;
    }
    if flags & REPLY_QUERY_FAILURE != 0 && m.error.is_none() {
        m.error = Some("query failure".into());
    }
    if flags & REPLY_CURSOR_NOT_FOUND != 0 && m.error.is_none() {
        m.error = Some("cursor not found".into());
    }
}

/// The collection name (cstring) at `at`: full name and offset after it.
fn coll_name(body: &[u8], at: usize, m: &mut Msg) -> Option<(String, usize)> {
    let (s, p) = cstr(body, at)?;
    let name = String::from_utf8_lossy(s).into_owned();
    m.set("fullCollectionName", name.clone());
    Some((name, p))
}

fn op_query(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
    m.expects_reply = true;
    let Some((full, p)) = coll_name(body, 4, m) else {
        m.method = Some("find".into());
        m.bad("Truncated OP_QUERY");
        return;
    };
    let (Some(skip), Some(ret)) = (le_i32(body, p), le_i32(body, p + 4)) else {
        m.method = Some("find".into());
        m.resource = Some(full);
        m.bad("Truncated OP_QUERY");
        return;
    };
    m.set("numberToSkip", skip);
    m.set("numberToReturn", ret);
    m.skip = i64::from(skip);
    m.limit = i64::from(ret);
    let rest = body.get(p + 8..).unwrap_or_default();
    let parsed = if cut {
        Doc::lenient(rest)
    } else {
        Doc::parse(rest)
    };
    let Some((q, n)) = parsed else {
        m.method = Some("find".into());
        m.resource = Some(full);
        m.bad("Malformed OP_QUERY document");
        return;
    };
    if let Some((sel, _)) = rest.get(n..).and_then(Doc::parse) {
        m.set("returnFieldsSelector", render(&sel, opts));
    }
    if let Some(db) = full.strip_suffix(".$cmd") {
        // A command: possibly wrapped as {$query: {...}, $readPreference: ...}.
        let inner = q
            .get("$query")
            .or_else(|| q.get("query"))
            .and_then(|v| v.as_doc())
            .filter(|_| {
                q.first()
                    .is_some_and(|(k, _)| k == b"$query" || k == b"query")
            })
            .unwrap_or(q);
        command(&inner, &[], opts, m);
        m.fields
            .insert("fullCollectionName".into(), full.clone().into());
        let coll = inner.first().and_then(|(_, v)| v.as_str());
        m.resource = Some(match coll {
            Some(c) if !c.is_empty() => format!("{db}.{c}"),
            _ => db.to_owned(),
        });
        m.set("query", render(&inner, opts));
    } else {
        m.method = Some("find".into());
        m.resource = Some(full);
        let text = render(&q, opts);
        m.set("query", text.clone());
        m.params = Some(text.clone());
        if opts.keep_full {
            m.params_full = Some(text);
        }
    }
}

fn op_get_more(body: &[u8], m: &mut Msg) {
    m.method = Some("getMore".into());
    m.expects_reply = true;
    let Some((full, p)) = coll_name(body, 4, m) else {
        m.bad("Truncated OP_GET_MORE");
        return;
    };
    m.resource = Some(full);
    if let (Some(n), Some(c)) = (le_i32(body, p), le_i64(body, p + 4)) {
        m.set("numberToReturn", n);
        m.set("cursorId", c);
    } else {
        m.bad("Truncated OP_GET_MORE");
    }
}

fn op_insert(body: &[u8], cut: bool, m: &mut Msg) {
    m.method = Some("insert".into());
    let Some((full, mut at)) = coll_name(body, 4, m) else {
        m.bad("Truncated OP_INSERT");
        return;
    };
    m.resource = Some(full);
    let mut n = 0usize;
    while at < body.len() && n < MAX_SEQ_DOCS {
        let Some((_, len)) = body.get(at..).and_then(Doc::parse) else {
            if !cut {
                m.bad("Malformed OP_INSERT document");
            }
            break;
        };
        n += 1;
        at += len;
    }
    if n == 0 && !cut {
        m.bad("OP_INSERT without documents");
    }
}

fn op_update(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
    m.method = Some("update".into());
    let Some((full, p)) = coll_name(body, 4, m) else {
        m.bad("Truncated OP_UPDATE");
        return;
    };
    m.resource = Some(full);
    let rest = body.get(p + 4..).unwrap_or_default();
    let Some((sel, n)) = Doc::parse(rest) else {
        if !cut {
            m.bad("Malformed OP_UPDATE document");
        }
        return;
    };
    m.set("selector", render(&sel, opts));
    match rest.get(n..).and_then(Doc::parse) {
        Some((u, _)) => m.set("update", render(&u, opts)),
        None if !cut => m.bad("Malformed OP_UPDATE document"),
        None => {}
    }
}

fn op_delete(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
    m.method = Some("delete".into());
    let Some((full, p)) = coll_name(body, 4, m) else {
        m.bad("Truncated OP_DELETE");
        return;
    };
    m.resource = Some(full);
    match body.get(p + 4..).and_then(Doc::parse) {
        Some((sel, _)) => m.set("selector", render(&sel, opts)),
        None if !cut => m.bad("Malformed OP_DELETE document"),
        None => {}
    }
}

fn op_kill_cursors(body: &[u8], m: &mut Msg) {
    m.method = Some("killCursors".into());
    let Some(n) = le_i32(body, 4) else {
        m.bad("Truncated OP_KILL_CURSORS");
        return;
    };
    if n > 0 {
        if let Some(c) = le_i64(body, 8) {
            m.set("cursorId", c);
        }
    }
}
