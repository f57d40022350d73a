//! Turning a request unit and its response into a [`Txn`] with Packetbeat's PostgreSQL
//! fields: `pgsql.{num_rows, num_fields, error_code, error_message, error_severity}` and the
//! legacy `method` / `query`.

use serde_json::{Map, Value};

use super::parse;
use super::state::{Kept, Kind, Resp, Unit};
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};

/// Note on a unit published because no response came in time.
pub const NOTE_TIMED_OUT: &str = "Response timed out";
/// Note on a unit still unanswered when the connection ended.
pub const NOTE_UNMATCHED: &str = "Unmatched request";
/// Note on a response cut short by capture loss.
pub const NOTE_LOSS_RESPONSE: &str = "Packet loss while capturing the response";
/// Note on a response still incomplete when the connection ended.
pub const NOTE_INCOMPLETE: &str = "Response incomplete";
/// Note on a Bind of a statement prepared before the capture began.
pub const NOTE_UNKNOWN_STMT: &str = "The actual query being used is unknown";
/// Note on a statement whose text was longer than what is kept.
pub const NOTE_TRUNCATED: &str = "Query truncated";

/// Method of startup events (as the corpus oracle names them).
pub const METHOD_STARTUP: &str = "STARTUP";
/// Method of a unit that only closes statements or portals.
pub const METHOD_CLOSE: &str = "CLOSE";
/// Method of a FunctionCall.
pub const METHOD_FUNCTION: &str = "FUNCTION_CALL";

/// Build the event of a unit (the response may be missing).
pub fn build(cx: &Cx<'_>, u: Unit, resp: Option<Resp>, note: Option<&str>) -> Txn {
    let mut t = cx.txn(super::NAME);
    let mut pg = Map::new();
    t.request_ts = Some(u.ts);
    t.request_bytes = Some(u.bytes);
    match u.kind {
        Kind::Startup => {
            t.method = Some(METHOD_STARTUP.to_owned());
            if let Some(s) = &u.startup {
                t.query = s.database.clone();
                if let Some(user) = &s.user {
                    let mut o = Map::new();
                    o.insert("name".into(), user.clone().into());
                    t.fields.insert("user".into(), Value::Object(o));
                }
                if let Some(d) = &s.database {
                    pg.insert("database".into(), d.clone().into());
                }
                if let Some(a) = &s.application_name {
                    pg.insert("application_name".into(), a.clone().into());
                }
            }
        }
        Kind::Function => t.method = Some(METHOD_FUNCTION.to_owned()),
        Kind::Simple | Kind::Extended => {
            if let Some(q) = &u.query {
                let q = parse::normalize_ws(q);
                t.method = Some(parse::sql_verb(&q)).filter(|v| !v.is_empty());
                if cx.common.send_request {
                    t.request_raw = Some(q.clone());
                }
                t.query = Some(q);
            } else if u.close_only {
                t.method = Some(METHOD_CLOSE.to_owned());
            }
        }
    }
    if let Some(s) = &u.statement {
        if !s.is_empty() {
            pg.insert("statement".into(), s.clone().into());
        }
    }
    t.notes = u.notes;
    match resp {
        Some(r) => {
            t.response_ts = Some(r.ts);
            t.response_bytes = Some(r.bytes);
            if let Some(n) = r.num_fields {
                pg.insert("num_fields".into(), n.into());
            }
            match &r.error {
                Some(e) => {
                    t.status = Status::Error;
                    pg.insert("error_code".into(), e.code.clone().into());
                    pg.insert("error_message".into(), e.message.clone().into());
                    pg.insert("error_severity".into(), e.severity.clone().into());
                }
                None => {
                    pg.insert("num_rows".into(), r.num_rows.into());
                }
            }
            if let Some(tag) = &r.tag {
                pg.insert("command_tag".into(), tag.clone().into());
            }
            if let Some(k) = &r.kept {
                t.response_raw = Some(csv(k));
            }
        }
        None => t.unmatched = Unmatched::Request,
    }
    if let Some(n) = note {
        t.notes.push(n.to_owned());
    }
    t.fields.insert("pgsql".into(), Value::Object(pg));
    t
}

/// Column names and kept rows as CSV lines (Packetbeat's `DumpInCSVFormat`).
fn csv(k: &Kept) -> String {
    let mut out = String::new();
    let mut line = |fields: &[String]| {
        let cells: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    if !k.columns.is_empty() {
        line(&k.columns);
    }
    for r in &k.rows {
        line(r);
    }
    out
}

fn quote(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}
