//! Turning a command and its response (or a login exchange) into a [`Txn`] with Packetbeat's
//! MySQL fields: `mysql.{affected_rows, insert_id, num_fields, num_rows, error_code,
//! error_message}` and the legacy `method`, `path`, `query`.

use serde_json::{Map, Value};

use super::parse::{self, cmd, ErrPacket, Login};
use super::state::{Kept, Request, Response};
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};
use crate::time::Ts;

/// Note on a request published because no response came in time.
pub const NOTE_TIMED_OUT: &str = "Response timed out";
/// Note on a request still unanswered when the connection ended.
pub const NOTE_UNMATCHED: &str = "Unmatched request";
/// Note on a response cut short by capture loss.
pub const NOTE_LOSS_RESPONSE: &str = "Packet loss while capturing the response";
/// Note on a COM_STMT_* command whose statement was prepared before the capture began.
pub const NOTE_UNKNOWN_STMT: &str = "The actual query being used is unknown";
/// Note on a command whose text was longer than what is kept.
pub const NOTE_TRUNCATED: &str = "Query truncated";
/// Note on a login published when the connection switched to TLS.
pub const NOTE_TLS: &str = "Connection upgraded to TLS";
/// Note on a login after which the connection uses the compressed protocol (not parsed).
pub const NOTE_COMPRESSED: &str = "Compressed protocol: commands are not parsed";
/// Note on a response still incomplete when the connection ended.
pub const NOTE_INCOMPLETE: &str = "Response incomplete";

/// Method of login events (as the corpus oracle names the handshake).
pub const METHOD_CONNECT: &str = "CONNECT";

/// Build the event of a command (the response may be missing).
pub fn build(
    cx: &Cx<'_>,
    req: Request,
    resp: Option<Response>,
    note: Option<&str>,
    expects_response: bool,
) -> Txn {
    let mut t = cx.txn(super::NAME);
    let mut my = Map::new();
    t.request_ts = Some(req.ts);
    t.request_bytes = Some(req.bytes);
    let sql = matches!(req.cmd, cmd::QUERY | cmd::STMT_PREPARE | cmd::STMT_EXECUTE);
    let verb = req.query.as_deref().filter(|_| sql).map(parse::sql_verb);
    t.method = Some(match verb {
        Some(v) if !v.is_empty() => v,
        _ => parse::command_name(req.cmd).to_owned(),
    });
    if let Some(q) = &req.query {
        let q = q.trim();
        t.query = Some(q.to_owned());
        if cx.common.send_request {
            t.request_raw = Some(q.to_owned());
        }
    }
    if let Some(id) = req.stmt_id {
        my.insert("statement_id".into(), id.into());
    }
    t.notes = req.notes;
    match resp {
        Some(r) => {
            t.response_ts = Some(r.ts);
            t.response_bytes = Some(r.bytes);
            my.insert("num_fields".into(), r.num_fields.into());
            my.insert("num_rows".into(), r.num_rows.into());
            let ok = r.ok.unwrap_or_default();
            my.insert("affected_rows".into(), ok.affected_rows.into());
            my.insert("insert_id".into(), ok.insert_id.into());
            if let Some((id, _, params)) = r.prepared {
                my.insert("statement_id".into(), id.into());
                my.insert("num_params".into(), params.into());
            }
            if let Some(e) = &r.err {
                t.status = Status::Error;
                error_fields(&mut my, e);
            }
            if !r.tables.is_empty() {
                t.path = Some(r.tables);
            }
            if let Some(k) = &r.kept {
                t.response_raw = Some(csv(k));
            }
            t.notes.extend(r.notes);
        }
        None if expects_response => {
            t.unmatched = Unmatched::Request;
        }
        None => {}
    }
    if let Some(n) = note {
        t.notes.push(n.to_owned());
    }
    t.fields.insert("mysql".into(), Value::Object(my));
    t
}

fn error_fields(my: &mut Map<String, Value>, e: &ErrPacket) {
    my.insert("error_code".into(), e.code.into());
    my.insert("error_message".into(), e.message.clone().into());
    if !e.sqlstate.is_empty() {
        my.insert("error_sqlstate".into(), e.sqlstate.clone().into());
    }
}

/// A login exchange: greeting, HandshakeResponse, auth switches, final OK/ERR.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connect {
    /// The login packet.
    pub login: Option<Login>,
    /// First client packet.
    pub req_ts: Option<Ts>,
    /// Client packets of the exchange.
    pub req_bytes: u64,
    /// First server packet after the login (else the greeting).
    pub resp_ts: Option<Ts>,
    /// Server packets of the exchange, greeting included.
    pub resp_bytes: u64,
    /// Server version from the greeting.
    pub version: Option<String>,
    /// The server refused the login.
    pub err: Option<ErrPacket>,
    /// The final OK was seen.
    pub ok: bool,
}

/// Build the event of a login exchange (`method` CONNECT, `query` the user, `path` the
/// database).
pub fn build_connect(cx: &Cx<'_>, c: Connect, note: Option<&str>) -> Txn {
    let mut t = cx.txn(super::NAME);
    let mut my = Map::new();
    t.method = Some(METHOD_CONNECT.to_owned());
    t.request_ts = c.req_ts;
    t.request_bytes = c.req_ts.map(|_| c.req_bytes);
    t.response_ts = c.resp_ts;
    t.response_bytes = c.resp_ts.map(|_| c.resp_bytes);
    if let Some(l) = &c.login {
        if !l.user.is_empty() {
            t.query = Some(l.user.clone());
            let mut u = Map::new();
            u.insert("name".into(), l.user.clone().into());
            t.fields.insert("user".into(), Value::Object(u));
        }
        t.path = l.database.clone();
        if let Some(p) = &l.auth_plugin {
            my.insert("auth_plugin".into(), p.clone().into());
        }
    }
    if let Some(v) = c.version {
        my.insert("server_version".into(), v.into());
    }
    if let Some(e) = &c.err {
        t.status = Status::Error;
        error_fields(&mut my, e);
    }
    if c.req_ts.is_none() {
        t.unmatched = Unmatched::Response;
    } else if c.resp_ts.is_none() {
        t.unmatched = Unmatched::Request;
    }
    if let Some(n) = note {
        t.notes.push(n.to_owned());
    }
    t.fields.insert("mysql".into(), Value::Object(my));
    t
}

/// Column names and kept rows as CSV lines (Packetbeat's `DumpInCSVFormat`).
fn csv(k: &Kept) -> String {
    let mut out = String::new();
    let line = |out: &mut String, fields: &[String]| {
        let cells: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    if !k.columns.is_empty() {
        line(&mut out, &k.columns);
    }
    for r in &k.rows {
        line(&mut out, r);
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
