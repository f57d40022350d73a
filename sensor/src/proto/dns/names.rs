//! Names of DNS codes (miekg/dns tables, as Packetbeat prints them) and text escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

/// RR type mnemonic; unknown types are their decimal number (Packetbeat's `dnsTypeToString`).
pub fn type_name(t: u16) -> Cow<'static, str> {
    let s = match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        23 => "NSAP-PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        56 => "NINFO",
        57 => "RKEY",
        58 => "TALINK",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "NID",
        105 => "L32",
        106 => "L64",
        107 => "LP",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        258 => "AVC",
        260 => "AMTRELAY",
        32768 => "TA",
        32769 => "DLV",
        65535 => "Reserved",
        _ => return Cow::Owned(t.to_string()),
    };
    Cow::Borrowed(s)
}

/// Class mnemonic; unknown classes are their decimal number.
pub fn class_name(c: u16) -> Cow<'static, str> {
    match c {
        1 => Cow::Borrowed("IN"),
        2 => Cow::Borrowed("CS"),
        3 => Cow::Borrowed("CH"),
        4 => Cow::Borrowed("HS"),
        254 => Cow::Borrowed("NONE"),
        255 => Cow::Borrowed("ANY"),
        _ => Cow::Owned(c.to_string()),
    }
}

/// Opcode mnemonic; unknown opcodes are their decimal number.
pub fn opcode_name(o: u8) -> Cow<'static, str> {
    match o {
        0 => Cow::Borrowed("QUERY"),
        1 => Cow::Borrowed("IQUERY"),
        2 => Cow::Borrowed("STATUS"),
        4 => Cow::Borrowed("NOTIFY"),
        5 => Cow::Borrowed("UPDATE"),
        _ => Cow::Owned(o.to_string()),
    }
}

/// Response code mnemonic (with EDNS extended bits); unknown ones are `Unknown N` as in
/// Packetbeat's `dnsResponseCodeToString`.
pub fn rcode_name(r: u16) -> Cow<'static, str> {
    let s = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return Cow::Owned(format!("Unknown {r}")),
    };
    Cow::Borrowed(s)
}

/// DNSSEC algorithm mnemonic; unknown ones are their number.
pub fn algorithm_name(a: u8) -> Cow<'static, str> {
    let s = match a {
        1 => "RSAMD5",
        2 => "DH",
        3 => "DSA",
        5 => "RSASHA1",
        6 => "DSA-NSEC3-SHA1",
        7 => "RSASHA1-NSEC3-SHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECC-GOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        252 => "INDIRECT",
        253 => "PRIVATEDNS",
        254 => "PRIVATEOID",
        _ => return Cow::Owned(a.to_string()),
    };
    Cow::Borrowed(s)
}

/// Digest/hash algorithm mnemonic; unknown ones are their number.
pub fn hash_name(h: u8) -> Cow<'static, str> {
    let s = match h {
        1 => "SHA1",
        2 => "SHA256",
        3 => "GOST94",
        4 => "SHA384",
        5 => "SHA512",
        _ => return Cow::Owned(h.to_string()),
    };
    Cow::Borrowed(s)
}

/// `\DDD` escape of one byte.
fn push_ddd(b: u8, out: &mut String) {
    let _ = write!(out, "\\{b:03}");
}

/// Append one label in presentation form (miekg/dns `UnpackDomainName`): the specials
/// `. ' ' ' @ ; ( ) " \` get a backslash, unprintable bytes become `\DDD`.
pub fn escape_label(label: &[u8], out: &mut String) {
    for &b in label {
        match b {
            b'.' | b' ' | b'\'' | b'@' | b';' | b'(' | b')' | b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0..=0x1F | 0x7F..=0xFF => push_ddd(b, out),
            _ => out.push(char::from(b)),
        }
    }
}

/// Append a TXT character-string as miekg/dns renders it: `"` and `\` escaped, unprintable
/// bytes as `\DDD`.
pub fn escape_txt(s: &[u8], out: &mut String) {
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0..=0x1F | 0x7F..=0xFF => push_ddd(b, out),
            _ => out.push(char::from(b)),
        }
    }
}

/// Raw RDATA of a type without special handling, as Packetbeat's `hexStringToString`:
/// `"`/`\` escaped, tab/CR/LF as `\t \r \n`, other unprintable bytes as `\DDD`.
pub fn escape_raw(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0..=0x1F | 0x7F..=0xFF => push_ddd(b, &mut out),
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// Lowercase hex.
pub fn hex_lower(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Uppercase hex.
pub fn hex_upper(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

/// RFC 4648 base32 "extended hex" alphabet (NSEC3 hashed owner names), no padding.
pub fn base32hex(b: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
    let mut out = String::with_capacity(b.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &x in b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let idx = ((acc >> bits) & 0x1F) as usize;
            if let Some(&c) = ALPHABET.get(idx) {
                out.push(char::from(c));
            }
        }
    }
    if bits > 0 {
        let idx = ((acc << (5 - bits)) & 0x1F) as usize;
        if let Some(&c) = ALPHABET.get(idx) {
            out.push(char::from(c));
        }
    }
    out
}

/// `YYYYMMDDHHMMSS` (UTC) of RRSIG times, as miekg/dns `TimeToString` (no serial wrap).
pub fn rrsig_time(secs: u32) -> String {
    let secs = u64::from(secs);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
