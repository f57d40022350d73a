//! Client and server fingerprints: JA3 and JA3S (Salesforce: GREASE removed, decimal lists,
//! MD5 hex) and JA4 (FoxIO: `t13d1516h2_8daaf6152771_b186095e22b6`).

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::parse::{self, ext, is_grease, u16s, ClientHello, ServerHello};

fn join_dec(out: &mut String, values: impl Iterator<Item = u16>) {
    let mut first = true;
    for v in values {
        if !first {
            out.push('-');
        }
        first = false;
        let _ = write!(out, "{v}");
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// MD5 hex of a string.
fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

/// The JA3 string and its MD5: `version,ciphers,extensions,groups,point_formats`.
pub fn ja3(ch: &ClientHello<'_>) -> (String, String) {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{},", ch.version);
    join_dec(&mut s, u16s(ch.ciphers).filter(|c| !is_grease(*c)));
    s.push(',');
    join_dec(
        &mut s,
        parse::extensions(ch.extensions)
            .map(|(t, _)| t)
            .filter(|t| !is_grease(*t)),
    );
    s.push(',');
    let groups = parse::find_ext(ch.extensions, ext::SUPPORTED_GROUPS)
        .map(parse::u16_list)
        .unwrap_or_default();
    join_dec(&mut s, u16s(groups).filter(|g| !is_grease(*g)));
    s.push(',');
    let formats = parse::find_ext(ch.extensions, ext::EC_POINT_FORMATS)
        .map(parse::u8_list)
        .unwrap_or_default();
    join_dec(&mut s, formats.iter().map(|f| u16::from(*f)));
    let h = md5_hex(&s);
    (s, h)
}

/// The JA3S string and its MD5: `version,cipher,extensions`.
pub fn ja3s(sh: &ServerHello<'_>) -> (String, String) {
    let mut s = String::with_capacity(64);
    let _ = write!(s, "{},{},", sh.version, sh.cipher);
    join_dec(&mut s, parse::extensions(sh.extensions).map(|(t, _)| t));
    let h = md5_hex(&s);
    (s, h)
}

/// JA4 version code of a wire version.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        v if parse::is_tls13(v) => "13",
        _ => "00",
    }
}

/// First 12 hex digits of the SHA-256 of `s`; `000000000000` for an empty input.
fn sha256_12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

/// Most values JA4 counts in its two-digit fields.
const JA4_MAX_COUNT: usize = 99;

/// The two JA4 ALPN characters: first and last of the first ALPN value (`00` when none);
/// non-alphanumeric bytes use the first and last digits of the value's hex instead.
fn ja4_alpn(ch: &ClientHello<'_>) -> String {
    let first = parse::find_ext(ch.extensions, ext::ALPN)
        .and_then(|b| parse::alpn_names(b).next())
        .unwrap_or_default();
    match (first.first(), first.last()) {
        (Some(&a), Some(&b)) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
            let mut s = String::with_capacity(2);
            s.push(char::from(a));
            s.push(char::from(b));
            s
        }
        (Some(_), Some(_)) => {
            let h = hex(first);
            let mut s = String::with_capacity(2);
            s.extend(h.chars().next());
            s.extend(h.chars().last());
            s
        }
        _ => "00".to_owned(),
    }
}

/// The JA4 fingerprint of a ClientHello seen over TCP.
pub fn ja4(ch: &ClientHello<'_>) -> String {
    let version = parse::client_versions(ch)
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(ch.version);
    let has_sni = parse::find_ext(ch.extensions, ext::SERVER_NAME).is_some();
    let mut ciphers: Vec<u16> = u16s(ch.ciphers).filter(|c| !is_grease(*c)).collect();
    let all_exts: Vec<u16> = parse::extensions(ch.extensions)
        .map(|(t, _)| t)
        .filter(|t| !is_grease(*t))
        .collect();
    let mut a = String::with_capacity(10);
    a.push('t');
    a.push_str(ja4_version(version));
    a.push(if has_sni { 'd' } else { 'i' });
    let _ = write!(
        a,
        "{:02}{:02}",
        ciphers.len().min(JA4_MAX_COUNT),
        all_exts.len().min(JA4_MAX_COUNT)
    );
    a.push_str(&ja4_alpn(ch));

    ciphers.sort_unstable();
    let mut b_src = String::with_capacity(ciphers.len() * 5);
    for (i, c) in ciphers.iter().enumerate() {
        if i > 0 {
            b_src.push(',');
        }
        let _ = write!(b_src, "{c:04x}");
    }

    let mut exts: Vec<u16> = all_exts
        .into_iter()
        .filter(|t| *t != ext::SERVER_NAME && *t != ext::ALPN)
        .collect();
    exts.sort_unstable();
    let mut c_src = String::with_capacity(exts.len() * 5 + 128);
    for (i, e) in exts.iter().enumerate() {
        if i > 0 {
            c_src.push(',');
        }
        let _ = write!(c_src, "{e:04x}");
    }
    let sigs = parse::find_ext(ch.extensions, ext::SIGNATURE_ALGORITHMS)
        .map(parse::u16_list)
        .unwrap_or_default();
    let mut first = true;
    for s in u16s(sigs) {
        c_src.push(if first { '_' } else { ',' });
        first = false;
        let _ = write!(c_src, "{s:04x}");
    }
    format!("{a}_{}_{}", sha256_12(&b_src), sha256_12(&c_src))
}
