//! Event fields of one SIP message, as Packetbeat's `sip` plugin writes them (`sip.*`,
//! `event.action/sequence/outcome/reason/original`, `user.name`, `related.user/hosts`), plus the
//! topmost Via parsed into `sip.via.*`.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::parse::{Message, Start};
use super::values::{self, Uri};
use super::Config;
use crate::time::Ts;

/// A header value as text: invalid UTF-8 replaced, folded lines joined with one space.
pub fn text(v: &[u8]) -> Cow<'_, str> {
    let s = String::from_utf8_lossy(v);
    if !s.contains('\n') {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if i > 0 {
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}

/// Collected `related.user` / `related.hosts` values.
#[derive(Default)]
struct Related {
    users: Vec<String>,
    hosts: Vec<String>,
}

impl Related {
    fn user(&mut self, u: &str) {
        if !u.is_empty() && !self.users.iter().any(|x| x == u) {
            self.users.push(u.to_owned());
        }
    }

    fn host(&mut self, h: &str) {
        if !h.is_empty() && !self.hosts.iter().any(|x| x == h) {
            self.hosts.push(h.to_owned());
        }
    }
}

/// `{original, scheme, username, host, port}` of a URI.
fn uri_obj(u: &Uri<'_>, with_user: bool, rel: &mut Related) -> Value {
    let mut o = Map::new();
    o.insert("original".into(), u.original.into());
    if !u.scheme.is_empty() {
        o.insert("scheme".into(), u.scheme.into());
    }
    if with_user {
        if let Some(n) = u.username {
            o.insert("username".into(), n.into());
            rel.user(n);
        }
    }
    if !u.host.is_empty() {
        o.insert("host".into(), u.host.into());
        rel.host(u.host);
    }
    if let Some(p) = u.port.filter(|&p| p != 0) {
        o.insert("port".into(), p.into());
    }
    Value::Object(o)
}

/// `to` / `from` objects.
fn party(v: &[u8], rel: &mut Related) -> Value {
    let s = text(v);
    let na = values::name_addr(&s);
    let mut o = Map::new();
    if !na.display.is_empty() {
        o.insert("display_info".into(), na.display.into());
    }
    o.insert("uri".into(), uri_obj(&values::uri(na.uri), true, rel));
    if let Some(t) = na.param("tag") {
        o.insert("tag".into(), t.into());
    }
    Value::Object(o)
}

/// `contact` object (the first contact of the first Contact header).
fn contact(v: &[u8], rel: &mut Related) -> Value {
    let s = text(v);
    let na = values::name_addr(values::first_element(&s));
    let u = values::uri(na.uri);
    let mut o = Map::new();
    if !na.display.is_empty() {
        o.insert("display_info".into(), na.display.into());
    }
    o.insert("uri".into(), uri_obj(&u, true, rel));
    if let Some(t) = u.param("transport") {
        o.insert("transport".into(), t.to_ascii_lowercase().into());
    }
    if let Some(l) = u.param("line") {
        o.insert("line".into(), l.into());
    }
    if let Some(e) = na.param("expires").and_then(|e| e.parse::<u64>().ok()) {
        o.insert("expires".into(), e.into());
    }
    if let Some(q) = na.param("q").and_then(|q| q.parse::<f64>().ok()) {
        o.insert("q".into(), q.into());
    }
    Value::Object(o)
}

/// Fields of `m` (whose wire bytes are `raw`): the `sip` object and the extra root fields, as
/// (key, value) pairs to merge at the event root.
pub fn fields(m: &Message<'_>, raw: &[u8], cfg: &Config) -> Map<String, Value> {
    let mut rel = Related::default();
    let mut sip = Map::new();
    let mut event = Map::new();
    let mut root = Map::new();
    sip.insert("version".into(), m.version.into());
    let cseq = m.first("cseq").map(text);
    let (cseq_code, cseq_method) = match cseq.as_deref().map(str::split_ascii_whitespace) {
        Some(mut it) => (
            it.next().and_then(|c| c.parse::<u64>().ok()),
            it.next().map(str::to_ascii_uppercase),
        ),
        None => (None, None),
    };
    match m.start {
        Start::Request { method, uri } => {
            sip.insert("type".into(), "request".into());
            sip.insert("method".into(), method.to_ascii_uppercase().into());
            sip.insert("uri".into(), uri_obj(&values::uri(uri), true, &mut rel));
            event.insert(
                "action".into(),
                format!("sip-{}", method.to_ascii_lowercase()).into(),
            );
        }
        Start::Response { code, phrase } => {
            sip.insert("type".into(), "response".into());
            sip.insert("code".into(), code.into());
            if !phrase.is_empty() {
                sip.insert("status".into(), phrase.into());
                event.insert("reason".into(), phrase.into());
            }
            if let Some(cm) = &cseq_method {
                event.insert(
                    "action".into(),
                    format!("sip-{}", cm.to_ascii_lowercase()).into(),
                );
            }
            if code >= 200 {
                let outcome = if code > 299 { "failure" } else { "success" };
                event.insert("outcome".into(), outcome.into());
            }
        }
    }
    if let Some(v) = m.first("call-id") {
        sip.insert("call_id".into(), text(v).into_owned().into());
    }
    if let Some(n) = cseq_code {
        sip.insert("cseq".into(), json!({ "code": n }));
        event.insert("sequence".into(), n.into());
    }
    if let (Some(cm), Some(Value::Object(c))) = (cseq_method, sip.get_mut("cseq")) {
        c.insert("method".into(), cm.into());
    }
    if let Some(n) = m.content_length {
        sip.insert("content_length".into(), n.into());
    }
    if let Some(v) = m.first("content-type") {
        sip.insert("content_type".into(), text(v).to_ascii_lowercase().into());
    }
    if let Some(n) = m.first("max-forwards").and_then(super::parse::parse_usize) {
        sip.insert("max_forwards".into(), n.into());
    }
    if let Some(v) = m.first("user-agent") {
        sip.insert("user_agent".into(), text(v).into_owned().into());
    }
    if let Some(v) = m.first("accept") {
        sip.insert("accept".into(), text(v).to_ascii_lowercase().into());
    }
    for (hdr, key) in [("allow", "allow"), ("supported", "supported")] {
        let all: Vec<String> = m.all(hdr).flat_map(|v| values::list(&text(v))).collect();
        if !all.is_empty() {
            sip.insert(key.into(), all.into());
        }
    }
    via_fields(m, &mut sip);
    if let Some(v) = m.first("p-associated-uri") {
        let s = text(v);
        let na = values::name_addr(values::first_element(&s));
        let u = uri_obj(&values::uri(na.uri), true, &mut rel);
        sip.insert("private".into(), json!({ "uri": u }));
    }
    if let Some(v) = m.first("from") {
        sip.insert("from".into(), party(v, &mut rel));
    }
    if let Some(v) = m.first("to") {
        sip.insert("to".into(), party(v, &mut rel));
    }
    if let Some(v) = m.first("contact") {
        sip.insert("contact".into(), contact(v, &mut rel));
    }
    if cfg.parse_authorization {
        let hdr = m
            .first("authorization")
            .or_else(|| m.first("proxy-authorization"));
        if let Some(a) = hdr.map(text).as_deref().and_then(values::auth) {
            let mut o = Map::new();
            o.insert("scheme".into(), a.scheme.into());
            if let Some(r) = a.realm {
                o.insert("realm".into(), r.into());
            }
            if let Some(u) = a.uri {
                o.insert("uri".into(), uri_obj(&values::uri(u), false, &mut rel));
            }
            if let Some(u) = a.username {
                root.insert("user".into(), json!({ "name": u }));
                rel.user(u);
            }
            sip.insert("auth".into(), Value::Object(o));
        }
    }
    if cfg.parse_body {
        if let Some(sdp) = sdp_fields(m, &mut rel) {
            sip.insert("sdp".into(), sdp);
        }
    }
    if cfg.keep_original {
        event.insert(
            "original".into(),
            String::from_utf8_lossy(raw).into_owned().into(),
        );
    }
    root.insert("sip".into(), Value::Object(sip));
    root.insert("event".into(), Value::Object(event));
    let mut related = Map::new();
    if !rel.users.is_empty() {
        related.insert("user".into(), rel.users.into());
    }
    if !rel.hosts.is_empty() {
        related.insert("hosts".into(), rel.hosts.into());
    }
    if !related.is_empty() {
        root.insert("related".into(), Value::Object(related));
    }
    root
}

/// `sip.via.original` (every Via value, deduplicated) and the topmost Via parsed.
fn via_fields(m: &Message<'_>, sip: &mut Map<String, Value>) {
    let mut originals: Vec<String> = Vec::new();
    for v in m.all("via") {
        let s = text(v).into_owned();
        if !originals.contains(&s) {
            originals.push(s);
        }
    }
    let Some(top) = originals.first() else {
        return;
    };
    let mut o = Map::new();
    if let Some(v) = values::via(top) {
        if !v.transport.is_empty() {
            o.insert("transport".into(), v.transport.to_ascii_lowercase().into());
        }
        let mut sent_by = Map::new();
        if !v.host.is_empty() {
            sent_by.insert("address".into(), v.host.into());
        }
        if let Some(p) = v.port {
            sent_by.insert("port".into(), p.into());
        }
        if !sent_by.is_empty() {
            o.insert("sent_by".into(), Value::Object(sent_by));
        }
        if let Some(r) = v.received {
            o.insert("received".into(), json!({ "address": r }));
        }
        if let Some(p) = v.rport {
            o.insert("port".into(), p.into());
        }
        if let Some(b) = v.branch {
            o.insert("branch".into(), b.into());
        }
    }
    o.insert("original".into(), originals.into());
    sip.insert("via".into(), Value::Object(o));
}

/// `sip.sdp` when the body is SDP (not encoded).
fn sdp_fields(m: &Message<'_>, rel: &mut Related) -> Option<Value> {
    let ct = m.first("content-type").map(text)?;
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/sdp")
        || m.first("content-encoding").is_some()
        || m.body.is_empty()
    {
        return None;
    }
    let body = String::from_utf8_lossy(m.body);
    let d = values::sdp(&body);
    let mut o = Map::new();
    if let Some(v) = d.version {
        o.insert("version".into(), v.into());
    }
    let mut owner = Map::new();
    if let Some(u) = d.owner_username {
        owner.insert("username".into(), u.into());
        rel.user(u);
    }
    for (k, v) in [
        ("session_id", d.owner_session_id),
        ("version", d.owner_version),
        ("ip", d.owner_ip),
    ] {
        if let Some(v) = v {
            owner.insert(k.into(), v.into());
        }
    }
    if !owner.is_empty() {
        o.insert("owner".into(), Value::Object(owner));
    }
    if let Some(s) = d.session_name {
        o.insert("session".into(), json!({ "name": s }));
    }
    if let Some(info) = d.connection_info {
        let mut c = Map::new();
        c.insert("info".into(), info.into());
        if let Some(a) = d.connection_address {
            c.insert("address".into(), a.into());
            rel.host(a);
        }
        o.insert("connection".into(), Value::Object(c));
    }
    for (k, t) in [("start", d.start), ("stop", d.stop)] {
        if let Some(secs) = t {
            let ts = Ts(secs.saturating_mul(1_000_000_000));
            o.insert(k.into(), ts.rfc3339().into());
        }
    }
    if !d.media.is_empty() {
        let mut media = Map::new();
        media.insert("description".into(), d.media.clone().into());
        if let Some(p) = d.media_port {
            media.insert("port".into(), p.into());
        }
        media.insert("format".into(), d.formats.clone().into());
        if !d.attributes.is_empty() {
            media.insert("attributes".into(), d.attributes.clone().into());
        }
        o.insert("media".into(), Value::Object(media));
    }
    o.insert("body".into(), json!({ "original": body }));
    Some(Value::Object(o))
}
