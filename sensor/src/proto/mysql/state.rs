//! What one command and its response look like while they are being received, and the
//! response state machine: which packet is expected next (result-set header, column
//! definitions, EOF, rows, prepare-OK sections) and when the response is complete.

use super::parse::{self, cmd, ErrPacket, OkPacket, EOF, EOF_CLASSIC_LEN, EOF_MAX_LEN, ERR};
use crate::time::Ts;

/// A command sent by the client.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// First packet.
    pub ts: Ts,
    /// Command byte.
    pub cmd: u8,
    /// All packets of the command, headers included.
    pub bytes: u64,
    /// Statement text (COM_QUERY, COM_STMT_PREPARE; the prepared text for the COM_STMT_*
    /// commands when known) or the database (COM_INIT_DB).
    pub query: Option<String>,
    /// Statement id of a COM_STMT_* command.
    pub stmt_id: Option<u32>,
    /// The server asked for a LOCAL INFILE: client data packets belong to this command.
    pub infile: bool,
    /// Notes for `error.message`.
    pub notes: Vec<String>,
}

/// What the response is expected to look like, from the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// OK, ERR or result sets (COM_QUERY; COM_STMT_EXECUTE with binary rows).
    Results,
    /// Prepare-OK plus parameter and column definitions.
    Prepare,
    /// Column definitions up to EOF (COM_FIELD_LIST).
    FieldList,
    /// Binary rows up to EOF (COM_STMT_FETCH).
    Fetch,
    /// One packet of any kind (COM_STATISTICS answers a bare string).
    AnyOne,
    /// An authentication exchange ending with OK or ERR (COM_CHANGE_USER).
    Auth,
    /// A stream that only ends with the connection (binlog dump).
    Endless,
    /// OK, ERR or EOF (COM_PING, COM_INIT_DB, COM_STMT_RESET, ...).
    Simple,
    /// No response at all (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA).
    None,
}

/// The response shape of a command byte.
pub fn shape(c: u8) -> Shape {
    match c {
        cmd::QUERY | cmd::STMT_EXECUTE => Shape::Results,
        cmd::STMT_PREPARE => Shape::Prepare,
        cmd::FIELD_LIST => Shape::FieldList,
        cmd::STMT_FETCH => Shape::Fetch,
        cmd::STATISTICS => Shape::AnyOne,
        cmd::CHANGE_USER => Shape::Auth,
        cmd::BINLOG_DUMP | cmd::BINLOG_DUMP_GTID => Shape::Endless,
        cmd::QUIT | cmd::STMT_CLOSE | cmd::STMT_SEND_LONG_DATA => Shape::None,
        _ => Shape::Simple,
    }
}

/// Where the response parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// First packet of a result (OK, ERR, LOCAL INFILE or a column count).
    Start,
    /// Column definitions still to come.
    Columns(u64),
    /// After the column definitions: an EOF (classic), or directly rows / the end.
    ColumnsEof,
    /// Rows up to the EOF or OK terminator.
    Rows,
    /// Prepare-OK sections: parameter definitions, then column definitions.
    PrepDefs { left: u64, then_cols: u64 },
    /// After a definitions section: an EOF unless `CLIENT_DEPRECATE_EOF`.
    PrepEof { then_cols: u64 },
    /// Complete.
    Done,
}

/// Stored rows and column names for the raw `response` (`send_response`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    /// Column names of the first result set.
    pub columns: Vec<String>,
    /// The first `max_rows` rows, each cut to `max_row_length` bytes.
    pub rows: Vec<Vec<String>>,
}

/// A response being received.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// First packet.
    pub ts: Ts,
    /// All packets, headers included.
    pub bytes: u64,
    /// Packets seen.
    pub packets: u64,
    /// The OK packet answering the command (not a result-set terminator).
    pub ok: Option<OkPacket>,
    /// The ERR packet.
    pub err: Option<ErrPacket>,
    /// Columns of the first result set.
    pub num_fields: u64,
    /// Rows of all result sets.
    pub num_rows: u64,
    /// Prepare-OK: statement id, columns, parameters.
    pub prepared: Option<(u32, u16, u16)>,
    /// `db.table` of the columns, comma-separated, as Packetbeat's `path`.
    pub tables: String,
    /// Rows kept for `response` (only with `send_response`).
    pub kept: Option<Kept>,
    /// Binary (prepared-statement) rows.
    binary: bool,
    /// A LOCAL INFILE request was seen and its OK/ERR not yet.
    infile: bool,
    /// Parser position.
    phase: Phase,
    /// The command's response shape.
    shape: Shape,
    /// Notes for `error.message`.
    pub notes: Vec<String>,
}

/// What the response parser needs to know about the connection.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// `CLIENT_DEPRECATE_EOF` negotiated (`None`: handshake not seen).
    pub deprecate_eof: Option<bool>,
    /// `max_rows`.
    pub max_rows: usize,
    /// `max_row_length`.
    pub max_row_length: usize,
}

/// Longest `path` kept: a few dozen tables; a result with hundreds of columns from distinct
/// tables would otherwise grow it without bound.
const MAX_TABLES_LEN: usize = 1024;

impl Response {
    /// A response to a command of `cmd`, starting at `ts`.
    pub fn new(ts: Ts, cmd_byte: u8, keep_rows: bool) -> Self {
        let shape = shape(cmd_byte);
        Response {
            ts,
            bytes: 0,
            packets: 0,
            ok: None,
            err: None,
            num_fields: 0,
            num_rows: 0,
            prepared: None,
            tables: String::new(),
            kept: keep_rows.then(Kept::default),
            binary: cmd_byte == cmd::STMT_EXECUTE || cmd_byte == cmd::STMT_FETCH,
            infile: false,
            phase: if shape == Shape::Fetch {
                Phase::Rows
            } else {
                Phase::Start
            },
            shape,
            notes: Vec::new(),
        }
    }

    /// The response is complete.
    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The response may be complete: only an optional EOF is still possible (handshake not
    /// seen, so `CLIENT_DEPRECATE_EOF` is unknown). A new command completes it.
    pub fn may_be_done(&self) -> bool {
        matches!(self.phase, Phase::PrepEof { then_cols: 0 })
    }

    /// Client packets with a non-zero sequence id belong to this command: the file of a
    /// LOCAL INFILE, or the auth data of a COM_CHANGE_USER.
    pub fn wants_client_data(&self) -> bool {
        (self.phase == Phase::Start && self.infile)
            || (self.shape == Shape::Auth && self.phase != Phase::Done)
    }

    /// Feed one packet (payload head `p`, full payload length `len`). Returns what was learnt
    /// about `CLIENT_DEPRECATE_EOF`, if anything.
    pub fn packet(&mut self, o: &Opts, p: &[u8], len: usize) -> Option<bool> {
        self.packets += 1;
        let first = p.first().copied().unwrap_or(0);
        match self.phase {
            Phase::Done => None,
            Phase::Start => {
                self.start(o, first, p);
                None
            }
            Phase::Columns(left) => {
                self.column(o, p);
                self.phase = if left <= 1 {
                    Phase::ColumnsEof
                } else {
                    Phase::Columns(left - 1)
                };
                None
            }
            Phase::ColumnsEof => self.columns_eof(o, first, p, len),
            Phase::Rows => {
                self.row(o, first, p, len);
                None
            }
            Phase::PrepDefs { left, then_cols } => {
                self.column(o, p);
                self.phase = if left > 1 {
                    Phase::PrepDefs {
                        left: left - 1,
                        then_cols,
                    }
                } else if o.deprecate_eof == Some(true) {
                    Self::prep_next(then_cols)
                } else {
                    Phase::PrepEof { then_cols }
                };
                None
            }
            Phase::PrepEof { then_cols } => {
                if first == EOF && len < EOF_MAX_LEN {
                    self.phase = Self::prep_next(then_cols);
                    Some(false)
                } else {
                    // No EOF: CLIENT_DEPRECATE_EOF; this packet is the next definition.
                    self.phase = Self::prep_next(then_cols);
                    self.packets -= 1;
                    self.packet(o, p, len);
                    Some(true)
                }
            }
        }
    }

    fn prep_next(then_cols: u64) -> Phase {
        if then_cols > 0 {
            Phase::PrepDefs {
                left: then_cols,
                then_cols: 0,
            }
        } else {
            Phase::Done
        }
    }

    fn start(&mut self, o: &Opts, first: u8, p: &[u8]) {
        match (self.shape, first) {
            (_, ERR) => {
                self.error(p);
            }
            (Shape::AnyOne | Shape::Endless, _) => {
                if self.shape == Shape::AnyOne {
                    self.phase = Phase::Done;
                }
            }
            (Shape::Auth, 0x00) => self.finish_ok(p),
            (Shape::Auth, _) => {}
            (Shape::Prepare, 0x00) => {
                let mut r = parse::Rd::new(p);
                r.u8();
                let id = r.u32().unwrap_or(0);
                let cols = r.u16().unwrap_or(0);
                let params = r.u16().unwrap_or(0);
                self.prepared = Some((id, cols, params));
                self.num_fields = u64::from(cols);
                self.phase = if params > 0 {
                    Phase::PrepDefs {
                        left: u64::from(params),
                        then_cols: u64::from(cols),
                    }
                } else {
                    Self::prep_next(u64::from(cols))
                };
            }
            (Shape::Results, 0x00) | (Shape::Simple, 0x00) => self.finish_ok(p),
            (Shape::Results, parse::LOCAL_INFILE) => {
                // Stay in Start: the OK/ERR after the file data ends the response.
                self.infile = true;
            }
            (Shape::FieldList, _) if first != EOF => {
                // Column definitions start right away and run up to an EOF.
                self.phase = Phase::Rows;
                self.column(o, p);
            }
            (Shape::Results, _) if first != EOF => {
                let mut r = parse::Rd::new(p);
                let n = r.lenenc().unwrap_or(0);
                // MariaDB MARIADB_CLIENT_CACHE_METADATA: a trailing "metadata follows" byte;
                // 0 = the column definitions are not resent.
                let skip_meta = r.rest() == [0];
                if self.num_fields == 0 {
                    self.num_fields = n;
                }
                self.phase = if n == 0 {
                    Phase::Done
                } else if skip_meta {
                    Phase::ColumnsEof
                } else {
                    Phase::Columns(n)
                };
            }
            _ => {
                // Simple commands: EOF or anything else ends them.
                self.phase = Phase::Done;
            }
        }
    }

    fn finish_ok(&mut self, p: &[u8]) {
        self.infile = false;
        let ok = parse::ok_packet(p);
        if ok.is_none() {
            self.notes.push("Malformed OK packet".to_owned());
        }
        let more = ok.is_some_and(|k| k.status & parse::SERVER_MORE_RESULTS_EXISTS != 0);
        self.ok = ok.or(self.ok);
        self.phase = if more && self.shape == Shape::Results {
            Phase::Start
        } else {
            Phase::Done
        };
    }

    fn error(&mut self, p: &[u8]) {
        match parse::err_packet(p) {
            Some(e) => self.err = Some(e),
            None => {
                self.err = Some(ErrPacket {
                    code: 0,
                    sqlstate: String::new(),
                    message: String::new(),
                });
                self.notes.push("Malformed ERR packet".to_owned());
            }
        }
        self.phase = Phase::Done;
    }

    fn column(&mut self, o: &Opts, p: &[u8]) {
        let Some(c) = parse::column_def(p) else {
            return;
        };
        if !c.table.is_empty() && self.tables.len() < MAX_TABLES_LEN {
            let t = format!(
                "{}.{}",
                String::from_utf8_lossy(c.schema),
                String::from_utf8_lossy(c.table)
            );
            if !self.tables.split(", ").any(|x| x == t) {
                if !self.tables.is_empty() {
                    self.tables.push_str(", ");
                }
                self.tables.push_str(&t);
            }
        }
        if let Some(k) = self.kept.as_mut() {
            if k.rows.is_empty() && k.columns.len() < o.max_rows.max(1) * 64 {
                k.columns.push(parse::text(c.name));
            }
        }
    }

    fn columns_eof(&mut self, o: &Opts, first: u8, p: &[u8], len: usize) -> Option<bool> {
        if first == EOF && len < EOF_MAX_LEN {
            let classic = match o.deprecate_eof {
                Some(d) => !d,
                None => len <= EOF_CLASSIC_LEN,
            };
            if classic {
                let status = parse::eof_status(p);
                self.phase = if status & parse::SERVER_STATUS_CURSOR_EXISTS != 0 && self.binary {
                    Phase::Done
                } else {
                    Phase::Rows
                };
                return Some(false);
            }
            self.terminator(p, len);
            return Some(true);
        }
        if first == ERR {
            self.error(p);
            return None;
        }
        self.phase = Phase::Rows;
        self.row(o, first, p, len);
        Some(true)
    }

    fn terminator(&mut self, p: &[u8], len: usize) {
        let status = if len <= EOF_CLASSIC_LEN {
            parse::eof_status(p)
        } else {
            parse::ok_packet(p).map_or(0, |k| k.status)
        };
        self.phase =
            if status & parse::SERVER_MORE_RESULTS_EXISTS != 0 && self.shape == Shape::Results {
                Phase::Start
            } else {
                Phase::Done
            };
    }

    fn row(&mut self, o: &Opts, first: u8, p: &[u8], len: usize) {
        if first == EOF && len < parse::MAX_PAYLOAD {
            self.terminator(p, len);
            return;
        }
        if first == ERR {
            self.error(p);
            return;
        }
        if self.shape == Shape::FieldList {
            self.column(o, p);
            return;
        }
        self.num_rows += 1;
        if let Some(k) = self.kept.as_mut() {
            if k.rows.len() < o.max_rows {
                k.rows.push(keep_row(p, self.binary, o.max_row_length));
            }
        }
    }
}

/// A row as strings for the raw response: text rows field by field, binary rows as one
/// hex field; cut to `max_len` bytes in total.
fn keep_row(p: &[u8], binary: bool, max_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0usize;
    if binary {
        let hex: String = p
            .iter()
            .take(max_len / 2)
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push(hex);
        return out;
    }
    for f in parse::text_row(p) {
        if used >= max_len {
            break;
        }
        let s = match f {
            Some(v) => {
                let v = v.get(..max_len - used).unwrap_or(v);
                String::from_utf8_lossy(v).into_owned()
            }
            None => "NULL".to_owned(),
        };
        used += s.len();
        out.push(s);
    }
    out
}
