//! Event fields of a DNS transaction: the `dns` object (Packetbeat's `addDNSToMapStr` with the
//! 8.x ECS additions) and the dig-like `request`/`response` text (`dnsToString`). RDATA
//! formatting is in `rdata.rs`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use super::names::{
    algorithm_name, class_name, hash_name, hex_lower, opcode_name, rcode_name, type_name,
};
use super::parse::{name_string, u16_at, u32_at, Message, Opt, Rr, Section};
pub use super::rdata::rr_map;
use super::suffix;

/// Records written per section of one event: an AXFR of a large zone would otherwise make a
/// multi-megabyte event; the `*_count` fields still carry the full totals.
pub const MAX_PUBLISHED_RECORDS: usize = 10_000;

/// Which optional sections to publish (`include_authorities`, `include_additionals`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Include {
    /// Publish `dns.authorities`.
    pub authorities: bool,
    /// Publish `dns.additionals`.
    pub additionals: bool,
}

/// `dns.opt` (Packetbeat's `optToMapStr`).
pub fn opt_map(opt: &Opt<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), opt.version.to_string().into());
    m.insert("do".into(), opt.dnssec_ok.into());
    m.insert(
        "ext_rcode".into(),
        rcode_name(u16::from(opt.ext_rcode) << 4).into(),
    );
    m.insert("udp_size".into(), opt.udp_size.into());
    for (code, data) in opt.iter() {
        match code {
            1 => {
                let v: Vec<String> = [0usize, 2, 4]
                    .iter()
                    .filter_map(|&i| u16_at(data, i).ok().map(|x| x.to_string()))
                    .chain(data.get(6..14).map(|b| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(b);
                        u64::from_be_bytes(a).to_string()
                    }))
                    .chain(u32_at(data, 14).ok().map(|x| x.to_string()))
                    .collect();
                m.insert("llq".into(), v.join(" ").into());
            }
            2 => {
                if let Ok(lease) = u32_at(data, 0) {
                    m.insert("ul".into(), lease.to_string().into());
                }
            }
            3 => {
                m.insert("nsid".into(), hex_lower(data).into());
            }
            5..=7 => {
                let mut s = String::new();
                for &x in data {
                    s.push(' ');
                    if code == 5 {
                        s.push_str(&algorithm_name(x));
                    } else {
                        s.push_str(&hash_name(x));
                    }
                }
                let key = match code {
                    5 => "dau",
                    6 => "dhu",
                    _ => "n3u",
                };
                m.insert(key.into(), s.into());
            }
            8 => {
                if let Some(s) = subnet_string(data) {
                    m.insert("subnet".into(), s.into());
                }
            }
            9 => {
                if let Ok(expire) = u32_at(data, 0) {
                    m.insert("local".into(), expire.to_string().into());
                }
            }
            65001..=65534 => {
                m.insert(
                    "local".into(),
                    format!("{code}:0x{}", hex_lower(data)).into(),
                );
            }
            _ => {}
        }
    }
    m
}

/// EDNS client subnet as miekg/dns prints it: `addr/source/scope` (IPv6 in brackets).
fn subnet_string(d: &[u8]) -> Option<String> {
    let family = u16_at(d, 0).ok()?;
    let source = *d.get(2)?;
    let scope = *d.get(3)?;
    let addr = d.get(4..)?;
    let ip = match family {
        1 => {
            let mut a = [0u8; 4];
            for (dst, src) in a.iter_mut().zip(addr) {
                *dst = *src;
            }
            Ipv4Addr::from(a).to_string()
        }
        2 => {
            let mut a = [0u8; 16];
            for (dst, src) in a.iter_mut().zip(addr) {
                *dst = *src;
            }
            format!("[{}]", Ipv6Addr::from(a))
        }
        _ => "<nil>".into(),
    };
    Some(format!("{ip}/{source}/{scope}"))
}

/// `dns.question` with the registered-domain split.
fn question_map(m: &Message<'_>) -> Option<Map<String, Value>> {
    let q = m.question?;
    let name = name_string(m.buf, q.name_pos).ok()?;
    let mut qm = Map::new();
    if let Some(parts) = suffix::split(&name) {
        qm.insert(
            "etld_plus_one".into(),
            format!("{}.", parts.registered_domain).into(),
        );
        qm.insert(
            "registered_domain".into(),
            parts.registered_domain.to_owned().into(),
        );
        qm.insert(
            "top_level_domain".into(),
            parts.top_level_domain.to_owned().into(),
        );
        if let Some(sub) = parts.subdomain {
            qm.insert("subdomain".into(), sub.to_owned().into());
        }
    }
    qm.insert("name".into(), name.into());
    qm.insert("type".into(), type_name(q.qtype).into());
    qm.insert("class".into(), class_name(q.qclass).into());
    Some(qm)
}

/// The `dns` object of an event. `base` gives the header fields (the first response message,
/// else the request); `responses` are every response message of the transaction (several for
/// a zone transfer, none for an unanswered query); the question comes from `question_from`.
pub fn dns_object(
    base: &Message<'_>,
    question_from: &Message<'_>,
    responses: &[Message<'_>],
    include: Include,
) -> Map<String, Value> {
    let h = base.header;
    let mut m = Map::new();
    m.insert("id".into(), h.id.into());
    m.insert("op_code".into(), opcode_name(h.opcode()).into());
    let mut flags = Map::new();
    flags.insert("authoritative".into(), h.aa().into());
    flags.insert("truncated_response".into(), h.tc().into());
    flags.insert("recursion_desired".into(), h.rd().into());
    flags.insert("recursion_available".into(), h.ra().into());
    flags.insert("authentic_data".into(), h.ad().into());
    flags.insert("checking_disabled".into(), h.cd().into());
    m.insert("flags".into(), flags.into());
    let hf: Vec<Value> = [
        (h.aa(), "AA"),
        (h.tc(), "TC"),
        (h.rd(), "RD"),
        (h.ra(), "RA"),
        (h.ad(), "AD"),
        (h.cd(), "CD"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| Value::from(*s))
    .collect();
    if !hf.is_empty() {
        m.insert("header_flags".into(), hf.into());
    }
    if !responses.is_empty() {
        m.insert("response_code".into(), rcode_name(base.rcode()).into());
        m.insert("type".into(), "answer".into());
    }
    if let Some(q) = question_map(question_from).or_else(|| question_map(base)) {
        m.insert("question".into(), q.into());
    }
    if let Some(opt) = &base.opt {
        m.insert("opt".into(), opt_map(opt).into());
    }

    let single = [*base];
    let msgs: &[Message<'_>] = if responses.is_empty() {
        &single
    } else {
        responses
    };
    let (mut an, mut ns, mut ar) = (0u64, 0u64, 0u64);
    let mut answers = Vec::new();
    let mut auths = Vec::new();
    let mut adds = Vec::new();
    let mut ips = Vec::new();
    let mut scratch = Vec::new();
    for msg in msgs {
        an += u64::from(msg.header.an);
        ns += u64::from(msg.header.ns);
        ar += u64::from(msg.header.ar) - u64::from(msg.opt.is_some() && msg.header.ar > 0);
        for (sec, rr) in msg.records() {
            let (list, ips) = match sec {
                Section::Answer => (&mut answers, &mut ips),
                Section::Authority if include.authorities => (&mut auths, &mut scratch),
                Section::Additional if include.additionals => (&mut adds, &mut scratch),
                _ => continue,
            };
            if list.len() >= MAX_PUBLISHED_RECORDS {
                continue;
            }
            if let Some(rm) = rr_map(msg.buf, &rr, ips) {
                list.push(Value::Object(rm));
            }
        }
    }
    m.insert("answers_count".into(), an.into());
    if !answers.is_empty() {
        m.insert("answers".into(), answers.into());
    }
    if !ips.is_empty() {
        m.insert("resolved_ip".into(), ips.into());
    }
    m.insert("authorities_count".into(), ns.into());
    if !auths.is_empty() {
        m.insert("authorities".into(), auths.into());
    }
    m.insert("additionals_count".into(), ar.into());
    if !adds.is_empty() {
        m.insert("additionals".into(), adds.into());
    }
    m
}

/// `class IN, type A, www.example.com` (Packetbeat's `dnsQuestionToString`).
pub fn question_text(m: &Message<'_>) -> Option<(String, String)> {
    let q = m.question?;
    let name = name_string(m.buf, q.name_pos).ok()?;
    let text = format!(
        "class {}, type {}, {}",
        class_name(q.qclass),
        type_name(q.qtype),
        name
    );
    Some((name, text))
}

/// One record as Packetbeat's `rrToString`: sorted `key value, ` pairs of the string-valued
/// keys (and `ttl`), then the data.
fn rr_text(msg: &[u8], rr: &Rr<'_>, out: &mut String) {
    let mut ips = Vec::new();
    let Some(mut m) = rr_map(msg, rr, &mut ips) else {
        return;
    };
    let data = m.remove("data");
    let mut first = true;
    for (k, v) in &m {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) if k == "ttl" => n.to_string(),
            _ => continue,
        };
        if !first {
            out.push_str(", ");
        }
        first = false;
        let _ = write!(out, "{k} {s}");
    }
    if let Some(Value::String(d)) = data {
        if !first {
            out.push_str(", ");
        }
        out.push_str(&d);
    }
}

/// The dig-like text of a message (Packetbeat's `dnsToString`, for `send_request` /
/// `send_response`).
pub fn message_text(m: &Message<'_>) -> String {
    let h = m.header;
    let flags: Vec<&str> = [
        (h.aa(), "aa"),
        (h.tc(), "tc"),
        (h.rd(), "rd"),
        (h.ra(), "ra"),
        (h.ad(), "ad"),
        (h.cd(), "cd"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| *s)
    .collect();
    let mut out = format!(
        "ID {}; QR {}; OPCODE {}; FLAGS {}; RCODE {}",
        h.id,
        if h.qr() { "response" } else { "query" },
        opcode_name(h.opcode()),
        flags.join(" "),
        rcode_name(m.rcode())
    );
    if let Some((_, q)) = question_text(m) {
        let _ = write!(out, "; QUESTION {q}");
    }
    for (sec, label) in [
        (Section::Answer, "ANSWER"),
        (Section::Authority, "AUTHORITY"),
        (Section::Additional, "ADDITIONAL"),
    ] {
        let mut first = true;
        for rr in m.section(sec) {
            if first {
                let _ = write!(out, "; {label} ");
                first = false;
            } else {
                out.push_str("; ");
            }
            rr_text(m.buf, &rr, &mut out);
        }
    }
    out
}
