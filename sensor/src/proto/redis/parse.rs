//! Pure, borrowing helpers for RESP2/RESP3: line splitting, header lines, inline commands.

/// Longest line accepted (simple strings, errors, numbers, inline commands): Redis' own
/// inline limit (`PROTO_INLINE_MAX_SIZE`, 64 KiB); longer lines mean we are out of sync.
pub const MAX_LINE: usize = 64 * 1024;

/// One complete line at the start of `data`.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line without its terminator, and the bytes it took (terminator included).
    Full(&'a [u8], usize),
    /// No terminator yet.
    Partial,
    /// No terminator within [`MAX_LINE`] bytes.
    TooLong,
}

/// The line at the start of `data`, ended by `\n` (an optional `\r` before it is stripped).
pub fn line(data: &[u8]) -> Line<'_> {
    let window = data.get(..data.len().min(MAX_LINE + 2)).unwrap_or(data);
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let body = window.get(..nl).unwrap_or_default();
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            Line::Full(body, nl + 1)
        }
        None if window.len() > MAX_LINE => Line::TooLong,
        None => Line::Partial,
    }
}

/// A parsed RESP type line (the byte and the text after it).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Header<'a> {
    /// `+` simple string.
    Simple(&'a [u8]),
    /// `-` simple error.
    Error(&'a [u8]),
    /// `:` integer (kept as text).
    Integer(&'a [u8]),
    /// `,` double, `(` big number (kept as text).
    Number(&'a [u8]),
    /// `#t` / `#f`.
    Boolean(bool),
    /// `_` null, `$-1` nil bulk, `*-1` nil array.
    Null,
    /// `$` bulk string, `=` verbatim string, `!` bulk error: content length.
    Bulk(BulkKind, u64),
    /// `$?`: streamed string (`;len` chunks follow, `;0` ends).
    StreamedBulk,
    /// `;len`: a chunk of a streamed string.
    Chunk(u64),
    /// `*`, `%`, `~`, `>`, `|` with an element count (maps/attributes: pairs).
    Aggregate(AggKind, u64),
    /// `*?`, `%?`, `~?`, `>?`: streamed aggregate ended by `.`.
    StreamedAggregate(AggKind),
    /// `.`: end of a streamed aggregate.
    End,
}

/// Which blob type a bulk header announced.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum BulkKind {
    /// `$`.
    String,
    /// `=` (content starts with a 3-letter format and `:`).
    Verbatim,
    /// `!`.
    Error,
}

/// Which aggregate a header announced.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum AggKind {
    /// `*`.
    Array,
    /// `%` (pairs).
    Map,
    /// `~`.
    Set,
    /// `>` (RESP3 out-of-band data).
    Push,
    /// `|` (pairs; metadata before the value it describes).
    Attribute,
}

/// Is `b` a byte that starts a RESP value?
pub fn is_type_byte(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b':'
            | b'$'
            | b'*'
            | b'_'
            | b','
            | b'#'
            | b'!'
            | b'='
            | b'('
            | b'%'
            | b'~'
            | b'>'
            | b'|'
            | b';'
            | b'.'
    )
}

/// A decimal integer (optional sign), as RESP writes lengths and counts.
pub fn int(text: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(text).ok()?;
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.parse::<i64>().ok()
}

/// A non-negative length or count; `-1` (and other negatives) → `None` = nil.
fn length(text: &[u8]) -> Result<Option<u64>, ()> {
    let n = int(text).ok_or(())?;
    if n < 0 {
        return if n == -1 { Ok(None) } else { Err(()) };
    }
    u64::try_from(n).map(Some).map_err(|_| ())
}

/// Parse one type line (without terminator). `None` = not RESP.
pub fn header(line: &[u8]) -> Option<Header<'_>> {
    let (&t, rest) = line.split_first()?;
    let agg = |k: AggKind| -> Option<Header<'_>> {
        if rest == b"?" {
            return Some(Header::StreamedAggregate(k));
        }
        match length(rest).ok()? {
            None => Some(Header::Null),
            Some(n) => Some(Header::Aggregate(k, n)),
        }
    };
    let bulk = |k: BulkKind| -> Option<Header<'_>> {
        if rest == b"?" && k == BulkKind::String {
            return Some(Header::StreamedBulk);
        }
        match length(rest).ok()? {
            None => Some(Header::Null),
            Some(n) => Some(Header::Bulk(k, n)),
        }
    };
    match t {
        b'+' => Some(Header::Simple(rest)),
        b'-' => Some(Header::Error(rest)),
        b':' => int(rest).map(|_| Header::Integer(rest)),
        b',' | b'(' => (!rest.is_empty()).then_some(Header::Number(rest)),
        b'#' => match rest {
            b"t" => Some(Header::Boolean(true)),
            b"f" => Some(Header::Boolean(false)),
            _ => None,
        },
        b'_' => rest.is_empty().then_some(Header::Null),
        b'$' => bulk(BulkKind::String),
        b'=' => bulk(BulkKind::Verbatim),
        b'!' => bulk(BulkKind::Error),
        b';' => length(rest).ok().flatten().map(Header::Chunk),
        b'*' => agg(AggKind::Array),
        b'%' => agg(AggKind::Map),
        b'~' => agg(AggKind::Set),
        b'>' => agg(AggKind::Push),
        b'|' => agg(AggKind::Attribute),
        b'.' => rest.is_empty().then_some(Header::End),
        _ => None,
    }
}

/// Split an inline command line into arguments like Redis' `sdssplitargs`: blanks separate,
/// `"..."` understands `\n \r \t \b \a \\ \" \xHH`, `'...'` understands `\'`. `None` when the
/// quotes are unbalanced (Redis answers with a protocol error).
pub fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut it = line.iter().copied().peekable();
    loop {
        while it.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            it.next();
        }
        let Some(&first) = it.peek() else {
            return Some(out);
        };
        let mut cur = Vec::new();
        match first {
            b'"' => {
                it.next();
                loop {
                    match it.next()? {
                        b'"' => break,
                        b'\\' => {
                            let e = it.next()?;
                            match e {
                                b'n' => cur.push(b'\n'),
                                b'r' => cur.push(b'\r'),
                                b't' => cur.push(b'\t'),
                                b'b' => cur.push(8),
                                b'a' => cur.push(7),
                                b'x' => {
                                    let hi = it.next()?;
                                    let lo = it.next()?;
                                    let hex = [hi, lo];
                                    let v = std::str::from_utf8(&hex)
                                        .ok()
                                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                                    match v {
                                        Some(v) => cur.push(v),
                                        None => cur.extend_from_slice(&[b'x', hi, lo]),
                                    }
                                }
                                other => cur.push(other),
                            }
                        }
                        b => cur.push(b),
                    }
                }
                if it.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                    return None;
                }
            }
            b'\'' => {
                it.next();
                loop {
                    match it.next()? {
                        b'\'' => break,
                        b'\\' if it.peek() == Some(&b'\'') => {
                            it.next();
                            cur.push(b'\'');
                        }
                        b => cur.push(b),
                    }
                }
                if it.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                    return None;
                }
            }
            _ => {
                while let Some(&b) = it.peek() {
                    if b.is_ascii_whitespace() {
                        break;
                    }
                    cur.push(b);
                    it.next();
                }
            }
        }
        out.push(cur);
    }
}

/// Pub/sub confirmation kinds (first element of the reply array).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum SubKind {
    /// `subscribe` / `SUBSCRIBE`.
    Subscribe,
    /// `psubscribe` / `PSUBSCRIBE`.
    PSubscribe,
    /// `ssubscribe` / `SSUBSCRIBE`.
    SSubscribe,
    /// `unsubscribe` / `UNSUBSCRIBE`.
    Unsubscribe,
    /// `punsubscribe` / `PUNSUBSCRIBE`.
    PUnsubscribe,
    /// `sunsubscribe` / `SUNSUBSCRIBE`.
    SUnsubscribe,
}

impl SubKind {
    /// The kind named by a command or reply word (case-insensitive).
    pub fn from_word(w: &[u8]) -> Option<SubKind> {
        const WORDS: [(&[u8], SubKind); 6] = [
            (b"subscribe", SubKind::Subscribe),
            (b"psubscribe", SubKind::PSubscribe),
            (b"ssubscribe", SubKind::SSubscribe),
            (b"unsubscribe", SubKind::Unsubscribe),
            (b"punsubscribe", SubKind::PUnsubscribe),
            (b"sunsubscribe", SubKind::SUnsubscribe),
        ];
        WORDS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(w))
            .map(|(_, k)| *k)
    }

    /// Does the command remove subscriptions?
    pub fn is_unsubscribe(self) -> bool {
        matches!(
            self,
            SubKind::Unsubscribe | SubKind::PUnsubscribe | SubKind::SUnsubscribe
        )
    }
}

/// Is `w` the first element of a pushed pub/sub message (`message`, `pmessage`, `smessage`)?
pub fn is_message_word(w: &[u8]) -> bool {
    [&b"message"[..], b"pmessage", b"smessage"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(header(b"+OK"), Some(Header::Simple(b"OK")));
        assert_eq!(header(b"$-1"), Some(Header::Null));
        assert_eq!(header(b"*-1"), Some(Header::Null));
        assert_eq!(header(b"$5"), Some(Header::Bulk(BulkKind::String, 5)));
        assert_eq!(header(b"$-2"), None);
        assert_eq!(header(b"%2"), Some(Header::Aggregate(AggKind::Map, 2)));
        assert_eq!(
            header(b"*?"),
            Some(Header::StreamedAggregate(AggKind::Array))
        );
        assert_eq!(header(b"$?"), Some(Header::StreamedBulk));
        assert_eq!(header(b";0"), Some(Header::Chunk(0)));
        assert_eq!(header(b"#t"), Some(Header::Boolean(true)));
        assert_eq!(header(b"#x"), None);
        assert_eq!(header(b":12a"), None);
        assert_eq!(header(b"_"), Some(Header::Null));
        assert_eq!(header(b"GET x"), None);
        assert_eq!(header(b""), None);
    }

    #[test]
    fn lines() {
        assert_eq!(line(b"+OK\r\nrest"), Line::Full(b"+OK", 5));
        assert_eq!(line(b"PING\n"), Line::Full(b"PING", 5));
        assert_eq!(line(b"+OK\r"), Line::Partial);
        assert_eq!(line(&vec![b'a'; MAX_LINE + 10]), Line::TooLong);
    }

    #[test]
    fn inline_split() {
        assert_eq!(
            split_inline(b"SET  k \"a b\\x41\" 'c\\'d'").unwrap(),
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a bA".to_vec(),
                b"c'd".to_vec()
            ]
        );
        assert_eq!(split_inline(b"  ").unwrap(), Vec::<Vec<u8>>::new());
        assert!(split_inline(b"GET \"x").is_none());
    }
}
