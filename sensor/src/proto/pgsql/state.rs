//! Request units (what the client sent up to a Query or Sync) and the responses being
//! received for them (every server message up to ReadyForQuery).

use super::parse::{self, PgError};
use crate::time::Ts;

/// What kind of request unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// StartupMessage and the authentication exchange.
    Startup,
    /// A simple Query (possibly several statements).
    Simple,
    /// Extended protocol: Parse/Bind/Describe/Execute/Close ... Sync.
    Extended,
    /// A FunctionCall.
    Function,
}

/// Parameters of a StartupMessage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Startup {
    /// `user`.
    pub user: Option<String>,
    /// `database`.
    pub database: Option<String>,
    /// `application_name`.
    pub application_name: Option<String>,
}

/// A request unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// First message.
    pub ts: Ts,
    /// Kind of unit.
    pub kind: Kind,
    /// All client messages of the unit.
    pub bytes: u64,
    /// SQL text (Query; the first Parse, or the statement of the first Bind).
    pub query: Option<String>,
    /// Statement the unit executes (extended protocol).
    pub statement: Option<String>,
    /// The unit names a statement (Parse, Bind, Describe, Execute, Close): worth publishing.
    pub substantive: bool,
    /// Only Close messages did something (the unit closes a statement or portal).
    pub close_only: bool,
    /// Query or Sync seen: the server answers with ReadyForQuery.
    pub closed: bool,
    /// Startup parameters.
    pub startup: Option<Startup>,
    /// Notes for `error.message`.
    pub notes: Vec<String>,
}

impl Unit {
    /// A unit of `kind` starting at `ts`.
    pub fn new(ts: Ts, kind: Kind) -> Self {
        Unit {
            ts,
            kind,
            bytes: 0,
            query: None,
            statement: None,
            substantive: kind != Kind::Extended,
            close_only: false,
            closed: kind != Kind::Extended,
            startup: None,
            notes: Vec::new(),
        }
    }
}

/// Rows and column names kept for the raw `response` (`send_response`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    /// Column names of the first RowDescription.
    pub columns: Vec<String>,
    /// The first `max_rows` rows, each cut to `max_row_length` bytes.
    pub rows: Vec<Vec<String>>,
}

/// Most column names kept for the raw response (a result has at most 1664 columns).
const MAX_KEPT_COLUMNS: usize = 1664;

/// A response being received.
#[derive(Clone, Debug, PartialEq)]
pub struct Resp {
    /// First message.
    pub ts: Ts,
    /// All server messages, ReadyForQuery included.
    pub bytes: u64,
    /// Columns of the first RowDescription.
    pub num_fields: Option<u64>,
    /// DataRow messages.
    pub num_rows: u64,
    /// First ErrorResponse.
    pub error: Option<PgError>,
    /// Last CommandComplete tag.
    pub tag: Option<String>,
    /// NoticeResponse messages.
    pub notices: u64,
    /// Rows kept for `response`.
    pub kept: Option<Kept>,
}

/// Row display limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `max_rows`.
    pub max_rows: usize,
    /// `max_row_length`.
    pub max_row_length: usize,
}

impl Resp {
    /// A response starting at `ts`.
    pub fn new(ts: Ts, keep_rows: bool) -> Self {
        Resp {
            ts,
            bytes: 0,
            num_fields: None,
            num_rows: 0,
            error: None,
            tag: None,
            notices: 0,
            kept: keep_rows.then(Kept::default),
        }
    }

    /// Account one server message of type `kind` (head of its body in `body`).
    pub fn message(&mut self, lim: &Limits, kind: u8, body: &[u8]) {
        match kind {
            b'T' if self.num_fields.is_none() => {
                self.num_fields = parse::be16(body).map(u64::from);
                if let Some(k) = self.kept.as_mut() {
                    k.columns = parse::row_description(body)
                        .take(MAX_KEPT_COLUMNS)
                        .map(parse::text)
                        .collect();
                }
            }
            b'D' => {
                self.num_rows += 1;
                if let Some(k) = self.kept.as_mut() {
                    if k.rows.len() < lim.max_rows {
                        k.rows.push(keep_row(body, lim.max_row_length));
                    }
                }
            }
            b'C' => {
                self.tag = Some(parse::text(parse::query_text(body)));
            }
            b'E' if self.error.is_none() => {
                self.error = Some(parse::error_fields(body));
            }
            b'N' => self.notices += 1,
            _ => {}
        }
    }
}

fn keep_row(body: &[u8], max_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0usize;
    for f in parse::data_row(body) {
        if used >= max_len {
            break;
        }
        let s = match f {
            Some(v) => String::from_utf8_lossy(v.get(..max_len - used).unwrap_or(v)).into_owned(),
            None => "NULL".to_owned(),
        };
        used += s.len();
        out.push(s);
    }
    out
}
