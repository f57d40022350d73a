//! Turning a request/reply pair into a [`Txn`]: Packetbeat's `mongodb.*` fields (request and
//! reply fields merged, reply last), legacy `method`/`resource`/`query`, raw `request`
//! (the reconstructed full query) and `response` (the documents, one per line).

use serde_json::{Map, Value};

use super::parse::Msg;
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};
use crate::time::Ts;

/// Note on a request published without its reply.
pub const NOTE_UNMATCHED_REQUEST: &str = "Unmatched request";
/// Note on a reply published without its request.
pub const NOTE_UNMATCHED_RESPONSE: &str = "Unmatched response";

/// One side of a transaction.
#[derive(Debug)]
pub struct Side {
    /// First packet of the message(s).
    pub ts: Ts,
    /// What it said.
    pub msg: Msg,
}

/// Packetbeat's `reconstructQuery`: `resource.method(params).skip(n).limit(n)`.
fn reconstruct(m: &Msg, params: Option<&str>) -> String {
    let mut q = format!(
        "{}.{}(",
        m.resource.as_deref().unwrap_or_default(),
        m.method.as_deref().unwrap_or_default()
    );
    if let Some(p) = params.filter(|p| *p != "{}") {
        q.push_str(p);
    }
    q.push(')');
    if m.skip > 0 {
        q.push_str(&format!(".skip({})", m.skip));
    }
    if m.limit > 0 && m.limit < i64::from(i32::MAX) {
        q.push_str(&format!(".limit({})", m.limit));
    }
    q
}

/// Build the event. `expected_reply`: the request waited for a reply (else it is a
/// fire-and-forget write, published alone without a note).
pub fn build(cx: &Cx<'_>, req: Option<Side>, resp: Option<Side>, expected_reply: bool) -> Txn {
    let mut t = cx.txn(super::NAME);
    let mut fields = Map::new();
    let mut notes: Vec<String> = Vec::new();
    let mut error: Option<String> = None;
    if let Some(Side { ts, msg }) = req {
        t.request_ts = Some(ts);
        t.request_bytes = Some(msg.size);
        t.query = Some(reconstruct(&msg, msg.params.as_deref()));
        if cx.common.send_request {
            t.request_raw = Some(reconstruct(
                &msg,
                msg.params_full.as_deref().or(msg.params.as_deref()),
            ));
        }
        t.method = msg.method;
        t.resource = msg.resource;
        fields.extend(msg.fields);
        notes.extend(msg.notes);
        if resp.is_none() && expected_reply {
            notes.push(NOTE_UNMATCHED_REQUEST.into());
            t.unmatched = Unmatched::Request;
            t.status = Status::Error;
        }
    }
    if let Some(Side { ts, msg }) = resp {
        if t.request_ts.is_none() {
            notes.push(NOTE_UNMATCHED_RESPONSE.into());
            t.unmatched = Unmatched::Response;
            t.status = Status::Error;
        }
        t.response_ts = Some(ts);
        t.response_bytes = Some(msg.size);
        for (k, v) in msg.fields {
            // The request's opcode name describes the transaction.
            if k == "opcodeName" && fields.contains_key("opcodeName") {
                continue;
            }
            fields.insert(k, v);
        }
        notes.extend(msg.notes);
        error = msg.error;
        if cx.common.send_response && !msg.docs.is_empty() {
            t.response_raw = Some(msg.docs.join("\n"));
        }
    }
    if let Some(e) = error {
        t.status = Status::Error;
        fields.insert("error".into(), Value::String(e));
    }
    t.notes = notes;
    t.fields.insert("mongodb".into(), Value::Object(fields));
    t
}
