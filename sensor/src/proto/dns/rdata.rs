//! RDATA formatting (Packetbeat's `rrToMapStr`): `data` and the type-specific keys of each
//! record type, in miekg/dns presentation forms.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::names::{
    algorithm_name, base32hex, class_name, escape_raw, escape_txt, hash_name, hex_upper,
    rrsig_time, type_name,
};
use super::parse::{name_string, read_name, skip_name, u16_at, u32_at, Rr, TYPE_OPT};
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
        // RFC 4034 §4.1.2 caps a window's bitmap at 32 bytes; a longer one (malformed) would
        // name types above 65535, so only its first 32 bytes are read.
        for (i, byte) in bitmap.iter().take(32).enumerate() {
            for bit in 0..8u32 {
                if u32::from(*byte) & (0x80 >> bit) != 0 {
                    let t32 = u32::from(window) * 256 + (i as u32) * 8 + bit;
                    let Ok(t) = u16::try_from(t32) else { continue };
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
        (47, _) => match skip_name(msg, p) {
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
    let p = read_name(msg, rr.rdata_pos, &mut mname).ok()?;
    let mut rname = String::new();
    let p = read_name(msg, p, &mut rname).ok()?;
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
    let after = read_name(msg, rr.rdata_pos + 18, &mut signer).ok()?;
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

#[cfg(test)]
mod type_bits_tests {
    #[test]
    fn oversized_window_bitmap_does_not_overflow() {
        // Window 255 with a 33-byte bitmap (RFC max is 32): found by the dns fuzz target.
        let mut b = vec![0xff, 33];
        b.extend_from_slice(&[0u8; 32]);
        b.push(0x80);
        assert_eq!(super::type_bits(&b), "");
        assert_eq!(super::type_bits(&[0, 1, 0x40]), "A");
    }
}
