//! The legacy opcodes: OP_REPLY, OP_QUERY (incl. `$cmd` commands), OP_GET_MORE, OP_INSERT,
//! OP_UPDATE, OP_DELETE, OP_KILL_CURSORS (Packetbeat's fields for each).

use super::bson::{cstr, Doc};
use super::command::{command, push_doc, reply_error};
use super::parse::{le_i32, render, Msg, Opts};

/// Most documents of an OP_REPLY or OP_INSERT walked: far more than a 48 MB message holds.
const MAX_DOCS_WALKED: usize = 100_000;

/// OP_REPLY flag: the query failed (`$err` document).
const REPLY_QUERY_FAILURE: i32 = 1 << 1;
/// OP_REPLY flag: the cursor id was not found.
const REPLY_CURSOR_NOT_FOUND: i32 = 1;

fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(i64::from_le_bytes(s.try_into().ok()?))
}

/// Parse the body of OP_REPLY.
pub(super) fn op_reply(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
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
    for _ in 0..usize::try_from(n).unwrap_or(0).min(MAX_DOCS_WALKED) {
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

/// Parse the body of OP_QUERY.
pub(super) fn op_query(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
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

/// Parse the body of OP_GET_MORE.
pub(super) fn op_get_more(body: &[u8], m: &mut Msg) {
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

/// Parse the body of OP_INSERT.
pub(super) fn op_insert(body: &[u8], cut: bool, m: &mut Msg) {
    m.method = Some("insert".into());
    let Some((full, mut at)) = coll_name(body, 4, m) else {
        m.bad("Truncated OP_INSERT");
        return;
    };
    m.resource = Some(full);
    let mut n = 0usize;
    while at < body.len() && n < MAX_DOCS_WALKED {
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

/// Parse the body of OP_UPDATE.
pub(super) fn op_update(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
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

/// Parse the body of OP_DELETE.
pub(super) fn op_delete(body: &[u8], cut: bool, opts: &Opts, m: &mut Msg) {
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

/// Parse the body of OP_KILL_CURSORS.
pub(super) fn op_kill_cursors(body: &[u8], m: &mut Msg) {
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
