//! OP_MSG: flag bits, body and document-sequence sections; the command of a request
//! (`method`, `resource`, `mongodb.query/selector/update/...`) and the fields of a reply
//! (`numberReturned`, `cursorId`, errors from `ok`, `writeErrors`, `writeConcernError`).

use super::bson::{cstr, Doc, Json, Val};
use super::parse::{
    le_i32, render, render_val, Msg, Opts, DOCS_CUT, DOC_CUT, HARD_DOC_LEN, HARD_MAX_DOCS,
};

/// Most documents whose batch is counted in a document sequence: sequences of more are counted
/// only up to here (a 48 MB message holds far fewer real documents).
const MAX_SEQ_DOCS: usize = 100_000;

/// Session-noise keys left out of the legacy `query` text.
const NOISE_KEYS: &[&str] = &[
    "$db",
    "lsid",
    "$clusterTime",
    "$readPreference",
    "txnNumber",
];

/// OP_MSG flag: a CRC-32C checksum ends the message.
const FLAG_CHECKSUM: u32 = 1;
/// OP_MSG flag: another message follows without waiting for a reply.
const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// OP_MSG flag bits 0-15 are "required": unknown ones must make a parser fail.
const REQUIRED_BITS_KNOWN: u32 = FLAG_CHECKSUM | FLAG_MORE_TO_COME;

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

/// One OP_MSG section of kind 1.
pub(super) struct Seq<'a> {
    id: &'a [u8],
    docs: &'a [u8],
}

/// Parse an OP_MSG body (after the header).
pub(super) fn op_msg(body: &[u8], cut: bool, request: bool, opts: &Opts, m: &mut Msg) {
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
pub(super) fn push_doc(out: &mut Vec<String>, d: &Doc<'_>, opts: &Opts) {
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

pub(super) fn str_of(v: Option<Val<'_>>) -> Option<String> {
    v.and_then(|v| v.as_str()).map(|s| s.into_owned())
}

/// The command document of an OP_MSG (or OP_QUERY `$cmd`) request.
pub(super) fn command(doc: &Doc<'_>, seqs: &[Seq<'_>], opts: &Opts, m: &mut Msg) {
    let Some((key, val)) = doc.first() else {
        m.method = Some("msg".into());
        return;
    };
    let name = String::from_utf8_lossy(key).into_owned();
    let db = str_of(doc.get("$db"));
    let mut coll = val.as_str().map(|s| s.into_owned());
    if let (None, Val::Doc(inner)) = (&coll, val) {
        // `explain` wraps a command: its collection names the resource.
        coll = inner
            .first()
            .and_then(|(_, v)| v.as_str())
            .map(|s| s.into_owned());
    }
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
        if let Some(v) = doc.get(k).filter(|v| v.as_doc().is_some()) {
            m.set(field, render_val(&v, opts));
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
/// Error text of a command reply: `ok` ≠ 1, `writeErrors`, `writeConcernError`, `$err`.
pub(super) fn reply_error(doc: &Doc<'_>) -> Option<String> {
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
