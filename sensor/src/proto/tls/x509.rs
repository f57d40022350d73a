//! X.509 certificates → Packetbeat's certificate fields (`certToMap` in packetbeat/protos/tls):
//! Go-style distinguished names (`CN=...,O=...,C=US`), decimal serial, Go signature-algorithm
//! names, key algorithm and size, SANs, validity as RFC 3339 with milliseconds, fingerprints
//! and PEM. Built once per certificate when its handshake message arrives.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;
use x509_parser::der_parser::asn1_rs::{Any, Tag};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

/// A certificate digested for the event.
#[derive(Clone, Debug)]
pub struct CertOut {
    /// Subject distinguished name (Go order: most specific first).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// `notBefore`, RFC 3339 with milliseconds.
    pub not_before: String,
    /// `notAfter`.
    pub not_after: String,
    /// Packetbeat's certificate object (`tls.server.x509`, chain entries).
    pub map: Map<String, Value>,
    /// Fingerprints (`md5`, `sha1`, `sha256` → uppercase hex), as configured.
    pub hashes: Vec<(&'static str, String)>,
    /// PEM text (with `include_raw_certificates`).
    pub pem: Option<String>,
}

/// Which fingerprints to compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hashes {
    /// MD5.
    pub md5: bool,
    /// SHA-1.
    pub sha1: bool,
    /// SHA-256.
    pub sha256: bool,
}

/// Width of a PEM line.
const PEM_LINE: usize = 64;

fn upper_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// PEM encoding of a DER certificate (as Go's `pem.Encode`).
pub fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / PEM_LINE + 64);
    s.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(PEM_LINE) {
        s.push_str(&String::from_utf8_lossy(line));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian, H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix seconds → `2020-12-02T12:00:00.000Z`.
pub fn rfc3339_millis(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The text of a directory-string value (UTF-8, Printable, IA5, BMP, T61/Latin-1).
fn any_text(v: &Any<'_>) -> String {
    let data = v.as_bytes();
    match v.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .filter_map(|c| match c {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::T61String => data.iter().map(|b| char::from(*b)).collect(),
        _ => String::from_utf8_lossy(data).into_owned(),
    }
}

/// Go's short names of the attributes `pkix.Name` parses, in `ToRDNSequence` order.
const GO_ATTRS: [(&str, &str); 9] = [
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// Escape one attribute value as Go's `RDNSequence.String`.
fn escape_into(out: &mut String, value: &str) {
    let n = value.chars().count();
    for (k, c) in value.chars().enumerate() {
        let esc = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == n,
            '#' => k == 0,
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Attribute values of a name grouped by Go's parsed fields, plus the others in order.
struct NameParts {
    /// Values per entry of [`GO_ATTRS`].
    known: [Vec<String>; 9],
    /// Other attributes: (dotted OID, `#`-hex of the DER value).
    other: Vec<(String, String)>,
}

fn name_parts(name: &X509Name<'_>) -> NameParts {
    let mut parts = NameParts {
        known: Default::default(),
        other: Vec::new(),
    };
    for atv in name.iter_attributes() {
        let oid = atv.attr_type().to_id_string();
        let value = atv.attr_value();
        match GO_ATTRS.iter().position(|(o, _)| *o == oid) {
            Some(i) => {
                if let Some(v) = parts.known.get_mut(i) {
                    v.push(any_text(value));
                }
            }
            None => {
                let mut hex = String::from("#");
                for b in &raw_tlv(value) {
                    let _ = write!(hex, "{b:02x}");
                }
                parts.other.push((oid, hex));
            }
        }
    }
    parts
}

/// The DER TLV of a value (tag, length, content), rebuilt for the short forms Go prints.
fn raw_tlv(v: &Any<'_>) -> Vec<u8> {
    let data = v.as_bytes();
    let mut out = Vec::with_capacity(data.len() + 4);
    let tag = u8::try_from(v.tag().0).unwrap_or(0);
    out.push(tag);
    let len = data.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let sig = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | u8::try_from(sig.len()).unwrap_or(0));
        out.extend_from_slice(sig);
    }
    out.extend_from_slice(data);
    out
}

/// Go's `pkix.Name.String()` and Packetbeat's name object.
fn name_fields(name: &X509Name<'_>) -> (String, Map<String, Value>) {
    let p = name_parts(name);
    // RDNSequence.String prints the sequence reversed: Go's named fields (in reverse
    // ToRDNSequence order), then the non-standard attributes.
    let mut dn = String::new();
    for (i, (_, short)) in GO_ATTRS.iter().enumerate().rev() {
        let Some(values) = p.known.get(i) else {
            continue;
        };
        // CN and SERIALNUMBER keep only the last value, as Go's parsed fields do.
        let values: &[String] = if matches!(*short, "CN" | "SERIALNUMBER") {
            values
                .get(values.len().saturating_sub(1)..)
                .unwrap_or_default()
        } else {
            values
        };
        if values.is_empty() {
            continue;
        }
        if !dn.is_empty() {
            dn.push(',');
        }
        for (j, v) in values.iter().enumerate() {
            if j > 0 {
                dn.push('+');
            }
            dn.push_str(short);
            dn.push('=');
            escape_into(&mut dn, v);
        }
    }
    for (oid, hex) in p.other.iter().rev() {
        if !dn.is_empty() {
            dn.push(',');
        }
        dn.push_str(oid);
        dn.push('=');
        dn.push_str(hex);
    }
    let mut m = Map::new();
    let fields: [(&str, usize); 9] = [
        ("country", 0),
        ("organization", 5),
        ("organizational_unit", 6),
        ("locality", 2),
        ("postal_code", 4),
        ("serial_number", 8),
        ("common_name", 7),
        ("street_address", 3),
        ("state_or_province", 1),
    ];
    for (key, i) in fields {
        let values = p.known.get(i).map(Vec::as_slice).unwrap_or_default();
        let joined = if matches!(i, 7 | 8) {
            values.last().cloned().unwrap_or_default()
        } else {
            values.join(" ")
        };
        if !joined.is_empty() {
            m.insert(key.into(), joined.into());
        }
    }
    if !dn.is_empty() {
        m.insert("distinguished_name".into(), dn.clone().into());
    }
    (dn, m)
}

/// Go's `x509.SignatureAlgorithm.String()` for a signature algorithm OID.
fn signature_name(oid: &str, params: &[u8]) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.2" => "MD2-RSA",
        "1.2.840.113549.1.1.4" => "MD5-RSA",
        "1.2.840.113549.1.1.5" => "SHA1-RSA",
        "1.2.840.113549.1.1.11" => "SHA256-RSA",
        "1.2.840.113549.1.1.12" => "SHA384-RSA",
        "1.2.840.113549.1.1.13" => "SHA512-RSA",
        "1.2.840.113549.1.1.10" => {
            // RSASSA-PSS: the hash is the first OID of the parameters (2.16.840.1.101.3.4.2.x).
            const SHA2_PREFIX: [u8; 10] =
                [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
            let pos = params
                .windows(SHA2_PREFIX.len())
                .position(|w| w == SHA2_PREFIX);
            match pos.and_then(|p| params.get(p + SHA2_PREFIX.len())) {
                Some(1) => "SHA256-RSAPSS",
                Some(2) => "SHA384-RSAPSS",
                Some(3) => "SHA512-RSAPSS",
                _ => "RSASSA-PSS",
            }
        }
        "1.2.840.10040.4.3" => "DSA-SHA1",
        "2.16.840.1.101.3.4.3.2" => "DSA-SHA256",
        "1.2.840.10045.4.1" => "ECDSA-SHA1",
        "1.2.840.10045.4.3.2" => "ECDSA-SHA256",
        "1.2.840.10045.4.3.3" => "ECDSA-SHA384",
        "1.2.840.10045.4.3.4" => "ECDSA-SHA512",
        "1.3.101.112" => "Ed25519",
        _ => return oid.to_owned(),
    };
    name.to_owned()
}

/// Bit length of a big-endian unsigned integer.
fn bit_len(b: &[u8]) -> usize {
    let skip = b.iter().take_while(|x| **x == 0).count();
    match b.get(skip..) {
        Some([first, rest @ ..]) => rest.len() * 8 + (8 - first.leading_zeros() as usize),
        _ => 0,
    }
}

/// Public key algorithm name and size in bits (0 = unknown), as Go reports them.
fn public_key(cert: &X509Certificate<'_>) -> (String, usize) {
    use x509_parser::public_key::PublicKey;
    let spki = &cert.tbs_certificate.subject_pki;
    let oid = spki.algorithm.algorithm.to_id_string();
    let parsed = spki.parsed().ok();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let size = match parsed {
                Some(PublicKey::RSA(k)) => bit_len(k.modulus),
                _ => 0,
            };
            ("RSA".to_owned(), size)
        }
        "1.2.840.10040.4.1" => {
            let size = match parsed {
                Some(PublicKey::DSA(y)) => bit_len(y),
                _ => 0,
            };
            ("DSA".to_owned(), size)
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let size = match curve.as_str() {
                "1.2.840.10045.3.1.7" => 256,
                "1.3.132.0.34" => 384,
                "1.3.132.0.35" => 521,
                "1.3.132.0.33" => 224,
                "1.2.840.10045.3.1.1" => 192,
                _ => parsed.map(|k| k.key_size()).unwrap_or(0),
            };
            ("ECDSA".to_owned(), size)
        }
        "1.3.101.112" => ("Ed25519".to_owned(), 0),
        _ => (oid, 0),
    }
}

/// Subject alternative names: DNS names, then e-mail addresses, then IP addresses (Go order).
fn alternative_names(cert: &X509Certificate<'_>) -> Vec<Value> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    let names = &san.value.general_names;
    let mut out = Vec::new();
    for n in names {
        if let GeneralName::DNSName(s) = n {
            out.push(Value::String((*s).to_owned()));
        }
    }
    for n in names {
        if let GeneralName::RFC822Name(s) = n {
            out.push(Value::String((*s).to_owned()));
        }
    }
    for n in names {
        if let GeneralName::IPAddress(b) = n {
            let ip = match <[u8; 4]>::try_from(*b) {
                Ok(v4) => Some(std::net::IpAddr::from(v4)),
                Err(_) => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
            };
            if let Some(ip) = ip {
                out.push(Value::String(ip.to_string()));
            }
        }
    }
    out
}

/// Digest one DER certificate; `None` when it does not parse.
pub fn digest(der: &[u8], hashes: Hashes, with_pem: bool) -> Option<CertOut> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let (subject, subject_map) = name_fields(&tbs.subject);
    let (issuer, issuer_map) = name_fields(&tbs.issuer);
    let not_before = rfc3339_millis(tbs.validity.not_before.timestamp());
    let not_after = rfc3339_millis(tbs.validity.not_after.timestamp());
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let sig_params = cert
        .signature_algorithm
        .parameters
        .as_ref()
        .map(|p| p.as_bytes())
        .unwrap_or_default();
    let (pk_algo, pk_size) = public_key(&cert);

    let mut m = Map::new();
    m.insert(
        "signature_algorithm".into(),
        signature_name(&sig_oid, sig_params).into(),
    );
    m.insert("public_key_algorithm".into(), pk_algo.into());
    if pk_size > 0 {
        m.insert("public_key_size".into(), pk_size.into());
    }
    m.insert("serial_number".into(), tbs.serial.to_string().into());
    m.insert("issuer".into(), Value::Object(issuer_map));
    m.insert("subject".into(), Value::Object(subject_map));
    m.insert("not_before".into(), not_before.clone().into());
    m.insert("not_after".into(), not_after.clone().into());
    m.insert("version_number".into(), (tbs.version.0 + 1).into());
    let san = alternative_names(&cert);
    if !san.is_empty() {
        m.insert("alternative_names".into(), Value::Array(san));
    }

    let mut out_hashes = Vec::new();
    if hashes.md5 {
        out_hashes.push(("md5", upper_hex(&md5::Md5::digest(der))));
    }
    if hashes.sha1 {
        out_hashes.push(("sha1", upper_hex(&Sha1::digest(der))));
    }
    if hashes.sha256 {
        out_hashes.push(("sha256", upper_hex(&Sha256::digest(der))));
    }
    Some(CertOut {
        subject,
        issuer,
        not_before,
        not_after,
        map: m,
        hashes: out_hashes,
        pem: with_pem.then(|| pem(der)),
    })
}
