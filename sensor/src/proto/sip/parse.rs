//! Borrowing SIP message parser (RFC 3261 §7): start line, headers (compact forms, folding),
//! Content-Length framing for streams.

/// Longest header section accepted (start line + headers): real SIP messages have a few KiB of
/// headers; beyond this a stream is not SIP (or hostile) and parsing stops.
pub const MAX_HEADER: usize = 64 * 1024;
/// Headers kept per message: RFC 3261 sets no limit, but SIP messages carry a few dozen; the
/// rest are ignored so a flood of tiny headers cannot grow the list.
pub const MAX_HEADERS: usize = 256;

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Start<'a> {
    /// `METHOD URI SIP/2.0`.
    Request {
        /// Method as sent.
        method: &'a str,
        /// Request-URI.
        uri: &'a str,
    },
    /// `SIP/2.0 CODE PHRASE`.
    Response {
        /// Status code.
        code: u16,
        /// Reason phrase.
        phrase: &'a str,
    },
}

/// A parsed SIP message borrowing its bytes.
#[derive(Debug)]
pub struct Message<'a> {
    /// The start line.
    pub start: Start<'a>,
    /// Protocol version after `SIP/` (`2.0`).
    pub version: &'a str,
    /// Headers in order: (name as sent, value trimmed; folded lines still inside).
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// The body (at most Content-Length bytes).
    pub body: &'a [u8],
    /// Content-Length when present and numeric.
    pub content_length: Option<usize>,
    /// The header section did not end with an empty line (datagrams only).
    pub unterminated: bool,
}

/// Result of looking for one message at the start of a stream buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Headers are complete: `head` bytes of start line + headers (incl. the empty line) and a
    /// body of `body` bytes (Content-Length, 0 when absent).
    Ready {
        /// Length of the header section.
        head: usize,
        /// Content-Length.
        body: usize,
    },
    /// More bytes needed.
    Incomplete,
    /// The header section is larger than [`MAX_HEADER`].
    TooLarge,
    /// Not a SIP start line.
    Invalid,
}

/// Position of the first `\r\n\r\n` (or bare `\n\n`) and the length of that terminator.
fn header_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = b.get(i..).and_then(|s| s.iter().position(|&c| c == b'\n')) {
        let nl = i + p;
        match (b.get(nl + 1), b.get(nl + 2)) {
            (Some(b'\r'), Some(b'\n')) => return Some((nl + 1, 2)),
            (Some(b'\n'), _) => return Some((nl + 1, 1)),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

/// Number of leading CR/LF bytes (keep-alives and RFC 3261 §7.5 empty lines).
pub fn leading_crlf(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| c == b'\r' || c == b'\n').count()
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// Parse a start line (without its line end).
pub fn start_line(line: &[u8]) -> Option<(Start<'_>, &str)> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, rest) = rest.split_once(' ')?;
        let rest = rest.trim_start();
        let (code, phrase) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) || version.is_empty() {
            return None;
        }
        let code = code.parse().ok()?;
        return Some((Start::Response { code, phrase }, version));
    }
    let (method, rest) = line.split_once(' ')?;
    let (uri, version) = rest.trim().rsplit_once(' ')?;
    let version = version.strip_prefix("SIP/")?;
    if method.is_empty() || !method.bytes().all(is_token) || uri.trim().is_empty() {
        return None;
    }
    Some((
        Start::Request {
            method,
            uri: uri.trim(),
        },
        version,
    ))
}

/// First line of `b` (without CR LF) when complete.
fn first_line(b: &[u8]) -> Option<&[u8]> {
    let n = b.iter().position(|&c| c == b'\n')?;
    let line = b.get(..n)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Longest method name accepted while the start line is incomplete (real methods have ≤ 9
/// letters; extensions are short tokens too).
const MAX_METHOD: usize = 32;

/// True when `b` starts with something that can still become a SIP start line.
pub fn plausible_start(b: &[u8]) -> bool {
    if let Some(line) = first_line(b) {
        return start_line(line).is_some();
    }
    let b = b.strip_suffix(b"\r").unwrap_or(b);
    if b.starts_with(b"SIP/") || b"SIP/".starts_with(b) {
        return b.iter().all(|&c| c >= b' ' && c != 0x7f);
    }
    match b.iter().position(|&c| c == b' ') {
        Some(sp) => {
            let (method, rest) = b.split_at(sp);
            !method.is_empty()
                && method.iter().all(|&c| is_token(c))
                && rest.iter().all(|&c| c >= b' ' && c != 0x7f)
        }
        None => b.len() <= MAX_METHOD && b.iter().all(|&c| is_token(c)),
    }
}

/// Look for one message at the start of `b` (no leading CR/LF).
pub fn frame(b: &[u8]) -> Frame {
    match first_line(b) {
        Some(line) if start_line(line).is_none() => return Frame::Invalid,
        None if !plausible_start(b) => return Frame::Invalid,
        None if b.len() > MAX_HEADER => return Frame::TooLarge,
        None => return Frame::Incomplete,
        Some(_) => {}
    }
    let Some((at, term)) = header_end(b) else {
        return if b.len() > MAX_HEADER {
            Frame::TooLarge
        } else {
            Frame::Incomplete
        };
    };
    let head = at + term;
    if head > MAX_HEADER {
        return Frame::TooLarge;
    }
    let hdrs = b.get(..at).unwrap_or(&[]);
    let body = header_lines(hdrs)
        .filter(|(n, _)| is_name(n, "content-length"))
        .find_map(|(_, v)| parse_usize(v))
        .unwrap_or(0);
    Frame::Ready { head, body }
}

/// A decimal number (leading digits of a trimmed value).
pub fn parse_usize(v: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..digits)?.parse().ok()
}

/// Compact header forms (RFC 3261 §7.3.3 and the IANA registry, as Packetbeat expands them).
fn expand(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes().first().map(u8::to_ascii_lowercase) {
        Some(b'a') => "accept-contact",
        Some(b'b') => "referred-by",
        Some(b'c') => "content-type",
        Some(b'd') => "request-disposition",
        Some(b'e') => "content-encoding",
        Some(b'f') => "from",
        Some(b'i') => "call-id",
        Some(b'j') => "reject-contact",
        Some(b'k') => "supported",
        Some(b'l') => "content-length",
        Some(b'm') => "contact",
        Some(b'o') => "event",
        Some(b'r') => "refer-to",
        Some(b's') => "subject",
        Some(b't') => "to",
        Some(b'u') => "allow-events",
        Some(b'v') => "via",
        Some(b'x') => "session-expires",
        Some(b'y') => "identity",
        _ => name,
    }
}

/// True when header `name` (as sent, maybe compact) is `want` (lowercase long form).
pub fn is_name(name: &str, want: &str) -> bool {
    expand(name).eq_ignore_ascii_case(want)
}

/// Header lines of a header section (after the start line): (name, trimmed value), folded
/// continuation lines kept inside the value.
fn header_lines(section: &[u8]) -> impl Iterator<Item = (&str, &[u8])> {
    // Skip the start line.
    let mut rest = match section.iter().position(|&c| c == b'\n') {
        Some(n) => section.get(n + 1..).unwrap_or(&[]),
        None => &[],
    };
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        // The end of this header: a line end not followed by a space or tab.
        let mut end = rest.len();
        let mut next = rest.len();
        let mut i = 0;
        while let Some(p) = rest
            .get(i..)
            .and_then(|s| s.iter().position(|&c| c == b'\n'))
        {
            let nl = i + p;
            if !matches!(rest.get(nl + 1), Some(b' ' | b'\t')) {
                end = if nl > 0 && rest.get(nl - 1) == Some(&b'\r') {
                    nl - 1
                } else {
                    nl
                };
                next = nl + 1;
                break;
            }
            i = nl + 1;
        }
        let line = rest.get(..end).unwrap_or(&[]);
        rest = rest.get(next..).unwrap_or(&[]);
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let value = value.get(1..).unwrap_or(&[]).trim_ascii();
        return Some((name.trim(), value));
    })
}

impl<'a> Message<'a> {
    /// Parse one whole message (a datagram, or a stream message cut by [`frame`]).
    pub fn parse(b: &'a [u8]) -> Option<Message<'a>> {
        let b = b.get(leading_crlf(b)..)?;
        let line = first_line(b)?;
        let (start, version) = start_line(line)?;
        let (section, body, unterminated) = match header_end(b) {
            Some((at, term)) => (
                b.get(..at).unwrap_or(&[]),
                b.get(at + term..).unwrap_or(&[]),
                false,
            ),
            None => (b, &[][..], true),
        };
        let mut headers = Vec::new();
        for h in header_lines(section) {
            if headers.len() >= MAX_HEADERS {
                break;
            }
            headers.push(h);
        }
        let content_length = headers
            .iter()
            .filter(|(n, _)| is_name(n, "content-length"))
            .find_map(|(_, v)| parse_usize(v));
        let body = match content_length {
            Some(n) => body.get(..n).unwrap_or(body),
            None => body,
        };
        Some(Message {
            start,
            version,
            headers,
            body,
            content_length,
            unterminated,
        })
    }

    /// Values of header `name` (lowercase long form), in order.
    pub fn all(&self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.headers
            .iter()
            .filter(move |(n, _)| is_name(n, name))
            .map(|(_, v)| *v)
    }

    /// The first value of header `name`.
    pub fn first(&self, name: &'static str) -> Option<&'a [u8]> {
        self.all(name).next()
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }
}
