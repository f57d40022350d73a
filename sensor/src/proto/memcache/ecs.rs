//! Turning a request/reply pair into a [`Txn`] with Packetbeat's memcache fields:
//! `memcache.protocol_type`, `memcache.request.*`, `memcache.response.*`.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::parse::{self, TextResult};
use super::state::Msg;
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};

/// Note on a reply without a request (Packetbeat `noteTransactionNoRequ`).
pub const NOTE_NO_REQUEST: &str = "Invalid transaction. Request missing";
/// Note on a non-quiet binary request skipped by a later reply (Packetbeat).
pub const NOTE_NON_QUIET_MISSING: &str = "Missing response for non-quiet request";
/// Note on a request still unanswered at expiry or close (Packetbeat `noteTransUnfinished`).
pub const NOTE_UNFINISHED: &str = "Unfinished transaction";
/// Note on a request with bytes lost to a gap (Packetbeat).
pub const NOTE_REQUEST_LOSS: &str = "Packet loss while capturing the request";
/// Note on a reply with bytes lost to a gap, or lost entirely (Packetbeat).
pub const NOTE_RESPONSE_LOSS: &str = "Packet loss while capturing the response";
/// Note on a UDP reply of which some datagrams never arrived.
pub const NOTE_UDP_INCOMPLETE: &str = "Incomplete response: datagrams missing";

fn b64(v: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(v))
}

fn put<T: Into<Value>>(o: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        o.insert(k.to_owned(), v.into());
    }
}

fn message_fields(m: &Msg) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("command".into(), m.command.clone().into());
    o.insert("type".into(), m.typ.into());
    if m.binary {
        o.insert(
            "opcode".into(),
            parse::opcode_name(m.opcode).unwrap_or("UNKNOWN").into(),
        );
        o.insert("opcode_value".into(), m.opcode.into());
        o.insert("opaque".into(), m.opaque.into());
        if m.request {
            o.insert("quiet".into(), m.quiet.into());
            o.insert("vbucket".into(), m.vbucket.into());
        } else {
            o.insert("status".into(), parse::status_name(m.status).into());
            o.insert("status_code".into(), m.status.into());
        }
    } else if m.request {
        put(&mut o, "line", m.line.clone());
        if m.noreply || m.shape.is_some_and(|s| s != parse::Shape::Plain) {
            o.insert("noreply".into(), m.noreply.into());
        }
        if m.quiet {
            o.insert("quiet".into(), true.into());
        }
    }
    if !m.keys.is_empty() {
        o.insert("keys".into(), m.keys.clone().into());
    }
    put(&mut o, "cas_unique", m.cas);
    put(&mut o, "flags", m.flags);
    put(&mut o, "exptime", m.exptime);
    put(&mut o, "delta", m.delta);
    put(&mut o, "initial", m.initial);
    put(&mut o, "verbosity", m.verbosity);
    put(&mut o, "value", m.value);
    put(&mut o, "raw_args", m.raw_args.clone());
    put(&mut o, "version", m.version.clone());
    put(&mut o, "error_msg", m.error_msg.clone());
    if m.count_values > 0 || (!m.binary && m.bytes.is_some()) {
        o.insert("count_values".into(), m.count_values.into());
        o.insert("bytes".into(), m.value_bytes.into());
        if !m.values.is_empty() {
            o.insert(
                "values".into(),
                Value::Array(m.values.iter().map(|v| b64(v)).collect()),
            );
        }
    }
    if !m.stats.is_empty() {
        let stats: Vec<Value> = m
            .stats
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        o.insert("stats".into(), Value::Array(stats));
    }
    o
}

/// Status of a pair (EVENTS.md §3): text `ERROR`/`CLIENT_ERROR`/`SERVER_ERROR` and binary
/// failure statuses are errors; a request that expects no reply is `OK` without one.
fn status(req: Option<&Msg>, resp: Option<&Msg>) -> Status {
    match (req, resp) {
        (_, Some(r)) if r.binary => {
            if parse::status_ok(r.status) {
                Status::Ok
            } else if r.status > 0x80 {
                Status::ServerError
            } else {
                Status::Error
            }
        }
        (Some(_), Some(r)) => match r.result {
            Some(TextResult::Error) => Status::Error,
            Some(TextResult::ClientError) => Status::ClientError,
            Some(TextResult::ServerError) => Status::ServerError,
            _ => Status::Ok,
        },
        (None, Some(_)) => Status::Error,
        (Some(q), None) if q.quiet || !q.expects_reply() => Status::Ok,
        _ => Status::Error,
    }
}

/// Build the event (either side may be missing) with an extra note.
pub fn build(
    cx: &Cx<'_>,
    req: Option<Box<Msg>>,
    resp: Option<Box<Msg>>,
    note: Option<&str>,
) -> Txn {
    let mut t = cx.txn(super::NAME);
    t.status = status(req.as_deref(), resp.as_deref());
    let mut mc = Map::new();
    let binary = req.as_ref().or(resp.as_ref()).is_some_and(|m| m.binary);
    mc.insert(
        "protocol_type".into(),
        if binary { "binary" } else { "text" }.into(),
    );
    if let Some(q) = req.as_deref() {
        t.request_ts = Some(q.ts);
        t.request_bytes = Some(q.size);
        if q.lost {
            t.notes.push(NOTE_REQUEST_LOSS.to_owned());
        }
        if cx.common.send_request {
            t.request_raw = q.line.clone();
        }
        mc.insert("request".into(), Value::Object(message_fields(q)));
    }
    if let Some(r) = resp.as_deref() {
        t.response_ts = Some(r.ts);
        t.response_bytes = Some(r.size);
        if r.lost {
            t.notes.push(NOTE_RESPONSE_LOSS.to_owned());
        }
        if cx.common.send_response {
            t.response_raw = r.line.clone();
        }
        if let Some(e) = r.error_msg.as_ref().filter(|_| t.status != Status::Ok) {
            t.notes.push(e.clone());
        }
        mc.insert("response".into(), Value::Object(message_fields(r)));
    }
    match (&req, &resp) {
        (Some(q), None) => {
            if q.expects_reply() && !q.quiet {
                t.unmatched = Unmatched::Request;
            }
            if let Some(n) = note {
                t.notes.push(n.to_owned());
            } else if q.expects_reply() && !q.quiet {
                t.notes.push(NOTE_UNFINISHED.to_owned());
            }
        }
        (None, Some(_)) => {
            t.unmatched = Unmatched::Response;
            t.notes.push(note.unwrap_or(NOTE_NO_REQUEST).to_owned());
        }
        _ => {
            if let Some(n) = note {
                t.notes.push(n.to_owned());
            }
        }
    }
    t.fields.insert("memcache".into(), Value::Object(mc));
    t
}
