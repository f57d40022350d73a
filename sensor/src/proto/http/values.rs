//! Helpers for header and URL values: cookies, Basic-auth user, Authorization redaction,
//! Host splitting and `hide_keywords` on query strings. Pure and panic-free.

use serde_json::{Map, Value};

use super::parse::trim_ows;

/// `name=value; name2="value2"` → lowercase names → values (quotes stripped), as Packetbeat.
pub fn split_cookies(header: &str, out: &mut Map<String, Value>) {
    for part in header.split(';') {
        if let Some((k, v)) = part.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(v);
            out.insert(k.trim().to_ascii_lowercase(), Value::String(v.to_owned()));
        }
    }
}

/// Replace the value of every `Authorization:`/`Proxy-Authorization:` line of a raw header
/// block with `*` characters (Packetbeat's `redact_authorization` on `request`).
pub fn redact_raw_authorization(raw: &mut String) {
    let mut out = String::with_capacity(raw.len());
    for line in raw.split_inclusive('\n') {
        let lower_is_auth = line
            .split_once(':')
            .map(|(n, _)| {
                n.eq_ignore_ascii_case("authorization")
                    || n.eq_ignore_ascii_case("proxy-authorization")
            })
            .unwrap_or(false);
        match line.split_once(':') {
            Some((n, v)) if lower_is_auth => {
                out.push_str(n);
                out.push(':');
                let body = v.trim_end_matches(['\r', '\n']);
                out.extend(std::iter::repeat_n('*', body.chars().count()));
                out.push_str(v.get(body.len()..).unwrap_or_default());
            }
            _ => out.push_str(line),
        }
    }
    *raw = out;
}

/// The user name of `Basic <base64(user:password)>`.
pub fn basic_auth_user(value: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let rest = trim_ows(rest);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(rest))
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = decoded.get(..colon)?;
    Some(String::from_utf8_lossy(user).into_owned())
}

/// Split a `Host` header into host and port (0 when absent), as Packetbeat does; IPv6
/// literals lose their brackets.
pub fn split_host(header: &str) -> (&str, u16) {
    if let Some(rest) = header.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            let port = tail
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(0);
            return (h, port);
        }
        return (header, 0);
    }
    if header.parse::<std::net::IpAddr>().is_ok() {
        return (header, 0);
    }
    match header.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
            Ok(port) if port != 0 => (h, port),
            _ => (header, 0),
        },
        _ => (header, 0),
    }
}

/// Query string with the value of every parameter named in `keywords` (case-insensitive)
/// replaced by `xxxxx` (Packetbeat's `hide_keywords`). Parameter order is kept.
pub fn hide_query_keywords(query: &str, keywords: &[String]) -> String {
    if keywords.is_empty() {
        return query.to_owned();
    }
    let mut out = String::with_capacity(query.len());
    for (i, part) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let key = part.split_once('=').map_or(part, |(k, _)| k);
        if keywords.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            out.push_str(key);
            out.push_str("=xxxxx");
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(split_host("www.corp.test"), ("www.corp.test", 0));
        assert_eq!(split_host("www.corp.test:8080"), ("www.corp.test", 8080));
        assert_eq!(split_host("[2001:db8::1]:81"), ("2001:db8::1", 81));
        assert_eq!(split_host("[2001:db8::1]"), ("2001:db8::1", 0));
        assert_eq!(split_host("2001:db8::1"), ("2001:db8::1", 0));
        assert_eq!(split_host("10.0.0.1:80"), ("10.0.0.1", 80));
    }

    #[test]
    fn basic_auth() {
        // alice:secret
        assert_eq!(
            basic_auth_user(b"Basic YWxpY2U6c2VjcmV0").as_deref(),
            Some("alice")
        );
        assert_eq!(basic_auth_user(b"Bearer abc"), None);
        assert_eq!(basic_auth_user(b"Basic !!!"), None);
    }

    #[test]
    fn keywords_hidden() {
        let kw = vec!["password".to_owned()];
        assert_eq!(
            hide_query_keywords("user=a&PassWord=b&x", &kw),
            "user=a&PassWord=xxxxx&x"
        );
    }

    #[test]
    fn raw_authorization_redacted() {
        let mut s = "GET / HTTP/1.1\r\nAuthorization: Basic abc\r\nHost: x\r\n\r\n".to_owned();
        redact_raw_authorization(&mut s);
        assert_eq!(
            s,
            "GET / HTTP/1.1\r\nAuthorization:**********\r\nHost: x\r\n\r\n"
        );
    }
}
