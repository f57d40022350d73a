//! Connection scenarios: full and resumed TLS 1.2 and 1.3 handshakes, alerts, HelloRetryRequest,
//! gaps, non-TLS streams, direction swap and the options.

use super::*;
use crate::proto::Status;

/// A TLS 1.2 full handshake with certificates (several messages per record), then data.
pub(super) fn full12() -> Vec<Ev> {
    vec![
        d(C, 0, hs_records(&[ch12("www.example.test")], 1000)),
        d(
            S,
            1,
            hs_records(
                &[
                    server_hello(
                        0x0303,
                        &[0x44; 32],
                        0xc02f,
                        &[ext_alpn(&["http/1.1"]), ext(35, &[])],
                    ),
                    certificate(&[EC_LEAF, RSA_ROOT]),
                    hsm(12, &[3, 0, 29, 1, 0]),
                    hsm(14, &[]),
                ],
                16384,
            ),
        ),
        d(
            C,
            2,
            [
                hs_records(&[hsm(16, &[1, 0])], 100),
                ccs(),
                record(22, &[0x99; 40]),
            ]
            .concat(),
        ),
        d(
            S,
            3,
            [
                hs_records(&[hsm(4, &[0; 10])], 100),
                ccs(),
                record(22, &[0x98; 40]),
            ]
            .concat(),
        ),
        d(C, 4, appdata(100)),
        d(S, 5, [appdata(300), appdata(20)].concat()),
    ]
}

fn total(parts: &[&[u8]]) -> u64 {
    parts.iter().map(|p| p.len() as u64).sum()
}

#[test]
fn tls12_full_handshake() {
    let script = full12();
    let t = one(&script);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_ts, Some(ts(0)));
    assert_eq!(t.response_ts, Some(ts(1)));
    let (mut c, mut s) = (0u64, 0u64);
    for ev in &script {
        if let Ev::Data(dir, _, b) = ev {
            if *dir == C {
                c += total(&[b]);
            } else {
                s += total(&[b]);
            }
        }
    }
    assert_eq!(t.request_bytes, Some(c));
    assert_eq!(t.response_bytes, Some(s));
    assert_eq!(get(&t, "tls.established"), true);
    assert_eq!(get(&t, "tls.resumed"), false);
    assert_eq!(get(&t, "tls.version"), "1.2");
    assert_eq!(get(&t, "tls.version_protocol"), "tls");
    assert_eq!(
        get(&t, "tls.cipher"),
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    );
    assert_eq!(get(&t, "tls.next_protocol"), "http/1.1");
    assert_eq!(get(&t, "tls.client.server_name"), "www.example.test");
    assert_eq!(get(&t, "server.domain"), "www.example.test");
    assert_eq!(get(&t, "destination.domain"), "www.example.test");
    assert_eq!(
        get(&t, "tls.client.supported_ciphers"),
        &serde_json::json!([
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        ])
    );
    assert_eq!(
        get(&t, "tls.server.subject"),
        "CN=test.example,OU=Unit A,O=Test Org,C=US"
    );
    assert_eq!(
        get(&t, "tls.server.issuer"),
        "CN=test.example,OU=Unit A,O=Test Org,C=US"
    );
    assert_eq!(
        get(&t, "tls.server.hash.sha1"),
        "877C5DA77A386DF23444E80D428B046137C5D1D0"
    );
    assert_eq!(get(&t, "tls.server.not_before"), "2026-11-27T20:04:51.000Z");
    assert_eq!(get(&t, "tls.server.not_after"), "2027-11-27T20:04:51.000Z");
    assert_eq!(get(&t, "tls.server.x509.public_key_algorithm"), "ECDSA");
    assert_eq!(get(&t, "tls.server.x509.public_key_size"), 256);
    assert_eq!(
        get(&t, "tls.server.x509.signature_algorithm"),
        "ECDSA-SHA256"
    );
    assert_eq!(get(&t, "tls.server.x509.version_number"), "3");
    assert_eq!(
        get(&t, "tls.server.x509.serial_number"),
        "541484533443029968012570805250316462075635495189"
    );
    assert_eq!(
        get(&t, "tls.server.x509.alternative_names"),
        &serde_json::json!([
            "test.example",
            "alt.example",
            "ops@example.com",
            "192.0.2.7"
        ])
    );
    assert_eq!(
        get(&t, "tls.server.x509.subject.organizational_unit"),
        "Unit A"
    );
    let chain = get(&t, "tls.detailed.server_certificate_chain");
    assert_eq!(
        chain[0]["subject"]["distinguished_name"],
        "CN=Root CA,O=Corp\\, Inc.,L=Berlin,ST=Berlin,C=DE"
    );
    assert_eq!(chain[0]["subject"]["organization"], "Corp, Inc.");
    assert_eq!(chain[0]["public_key_algorithm"], "RSA");
    assert_eq!(chain[0]["public_key_size"], 2048);
    assert_eq!(chain[0]["signature_algorithm"], "SHA256-RSA");
    assert_eq!(chain[0]["version_number"], 3);
    assert_eq!(get(&t, "tls.detailed.version"), "TLS 1.2");
    assert_eq!(get(&t, "tls.detailed.client_certificate_requested"), false);
    assert_eq!(get(&t, "tls.detailed.client_hello.version"), "3.3");
    assert_eq!(
        get(&t, "tls.detailed.client_hello.extensions.supported_groups"),
        &serde_json::json!(["x25519", "secp256r1"])
    );
    assert_eq!(
        get(&t, "tls.detailed.client_hello.extensions.session_ticket"),
        ""
    );
    assert_eq!(
        get(&t, "tls.detailed.server_hello.selected_compression_method"),
        "NULL"
    );
    assert_eq!(
        get(&t, "tls.client.ja3_string"),
        "771,49199-49200-156-255,0-11-10-35-16-13,29-23,0"
    );
    let hashes = get(&t, "related.hash").as_array().unwrap();
    assert_eq!(hashes[0], get(&t, "tls.client.ja3").clone());
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn certificate_spanning_records_and_client_certificate() {
    // Certificate split over 3 records of 300 bytes; client authentication requested.
    let t = one(&[
        d(C, 0, hs_records(&[ch12("a.test")], 1000)),
        d(
            S,
            1,
            hs_records(
                &[
                    server_hello(0x0303, &[], 0xc02f, &[]),
                    certificate(&[EC_LEAF]),
                    hsm(13, &[1, 1, 0, 2, 4, 1, 0, 0]),
                    hsm(14, &[]),
                ],
                300,
            ),
        ),
        d(
            C,
            2,
            [
                hs_records(&[certificate(&[RSA_ROOT]), hsm(16, &[1, 0])], 250),
                ccs(),
            ]
            .concat(),
        ),
        d(S, 3, ccs()),
    ]);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(get(&t, "tls.detailed.client_certificate_requested"), true);
    assert_eq!(
        get(&t, "tls.server.subject"),
        "CN=test.example,OU=Unit A,O=Test Org,C=US"
    );
    assert_eq!(
        get(&t, "tls.client.subject"),
        "CN=Root CA,O=Corp\\, Inc.,L=Berlin,ST=Berlin,C=DE"
    );
    assert_eq!(get(&t, "tls.client.x509.public_key_size"), 2048);
}

#[test]
fn tls13_handshake() {
    let t = one(&[
        d(C, 0, hs_records(&[ch13("h.test", &[])], 1000)),
        d(
            S,
            1,
            [
                hs_records(&[sh13(&[])], 1000),
                ccs(),
                appdata(2000),
                appdata(300),
                appdata(53),
            ]
            .concat(),
        ),
        d(C, 2, [ccs(), appdata(53), appdata(80)].concat()),
        d(S, 3, appdata(200)),
    ]);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(get(&t, "tls.established"), true);
    assert_eq!(get(&t, "tls.version"), "1.3");
    assert_eq!(get(&t, "tls.detailed.version"), "TLS 1.3");
    assert_eq!(get(&t, "tls.resumed"), false);
    assert_eq!(get(&t, "tls.cipher"), "TLS_AES_128_GCM_SHA256");
    assert_eq!(get(&t, "tls.next_protocol"), &Value::Null);
    assert_eq!(get(&t, "tls.server.subject"), &Value::Null);
    assert_eq!(
        get(
            &t,
            "tls.detailed.client_hello.extensions.supported_versions"
        ),
        &serde_json::json!(["TLS 1.3", "TLS 1.2"])
    );
    assert_eq!(
        get(
            &t,
            "tls.detailed.server_hello.extensions.supported_versions"
        ),
        "TLS 1.3"
    );
    assert!(get(&t, "tls.client.ja4")
        .as_str()
        .unwrap()
        .starts_with("t13d0306h2_"));
}

#[test]
fn tls13_psk_resumption() {
    let t = one(&[
        d(
            C,
            0,
            hs_records(
                &[ch13("h.test", &[ext(45, &[1, 1]), ext(41, &[0; 40])])],
                1000,
            ),
        ),
        d(
            S,
            1,
            [
                hs_records(&[sh13(&[ext(41, &[0, 0])])], 1000),
                ccs(),
                appdata(100),
            ]
            .concat(),
        ),
        d(C, 2, [ccs(), appdata(53)].concat()),
    ]);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(get(&t, "tls.resumed"), true);
    assert_eq!(get(&t, "tls.detailed.resumption_method"), "ticket");
}

#[test]
fn tls13_encrypted_client_alert_is_a_failure() {
    let t = one(&[
        d(C, 0, hs_records(&[ch13("h.test", &[])], 1000)),
        d(
            S,
            1,
            [hs_records(&[sh13(&[])], 1000), ccs(), appdata(2000)].concat(),
        ),
        d(C, 2, [ccs(), appdata(19)].concat()),
    ]);
    assert_eq!(t.status, Status::Error);
    assert_eq!(get(&t, "tls.established"), false);
}

#[test]
fn tls13_without_client_finished_is_not_established() {
    let t = one(&[
        d(C, 0, hs_records(&[ch13("h.test", &[])], 1000)),
        d(
            S,
            1,
            [hs_records(&[sh13(&[])], 1000), ccs(), appdata(2000)].concat(),
        ),
    ]);
    assert_eq!(t.status, Status::Error);
}

#[test]
fn hello_retry_request() {
    let hrr = server_hello_random(
        0x0303,
        &parse::HRR_RANDOM,
        &[0x33; 32],
        0x1301,
        &[ext(43, &[3, 4])],
    );
    let first = ch13("r.test", &[]);
    let t = one(&[
        d(C, 0, hs_records(std::slice::from_ref(&first), 1000)),
        d(S, 1, [hs_records(&[hrr], 1000), ccs()].concat()),
        d(
            C,
            2,
            [
                ccs(),
                hs_records(&[ch13("r.test", &[ext(44, &[0, 2, 9, 9])])], 1000),
            ]
            .concat(),
        ),
        d(
            S,
            3,
            [hs_records(&[sh13(&[])], 1000), appdata(500)].concat(),
        ),
        d(C, 4, appdata(53)),
    ]);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(get(&t, "tls.version"), "1.3");
    let ch = parse::client_hello(&first[4..]).unwrap();
    assert_eq!(get(&t, "tls.client.ja3"), fingerprint::ja3(&ch).1.as_str());
}

#[test]
fn tls12_session_id_resumption() {
    let sid = [0x55u8; 32];
    let t = one(&[
        d(
            C,
            0,
            hs_records(
                &[client_hello(0x0303, &sid, &[0xc02f], &[ext_sni("r.test")])],
                1000,
            ),
        ),
        d(
            S,
            1,
            [
                hs_records(&[server_hello(0x0303, &sid, 0xc02f, &[])], 1000),
                ccs(),
                record(22, &[0; 40]),
            ]
            .concat(),
        ),
        d(C, 2, [ccs(), record(22, &[0; 40]), appdata(30)].concat()),
    ]);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(get(&t, "tls.resumed"), true);
    assert_eq!(get(&t, "tls.detailed.resumption_method"), "id");
}

#[test]
fn tls12_ticket_resumption() {
    let t = one(&[
        d(
            C,
            0,
            hs_records(
                &[client_hello(
                    0x0303,
                    &[7; 32],
                    &[0xc02f],
                    &[ext(35, &[1; 100])],
                )],
                1000,
            ),
        ),
        d(
            S,
            1,
            [
                hs_records(
                    &[
                        server_hello(0x0303, &[7; 32], 0xc02f, &[ext(35, &[])]),
                        hsm(4, &[0; 20]),
                    ],
                    1000,
                ),
                ccs(),
                record(22, &[0; 40]),
            ]
            .concat(),
        ),
        d(C, 2, [ccs(), record(22, &[0; 40])].concat()),
    ]);
    assert_eq!(get(&t, "tls.resumed"), true);
    assert_eq!(get(&t, "tls.detailed.resumption_method"), "ticket");
    assert_eq!(
        get(&t, "tls.detailed.client_hello.extensions.session_ticket"),
        "(100 bytes)"
    );
}

#[test]
fn fatal_alert_from_server() {
    let t = one(&[
        d(C, 0, hs_records(&[ch12("x.test")], 1000)),
        d(
            S,
            1,
            hs_records(
                &[
                    server_hello(0x0303, &[], 0xc02f, &[]),
                    certificate(&[EC_LEAF]),
                    hsm(14, &[]),
                ],
                16384,
            ),
        ),
        d(
            C,
            2,
            [
                hs_records(&[hsm(16, &[1, 0])], 100),
                ccs(),
                record(22, &[0; 40]),
            ]
            .concat(),
        ),
        d(S, 3, alert(2, 40)),
    ]);
    assert_eq!(t.status, Status::Error);
    assert_eq!(get(&t, "tls.established"), false);
    assert_eq!(
        get(&t, "tls.detailed.alert_types"),
        &serde_json::json!(["handshake_failure"])
    );
    assert_eq!(get(&t, "tls.detailed.alerts")[0]["source"], "server");
    assert_eq!(get(&t, "tls.detailed.alerts")[0]["severity"], "fatal");
}

#[test]
fn protocol_version_alert_without_server_hello() {
    let ch = hs_records(&[ch12("v.test")], 1000);
    let t = one(&[d(C, 0, ch.clone()), d(S, 1, alert(2, 70))]);
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.request_bytes, Some(ch.len() as u64));
    assert_eq!(t.response_bytes, Some(7));
    assert_eq!(get(&t, "tls.version"), "1.2");
    assert_eq!(
        get(&t, "tls.detailed.alert_types"),
        &serde_json::json!(["protocol_version"])
    );
    assert_eq!(get(&t, "tls.cipher"), &Value::Null);
}

#[test]
fn client_hello_without_answer() {
    let t = one(&[d(C, 0, hs_records(&[ch12("n.test")], 1000))]);
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.response_bytes, None);
    assert_eq!(t.response_ts, None);
    assert_eq!(get(&t, "tls.server"), &Value::Null);
}

#[test]
fn not_tls_gives_up_without_event() {
    let out = run(&[
        d(C, 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        d(S, 1, b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
    ]);
    assert!(out.is_empty());
    let (_, stats) = run_split(
        &Config::default(),
        &[d(C, 0, b"hello world".to_vec())],
        Split::Whole,
    );
    assert_eq!(stats.transactions, 0);
}

#[test]
fn data_only_connection_publishes_nothing() {
    let out = run(&[d(C, 0, appdata(50)), d(S, 1, appdata(70))]);
    assert!(out.is_empty());
}

#[test]
fn gap_inside_application_data_keeps_sync() {
    let mut script = full12();
    // The last server write: 325 bytes of app data; lose 100 bytes of its body, then go on.
    script.pop();
    script.push(d(S, 5, record(23, &[1; 20])[..5].to_vec()));
    script.push(Ev::Gap(S, 10));
    script.push(d(S, 6, [vec![1u8; 10], appdata(40)].concat()));
    let t = one(&script);
    assert_eq!(t.status, Status::Ok);
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn gap_in_handshake_resyncs_and_notes() {
    let t = one(&[
        d(C, 0, hs_records(&[ch12("g.test")], 1000)),
        d(
            S,
            1,
            hs_records(&[server_hello(0x0303, &[], 0xc02f, &[])], 1000),
        ),
        Ev::Gap(S, 700),
        d(S, 2, [ccs(), record(22, &[0; 40])].concat()),
        d(C, 3, [hs_records(&[hsm(16, &[1, 0])], 100), ccs()].concat()),
    ]);
    assert_eq!(t.status, Status::Ok);
    assert_eq!(
        t.notes,
        vec!["Packet loss while capturing the response".to_owned()]
    );
}

#[test]
fn malformed_record_mid_stream_resyncs() {
    let (out, stats) = run_split(
        &Config::default(),
        &[
            d(C, 0, hs_records(&[ch12("m.test")], 1000)),
            d(C, 1, [b"garbage!".to_vec(), appdata(10)].concat()),
        ],
        Split::Whole,
    );
    assert_eq!(out.len(), 1);
    assert!(stats.anomalies > 0);
    assert!(out[0].notes.iter().any(|n| n.contains("Malformed")));
}

#[test]
fn client_hello_from_the_port_side_swaps_roles() {
    let t = one(&[
        d(S, 0, hs_records(&[ch12("swap.test")], 1000)),
        d(
            C,
            1,
            hs_records(&[server_hello(0x0303, &[], 0xc02f, &[])], 1000),
        ),
    ]);
    assert_eq!(t.client, meta().server);
    assert_eq!(t.server, meta().client);
    assert_eq!(t.request_ts, Some(ts(0)));
}
