//! Event fields of a DNS transaction: the `dns` object (Packetbeat's `addDNSToMapStr` with the
//! 8.x ECS additions), RDATA formatting (`rrToMapStr`) and the dig-like `request`/`response`
//! text (`dnsToString`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::names::{
    algorithm_name, base32hex, class_name, escape_raw, escape_txt, hash_name, hex_lower, hex_upper,
    opcode_name, rcode_name, rrsig_time, type_name,
};
use super::parse::{name_string, u16_at, u32_at, Message, Opt, Rr, Section, TYPE_OPT};
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

/// The name at `pos`, or the raw bytes from `pos` escaped when it does not parse.
fn name_or_raw(msg: &[u8], pos: usize, rdata: &[u8]) -> String {
    name_string(msg, pos).unwrap_or_else(|_| escape_raw(rdata))
}

/// An address in Go's `net.IP.String()` form (IPv4-mapped IPv6 printed as IPv4).
fn ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Type names of an NSEC/NSEC3 type bitmap, space separated.
fn type_bits(mut b: &[u8]) -> String {
    let mut out = String::new();
    while let Some((&window, rest)) = b.split_first() {
        let Some((&len, rest)) = rest.split_first() else {
            break;
        };
        let Some((bitmap, rest)) = rest.split_at_checked(usize::from(len)) else {
            break;
        };
        for (i, byte) in bitmap.iter().enumerate() {
            for bit in 0..8u16 {
                if byte & (0x80 >> bit) != 0 {
                    let t = u16::from(window) * 256 + (i as u16) * 8 + bit;
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(&type_name(t));
                }
            }
        }
        b = rest;
    }
    out
}

/// Fill `data` and the type-specific keys of a record (Packetbeat's `rrToMapStr`). Resolved
/// addresses of A/AAAA records are appended to `ips`.
fn rdata_fields(msg: &[u8], rr: &Rr<'_>, m: &mut Map<String, Value>, ips: &mut Vec<String>) {
    let d = rr.rdata;
    let p = rr.rdata_pos;
    let data: Value = match (rr.rtype, d.len()) {
        (1, 4) => {
            let mut a = [0u8; 4];
            a.copy_from_slice(d);
            let s = ip_string(IpAddr::V4(Ipv4Addr::from(a)));
            ips.push(s.clone());
            s.into()
        }
        (28, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(d);
            let s = ip_string(IpAddr::V6(Ipv6Addr::from(a)));
            ips.push(s.clone());
            s.into()
        }
        // CNAME, NS, PTR.
        (5 | 2 | 12, _) => name_or_raw(msg, p, d).into(),
        (15, _) => match u16_at(d, 0) {
            Ok(pref) => {
                m.insert("preference".into(), pref.into());
                name_or_raw(msg, p + 2, d).into()
            }
            Err(_) => escape_raw(d).into(),
        },
        (6, _) => soa_fields(msg, rr, m)
            .unwrap_or_else(|| escape_raw(d))
            .into(),
        (33, _) => match (u16_at(d, 0), u16_at(d, 2), u16_at(d, 4)) {
            (Ok(prio), Ok(weight), Ok(port)) => {
                m.insert("priority".into(), prio.into());
                m.insert("weight".into(), weight.into());
                m.insert("port".into(), port.into());
                name_or_raw(msg, p + 6, d).into()
            }
            _ => escape_raw(d).into(),
        },
        // TXT, SPF: character-strings joined by a space.
        (16 | 99, _) => {
            let mut s = String::new();
            let mut rest = d;
            while let Some((&len, tail)) = rest.split_first() {
                let Some((chunk, tail)) = tail.split_at_checked(usize::from(len)) else {
                    break;
                };
                if !s.is_empty() {
                    s.push(' ');
                }
                escape_txt(chunk, &mut s);
                rest = tail;
            }
            s.into()
        }
        (48, 4..) => {
            let (hdr, key) = d.split_at_checked(4).unwrap_or_default();
            if let [f0, f1, proto, alg] = *hdr {
                m.insert(
                    "flags".into(),
                    u16::from_be_bytes([f0, f1]).to_string().into(),
                );
                m.insert("protocol".into(), proto.to_string().into());
                m.insert("algorithm".into(), algorithm_name(alg).into());
            }
            base64::engine::general_purpose::STANDARD.encode(key).into()
        }
        (43, 4..) => {
            let (hdr, digest) = d.split_at_checked(4).unwrap_or_default();
            if let [k0, k1, alg, dt] = *hdr {
                m.insert(
                    "key_tag".into(),
                    u16::from_be_bytes([k0, k1]).to_string().into(),
                );
                m.insert("algorithm".into(), algorithm_name(alg).into());
                m.insert("digest_type".into(), hash_name(dt).into());
            }
            hex_upper(digest).into()
        }
        (46, 18..) => rrsig_fields(msg, rr, m)
            .unwrap_or_else(|| escape_raw(d))
            .into(),
        (47, _) => match super::parse::skip_name(msg, p) {
            Ok(after) => {
                let bits = d.get(after.saturating_sub(p)..).unwrap_or_default();
                m.insert("type_bits".into(), type_bits(bits).into());
                name_or_raw(msg, p, d).into()
            }
            Err(_) => escape_raw(d).into(),
        },
        (50, _) => nsec3_fields(d, m).unwrap_or_else(|| escape_raw(d)).into(),
        (51, _) => nsec3param_fields(d, m)
            .unwrap_or_else(|| escape_raw(d))
            .into(),
        (257, _) => {
            caa_fields(d, m);
            escape_raw(d).into()
        }
        (35, _) => {
            naptr_fields(msg, rr, m);
            escape_raw(d).into()
        }
        _ => escape_raw(d).into(),
    };
    m.insert("data".into(), data);
}

/// One `<character-string>` at `pos` of `d`: (escaped text, offset after it).
fn char_string(d: &[u8], pos: usize) -> Option<(String, usize)> {
    let len = usize::from(*d.get(pos)?);
    let s = d.get(pos + 1..pos + 1 + len)?;
    let mut out = String::new();
    escape_txt(s, &mut out);
    Some((out, pos + 1 + len))
}

/// CAA (beyond Packetbeat, which only has the raw `data`): flags, tag, value.
fn caa_fields(d: &[u8], m: &mut Map<String, Value>) {
    let Some((tag, after)) = char_string(d, 1) else {
        return;
    };
    let (Some(&flags), Some(value)) = (d.first(), d.get(after..)) else {
        return;
    };
    let mut v = String::new();
    escape_txt(value, &mut v);
    m.insert("flags".into(), flags.into());
    m.insert("tag".into(), tag.into());
    m.insert("value".into(), v.into());
}

/// NAPTR (beyond Packetbeat, which only has the raw `data`): order, preference, flags,
/// service, regexp, replacement.
fn naptr_fields(msg: &[u8], rr: &Rr<'_>, m: &mut Map<String, Value>) {
    let d = rr.rdata;
    let (Ok(order), Ok(pref)) = (u16_at(d, 0), u16_at(d, 2)) else {
        return;
    };
    let Some((flags, p)) = char_string(d, 4) else {
        return;
    };
    let Some((service, p)) = char_string(d, p) else {
        return;
    };
    let Some((regexp, p)) = char_string(d, p) else {
        return;
    };
    let Ok(replacement) = name_string(msg, rr.rdata_pos + p) else {
        return;
    };
    m.insert("order".into(), order.into());
    m.insert("preference".into(), pref.into());
    m.insert("flags".into(), flags.into());
    m.insert("service".into(), service.into());
    m.insert("regexp".into(), regexp.into());
    m.insert("replacement".into(), replacement.into());
}

/// SOA: `data` = MNAME, plus rname, serial, refresh, retry, expire, minimum.
fn soa_fields(msg: &[u8], rr: &Rr<'_>, m: &mut Map<String, Value>) -> Option<String> {
    let mut mname = String::new();
    let p = super::parse::read_name(msg, rr.rdata_pos, &mut mname).ok()?;
    let mut rname = String::new();
    let p = super::parse::read_name(msg, p, &mut rname).ok()?;
    let serial = u32_at(msg, p).ok()?;
    let refresh = u32_at(msg, p + 4).ok()?;
    let retry = u32_at(msg, p + 8).ok()?;
    let expire = u32_at(msg, p + 12).ok()?;
    let minimum = u32_at(msg, p + 16).ok()?;
    m.insert("rname".into(), rname.into());
    m.insert("serial".into(), serial.into());
    m.insert("refresh".into(), refresh.into());
    m.insert("retry".into(), retry.into());
    m.insert("expire".into(), expire.into());
    m.insert("minimum".into(), minimum.into());
    Some(mname)
}

/// RRSIG: `data` = base64 signature, plus the covered type, algorithm, times, signer.
fn rrsig_fields(msg: &[u8], rr: &Rr<'_>, m: &mut Map<String, Value>) -> Option<String> {
    let d = rr.rdata;
    let covered = u16_at(d, 0).ok()?;
    let alg = *d.get(2)?;
    let labels = *d.get(3)?;
    let orig_ttl = u32_at(d, 4).ok()?;
    let expiration = u32_at(d, 8).ok()?;
    let inception = u32_at(d, 12).ok()?;
    let key_tag = u16_at(d, 16).ok()?;
    let mut signer = String::new();
    let after = super::parse::read_name(msg, rr.rdata_pos + 18, &mut signer).ok()?;
    let sig = d.get(after.checked_sub(rr.rdata_pos)?..)?;
    m.insert("type_covered".into(), type_name(covered).into());
    m.insert("algorithm".into(), algorithm_name(alg).into());
    m.insert("labels".into(), labels.to_string().into());
    m.insert("original_ttl".into(), orig_ttl.to_string().into());
    m.insert("expiration".into(), rrsig_time(expiration).into());
    m.insert("inception".into(), rrsig_time(inception).into());
    m.insert("key_tag".into(), key_tag.to_string().into());
    m.insert("signer_name".into(), signer.into());
    Some(base64::engine::general_purpose::STANDARD.encode(sig))
}

/// Salt in miekg/dns form: uppercase hex, `-` when empty.
fn salt_string(salt: &[u8]) -> String {
    if salt.is_empty() {
        "-".into()
    } else {
        hex_upper(salt)
    }
}

/// NSEC3: `data` = next hashed owner (base32hex), plus hash, flags, iterations, salt, types.
fn nsec3_fields(d: &[u8], m: &mut Map<String, Value>) -> Option<String> {
    let hash = *d.first()?;
    let flags = *d.get(1)?;
    let iterations = u16_at(d, 2).ok()?;
    let salt_len = usize::from(*d.get(4)?);
    let salt = d.get(5..5 + salt_len)?;
    let hlen = usize::from(*d.get(5 + salt_len)?);
    let next = d.get(6 + salt_len..6 + salt_len + hlen)?;
    let bits = d.get(6 + salt_len + hlen..)?;
    m.insert("hash".into(), hash_name(hash).into());
    m.insert("flags".into(), flags.to_string().into());
    m.insert("iterations".into(), iterations.to_string().into());
    m.insert("salt".into(), salt_string(salt).into());
    m.insert("type_bits".into(), type_bits(bits).into());
    Some(base32hex(next))
}

/// NSEC3PARAM: `data` = salt, plus hash, flags, iterations.
fn nsec3param_fields(d: &[u8], m: &mut Map<String, Value>) -> Option<String> {
    let hash = *d.first()?;
    let flags = *d.get(1)?;
    let iterations = u16_at(d, 2).ok()?;
    let salt_len = usize::from(*d.get(4)?);
    let salt = d.get(5..5 + salt_len)?;
    m.insert("hash".into(), hash_name(hash).into());
    m.insert("flags".into(), flags.to_string().into());
    m.insert("iterations".into(), iterations.to_string().into());
    Some(salt_string(salt))
}

/// One record as a JSON object (`name`, `type`, `class`, `ttl`, `data`, extras); `None` for
/// the OPT pseudo-record.
pub fn rr_map(msg: &[u8], rr: &Rr<'_>, ips: &mut Vec<String>) -> Option<Map<String, Value>> {
    if rr.rtype == TYPE_OPT {
        return None;
    }
    let mut m = Map::new();
    let name = name_string(msg, rr.name_pos).unwrap_or_default();
    m.insert("name".into(), name.into());
    m.insert("type".into(), type_name(rr.rtype).into());
    m.insert("class".into(), class_name(rr.class).into());
    m.insert("ttl".into(), rr.ttl.into());
    rdata_fields(msg, rr, &mut m, ips);
    Some(m)
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
