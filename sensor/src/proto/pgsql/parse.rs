//! Pure, borrowing, panic-free parsers for the PostgreSQL frontend/backend protocol 3.0:
//! message headers, the untyped startup-phase messages, ErrorResponse fields,
//! RowDescription, DataRow and the few client messages whose content matters.

/// Size of a typed message header: type byte + 4-byte big-endian length (which counts
/// itself but not the type byte).
pub const TYPED_HEADER_LEN: usize = 5;
/// Size of an untyped (startup-phase) message header: the 4-byte length.
pub const UNTYPED_HEADER_LEN: usize = 4;

/// SSLRequest code.
pub const SSL_REQUEST: u32 = 80_877_103;
/// GSSENCRequest code.
pub const GSSENC_REQUEST: u32 = 80_877_104;
/// CancelRequest code.
pub const CANCEL_REQUEST: u32 = 80_877_102;
/// Largest StartupMessage accepted (the server's own limit is 10000 bytes).
pub const MAX_STARTUP_LEN: usize = 10_000;

/// Header of a typed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Typed {
    /// Message type byte.
    pub kind: u8,
    /// Whole message size on the wire (type byte + length field + body).
    pub size: usize,
}

/// The typed header at the start of `b`: `None` when fewer than 5 bytes, `Some(Err)` when
/// the length field is below its own size.
pub fn typed(b: &[u8]) -> Option<Result<Typed, ()>> {
    let [kind, a, c, d, e, ..] = *b else {
        return None;
    };
    let len = u32::from_be_bytes([a, c, d, e]) as usize;
    if len < 4 {
        return Some(Err(()));
    }
    Some(Ok(Typed {
        kind,
        size: len + 1,
    }))
}

/// An untyped message header: (whole size, code) when 8 bytes are there.
pub fn untyped(b: &[u8]) -> Option<(usize, u32)> {
    let [a, c, d, e, f, g, h, i, ..] = *b else {
        return None;
    };
    Some((
        u32::from_be_bytes([a, c, d, e]) as usize,
        u32::from_be_bytes([f, g, h, i]),
    ))
}

/// Do these bytes start with a startup-phase message (StartupMessage, SSLRequest,
/// GSSENCRequest, CancelRequest)?
pub fn looks_untyped(b: &[u8]) -> Option<bool> {
    let (len, code) = untyped(b)?;
    let ok = match code {
        SSL_REQUEST | GSSENC_REQUEST => len == 8,
        CANCEL_REQUEST => len == 16,
        c => c >> 16 == 3 && (8..=MAX_STARTUP_LEN).contains(&len),
    };
    Some(ok)
}

/// Client message types of protocol 3.0.
pub fn is_client_type(k: u8) -> bool {
    matches!(
        k,
        b'Q' | b'P'
            | b'B'
            | b'D'
            | b'E'
            | b'S'
            | b'H'
            | b'C'
            | b'F'
            | b'd'
            | b'c'
            | b'f'
            | b'X'
            | b'p'
    )
}

/// Server message types of protocol 3.0.
pub fn is_server_type(k: u8) -> bool {
    matches!(
        k,
        b'R' | b'K'
            | b'S'
            | b'Z'
            | b'T'
            | b'D'
            | b'C'
            | b'E'
            | b'N'
            | b'A'
            | b'1'
            | b'2'
            | b'3'
            | b'G'
            | b'H'
            | b'W'
            | b'd'
            | b'c'
            | b'I'
            | b'n'
            | b's'
            | b't'
            | b'V'
            | b'v'
    )
}

/// Split a NUL-terminated string off the front of `b`.
pub fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == 0)?;
    let (s, rest) = b.split_at(i);
    Some((s, rest.get(1..).unwrap_or_default()))
}

/// Lossy UTF-8 of a byte string.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Key/value parameters of a StartupMessage body (after length and version).
pub fn startup_params(mut b: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let (k, rest) = cstr(b)?;
        if k.is_empty() {
            return None;
        }
        let (v, rest) = cstr(rest)?;
        b = rest;
        Some((k, v))
    })
}

/// Body of a Query message: the SQL text (without the NUL; cut when the message was).
pub fn query_text(body: &[u8]) -> &[u8] {
    cstr(body).map_or(body, |(s, _)| s)
}

/// Body of a Parse message: (statement name, SQL text).
pub fn parse_msg(body: &[u8]) -> (&[u8], &[u8]) {
    match cstr(body) {
        Some((name, rest)) => (name, query_text(rest)),
        None => (body, &[]),
    }
}

/// Body of a Bind message: the statement name (after the portal name).
pub fn bind_stmt(body: &[u8]) -> Option<&[u8]> {
    let (_, rest) = cstr(body)?;
    cstr(rest).map(|(s, _)| s)
}

/// Body of a Close message: ('S' or 'P', name).
pub fn close_msg(body: &[u8]) -> Option<(u8, &[u8])> {
    let (&k, rest) = body.split_first()?;
    cstr(rest).map(|(s, _)| (k, s))
}

/// Fields of an ErrorResponse/NoticeResponse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgError {
    /// Severity (non-localized `V` when present, else `S`).
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// Primary message.
    pub message: String,
}

/// Parse the body of an ErrorResponse/NoticeResponse.
pub fn error_fields(mut b: &[u8]) -> PgError {
    let mut e = PgError::default();
    let mut localized = None;
    while let Some((&t, rest)) = b.split_first() {
        if t == 0 {
            break;
        }
        let Some((v, rest)) = cstr(rest) else {
            break;
        };
        match t {
            b'V' => e.severity = text(v),
            b'S' => localized = Some(text(v)),
            b'C' => e.code = text(v),
            b'M' => e.message = text(v),
            _ => {}
        }
        b = rest;
    }
    if e.severity.is_empty() {
        e.severity = localized.unwrap_or_default();
    }
    e
}

/// Big-endian 2-byte integer at the front of `b`.
pub fn be16(b: &[u8]) -> Option<u16> {
    match *b {
        [a, c, ..] => Some(u16::from_be_bytes([a, c])),
        _ => None,
    }
}

/// Column names of a RowDescription body (stops at the first malformed field).
pub fn row_description(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = b.get(2..).unwrap_or_default();
    std::iter::from_fn(move || {
        let (name, r) = cstr(rest)?;
        rest = r.get(18..)?;
        Some(name)
    })
}

/// Column values of a DataRow body (`None` = NULL); stops at the first field that runs past
/// the data.
pub fn data_row(b: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    let mut rest = b.get(2..).unwrap_or_default();
    std::iter::from_fn(move || {
        let (len, r) = rest.split_at_checked(4)?;
        let n = i32::from_be_bytes([*len.first()?, *len.get(1)?, *len.get(2)?, *len.get(3)?]);
        if n < 0 {
            rest = r;
            return Some(None);
        }
        let (v, r) = r.split_at_checked(usize::try_from(n).ok()?)?;
        rest = r;
        Some(Some(v))
    })
}

/// The first SQL word, uppercase, as sent (`SELEC *` → `SELEC`, `BEGIN;` → `BEGIN`).
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

/// SQL text with every whitespace run collapsed to one space, trimmed.
pub fn normalize_ws(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for w in q.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}
