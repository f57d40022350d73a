//! Names of TLS code points as Packetbeat writes them: IANA cipher-suite names (from the
//! tls-parser table), groups, signature schemes, compression methods, point formats, alerts
//! and versions. Unknown values read `(unknown:0x....)`, as Packetbeat.

/// IANA name of a cipher suite, e.g. `TLS_AES_128_GCM_SHA256`.
pub fn cipher(id: u16) -> String {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(c) => c.name.to_owned(),
        None => format!("(unknown:0x{id:04x})"),
    }
}

/// Name of a supported group.
pub fn group(id: u16) -> String {
    let name = match id {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x11ec => "X25519MLKEM768",
        0x6399 => "X25519Kyber768Draft00",
        65281 => "arbitrary_explicit_prime_curves",
        65282 => "arbitrary_explicit_char2_curves",
        _ => return format!("(unknown:0x{id:04x})"),
    };
    name.to_owned()
}

/// Name of a signature scheme (Packetbeat's names; RFC 8446 names for the newer ones).
pub fn signature_scheme(id: u16) -> String {
    let name = match id {
        0x0401 => "rsa_pkcs1_sha256",
        0x0501 => "rsa_pkcs1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_sha256",
        0x0805 => "rsa_pss_sha384",
        0x0806 => "rsa_pss_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        _ => return format!("(unknown:0x{id:04x})"),
    };
    name.to_owned()
}

/// Name of a compression method.
pub fn compression(id: u8) -> String {
    match id {
        0 => "NULL".to_owned(),
        1 => "DEFLATE".to_owned(),
        64 => "LZS".to_owned(),
        _ => format!("(unknown:0x{id:02x})"),
    }
}

/// Name of an EC point format.
pub fn ec_point_format(id: u8) -> String {
    match id {
        0 => "uncompressed".to_owned(),
        1 => "ansiX962_compressed_prime".to_owned(),
        2 => "ansiX962_compressed_char2".to_owned(),
        _ => format!("(unknown:0x{id:02x})"),
    }
}

/// Name of an alert description (Packetbeat's table).
pub fn alert(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate_RESERVED",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction_RESERVED",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("(unknown:0x{code:02x})"),
    };
    name.to_owned()
}

/// Name of an alert level.
pub fn alert_level(level: u8) -> String {
    match level {
        1 => "warning".to_owned(),
        2 => "fatal".to_owned(),
        _ => format!("(unknown:0x{level:02x})"),
    }
}

/// Packetbeat's long version name: `TLS 1.2`, `SSL 3.0`; TLS 1.3 drafts read `TLS 1.3`.
pub fn version_long(v: u16) -> String {
    let (proto, num) = version_ecs(v);
    match proto {
        "tls" => format!("TLS {num}"),
        "ssl" => format!("SSL {num}"),
        _ => format!("(raw {num})"),
    }
}

/// ECS `tls.version_protocol` and `tls.version`: `("tls", "1.2")`, `("ssl", "3.0")`.
pub fn version_ecs(v: u16) -> (&'static str, String) {
    let [major, minor] = v.to_be_bytes();
    if super::parse::is_tls13(v) {
        return ("tls", "1.3".to_owned());
    }
    match (major, minor) {
        (3, 0) => ("ssl", "3.0".to_owned()),
        (3, m) => ("tls", format!("1.{}", m.saturating_sub(1))),
        (0, 2) => ("ssl", "2.0".to_owned()),
        _ => ("unknown", format!("{major}.{minor}")),
    }
}

/// Name of an OCSP response status.
pub fn ocsp_status(s: u8) -> String {
    match s {
        0 => "successful".to_owned(),
        1 => "malformedRequest".to_owned(),
        2 => "internalError".to_owned(),
        3 => "tryLater".to_owned(),
        5 => "sigRequired".to_owned(),
        6 => "unauthorized".to_owned(),
        n => n.to_string(),
    }
}

/// Name of an extension for `_unparsed_`: its label when known, else its decimal code.
pub fn extension_label(code: u16) -> String {
    let name = match code {
        0 => "server_name_indication",
        1 => "max_fragment_length",
        2 => "client_certificate_url",
        3 => "trusted_ca_keys",
        4 => "truncated_hmac",
        5 => "status_request",
        6 => "user_mapping",
        7 => "client_authz",
        8 => "server_authz",
        9 => "cert_type",
        10 => "supported_groups",
        11 => "ec_points_formats",
        12 => "srp",
        13 => "signature_algorithms",
        16 => "application_layer_protocol_negotiation",
        35 => "session_ticket",
        43 => "supported_versions",
        0xff01 => "renegotiation_info",
        _ => return code.to_string(),
    };
    name.to_owned()
}
