//! Turning a command and its reply (or replies) into a [`Txn`] with Packetbeat's Redis fields:
//! `method` (command, uppercase), `resource` (first argument), `query` (the command line),
//! `redis.return_value` or `redis.error` (also `error.message`), `request`/`response` raw text.

use serde_json::{Map, Value};

use super::state::{Msg, Top, MAX_TEXT};
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};
use crate::time::Ts;

/// Note on a command published without a reply (the session ended or it expired).
pub const NOTE_UNMATCHED_REQUEST: &str = "Unmatched request";
/// Note on a message of which bytes were lost to a capture gap.
pub const NOTE_LOSS_REQUEST: &str = "Packet loss while capturing the request";
/// Note on a reply of which bytes were lost to a capture gap.
pub const NOTE_LOSS_RESPONSE: &str = "Packet loss while capturing the response";
/// Note on a command whose reply was lost to a capture gap or was not RESP.
pub const NOTE_RESPONSE_LOST: &str = "Response lost (capture gap or malformed data)";
/// Note on a command pushed out of a full pipelining queue.
pub const NOTE_QUEUE_FULL: &str = "Request queue full: published without its response";

/// Marker appended to text cut at the size limit.
const ELLIPSIS: &str = "...";

fn text(m: &Msg) -> String {
    let mut s = String::from_utf8_lossy(&m.text).into_owned();
    if m.truncated {
        s.push_str(ELLIPSIS);
    }
    s
}

/// The reply (or, for pub/sub commands, every confirmation) of a command.
#[derive(Debug, Default)]
pub struct Reply {
    /// First packet of the first reply.
    pub ts: Option<Ts>,
    /// Bytes of all replies.
    pub size: u64,
    /// Number of replies.
    pub count: u32,
    /// The single reply is an error.
    pub error: bool,
    /// Rendering: the reply, or `[r1, r2, ...]` for several.
    text: String,
    /// Bytes were lost to a capture gap.
    pub lost: bool,
}

impl Reply {
    /// Add one reply message.
    pub fn add(&mut self, m: &Msg) {
        if self.ts.is_none() {
            self.ts = Some(m.ts);
        }
        self.size = self.size.saturating_add(m.size);
        self.lost |= m.lost;
        let t = text(m);
        match self.count {
            0 => {
                self.error = m.top == Top::Error;
                self.text = t;
            }
            _ if self.text.len() >= MAX_TEXT => {}
            n => {
                if n == 1 {
                    self.text.insert(0, '[');
                }
                self.text.push_str(", ");
                self.text.push_str(&t);
                self.error = false;
            }
        }
        self.count = self.count.saturating_add(1);
    }

    fn value(self) -> String {
        let mut v = self.text;
        if self.count > 1 {
            v.push(']');
        }
        v
    }
}

/// Build the event of a command and its reply (`None` = unanswered), with an extra note.
pub fn build(cx: &Cx<'_>, req: Box<Msg>, reply: Option<Reply>, note: Option<&str>) -> Txn {
    let mut t = cx.txn(super::NAME);
    t.request_ts = Some(req.ts);
    t.request_bytes = Some(req.size);
    t.method = req
        .first
        .as_deref()
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase());
    t.resource = req
        .second
        .as_deref()
        .map(|r| String::from_utf8_lossy(r).into_owned());
    let query = text(&req);
    if cx.common.send_request {
        t.request_raw = Some(query.clone());
    }
    t.query = Some(query);
    if req.lost {
        t.notes.push(NOTE_LOSS_REQUEST.to_owned());
    }
    match reply.filter(|r| r.count > 0) {
        Some(r) => {
            t.response_ts = r.ts;
            t.response_bytes = Some(r.size);
            if r.lost {
                t.notes.push(NOTE_LOSS_RESPONSE.to_owned());
            }
            let error = r.error;
            let value = r.value();
            if cx.common.send_response {
                t.response_raw = Some(value.clone());
            }
            let mut redis = Map::new();
            if error {
                t.status = Status::Error;
                t.notes.push(value.clone());
                redis.insert("error".into(), Value::String(value));
            } else {
                redis.insert("return_value".into(), Value::String(value));
            }
            t.fields.insert("redis".into(), Value::Object(redis));
            if let Some(n) = note {
                t.notes.push(n.to_owned());
            }
        }
        None => {
            t.status = Status::Error;
            t.unmatched = Unmatched::Request;
            t.notes
                .push(note.unwrap_or(NOTE_UNMATCHED_REQUEST).to_owned());
        }
    }
    t
}
