//! Parsers of SIP header values and SDP bodies (Packetbeat's `parseURI`,
//! `parseFromToContact`, authorization and SDP handling), borrowing the message.

/// A SIP/SIPS/TEL URI split as Packetbeat does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The URI as sent.
    pub original: &'a str,
    /// `sip`, `sips`, `tel`...
    pub scheme: &'a str,
    /// User part (without password), when present and not `-`.
    pub username: Option<&'a str>,
    /// Host (IPv6 literals keep their brackets).
    pub host: &'a str,
    /// Port, when present and numeric.
    pub port: Option<u16>,
    /// URI parameters (`;name=value`), names as sent.
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> Uri<'a> {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Split `a;b=c;d` parameters into (name, value) pairs (value empty when absent).
pub fn params(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(';').filter_map(|p| {
        let p = p.trim();
        if p.is_empty() {
            return None;
        }
        Some(match p.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim().trim_matches('"')),
            None => (p, ""),
        })
    })
}

/// Parse a URI.
pub fn uri(s: &str) -> Uri<'_> {
    let original = s.trim();
    let mut u = Uri {
        original,
        ..Uri::default()
    };
    let Some((scheme, rest)) = original.split_once(':') else {
        return u;
    };
    u.scheme = scheme;
    // URI headers (`?a=b`) are not part of the host.
    let rest = rest.split_once('?').map_or(rest, |(a, _)| a);
    let (main, ps) = rest.split_once(';').unwrap_or((rest, ""));
    u.params = params(ps).collect();
    let hostport = match main.rsplit_once('@') {
        Some((user, hp)) => {
            let user = user.split_once(':').map_or(user, |(n, _)| n);
            if !user.is_empty() && user != "-" && user != " " {
                u.username = Some(user);
            }
            hp
        }
        None => main,
    };
    let (host, port) = if let Some(end) = hostport.find(']') {
        let (h, rest) = hostport.split_at(end + 1);
        (h, rest.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    u.host = host.trim();
    u.port = port.and_then(|p| p.trim().parse().ok());
    u
}

/// A name-addr or addr-spec header value (From, To, Contact, P-Associated-URI).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name without quotes.
    pub display: &'a str,
    /// The URI.
    pub uri: &'a str,
    /// Header parameters after the URI.
    pub params: Vec<(&'a str, &'a str)>,
}

impl<'a> NameAddr<'a> {
    /// The value of header parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Parse a name-addr (`"Bob" <sip:bob@h>;tag=1`) or addr-spec (`sip:bob@h;tag=1`).
pub fn name_addr(s: &str) -> NameAddr<'_> {
    let s = s.trim();
    if let Some(lt) = s.find('<') {
        let display = s
            .get(..lt)
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'' || c == ' ' || c == '\t');
        let after = s.get(lt + 1..).unwrap_or("");
        let (uri, rest) = after.split_once('>').unwrap_or((after, ""));
        let rest = rest.trim_start().strip_prefix(';').unwrap_or(rest);
        return NameAddr {
            display,
            uri: uri.trim(),
            params: params(rest).collect(),
        };
    }
    let (uri, rest) = s.split_once(';').unwrap_or((s, ""));
    NameAddr {
        display: "",
        uri: uri.trim(),
        params: params(rest).collect(),
    }
}

/// The first element of a comma-separated header value, commas inside `<>` or quotes kept.
pub fn first_element(s: &str) -> &str {
    let mut in_angle = false;
    let mut in_quote = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_angle && !in_quote => return s.get(..i).unwrap_or(s).trim(),
            _ => {}
        }
    }
    s.trim()
}

/// The topmost Via entry.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Via<'a> {
    /// Transport, as sent (`UDP`).
    pub transport: &'a str,
    /// sent-by host.
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<&'a str>,
    /// `received` parameter.
    pub received: Option<&'a str>,
    /// `rport` parameter value.
    pub rport: Option<u16>,
    /// `branch` parameter.
    pub branch: Option<&'a str>,
}

/// Parse the first Via entry of a header value (`SIP/2.0/UDP host:port;branch=...`).
pub fn via(s: &str) -> Option<Via<'_>> {
    let s = first_element(s);
    let (proto, rest) = s.split_once(|c: char| c.is_ascii_whitespace())?;
    let transport = proto.rsplit('/').next().unwrap_or("");
    let rest = rest.trim_start();
    let (sent_by, ps) = rest.split_once(';').unwrap_or((rest, ""));
    let sent_by = sent_by.trim();
    let (host, port) = if let Some(end) = sent_by.find(']') {
        let (h, p) = sent_by.split_at(end + 1);
        (h, p.strip_prefix(':'))
    } else {
        match sent_by.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (sent_by, None),
        }
    };
    let mut v = Via {
        transport,
        host,
        port: port.map(str::trim).filter(|p| !p.is_empty()),
        ..Via::default()
    };
    for (n, val) in params(ps) {
        if n.eq_ignore_ascii_case("received") {
            v.received = Some(val);
        } else if n.eq_ignore_ascii_case("rport") {
            v.rport = val.parse().ok();
        } else if n.eq_ignore_ascii_case("branch") {
            v.branch = Some(val);
        }
    }
    Some(v)
}

/// Comma-separated list, trimmed and lowercased (Packetbeat's `parseCommaSeparatedList`).
pub fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

/// Parsed `Authorization` header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Auth<'a> {
    /// `Digest`...
    pub scheme: &'a str,
    /// `realm`.
    pub realm: Option<&'a str>,
    /// `username`.
    pub username: Option<&'a str>,
    /// `uri`.
    pub uri: Option<&'a str>,
}

/// Parse an Authorization header value.
pub fn auth(s: &str) -> Option<Auth<'_>> {
    let s = s.trim();
    let (scheme, rest) = s.split_once(' ')?;
    let mut a = Auth {
        scheme,
        ..Auth::default()
    };
    for p in rest.split(',') {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim_matches(|c| c == '\'' || c == '"' || c == ' ' || c == '\t');
        match k.trim().to_ascii_lowercase().as_str() {
            "realm" => a.realm = Some(v),
            "username" => a.username = Some(v).filter(|u| !u.is_empty() && *u != "-"),
            "uri" => a.uri = Some(v),
            _ => {}
        }
    }
    Some(a)
}

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Parsed SDP session description (RFC 8866), the parts Packetbeat publishes.
#[derive(Debug, Default, PartialEq)]
pub struct Sdp<'a> {
    /// `v=`.
    pub version: Option<&'a str>,
    /// `o=` username (not `-`).
    pub owner_username: Option<&'a str>,
    /// `o=` sess-id.
    pub owner_session_id: Option<&'a str>,
    /// `o=` sess-version.
    pub owner_version: Option<&'a str>,
    /// `o=` unicast address.
    pub owner_ip: Option<&'a str>,
    /// `s=` (not `-`).
    pub session_name: Option<&'a str>,
    /// Session-level `c=`.
    pub connection_info: Option<&'a str>,
    /// Its address.
    pub connection_address: Option<&'a str>,
    /// `t=` start as Unix seconds (0 = unbounded, omitted).
    pub start: Option<u64>,
    /// `t=` stop as Unix seconds.
    pub stop: Option<u64>,
    /// `m=` lines.
    pub media: Vec<&'a str>,
    /// First media port.
    pub media_port: Option<u16>,
    /// Formats of every media line.
    pub formats: Vec<&'a str>,
    /// `a=` lines of media sections.
    pub attributes: Vec<&'a str>,
}

fn ntp_to_unix(s: &str) -> Option<u64> {
    s.parse::<u64>()
        .ok()
        .filter(|&n| n >= NTP_UNIX_OFFSET)
        .map(|n| n - NTP_UNIX_OFFSET)
}

/// Parse an SDP body.
pub fn sdp(body: &str) -> Sdp<'_> {
    let mut d = Sdp::default();
    let mut in_media = false;
    for line in body.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "v" => d.version = Some(v),
            "o" => {
                let parts: Vec<&str> = v.split_ascii_whitespace().collect();
                if let [user, id, ver, .., addr] = parts.as_slice() {
                    d.owner_username = Some(*user).filter(|u| *u != "-");
                    d.owner_session_id = Some(id);
                    d.owner_version = Some(ver);
                    d.owner_ip = Some(addr);
                }
            }
            "s" => d.session_name = Some(v).filter(|s| *s != "-" && !s.is_empty()),
            "c" if !in_media => {
                d.connection_info = Some(v);
                d.connection_address = v.split_ascii_whitespace().last();
            }
            "t" => {
                let mut it = v.split_ascii_whitespace();
                d.start = it.next().and_then(ntp_to_unix);
                d.stop = it.next().and_then(ntp_to_unix);
            }
            "m" => {
                in_media = true;
                d.media.push(v);
                let mut it = v.split_ascii_whitespace();
                let port = it.nth(1).and_then(|p| p.split('/').next()?.parse().ok());
                if d.media_port.is_none() {
                    d.media_port = port;
                }
                d.formats.extend(it.skip(1));
            }
            "a" if in_media => d.attributes.push(v),
            _ => {}
        }
    }
    d
}
