//! Turning a request/response pair (or a server push) into a [`Txn`] with Packetbeat's
//! `cassandra.request.*` / `cassandra.response.*` fields.

use serde_json::{Map, Value};

use super::parse::{self, Header};
use super::Config;
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};
use crate::time::Ts;

/// Note on a request published without a response.
pub const NOTE_UNMATCHED_REQUEST: &str = "Unmatched request";
/// Note on a response published without a request.
pub const NOTE_UNMATCHED_RESPONSE: &str = "Unmatched response";

/// One parsed frame, owned.
#[derive(Clone, Debug)]
pub struct Frame {
    /// First packet of the frame.
    pub ts: Ts,
    /// Its header.
    pub header: Header,
    /// CQL text (QUERY, PREPARE; EXECUTE/BATCH: resolved prepared texts).
    pub query: Option<String>,
    /// Body fields (`cassandra.request.*` or `cassandra.response.*` minus `headers`).
    pub fields: Map<String, Value>,
    /// ERROR responses: code and message.
    pub error: Option<(i32, String)>,
    /// Parse problems (`error.message`).
    pub notes: Vec<String>,
}

/// Build the event; `None` when one side's opcode is in `ignored_ops`.
pub fn build(
    cx: &Cx<'_>,
    cfg: &Config,
    ignored: u32,
    req: Option<Frame>,
    resp: Option<Frame>,
) -> Option<Txn> {
    let is_ignored = |f: &Option<Frame>| {
        f.as_ref()
            .is_some_and(|f| ignored & (1u32 << u32::from(f.header.opcode.min(31))) != 0)
    };
    if is_ignored(&req) || is_ignored(&resp) {
        return None;
    }
    let mut t = cx.txn(super::NAME);
    let mut cass = Map::new();
    let mut notes = Vec::new();
    let push = req.is_none()
        && resp
            .as_ref()
            .is_some_and(|r| r.header.opcode == parse::op::EVENT);
    if let Some(f) = req {
        t.request_ts = Some(f.ts);
        t.request_bytes = Some(f.header.frame_len());
        t.method = parse::op_name(f.header.opcode).map(str::to_owned);
        t.query.clone_from(&f.query);
        let mut r = f.fields;
        if let Some(q) = f.query {
            r.insert("query".into(), q.into());
        }
        if cfg.send_request_header {
            r.insert("headers".into(), f.header.json());
        }
        // Packetbeat's `send_request` (default true for cassandra) governs `cassandra.request`.
        if !r.is_empty() && cx.common.send_request {
            cass.insert("request".into(), Value::Object(r));
        }
        notes.extend(f.notes);
        if resp.is_none() {
            notes.push(NOTE_UNMATCHED_REQUEST.into());
            t.unmatched = Unmatched::Request;
            t.status = Status::Error;
        }
    }
    if let Some(f) = resp {
        if t.request_ts.is_none() {
            if push {
                cass.insert("no_request".into(), true.into());
            } else {
                notes.push(NOTE_UNMATCHED_RESPONSE.into());
                t.unmatched = Unmatched::Response;
                t.status = Status::Error;
            }
        }
        t.response_ts = Some(f.ts);
        t.response_bytes = Some(f.header.frame_len());
        if f.error.is_some() {
            t.status = Status::Error;
        }
        let mut r = f.fields;
        if cfg.send_response_header {
            r.insert("headers".into(), f.header.json());
        }
        if !r.is_empty() && cx.common.send_response {
            cass.insert("response".into(), Value::Object(r));
        }
        notes.extend(f.notes);
    }
    t.notes = notes;
    t.fields.insert("cassandra".into(), Value::Object(cass));
    Some(t)
}
