//! Pure, borrowing HTTP/1.x parsers: start line + header block (via `httparse`), chunk-size
//! lines, start-line detection for resynchronisation, and small helpers for header values.
//! Nothing here keeps state or panics on input.

use serde_json::{Map, Value};

use super::Config;

/// Most header fields one message may carry: `httparse` needs a fixed array, and real clients
/// and servers send a few dozen at most (nginx refuses requests long before this).
pub const MAX_HEADERS: usize = 128;

/// Longest method token accepted when guessing whether bytes start a request line: the longest
/// registered method (`UPDATEREDIRECTREF`) has 17 characters.
const MAX_METHOD_LEN: usize = 20;

/// Value of a redacted header (`redact_headers`), as Packetbeat writes it.
const REDACTED: &str = "REDACTED";

/// Methods that make a request line certain (probe `Match`).
const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"PURGE",
];

/// Answer of a look at the first bytes of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Looks {
    /// A request line (or status line) as far as can be told.
    Yes,
    /// Too few bytes to tell.
    Maybe,
    /// Not a start line.
    No,
}

/// Does `data` begin with an HTTP/1.x request line?
pub fn looks_like_request(data: &[u8]) -> Looks {
    let mut method_len = 0usize;
    for &b in data.iter() {
        if b == b' ' {
            break;
        }
        if !is_tchar(b) || method_len >= MAX_METHOD_LEN {
            return Looks::No;
        }
        method_len += 1;
    }
    if method_len == data.len() {
        return Looks::Maybe;
    }
    if method_len == 0 {
        return Looks::No;
    }
    // Request-target and version: look at the rest of the line.
    let rest = data.get(method_len.saturating_add(1)..).unwrap_or_default();
    match rest.first() {
        None => return Looks::Maybe,
        Some(b' ' | b'\r' | b'\n') => return Looks::No,
        Some(_) => {}
    }
    let Some(eol) = rest.iter().position(|&b| b == b'\n') else {
        return if rest.iter().any(|&b| b < 0x20 && b != b'\t' && b != b'\r') {
            Looks::No
        } else {
            Looks::Maybe
        };
    };
    let line = trim_cr(rest.get(..eol).unwrap_or_default());
    match line.rsplit(|&b| b == b' ').next() {
        Some(v) if is_http1_version(v) => Looks::Yes,
        _ => Looks::No,
    }
}

/// Does `data` begin with an HTTP/1.x status line?
pub fn looks_like_response(data: &[u8]) -> Looks {
    const PREFIX: &[u8] = b"HTTP/1.";
    let n = data.len().min(PREFIX.len());
    if data.get(..n) != PREFIX.get(..n) {
        return Looks::No;
    }
    // "HTTP/1.x NNN"
    let tail = data.get(PREFIX.len()..).unwrap_or_default();
    let mut it = tail.iter();
    match it.next() {
        None => return Looks::Maybe,
        Some(b) if b.is_ascii_digit() => {}
        Some(_) => return Looks::No,
    }
    match it.next() {
        None => return Looks::Maybe,
        Some(b' ') => {}
        Some(_) => return Looks::No,
    }
    for _ in 0..3 {
        match it.next() {
            None => return Looks::Maybe,
            Some(b) if b.is_ascii_digit() => {}
            Some(_) => return Looks::No,
        }
    }
    Looks::Yes
}

/// Does `data` start with a well-known method followed by a space?
pub fn known_method_prefix(data: &[u8]) -> bool {
    KNOWN_METHODS.iter().any(|m| {
        data.strip_prefix(*m)
            .is_some_and(|rest| rest.first() == Some(&b' '))
    })
}

/// Is `b` a token character (RFC 9110 `tchar`)?
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `HTTP/1.0` or `HTTP/1.1` (any minor digit).
fn is_http1_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit())
}

/// `line` without one trailing `\r`.
pub fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Position just past the empty line that ends a header block, searching from `from`
/// (a position already known not to end the block). `None` while incomplete.
pub fn find_head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(rel) = data
        .get(i..)
        .and_then(|d| d.iter().position(|&b| b == b'\n'))
    {
        let nl = i.saturating_add(rel);
        let next = data.get(nl.saturating_add(1)..).unwrap_or_default();
        match next {
            [b'\n', ..] => return Some(nl.saturating_add(2)),
            [b'\r', b'\n', ..] => return Some(nl.saturating_add(3)),
            _ => {}
        }
        i = nl.saturating_add(1);
    }
    None
}

/// What a request line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLine {
    /// Method as sent (case preserved).
    pub method: String,
    /// Request-target as sent.
    pub target: String,
}

/// What a status line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusLine {
    /// Status code.
    pub code: u16,
    /// Reason phrase as sent.
    pub phrase: String,
}

/// Start line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A request.
    Request(RequestLine),
    /// A response.
    Response(StatusLine),
}

/// Everything the dissector keeps of a parsed header block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeadInfo {
    /// Minor version (`HTTP/1.x`).
    pub minor: u8,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` ends with `chunked`.
    pub chunked: bool,
    /// A `Transfer-Encoding` header is present.
    pub has_te: bool,
    /// Codings applied to the body, in the order the sender applied them (Content-Encoding
    /// first, then transfer codings other than `chunked`), lowercase.
    pub encodings: Vec<String>,
    /// `Connection: close`.
    pub conn_close: bool,
    /// `Connection: keep-alive`.
    pub conn_keep_alive: bool,
    /// `Host`.
    pub host: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Referer`.
    pub referer: Option<String>,
    /// First address of `real_ip_header`.
    pub real_ip: Option<String>,
    /// User of a Basic `Authorization`.
    pub auth_user: Option<String>,
    /// Headers selected for `http.*.headers` (lowercase names), without content-length/-type.
    pub headers: Map<String, Value>,
    /// The header block as text (start line included), for `send_request`/`send_response`.
    pub raw: Option<String>,
}

/// Why a header block was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x syntax.
    Syntax,
    /// More than [`MAX_HEADERS`] fields.
    TooManyHeaders,
    /// An unparsable `Content-Length`.
    BadContentLength,
}

/// Options that shape [`parse_head`]'s output.
pub struct HeadOpts<'a> {
    /// The protocol config.
    pub cfg: &'a Config,
    /// Parsing a request (else a response).
    pub request: bool,
    /// Keep the raw header text.
    pub keep_raw: bool,
}

fn parser_config() -> httparse::ParserConfig {
    let mut pc = httparse::ParserConfig::default();
    pc.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    pc
}

/// Parse a complete header block `block` (start line through the empty line).
pub fn parse_head(block: &[u8], opts: &HeadOpts<'_>) -> Result<(Start, HeadInfo), HeadError> {
    let mut hbuf = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let pc = parser_config();
    let (start, minor, headers): (Start, u8, &[httparse::Header<'_>]) = if opts.request {
        let mut req = httparse::Request::new(&mut hbuf);
        match pc.parse_request(&mut req, block) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HeadError::Syntax),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
            Err(_) => return Err(HeadError::Syntax),
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(HeadError::Syntax);
        };
        (
            Start::Request(RequestLine {
                method: method.to_owned(),
                target: target.to_owned(),
            }),
            minor,
            req.headers,
        )
    } else {
        let mut resp = httparse::Response::new(&mut hbuf);
        match pc.parse_response(&mut resp, block) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HeadError::Syntax),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
            Err(_) => return Err(HeadError::Syntax),
        }
        let (Some(code), Some(minor)) = (resp.code, resp.version) else {
            return Err(HeadError::Syntax);
        };
        (
            Start::Response(StatusLine {
                code,
                phrase: resp.reason.unwrap_or_default().to_owned(),
            }),
            minor,
            resp.headers,
        )
    };
    let mut info = HeadInfo {
        minor,
        ..HeadInfo::default()
    };
    for h in headers.iter() {
        collect_header(&mut info, h.name, h.value, opts)?;
    }
    if opts.keep_raw {
        let mut raw = String::from_utf8_lossy(block).into_owned();
        if opts.request && opts.cfg.redact_authorization {
            super::values::redact_raw_authorization(&mut raw);
        }
        info.raw = Some(raw);
    }
    Ok((start, info))
}

/// Record one header field.
fn collect_header(
    info: &mut HeadInfo,
    name: &str,
    value: &[u8],
    opts: &HeadOpts<'_>,
) -> Result<(), HeadError> {
    let cfg = opts.cfg;
    let value = trim_ows(value);
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if is("content-length") {
        let n = parse_decimal(value).ok_or(HeadError::BadContentLength)?;
        if info.content_length.is_some_and(|old| old != n) {
            return Err(HeadError::BadContentLength);
        }
        info.content_length = Some(n);
    } else if is("content-type") {
        info.content_type = Some(lossy(value));
    } else if is("transfer-encoding") {
        info.has_te = true;
        let mut codings: Vec<String> = comma_list(value).map(|c| c.to_ascii_lowercase()).collect();
        if codings.last().is_some_and(|c| c == "chunked") {
            info.chunked = true;
            codings.pop();
        }
        info.encodings.extend(codings);
    } else if is("content-encoding") {
        let mut codings: Vec<String> = comma_list(value).map(|c| c.to_ascii_lowercase()).collect();
        codings.append(&mut info.encodings);
        info.encodings = codings;
    } else if is("connection") {
        for tok in comma_list(value) {
            if tok.eq_ignore_ascii_case("close") {
                info.conn_close = true;
            } else if tok.eq_ignore_ascii_case("keep-alive") {
                info.conn_keep_alive = true;
            }
        }
    } else if is("host") {
        info.host = Some(lossy(value));
    } else if is("user-agent") {
        info.user_agent = Some(lossy(value));
    } else if is("referer") {
        info.referer = Some(lossy(value));
    }
    if let Some(rh) = cfg.real_ip_header.as_deref() {
        if !rh.is_empty() && name.eq_ignore_ascii_case(rh) {
            info.real_ip = comma_list(value).next().map(str::to_owned);
        }
    }
    let is_auth = is("authorization") || is("proxy-authorization");
    if opts.request && is("authorization") && !cfg.redact_authorization {
        info.auth_user = super::values::basic_auth_user(value);
    }
    if is("content-length") || is("content-type") || !cfg.header_selected(name) {
        return Ok(());
    }
    let key = name.to_ascii_lowercase();
    let text = if cfg
        .redact_headers
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        REDACTED.to_owned()
    } else if is_auth && opts.request && cfg.redact_authorization && !value.is_empty() {
        "*".to_owned()
    } else {
        lossy(value)
    };
    let cookie = if opts.request { "cookie" } else { "set-cookie" };
    if cfg.split_cookie && key == cookie {
        let mut map = match info.headers.remove(&key) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        super::values::split_cookies(&text, &mut map);
        info.headers.insert(key, Value::Object(map));
        return Ok(());
    }
    match info.headers.get_mut(&key) {
        Some(Value::String(old)) => {
            old.push_str(", ");
            old.push_str(&text);
        }
        _ => {
            info.headers.insert(key, Value::String(text));
        }
    }
    Ok(())
}

/// Items of a comma-separated header value, trimmed, empty ones skipped.
fn comma_list(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Value without leading/trailing spaces and tabs.
pub(super) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e.saturating_add(1));
    v.get(start..end).unwrap_or_default()
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// A non-negative decimal number (no sign, no spaces), `None` on overflow or other bytes.
pub fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The size of a chunk-size line (`1a;ext=1`, without the line end). `None` when invalid.
pub fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let end = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let hex = line.get(..end)?;
    if hex.is_empty() {
        return None;
    }
    hex.iter().try_fold(0u64, |acc, &b| {
        let d = char::from(b).to_digit(16)?;
        acc.checked_mul(16)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_line_detection() {
        assert_eq!(looks_like_request(b"GET / HTTP/1.1\r\n"), Looks::Yes);
        assert_eq!(looks_like_request(b"GE"), Looks::Maybe);
        assert_eq!(looks_like_request(b"GET /x"), Looks::Maybe);
        assert_eq!(looks_like_request(b"GET /x HTTP/2\r\n"), Looks::No);
        assert_eq!(looks_like_request(b"\x16\x03\x01"), Looks::No);
        assert_eq!(looks_like_request(b" GET"), Looks::No);
        assert_eq!(looks_like_response(b"HTTP/1.1 200 OK\r\n"), Looks::Yes);
        assert_eq!(looks_like_response(b"HTTP/1."), Looks::Maybe);
        assert_eq!(looks_like_response(b"HTTP/2 200"), Looks::No);
        assert_eq!(looks_like_response(b"hello"), Looks::No);
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nX", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\nX", 0), Some(21));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a"), Some(26));
        assert_eq!(parse_chunk_size(b"1A;name=value"), Some(26));
        assert_eq!(parse_chunk_size(b"0"), Some(0));
        assert_eq!(parse_chunk_size(b""), None);
        assert_eq!(parse_chunk_size(b"zz"), None);
        assert_eq!(parse_chunk_size(b"ffffffffffffffffff"), None);
    }
}
