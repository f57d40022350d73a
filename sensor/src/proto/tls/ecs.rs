//! The event of a connection: Packetbeat's `tls.*` ECS fields and `tls.detailed.*`, plus JA3S
//! and JA4, `server.domain` / `destination.domain` (SNI) and `related.hash`.

use serde_json::{json, Map, Value};

use super::fingerprint;
use super::names;
use super::parse::{self, ext, is_grease, u16s, ClientHello, ServerHello};
use super::state::Conn;
use super::x509::CertOut;
use super::Config;
use crate::proto::{Cx, Direction, Status, Txn};

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn strings(v: impl Iterator<Item = String>) -> Value {
    Value::Array(v.map(Value::String).collect())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Packetbeat's parsed extensions of a hello (`extensions.*` and `_unparsed_`).
fn extensions_map(block: &[u8], server: bool) -> Map<String, Value> {
    let mut m = Map::new();
    let mut unparsed = Vec::new();
    for (code, body) in parse::extensions(block) {
        if is_grease(code) {
            continue;
        }
        let label = names::extension_label(code);
        let value = match code {
            0 => {
                let names: Vec<String> = parse::sni_names(body).map(text).collect();
                if names.is_empty() && !server {
                    None
                } else {
                    Some(strings(names.into_iter()))
                }
            }
            1 => match body {
                [v @ 1..=4] => Some(Value::String(format!("2^{}", 8 + u32::from(*v)))),
                [v] => Some(Value::String(format!("(unknown:{v})"))),
                _ => None,
            },
            2 | 4 => Some(Value::String(if body.is_empty() {
                String::new()
            } else {
                format!("(expected empty: found {} bytes)", body.len())
            })),
            5 => {
                let mut r = parse::Rd::new(body);
                match (r.u8(), r.u16()) {
                    _ if body.is_empty() => Some(json!({ "response": true })),
                    (Some(t), Some(list)) => {
                        let typ = if t == 1 {
                            "ocsp".to_owned()
                        } else {
                            t.to_string()
                        };
                        let exts = parse::Rd::new(body.get(1..).unwrap_or_default()).u16();
                        Some(json!({
                            "type": typ,
                            "responder_id_list_length": list,
                            "request_extensions": exts,
                        }))
                    }
                    _ => None,
                }
            }
            10 => Some(strings(
                u16s(parse::u16_list(body))
                    .filter(|g| !is_grease(*g))
                    .map(names::group),
            )),
            11 => Some(strings(
                parse::u8_list(body)
                    .iter()
                    .map(|f| names::ec_point_format(*f)),
            )),
            13 => Some(strings(
                u16s(parse::u16_list(body)).map(names::signature_scheme),
            )),
            16 => Some(strings(parse::alpn_names(body).map(text))),
            35 => Some(Value::String(if body.is_empty() {
                String::new()
            } else {
                format!("({} bytes)", body.len())
            })),
            43 => {
                if server {
                    parse::Rd::new(body)
                        .u16()
                        .map(|v| Value::String(names::version_long(v)))
                } else {
                    Some(strings(
                        u16s(parse::u8_list(body))
                            .filter(|v| !is_grease(*v))
                            .map(names::version_long),
                    ))
                }
            }
            _ => None,
        };
        match value {
            Some(v) => {
                m.insert(label, v);
            }
            None => unparsed.push(label),
        }
    }
    if !unparsed.is_empty() {
        m.insert("_unparsed_".into(), strings(unparsed.into_iter()));
    }
    m
}

fn hello_version(v: u16) -> String {
    let [major, minor] = v.to_be_bytes();
    format!("{major}.{minor}")
}

fn client_hello_map(ch: &ClientHello<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), hello_version(ch.version).into());
    if !ch.session_id.is_empty() {
        m.insert("session_id".into(), hex(ch.session_id).into());
    }
    m.insert("random".into(), hex(ch.random).into());
    m.insert(
        "supported_compression_methods".into(),
        strings(ch.compression.iter().map(|c| names::compression(*c))),
    );
    let exts = extensions_map(ch.extensions, false);
    if !exts.is_empty() {
        m.insert("extensions".into(), Value::Object(exts));
    }
    m
}

fn server_hello_map(sh: &ServerHello<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), hello_version(sh.version).into());
    if !sh.session_id.is_empty() {
        m.insert("session_id".into(), hex(sh.session_id).into());
    }
    m.insert("random".into(), hex(sh.random).into());
    m.insert("selected_cipher".into(), names::cipher(sh.cipher).into());
    m.insert(
        "selected_compression_method".into(),
        names::compression(sh.compression).into(),
    );
    let exts = extensions_map(sh.extensions, true);
    if !exts.is_empty() {
        m.insert("extensions".into(), Value::Object(exts));
    }
    m
}

/// ECS fields of a leaf certificate (`tls.server.*` / `tls.client.*`).
fn leaf_fields(side: &mut Map<String, Value>, leaf: &CertOut, detailed: bool) {
    let mut hash = Map::new();
    for (alg, v) in &leaf.hashes {
        hash.insert((*alg).into(), v.clone().into());
    }
    if !hash.is_empty() {
        side.insert("hash".into(), Value::Object(hash));
    }
    side.insert("subject".into(), leaf.subject.clone().into());
    side.insert("issuer".into(), leaf.issuer.clone().into());
    side.insert("not_before".into(), leaf.not_before.clone().into());
    side.insert("not_after".into(), leaf.not_after.clone().into());
    if detailed {
        let mut x = leaf.map.clone();
        // ECS keeps version_number as a keyword.
        if let Some(v) = x.get_mut("version_number") {
            *v = Value::String(v.to_string());
        }
        side.insert("x509".into(), Value::Object(x));
    }
}

/// The resumption facts: (resumed, method).
fn resumption(
    conn: &Conn,
    ch: Option<&ClientHello<'_>>,
    sh: Option<&ServerHello<'_>>,
) -> (bool, Option<&'static str>) {
    let (Some(ch), Some(sh)) = (ch, sh) else {
        return (false, None);
    };
    if !conn.sh_seen {
        return (false, None);
    }
    let ticket_offered =
        parse::find_ext(ch.extensions, ext::SESSION_TICKET).is_some_and(|t| !t.is_empty());
    if conn.tls13 {
        let psk = parse::find_ext(sh.extensions, ext::PRE_SHARED_KEY).is_some();
        return (psk, psk.then_some("ticket"));
    }
    let resumed = if conn.ccs.get(1).copied().unwrap_or(false) {
        // Abbreviated handshake: the server switches keys right after its hello.
        !conn.server_full && conn.key_exchange == [false, false]
    } else {
        let id_match = !ch.session_id.is_empty() && ch.session_id == sh.session_id;
        let ticket =
            ticket_offered && parse::find_ext(sh.extensions, ext::SESSION_TICKET).is_some();
        conn.key_exchange == [false, false] && !conn.server_full && (id_match || ticket)
    };
    let method = if ticket_offered { "ticket" } else { "id" };
    (resumed, resumed.then_some(method))
}

/// Build the connection's event.
pub fn build(cx: &Cx<'_>, cfg: &Config, conn: &Conn) -> Txn {
    let mut txn = cx.txn(super::NAME);
    let client_dir = conn.client_dir.unwrap_or(Direction::ToServer);
    if client_dir == Direction::ToClient {
        std::mem::swap(&mut txn.client, &mut txn.server);
    }
    let cdir = conn.dirs.get(client_dir.index());
    let sdir = conn.dirs.get(client_dir.reverse().index());
    txn.request_ts = cdir.and_then(|d| d.first_ts);
    txn.response_ts = sdir.and_then(|d| d.first_ts);
    txn.request_bytes = cdir.filter(|d| d.records > 0).map(|d| d.bytes);
    txn.response_bytes = sdir.filter(|d| d.records > 0).map(|d| d.bytes);
    let established = conn.established();
    txn.status = if established {
        Status::Ok
    } else {
        Status::Error
    };
    txn.notes = conn.notes.clone();

    let ch = conn.client_hello.as_deref().and_then(parse::client_hello);
    let sh = conn.server_hello.as_deref().and_then(parse::server_hello);

    let mut tls = Map::new();
    let mut client = Map::new();
    let mut server = Map::new();
    let mut detailed = Map::new();
    let mut related = Vec::new();

    // Version: the ServerHello's choice, else what the client proposed (Packetbeat).
    let version = match (&sh, &ch) {
        (Some(sh), _) => Some(parse::selected_version(sh)),
        (None, Some(ch)) => Some(ch.version),
        _ => None,
    };
    if let Some(v) = version {
        let (proto, num) = names::version_ecs(v);
        tls.insert("version".into(), num.into());
        tls.insert("version_protocol".into(), proto.into());
        detailed.insert("version".into(), names::version_long(v).into());
    }
    tls.insert("established".into(), established.into());
    let (resumed, method) = resumption(conn, ch.as_ref(), sh.as_ref());
    tls.insert("resumed".into(), resumed.into());
    if let Some(m) = method {
        detailed.insert("resumption_method".into(), m.into());
    }

    let mut sni = None;
    if let Some(ch) = &ch {
        let (ja3_str, ja3) = fingerprint::ja3(ch);
        let ja4 = fingerprint::ja4(ch);
        client.insert("ja3".into(), ja3.clone().into());
        client.insert("ja4".into(), ja4.clone().into());
        related.push(Value::String(ja3));
        related.push(Value::String(ja4));
        if cfg.include_detailed_fields {
            client.insert("ja3_string".into(), ja3_str.into());
        }
        sni = parse::find_ext(ch.extensions, ext::SERVER_NAME)
            .and_then(|b| parse::sni_names(b).next())
            .map(text);
        if let Some(name) = &sni {
            client.insert("server_name".into(), name.clone().into());
        }
        let ciphers: Vec<Value> = u16s(ch.ciphers)
            .filter(|c| !is_grease(*c))
            .map(|c| Value::String(names::cipher(c)))
            .collect();
        if !ciphers.is_empty() {
            client.insert("supported_ciphers".into(), Value::Array(ciphers));
        }
        detailed.insert("client_hello".into(), Value::Object(client_hello_map(ch)));
    }
    if let Some(sh) = &sh {
        tls.insert("cipher".into(), names::cipher(sh.cipher).into());
        if let Some(p) =
            parse::find_ext(sh.extensions, ext::ALPN).and_then(|b| parse::alpn_names(b).next())
        {
            tls.insert("next_protocol".into(), text(p).into());
        }
        let (ja3s_str, ja3s) = fingerprint::ja3s(sh);
        server.insert("ja3s".into(), ja3s.clone().into());
        related.push(Value::String(ja3s));
        if cfg.include_detailed_fields {
            server.insert("ja3s_string".into(), ja3s_str.into());
        }
        detailed.insert("server_hello".into(), Value::Object(server_hello_map(sh)));
    }

    for (role, side, key) in [
        (0usize, &mut client, "client"),
        (1usize, &mut server, "server"),
    ] {
        let certs = conn.certs.get(role).map(Vec::as_slice).unwrap_or_default();
        let Some((leaf, chain)) = certs.split_first() else {
            continue;
        };
        // Packetbeat moves the detailed leaf certificate to `x509` (both options needed).
        leaf_fields(
            side,
            leaf,
            cfg.include_detailed_fields && cfg.send_certificates,
        );
        if cfg.send_certificates && !chain.is_empty() {
            detailed.insert(
                format!("{key}_certificate_chain"),
                Value::Array(chain.iter().map(|c| Value::Object(c.map.clone())).collect()),
            );
        }
        if cfg.include_raw_certificates {
            let pems: Vec<Value> = certs
                .iter()
                .filter_map(|c| c.pem.clone().map(Value::String))
                .collect();
            side.insert("certificate_chain".into(), Value::Array(pems));
        }
    }
    detailed.insert(
        "client_certificate_requested".into(),
        conn.cert_requested.into(),
    );
    if let Some(s) = conn.ocsp {
        detailed.insert("ocsp_response".into(), names::ocsp_status(s).into());
    }
    if !conn.alerts.is_empty() {
        let alerts: Vec<Value> = conn
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "severity": names::alert_level(a.level),
                    "code": a.code,
                    "type": names::alert(a.code),
                    "source": if a.from_client { "client" } else { "server" },
                })
            })
            .collect();
        detailed.insert("alerts".into(), Value::Array(alerts));
        detailed.insert(
            "alert_types".into(),
            strings(conn.alerts.iter().map(|a| names::alert(a.code))),
        );
    }

    if !client.is_empty() {
        tls.insert("client".into(), Value::Object(client));
    }
    if !server.is_empty() {
        tls.insert("server".into(), Value::Object(server));
    }
    if cfg.include_detailed_fields {
        tls.insert("detailed".into(), Value::Object(detailed));
    }
    txn.fields.insert("tls".into(), Value::Object(tls));
    if let Some(name) = sni {
        txn.obj("server")
            .insert("domain".into(), name.clone().into());
        txn.obj("destination").insert("domain".into(), name.into());
    }
    if !related.is_empty() {
        txn.obj("related")
            .insert("hash".into(), Value::Array(related));
    }
    txn
}
