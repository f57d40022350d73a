//! Pure, borrowing, panic-free parsers for the MySQL client/server protocol: packet headers,
//! length-encoded integers and strings, OK/ERR/EOF packets, the handshake packets, column
//! definitions and text rows. Nothing here allocates except where a `String` is returned.

/// Size of the packet header: 3-byte little-endian payload length + 1-byte sequence id.
pub const HEADER_LEN: usize = 4;
/// A payload of exactly this length is continued by the next packet (16 MiB − 1).
pub const MAX_PAYLOAD: usize = 0x00ff_ffff;

/// First payload byte of an OK packet.
pub const OK: u8 = 0x00;
/// First payload byte of an ERR packet.
pub const ERR: u8 = 0xff;
/// First payload byte of an EOF packet (and of the OK packet ending a result set under
/// `CLIENT_DEPRECATE_EOF`, and of an AuthSwitchRequest during the handshake).
pub const EOF: u8 = 0xfe;
/// First payload byte of a LOCAL INFILE request.
pub const LOCAL_INFILE: u8 = 0xfb;
/// An EOF packet is shorter than this (a longer 0xFE packet is a row or a new-style OK).
pub const EOF_MAX_LEN: usize = 9;
/// Length of a classic EOF packet: header byte, warnings (2), status (2).
pub const EOF_CLASSIC_LEN: usize = 5;

/// Capability: the client speaks protocol 4.1.
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
/// Capability: the client switches to TLS after this packet.
pub const CLIENT_SSL: u32 = 0x0000_0800;
/// Capability: a database name follows the auth data in the login packet.
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
/// Capability: 1-byte length before the auth response.
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
/// Capability: the auth plugin name follows in the login packet.
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
/// Capability: length-encoded auth response.
pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x0020_0000;
/// Capability: the zlib-compressed protocol.
pub const CLIENT_COMPRESS: u32 = 0x0000_0020;
/// Capability: the zstd-compressed protocol.
pub const CLIENT_ZSTD: u32 = 0x0400_0000;
/// Capability: COM_QUERY carries query attributes before the text (MySQL 8.0.23+).
pub const CLIENT_QUERY_ATTRIBUTES: u32 = 0x0800_0000;
/// Capability: result sets end with an OK packet instead of EOF packets.
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

/// Server status: another result set follows.
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
/// Server status: a cursor was opened (COM_STMT_EXECUTE with a cursor: no rows follow).
pub const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;

/// Length of the fixed part of HandshakeResponse41 (capabilities, max packet, charset,
/// 23 reserved bytes) — also the whole SSLRequest packet.
pub const LOGIN_FIXED_LEN: usize = 32;

/// A packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Payload length.
    pub len: usize,
    /// Sequence id.
    pub seq: u8,
}

/// The header at the start of `b`, if 4 bytes are there.
pub fn header(b: &[u8]) -> Option<Header> {
    match b {
        [a, c, d, seq, ..] => Some(Header {
            len: usize::from(*a) | usize::from(*c) << 8 | usize::from(*d) << 16,
            seq: *seq,
        }),
        _ => None,
    }
}

/// A little cursor over a payload.
#[derive(Clone, Copy, Debug)]
pub struct Rd<'a> {
    b: &'a [u8],
}

impl<'a> Rd<'a> {
    /// A reader over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Rd { b }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        let (&v, rest) = self.b.split_first()?;
        self.b = rest;
        Some(v)
    }

    /// `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, rest) = self.b.split_at_checked(n)?;
        self.b = rest;
        Some(a)
    }

    /// Little-endian integer of `n` ≤ 8 bytes.
    pub fn le(&mut self, n: usize) -> Option<u64> {
        let bytes = self.take(n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        )
    }

    /// 2-byte little-endian integer.
    pub fn u16(&mut self) -> Option<u16> {
        self.le(2).and_then(|v| u16::try_from(v).ok())
    }

    /// 4-byte little-endian integer.
    pub fn u32(&mut self) -> Option<u32> {
        self.le(4).and_then(|v| u32::try_from(v).ok())
    }

    /// Length-encoded integer (`None` for the NULL marker 0xFB and the 0xFF byte).
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            v @ 0..=0xfa => Some(u64::from(v)),
            0xfc => self.le(2),
            0xfd => self.le(3),
            0xfe => self.le(8),
            _ => None,
        }
    }

    /// Length-encoded string.
    pub fn lenenc_str(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).ok()?;
        self.take(n)
    }

    /// NUL-terminated string (the NUL is consumed; without one, the rest).
    pub fn nul_str(&mut self) -> &'a [u8] {
        match self.b.iter().position(|&c| c == 0) {
            Some(i) => {
                let (s, rest) = self.b.split_at(i);
                self.b = rest.get(1..).unwrap_or_default();
                s
            }
            None => std::mem::take(&mut self.b),
        }
    }
}

/// Lossy UTF-8 of a byte string.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An OK packet (also the new-style 0xFE OK ending a result set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OkPacket {
    /// Rows changed by the statement.
    pub affected_rows: u64,
    /// Last AUTO_INCREMENT id.
    pub insert_id: u64,
    /// Server status flags.
    pub status: u16,
    /// Warning count.
    pub warnings: u16,
}

/// Parse an OK packet payload (first byte 0x00 or 0xFE). Status and warnings are 0 when
/// the (pre-4.1) packet ends early.
pub fn ok_packet(p: &[u8]) -> Option<OkPacket> {
    let mut r = Rd::new(p);
    r.u8()?;
    let affected_rows = r.lenenc()?;
    let insert_id = r.lenenc()?;
    let status = r.u16().unwrap_or(0);
    let warnings = r.u16().unwrap_or(0);
    Some(OkPacket {
        affected_rows,
        insert_id,
        status,
        warnings,
    })
}

/// Status flags of a classic EOF packet (0xFE, warnings, status).
pub fn eof_status(p: &[u8]) -> u16 {
    let mut r = Rd::new(p);
    r.u8();
    r.u16();
    r.u16().unwrap_or(0)
}

/// An ERR packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrPacket {
    /// Error number.
    pub code: u16,
    /// SQLSTATE (empty on pre-4.1 servers).
    pub sqlstate: String,
    /// Human-readable message.
    pub message: String,
}

/// Parse an ERR packet payload (first byte 0xFF).
pub fn err_packet(p: &[u8]) -> Option<ErrPacket> {
    let mut r = Rd::new(p);
    if r.u8()? != ERR {
        return None;
    }
    let code = r.u16()?;
    let mut sqlstate = String::new();
    if r.rest().first() == Some(&b'#') {
        r.u8();
        sqlstate = text(r.take(5).unwrap_or_default());
    }
    Some(ErrPacket {
        code,
        sqlstate,
        message: text(r.rest()),
    })
}

/// Initial handshake packet (protocol version 10) from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// Server version string.
    pub version: String,
    /// Connection (thread) id.
    pub conn_id: u32,
    /// Server capability flags (lower and upper halves).
    pub caps: u32,
}

/// Parse the server greeting (first byte 10).
pub fn greeting(p: &[u8]) -> Option<Greeting> {
    let mut r = Rd::new(p);
    if r.u8()? != 10 {
        return None;
    }
    let version = text(r.nul_str());
    let conn_id = r.u32()?;
    r.take(8)?; // auth-plugin-data part 1
    r.u8()?; // filler
    let low = u32::from(r.u16().unwrap_or(0));
    r.u8(); // charset
    r.u16(); // status
    let high = u32::from(r.u16().unwrap_or(0));
    Some(Greeting {
        version,
        conn_id,
        caps: low | high << 16,
    })
}

/// Does this payload look like a server greeting (protocol 10, printable version)?
pub fn looks_like_greeting(p: &[u8]) -> bool {
    let mut r = Rd::new(p);
    if r.u8() != Some(10) {
        return false;
    }
    let v = r.nul_str();
    !v.is_empty() && v.iter().all(|c| c.is_ascii_graphic() || *c == b' ') && r.rest().len() >= 13
}

/// What the client sent in its login packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Login {
    /// Client capability flags.
    pub caps: u32,
    /// User name.
    pub user: String,
    /// Initial database, when given.
    pub database: Option<String>,
    /// Authentication plugin, when given.
    pub auth_plugin: Option<String>,
}

impl Login {
    /// The client asked to switch to TLS (this was an SSLRequest).
    pub fn ssl(&self) -> bool {
        self.caps & CLIENT_SSL != 0
    }
}

/// Parse a HandshakeResponse (4.1 or 3.20). An SSLRequest parses as a login with
/// [`Login::ssl`] and no user.
pub fn login(p: &[u8]) -> Option<Login> {
    let mut r = Rd::new(p);
    let low = u32::from(r.u16()?);
    if low & CLIENT_PROTOCOL_41 == 0 {
        // HandshakeResponse320: caps(2), max packet(3), user NUL, auth, [db NUL].
        r.take(3)?;
        let user = text(r.nul_str());
        return Some(Login {
            caps: low,
            user,
            ..Login::default()
        });
    }
    let caps = low | u32::from(r.u16()?) << 16;
    r.take(4 + 1 + 23)?;
    if r.rest().is_empty() {
        return Some(Login {
            caps,
            ..Login::default()
        });
    }
    let user = text(r.nul_str());
    if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
        r.lenenc_str()?;
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = usize::from(r.u8()?);
        r.take(n)?;
    } else {
        r.nul_str();
    }
    let database = if caps & CLIENT_CONNECT_WITH_DB != 0 && !r.rest().is_empty() {
        Some(text(r.nul_str()))
    } else {
        None
    };
    let auth_plugin = if caps & CLIENT_PLUGIN_AUTH != 0 && !r.rest().is_empty() {
        Some(text(r.nul_str()))
    } else {
        None
    };
    Some(Login {
        caps,
        user,
        database,
        auth_plugin,
    })
}

/// The parts of a column definition (protocol 4.1) the dissector uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnDef<'a> {
    /// Database.
    pub schema: &'a [u8],
    /// Table (alias).
    pub table: &'a [u8],
    /// Column name (alias).
    pub name: &'a [u8],
}

/// Parse a ColumnDefinition41 payload.
pub fn column_def(p: &[u8]) -> Option<ColumnDef<'_>> {
    let mut r = Rd::new(p);
    r.lenenc_str()?; // catalog
    let schema = r.lenenc_str()?;
    let table = r.lenenc_str()?;
    r.lenenc_str()?; // org_table
    let name = r.lenenc_str()?;
    Some(ColumnDef {
        schema,
        table,
        name,
    })
}

/// Fields of a text-protocol row (`None` = SQL NULL); stops at the first malformed field.
pub fn text_row(p: &[u8]) -> impl Iterator<Item = Option<&[u8]>> + '_ {
    let mut r = Rd::new(p);
    std::iter::from_fn(move || {
        if r.rest().is_empty() {
            return None;
        }
        if r.rest().first() == Some(&LOCAL_INFILE) {
            r.u8();
            return Some(None);
        }
        r.lenenc_str().map(Some)
    })
}

/// COM_* command bytes.
pub mod cmd {
    /// Close the connection (no response).
    pub const QUIT: u8 = 0x01;
    /// Change the default database.
    pub const INIT_DB: u8 = 0x02;
    /// A text-protocol statement.
    pub const QUERY: u8 = 0x03;
    /// Column definitions of a table.
    pub const FIELD_LIST: u8 = 0x04;
    /// Server statistics (answered by a bare string).
    pub const STATISTICS: u8 = 0x09;
    /// Re-authenticate as another user.
    pub const CHANGE_USER: u8 = 0x11;
    /// Replication: stream the binary log (never ends).
    pub const BINLOG_DUMP: u8 = 0x12;
    /// Replication: stream the binary log by GTID (never ends).
    pub const BINLOG_DUMP_GTID: u8 = 0x1e;
    /// Prepare a statement.
    pub const STMT_PREPARE: u8 = 0x16;
    /// Execute a prepared statement.
    pub const STMT_EXECUTE: u8 = 0x17;
    /// Send a parameter's long data (no response).
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// Deallocate a prepared statement (no response).
    pub const STMT_CLOSE: u8 = 0x19;
    /// Reset a prepared statement.
    pub const STMT_RESET: u8 = 0x1a;
    /// Fetch rows of a cursor.
    pub const STMT_FETCH: u8 = 0x1c;
}

/// Name of a command byte, as Wireshark and the MySQL manual spell it.
pub fn command_name(c: u8) -> &'static str {
    match c {
        0x00 => "COM_SLEEP",
        0x01 => "COM_QUIT",
        0x02 => "COM_INIT_DB",
        0x03 => "COM_QUERY",
        0x04 => "COM_FIELD_LIST",
        0x05 => "COM_CREATE_DB",
        0x06 => "COM_DROP_DB",
        0x07 => "COM_REFRESH",
        0x08 => "COM_SHUTDOWN",
        0x09 => "COM_STATISTICS",
        0x0a => "COM_PROCESS_INFO",
        0x0b => "COM_CONNECT",
        0x0c => "COM_PROCESS_KILL",
        0x0d => "COM_DEBUG",
        0x0e => "COM_PING",
        0x0f => "COM_TIME",
        0x10 => "COM_DELAYED_INSERT",
        0x11 => "COM_CHANGE_USER",
        0x12 => "COM_BINLOG_DUMP",
        0x13 => "COM_TABLE_DUMP",
        0x14 => "COM_CONNECT_OUT",
        0x15 => "COM_REGISTER_SLAVE",
        0x16 => "COM_STMT_PREPARE",
        0x17 => "COM_STMT_EXECUTE",
        0x18 => "COM_STMT_SEND_LONG_DATA",
        0x19 => "COM_STMT_CLOSE",
        0x1a => "COM_STMT_RESET",
        0x1b => "COM_SET_OPTION",
        0x1c => "COM_STMT_FETCH",
        0x1d => "COM_DAEMON",
        0x1e => "COM_BINLOG_DUMP_GTID",
        0x1f => "COM_RESET_CONNECTION",
        _ => "COM_UNKNOWN",
    }
}

/// Is `c` a command byte a client sends (MySQL 5.x–9.x, MariaDB)?
pub fn is_command(c: u8) -> bool {
    c <= 0x1f || c == 0xfe
}

/// The SQL verb: the first word, uppercase (`SELEC 1` → `SELEC`, `BEGIN;` → `BEGIN`).
pub fn sql_verb(q: &str) -> String {
    let q = q.trim_start();
    let word: String = q
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word.is_empty() {
        q.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_uppercase()
    } else {
        word.to_uppercase()
    }
}

/// Most query attributes decoded in one COM_QUERY (the server accepts at most 65535;
/// clients send a handful).
const MAX_QUERY_ATTRIBUTES: u64 = 4096;

/// The SQL text after the query attributes of a COM_QUERY body (`None` if malformed).
pub fn skip_query_attributes(body: &[u8]) -> Option<&[u8]> {
    let mut r = Rd::new(body);
    let n = r.lenenc()?;
    r.lenenc()?; // parameter set count (always 1)
    if n == 0 {
        return Some(r.rest());
    }
    if n > MAX_QUERY_ATTRIBUTES {
        return None;
    }
    let n = usize::try_from(n).ok()?;
    let bitmap = r.take(n.div_ceil(8))?;
    if r.u8()? != 1 {
        return None; // types are always sent with query attributes
    }
    let types = r;
    for _ in 0..n {
        r.u8()?;
        r.u8()?;
        r.lenenc_str()?; // name
    }
    let mut tr = types;
    for i in 0..n {
        let t = tr.u8()?;
        tr.u8()?;
        tr.lenenc_str()?;
        let null = bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        if !null {
            skip_binary_value(&mut r, t)?;
        }
    }
    Some(r.rest())
}

/// Skip one binary-protocol value of column type `t`.
pub fn skip_binary_value(r: &mut Rd<'_>, t: u8) -> Option<()> {
    let n = match t {
        0x06 => 0,               // NULL
        0x01 => 1,               // TINY
        0x02 | 0x0d => 2,        // SHORT, YEAR
        0x03 | 0x04 | 0x09 => 4, // LONG, FLOAT, INT24
        0x05 | 0x08 => 8,        // DOUBLE, LONGLONG
        // TIMESTAMP, DATE, TIME, DATETIME: length byte + that many bytes.
        0x07 | 0x0a | 0x0b | 0x0c => usize::from(r.u8()?),
        // Strings, DECIMAL, BLOBs, JSON, BIT, ...: length-encoded.
        _ => usize::try_from(r.lenenc()?).ok()?,
    };
    r.take(n).map(|_| ())
}
