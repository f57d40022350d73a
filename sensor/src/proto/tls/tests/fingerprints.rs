//! JA3 / JA3S / JA4 against published vectors (the corpus oracle's tshark JA3, the FoxIO JA4
//! README example).

use super::*;

fn parsed_ch(msg: &[u8]) -> parse::ClientHello<'_> {
    parse::client_hello(&msg[4..]).unwrap()
}

#[test]
fn ja3_matches_tshark() {
    // corpus tls/tls13_sni_alpn: ja3_full from tshark.
    let msg = client_hello(
        0x0303,
        &[0x33; 32],
        &[0x2a2a, 4866, 4867, 4865, 255],
        &[
            ext(0x0a0a, &[]),
            ext_sni("www.corp.test"),
            ext_points(&[0, 1, 2]),
            ext_groups(&[0x1a1a, 29, 23, 30, 25, 24, 256, 257, 258, 259, 260]),
            ext(35, &[]),
            ext_alpn(&["h2", "http/1.1"]),
            ext(22, &[]),
            ext(23, &[]),
            ext_sigalgs(&[0x0403]),
            ext_versions(&[0x0304]),
            ext(45, &[1, 1]),
            ext(51, &[0, 0]),
        ],
    );
    let (s, h) = fingerprint::ja3(&parsed_ch(&msg));
    assert_eq!(
        s,
        "771,4866-4867-4865-255,0-11-10-35-16-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2"
    );
    assert_eq!(h, "9dffdb8b608a430b774a2ff7d36c1a0c");
}

#[test]
fn ja3_without_groups_or_points() {
    let msg = client_hello(0x0301, &[], &[0x0035, 0x002f], &[]);
    let (s, _) = fingerprint::ja3(&parsed_ch(&msg));
    assert_eq!(s, "769,53-47,,,");
}

#[test]
fn ja3s_matches_tshark() {
    let msg = server_hello(
        0x0303,
        &[0x33; 32],
        4866,
        &[ext(43, &[3, 4]), ext(51, &[0, 29, 0, 0])],
    );
    let sh = parse::server_hello(&msg[4..]).unwrap();
    let (s, h) = fingerprint::ja3s(&sh);
    assert_eq!(s, "771,4866,43-51");
    assert_eq!(h, "15af977ce25de452b96affa2addb1036");
}

#[test]
fn ja4_readme_example() {
    let ciphers = [
        0x8a8a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let msg = client_hello(
        0x0303,
        &[0x33; 32],
        &ciphers,
        &[
            ext(0xbaba, &[]),
            ext_sni("example.com"),
            ext(0x0017, &[]),
            ext(0xff01, &[0]),
            ext_groups(&[29, 23, 24]),
            ext_points(&[0]),
            ext(0x0023, &[]),
            ext_alpn(&["h2", "http/1.1"]),
            ext(0x0005, &[1, 0, 0, 0, 0]),
            ext_sigalgs(&[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ]),
            ext(0x0012, &[]),
            ext(0x0033, &[0, 0]),
            ext(0x002d, &[1, 1]),
            ext_versions(&[0x0a0a, 0x0304, 0x0303]),
            ext(0x001b, &[2, 0, 2]),
            ext(0x4469, &[0, 3, 2, b'h', b'2']),
            ext(0x0015, &[0; 10]),
            ext(0xdada, &[0]),
        ],
    );
    assert_eq!(
        fingerprint::ja4(&parsed_ch(&msg)),
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
}

#[test]
fn ja4_edge_cases() {
    // No SNI, no ALPN, TLS 1.2, no extensions at all.
    let msg = client_hello(0x0303, &[], &[0x002f], &[]);
    let j = fingerprint::ja4(&parsed_ch(&msg));
    assert!(j.starts_with("t12i010000_"), "{j}");
    assert!(j.ends_with("_000000000000"), "{j}");
    // Non-alphanumeric ALPN: first and last hex digits.
    let msg = client_hello(0x0303, &[], &[0x002f], &[ext_alpn(&["\u{1}x\u{ff}"])]);
    let j = fingerprint::ja4(&parsed_ch(&msg));
    assert_eq!(&j[8..10], "0f", "{j}");
    // No ciphers.
    let msg = client_hello(0x0300, &[], &[], &[]);
    let j = fingerprint::ja4(&parsed_ch(&msg));
    assert_eq!(j, "ts3i000000_000000000000_000000000000");
}
