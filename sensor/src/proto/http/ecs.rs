//! Turning a request/response pair into a [`Txn`] with Packetbeat 8's HTTP fields:
//! `http.*`, `url.*`, `user_agent.original`, `network.forwarded_ip`, `server.domain`,
//! `user.name`, legacy `method`/`path`/`query`, raw `request`/`response`.

use std::io::Read;

use serde_json::{Map, Value};

use super::parse::{self, Start};
use super::state::Msg;
use super::values;
use super::Config;
use crate::proto::txn::Unmatched;
use crate::proto::{Cx, Status, Txn};

/// Note on a request published without a response (Packetbeat's wording).
pub const NOTE_UNMATCHED_REQUEST: &str = "Unmatched request";
/// Note on a response published without a request (Packetbeat's wording).
pub const NOTE_UNMATCHED_RESPONSE: &str = "Unmatched response";
/// Note when the Host header names another port than the connection's.
const NOTE_PORT_MISMATCH: &str = "Host header port number mismatch";

/// Port that `url.full` and `url.port` leave implicit for the `http` scheme.
const DEFAULT_HTTP_PORT: u16 = 80;

/// Build the event of a transaction (either side may be missing).
pub fn build(cx: &Cx<'_>, cfg: &Config, req: Option<Box<Msg>>, resp: Option<Box<Msg>>) -> Txn {
    let mut t = cx.txn(super::NAME);
    let mut http = Map::new();
    t.status = match (&req, &resp) {
        (Some(_), Some(r)) if status_code(r) < 400 => Status::Ok,
        _ => Status::Error,
    };
    if let Some(mut m) = req {
        if resp.is_none() {
            m.notes.push(NOTE_UNMATCHED_REQUEST.to_owned());
            t.unmatched = Unmatched::Request;
        }
        request_fields(cx, cfg, &mut t, &mut http, *m);
    }
    if let Some(mut m) = resp {
        if t.request_ts.is_none() {
            m.notes.push(NOTE_UNMATCHED_RESPONSE.to_owned());
            t.unmatched = Unmatched::Response;
            http.insert("version".into(), version(&m).into());
        }
        response_fields(cx, cfg, &mut t, &mut http, *m);
    }
    t.fields.insert("http".into(), Value::Object(http));
    t
}

fn status_code(m: &Msg) -> u16 {
    match &m.start {
        Start::Response(s) => s.code,
        Start::Request(_) => 0,
    }
}

fn version(m: &Msg) -> String {
    format!("1.{}", m.info.minor)
}

fn request_fields(cx: &Cx<'_>, cfg: &Config, t: &mut Txn, http: &mut Map<String, Value>, m: Msg) {
    let Msg {
        ts,
        start,
        mut info,
        size,
        body_len,
        body,
        save_body,
        mut notes,
        ..
    } = m;
    let Start::Request(rl) = start else {
        return;
    };
    t.request_ts = Some(ts);
    t.request_bytes = Some(size);
    http.insert("version".into(), format!("1.{}", info.minor).into());

    // Target: origin-form "/p?q", absolute-form "http://h/p?q", or "*" / authority-form.
    let (abs_host, target) = split_absolute(&rl.target);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let path = path.split_once('#').map_or(path, |(p, _)| p);
    let query = query
        .map(|q| q.split_once('#').map_or(q, |(q, _)| q))
        .filter(|q| !q.is_empty())
        .map(|q| values::hide_query_keywords(q, &cfg.hide_keywords));

    let method_lc = rl.method.to_ascii_lowercase();
    t.method = Some(method_lc.clone());
    t.path = Some(path.to_owned());
    t.query = Some(format!("{} {}", rl.method, path));

    // Host → url.domain, server.domain; port check.
    let server_port = cx.meta.server.port();
    let host_header = abs_host.map(str::to_owned).or(info.host.take());
    let (domain, port) = match host_header.as_deref() {
        Some(h) if !h.is_empty() => {
            let (d, p) = values::split_host(h);
            if p != 0 && p != server_port && abs_host.is_none() {
                notes.push(NOTE_PORT_MISMATCH.to_owned());
            }
            (Some(d.to_owned()), if p == 0 { server_port } else { p })
        }
        _ => (None, server_port),
    };
    if let Some(d) = domain.as_deref() {
        if d.parse::<std::net::IpAddr>().is_err() {
            let mut o = Map::new();
            o.insert("domain".into(), d.into());
            t.fields
                .insert("destination".into(), Value::Object(o.clone()));
            t.fields.insert("server".into(), Value::Object(o));
        }
    }

    let mut url = Map::new();
    url.insert("scheme".into(), "http".into());
    if let Some(d) = domain.as_deref() {
        url.insert("domain".into(), d.into());
        if !path.is_empty() {
            url.insert(
                "full".into(),
                full_url(d, port, path, query.as_deref()).into(),
            );
        }
    }
    if port != DEFAULT_HTTP_PORT {
        url.insert("port".into(), port.into());
    }
    url.insert("path".into(), path.into());
    if let Some(q) = query {
        url.insert("query".into(), q.into());
    }
    t.fields.insert("url".into(), Value::Object(url));

    if let Some(ua) = info.user_agent.take() {
        let mut o = Map::new();
        o.insert("original".into(), ua.into());
        t.fields.insert("user_agent".into(), Value::Object(o));
    }
    if let Some(ip) = info.real_ip.take() {
        t.obj("network").insert("forwarded_ip".into(), ip.into());
    }
    if let Some(user) = info.auth_user.take() {
        t.obj("user").insert("name".into(), user.into());
    }

    let mut r = Map::new();
    r.insert("method".into(), method_lc.into());
    r.insert("bytes".into(), size.into());
    if let Some(rf) = info.referer.take() {
        r.insert("referrer".into(), rf.into());
    }
    let raw = info.raw.take();
    let (body_obj, body_text) = body_fields(cfg, &mut info, body_len, body, save_body, &mut notes);
    r.insert("body".into(), Value::Object(body_obj));
    r.insert(
        "headers".into(),
        Value::Object(headers(&mut info, body_len)),
    );
    http.insert("request".into(), Value::Object(r));
    if cx.common.send_request {
        t.request_raw = raw.map(|h| h + body_text.as_deref().unwrap_or_default());
    }
    t.notes.append(&mut notes);
}

fn response_fields(cx: &Cx<'_>, cfg: &Config, t: &mut Txn, http: &mut Map<String, Value>, m: Msg) {
    let Msg {
        ts,
        start,
        mut info,
        size,
        body_len,
        body,
        save_body,
        mut notes,
        ..
    } = m;
    let Start::Response(sl) = start else {
        return;
    };
    t.response_ts = Some(ts);
    t.response_bytes = Some(size);
    let mut r = Map::new();
    r.insert("status_code".into(), sl.code.into());
    r.insert("status_phrase".into(), sl.phrase.to_lowercase().into());
    r.insert("bytes".into(), size.into());
    let raw = info.raw.take();
    let (body_obj, body_text) = body_fields(cfg, &mut info, body_len, body, save_body, &mut notes);
    r.insert("body".into(), Value::Object(body_obj));
    r.insert(
        "headers".into(),
        Value::Object(headers(&mut info, body_len)),
    );
    http.insert("response".into(), Value::Object(r));
    if cx.common.send_response {
        t.response_raw = raw.map(|h| h + body_text.as_deref().unwrap_or_default());
    }
    t.notes.append(&mut notes);
}

/// `http.*.headers`: Packetbeat always writes content-length (the body length) and
/// content-type, plus the headers selected by `send_headers`/`send_all_headers`.
fn headers(info: &mut parse::HeadInfo, body_len: u64) -> Map<String, Value> {
    let mut h = std::mem::take(&mut info.headers);
    h.insert(
        "content-length".into(),
        info.content_length.unwrap_or(body_len).into(),
    );
    if let Some(ct) = info.content_type.take() {
        h.insert("content-type".into(), ct.into());
    }
    h
}

/// `body.bytes` and, when included, `body.content` (decoded per `decode_body`). Returns the
/// body object and the published body text.
fn body_fields(
    cfg: &Config,
    info: &mut parse::HeadInfo,
    body_len: u64,
    body: Vec<u8>,
    save_body: bool,
    notes: &mut Vec<String>,
) -> (Map<String, Value>, Option<String>) {
    let mut o = Map::new();
    o.insert("bytes".into(), body_len.into());
    if !save_body || body.is_empty() {
        return (o, None);
    }
    let body = if cfg.decode_body && !info.encodings.is_empty() {
        match decode_body(&body, &info.encodings, cfg.max_message_size) {
            Ok(b) => b,
            Err(e) => {
                notes.push(e);
                body
            }
        }
    } else {
        body
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    o.insert("content".into(), text.clone().into());
    (o, Some(text))
}

/// Undo the codings (listed in the order they were applied), output bounded by `max`.
pub fn decode_body(body: &[u8], encodings: &[String], max: usize) -> Result<Vec<u8>, String> {
    let mut cur = body.to_vec();
    for enc in encodings.iter().rev() {
        cur = decode_one(&cur, enc, max)
            .map_err(|e| format!("unable to decode body using {enc} encoding: {e}"))?;
    }
    Ok(cur)
}

fn decode_one(data: &[u8], enc: &str, max: usize) -> Result<Vec<u8>, String> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    match enc {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?,
        "deflate" => {
            // RFC 9110 says zlib; many servers send raw deflate.
            match flate2::read::ZlibDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
            {
                Ok(n) => n,
                Err(_) => {
                    out.clear();
                    flate2::read::DeflateDecoder::new(data)
                        .take(limit)
                        .read_to_end(&mut out)
                        .map_err(|e| e.to_string())?
                }
            }
        }
        "identity" => return Ok(data.to_vec()),
        other => return Err(format!("unsupported encoding {other}")),
    };
    Ok(out)
}

/// `http://host/path` → (Some(host), "/path"); anything else → (None, target).
fn split_absolute(target: &str) -> (Option<&str>, &str) {
    let rest = if target.len() > 7
        && target
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        target.get(7..)
    } else if target.len() > 8
        && target
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        target.get(8..)
    } else {
        None
    };
    let Some(rest) = rest else {
        return (None, target);
    };
    match rest.find(['/', '?']) {
        Some(i) => (rest.get(..i), rest.get(i..).unwrap_or_default()),
        None => (Some(rest), "/"),
    }
}

/// `url.full` from its parts (port left out when it is 80; IPv6 literals bracketed).
fn full_url(domain: &str, port: u16, path: &str, query: Option<&str>) -> String {
    let host = if domain.contains(':') {
        format!("[{domain}]")
    } else {
        domain.to_owned()
    };
    let mut s = if port == DEFAULT_HTTP_PORT {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}:{port}{path}")
    };
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_targets() {
        assert_eq!(split_absolute("/a?b"), (None, "/a?b"));
        assert_eq!(
            split_absolute("http://example.com:8080/x?y"),
            (Some("example.com:8080"), "/x?y")
        );
        assert_eq!(
            split_absolute("http://example.com"),
            (Some("example.com"), "/")
        );
    }

    #[test]
    fn full_urls() {
        assert_eq!(
            full_url("a.test", 80, "/p", Some("q=1")),
            "http://a.test/p?q=1"
        );
        assert_eq!(
            full_url("2001:db8::1", 8080, "/", None),
            "http://[2001:db8::1]:8080/"
        );
    }

    #[test]
    fn gzip_roundtrip_bounded() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[b'a'; 1000]).unwrap();
        let gz = e.finish().unwrap();
        let enc = vec!["gzip".to_owned()];
        assert_eq!(decode_body(&gz, &enc, 10_000).unwrap().len(), 1000);
        assert_eq!(decode_body(&gz, &enc, 100).unwrap().len(), 100);
        assert!(decode_body(b"not gzip", &enc, 100).is_err());
    }
}
