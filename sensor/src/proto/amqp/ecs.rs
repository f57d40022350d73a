//! Event fields of an AMQP transaction: the `amqp` object (method arguments, content
//! properties, merged reply fields), status, bytes, notes and the optional raw texts.

use serde_json::{Map, Value};

use super::methods::Role;
use super::state::Msg;
use super::Config;
use crate::proto::{Cx, Direction, Status, Txn};

/// Note on a request answered by nothing before the connection ended or timed out.
pub const NOTE_NO_RESPONSE: &str = "No response to this request was received";
/// Note on a close never confirmed by the peer (Packetbeat's wording).
pub const NOTE_NO_CLOSE_OK: &str = "Close-ok method not received by sender";
/// Note on a request whose channel or connection was closed normally before it was answered.
pub const NOTE_CLOSED: &str = "Channel or connection closed before a response was received";

/// How a request ended.
pub enum End<'a> {
    /// Answered by its reply method.
    Reply(Box<Msg>),
    /// Answered by the peer's close (its bytes count in the close's own event).
    ClosedBy(&'a Msg),
    /// No answer is expected (asynchronous method, `no-wait`).
    Async,
    /// Never answered.
    Unanswered,
}

/// Build the event of `req` (sent in `dir`) ended by `end`.
pub fn build(cx: &Cx<'_>, cfg: &Config, dir: Direction, req: Msg, end: End<'_>) -> Txn {
    let mut t = cx.txn(super::NAME);
    if dir == Direction::ToClient {
        std::mem::swap(&mut t.client, &mut t.server);
    }
    t.method = Some(req.def.name.to_owned());
    t.request_ts = Some(req.ts);
    t.request_bytes = Some(req.bytes);
    // A close with an error code failed; basic.return keeps its reply code in the fields
    // but is `OK` (the contract names only closes; Packetbeat would say `Error`).
    let failed_close = req.def.role == Role::Close && req.is_error_code();
    let mut status = if failed_close {
        Status::Error
    } else {
        Status::Ok
    };
    if failed_close {
        if let Some(text) = req.reply_text() {
            t.notes.push(text.to_owned());
        }
    }
    t.notes.extend(req.notes.iter().cloned());
    if cx.common.send_request {
        t.request_raw = Some(request_text(cfg, &req));
    }
    let mut fields = req.fields;
    match end {
        End::Reply(resp) => {
            let resp = *resp;
            t.response_ts = Some(resp.ts);
            t.response_bytes = Some(resp.bytes);
            t.notes.extend(resp.notes.iter().cloned());
            if cx.common.send_response {
                t.response_raw = Some(if resp.def.content {
                    body_text(cfg, &resp)
                } else {
                    resp.def.name.to_owned()
                });
            }
            merge(&mut fields, resp.fields);
        }
        End::ClosedBy(close) => {
            if close.is_error_code() {
                status = Status::Error;
                if let Some(text) = close.reply_text() {
                    t.notes.push(text.to_owned());
                }
            } else {
                t.notes.push(NOTE_CLOSED.to_owned());
            }
            for k in ["reply-code", "reply-text", "class-id", "method-id"] {
                if let Some(v) = close.fields.get(k) {
                    fields.insert(k.to_owned(), v.clone());
                }
            }
        }
        End::Async => {}
        End::Unanswered => {
            t.unmatched = crate::proto::txn::Unmatched::Request;
            let note = if req.def.role == Role::Close {
                NOTE_NO_CLOSE_OK
            } else {
                NOTE_NO_RESPONSE
            };
            t.notes.push(note.to_owned());
        }
    }
    t.status = status;
    t.fields.insert("amqp".to_owned(), Value::Object(fields));
    t
}

/// Add the reply's fields without replacing the request's own values.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        into.entry(k).or_insert(v);
    }
}

/// `request` text: the body for content methods, else `method args` like Packetbeat.
fn request_text(cfg: &Config, m: &Msg) -> String {
    if m.def.content {
        return body_text(cfg, m);
    }
    let s = |k: &str| m.fields.get(k).and_then(Value::as_str).unwrap_or_default();
    let arg = match m.def.name {
        "queue.declare" | "queue.purge" | "queue.delete" | "basic.consume" | "basic.get" => {
            s("queue").to_owned()
        }
        "queue.bind" | "queue.unbind" => format!("{} {}", s("queue"), s("exchange")),
        "exchange.declare" | "exchange.delete" => s("exchange").to_owned(),
        "exchange.bind" | "exchange.unbind" => format!("{} {}", s("source"), s("destination")),
        "basic.cancel" => s("consumer-tag").to_owned(),
        "basic.reject" => m
            .fields
            .get("delivery-tag")
            .map(Value::to_string)
            .unwrap_or_default(),
        _ => String::new(),
    };
    if arg.is_empty() {
        m.def.name.to_owned()
    } else {
        format!("{} {arg}", m.def.name)
    }
}

/// A message body as text (text/JSON content types) or as decimal byte values, with ` [...]`
/// when cut at `max_body_length` (Packetbeat's format).
fn body_text(_cfg: &Config, m: &Msg) -> String {
    let stringable = m
        .fields
        .get("content-encoding")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && m.fields
            .get("content-type")
            .and_then(Value::as_str)
            .is_some_and(|ct| ct.contains("text") || ct.contains("json"));
    let mut s = if stringable {
        String::from_utf8_lossy(&m.body).into_owned()
    } else {
        let v: Vec<String> = m.body.iter().map(|b| b.to_string()).collect();
        v.join(" ")
    };
    if (m.body.len() as u64) < m.body_size {
        s.push_str(" [...]");
    }
    s
}
