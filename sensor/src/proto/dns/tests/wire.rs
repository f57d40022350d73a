//! Wire-parser, RDATA-format and robustness tests.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::*;

/// Formats every RDATA type with special handling.
#[test]
fn rdata_formats() {
    let owner = [0xC0, 12];
    let mut dnskey = vec![1, 1, 3, 13];
    dnskey.extend_from_slice(&[0xAA; 6]);
    let mut ds = vec![0x30, 0x39, 13, 2];
    ds.extend_from_slice(&[0xab, 0xcd]);
    let mut rrsig = vec![0, 1, 13, 2, 0, 0, 0x0e, 0x10];
    rrsig.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    rrsig.extend_from_slice(&1_690_000_000u32.to_be_bytes());
    rrsig.extend_from_slice(&[0x30, 0x39]);
    rrsig.extend(wname("corp.test"));
    rrsig.extend_from_slice(&[1, 2, 3]);
    let mut nsec = wname("b.corp.test");
    nsec.extend_from_slice(&[0, 6, 0x62, 0x00, 0x00, 0x00, 0x00, 0x03]);
    let mut nsec3 = vec![1, 0, 0, 10, 2, 0xab, 0xcd, 5, 1, 2, 3, 4, 5];
    nsec3.extend_from_slice(&[0, 1, 0x40]);
    let mut mx = vec![0, 10];
    mx.extend(wname("mail.corp.test"));
    let mut srv = vec![0, 1, 0, 2, 0x1f, 0x90];
    srv.extend(wname("www.corp.test"));
    let r = M::new(1, 0x8180, [1, 14, 0, 0])
        .q("corp.test", 255)
        .rr_named(&owner, 5, 1, 1, &[0xC0, 12])
        .rr_named(&owner, 2, 1, 1, &wname("ns1.corp.test"))
        .rr_named(&owner, 12, 1, 1, &wname("host.corp.test"))
        .rr_named(&owner, 15, 1, 1, &mx)
        .rr_named(&owner, 33, 1, 1, &srv)
        .rr_named(&owner, 16, 1, 1, b"\x04a\"b\\\x02\x01z")
        .rr_named(&owner, 48, 1, 1, &dnskey)
        .rr_named(&owner, 43, 1, 1, &ds)
        .rr_named(&owner, 46, 1, 1, &rrsig)
        .rr_named(&owner, 47, 1, 1, &nsec)
        .rr_named(&owner, 50, 1, 1, &nsec3)
        .rr_named(&owner, 51, 1, 1, &[1, 0, 0, 5, 0])
        .rr_named(&owner, 257, 1, 1, b"\x00\x05issueca.test")
        .rr_named(&owner, 65280, 3, 1, b"\x01\t\n\"");
    let msg = parse::parse_message(&r.b).unwrap();
    assert!(msg.complete);
    let mut ips = vec![];
    let recs: Vec<Value> = msg
        .section(Section::Answer)
        .map(|rr| Value::Object(ecs::rr_map(msg.buf, &rr, &mut ips).unwrap()))
        .collect();
    assert_eq!(recs[0]["data"], "corp.test");
    assert_eq!(recs[1]["data"], "ns1.corp.test");
    assert_eq!(recs[2]["data"], "host.corp.test");
    assert_eq!(recs[3]["data"], "mail.corp.test");
    assert_eq!(recs[3]["preference"], 10);
    assert_eq!(recs[4]["data"], "www.corp.test");
    assert_eq!(
        (&recs[4]["priority"], &recs[4]["weight"], &recs[4]["port"]),
        (&json!(1), &json!(2), &json!(8080))
    );
    assert_eq!(recs[5]["data"], "a\\\"b\\\\ \\001z");
    assert_eq!(recs[6]["flags"], "257");
    assert_eq!(recs[6]["protocol"], "3");
    assert_eq!(recs[6]["algorithm"], "ECDSAP256SHA256");
    assert_eq!(recs[6]["data"], "qqqqqqqq");
    assert_eq!(recs[7]["key_tag"], "12345");
    assert_eq!(recs[7]["digest_type"], "SHA256");
    assert_eq!(recs[7]["data"], "ABCD");
    assert_eq!(recs[8]["type_covered"], "A");
    assert_eq!(recs[8]["labels"], "2");
    assert_eq!(recs[8]["original_ttl"], "3600");
    assert_eq!(recs[8]["expiration"], "20231114221320");
    assert_eq!(recs[8]["inception"], "20230722042640");
    assert_eq!(recs[8]["signer_name"], "corp.test");
    assert_eq!(recs[8]["data"], "AQID");
    assert_eq!(recs[9]["data"], "b.corp.test");
    assert_eq!(recs[9]["type_bits"], "A NS SOA RRSIG NSEC");
    assert_eq!(recs[10]["hash"], "SHA1");
    assert_eq!(recs[10]["iterations"], "10");
    assert_eq!(recs[10]["salt"], "ABCD");
    assert_eq!(recs[10]["data"], "04106105");
    assert_eq!(recs[10]["type_bits"], "A");
    assert_eq!(recs[11]["data"], "-");
    assert_eq!(recs[12]["type"], "CAA");
    assert_eq!(recs[12]["data"], "\\000\\005issueca.test");
    assert_eq!(recs[12]["tag"], "issue");
    assert_eq!(recs[12]["value"], "ca.test");
    assert_eq!(recs[13]["type"], "65280");
    assert_eq!(recs[13]["class"], "CH");
    assert_eq!(recs[13]["data"], "\\001\\t\\n\\\"");
    assert!(ips.is_empty());
}

#[test]
fn naptr_fields() {
    let mut rd = vec![0, 100, 0, 10, 1, b'S', 8];
    rd.extend_from_slice(b"SIPS+D2T");
    rd.push(0);
    rd.extend(wname("_sips._tcp.example.com"));
    let r = M::new(1, 0x8180, [1, 1, 0, 0])
        .q("example.com", 35)
        .rr(35, 60, &rd);
    let msg = parse::parse_message(&r.b).unwrap();
    let rr = msg.section(Section::Answer).next().unwrap();
    let m = ecs::rr_map(msg.buf, &rr, &mut vec![]).unwrap();
    assert_eq!(m["order"], 100);
    assert_eq!(m["preference"], 10);
    assert_eq!(m["flags"], "S");
    assert_eq!(m["service"], "SIPS+D2T");
    assert_eq!(m["regexp"], "");
    assert_eq!(m["replacement"], "_sips._tcp.example.com");
}

#[test]
fn name_escaping_and_root() {
    let mut b = M::new(1, 0, [1, 0, 0, 0]).b;
    b.extend_from_slice(&[5, b'a', b'.', b' ', 0xff, b'\\', 0]);
    b.extend_from_slice(&[0, 1, 0, 1]);
    let msg = parse::parse_message(&b).unwrap();
    let q = msg.question.unwrap();
    assert_eq!(
        parse::name_string(&b, q.name_pos).unwrap(),
        "a\\.\\ \\255\\\\"
    );
    let root = M::new(1, 0, [1, 0, 0, 0]).q(".", 2).b;
    let msg = parse::parse_message(&root).unwrap();
    assert_eq!(
        parse::name_string(&root, msg.question.unwrap().name_pos).unwrap(),
        "."
    );
    assert!(suffix::split(".").is_none());
}

#[test]
fn compression_loops_and_bad_names() {
    // A pointer to itself.
    let mut b = M::new(1, 0, [1, 0, 0, 0]).b;
    b.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(
        parse::parse_message(&b).unwrap_err(),
        parse::Error::PointerLoop
    );
    // Two pointers to each other.
    let mut b = M::new(1, 0, [1, 0, 0, 0]).b;
    b.extend_from_slice(&[0xC0, 14, 0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(
        parse::parse_message(&b).unwrap_err(),
        parse::Error::PointerLoop
    );
    // A pointer past the end.
    let mut b = M::new(1, 0, [1, 0, 0, 0]).b;
    b.extend_from_slice(&[0xC0, 200, 0, 1, 0, 1]);
    assert_eq!(parse::parse_message(&b).unwrap_err(), parse::Error::Short);
    // Reserved label type.
    let mut b = M::new(1, 0, [1, 0, 0, 0]).b;
    b.extend_from_slice(&[0x41, 0, 0, 1, 0, 1]);
    assert_eq!(
        parse::parse_message(&b).unwrap_err(),
        parse::Error::LabelType
    );
    // Name longer than 255 octets via chained labels.
    let mut b = M::new(1, 0, [1, 0, 0, 0]).b;
    for _ in 0..5 {
        b.push(63);
        b.extend_from_slice(&[b'x'; 63]);
    }
    b.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(
        parse::parse_message(&b).unwrap_err(),
        parse::Error::NameTooLong
    );
    // Header only.
    assert_eq!(
        parse::parse_message(&[0; 12]).unwrap_err(),
        parse::Error::TooSmall
    );
}

#[test]
fn suffix_heuristic() {
    let p = suffix::split("www.example.co.uk").unwrap();
    assert_eq!(p.registered_domain, "example.co.uk");
    assert_eq!(p.top_level_domain, "co.uk");
    assert_eq!(p.subdomain, Some("www"));
    let p = suffix::split("10.10.18.198.in-addr.arpa").unwrap();
    assert_eq!(p.registered_domain, "198.in-addr.arpa");
    assert_eq!(p.subdomain, Some("10.10.18"));
    let p = suffix::split("corp.test").unwrap();
    assert_eq!((p.registered_domain, p.subdomain), ("corp.test", None));
    assert!(suffix::split("localhost").is_none());
    assert!(suffix::split("co.uk").is_none());
}

/// Random bytes and every truncation/bit flip of valid messages never panic, over UDP and
/// TCP (also with the publication paths: send_request/response and all sections on).
#[test]
fn fuzz_no_panic() {
    let mut rng = SmallRng::seed_from_u64(0x05ee_dd45);
    let cfg = Config {
        include_authorities: true,
        include_additionals: true,
    };
    let mut seeds: Vec<Vec<u8>> = vec![
        query(1, "www.corp.test", 1),
        a_response(1, "www.corp.test", &[[1, 2, 3, 4]]),
        M::new(1, 0x8400, [1, 2, 1, 1])
            .q("corp.test", 252)
            .rr(6, 1, &soa_rdata(1))
            .rr(
                46,
                1,
                &[
                    0, 1, 13, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0xC0, 12, 9,
                ],
            )
            .rr(47, 1, &[0xC0, 12, 0, 1, 0x40])
            .opt(512, 0, &[0, 8, 0, 7, 0, 1, 24, 0, 10, 0, 0])
            .b,
    ];
    for _ in 0..50 {
        let len = rng.random_range(0..300);
        seeds.push((0..len).map(|_| rng.random::<u8>()).collect());
    }
    for l4 in [L4::Udp, L4::Tcp] {
        let mut h = H::with(l4, cfg.clone());
        h.common.send_request = true;
        h.common.send_response = true;
        let mut ts = SEC;
        for seed in &seeds {
            for cut in 0..=seed.len() {
                let m = &seed[..cut];
                for dir in [Direction::ToServer, Direction::ToClient] {
                    ts += 1;
                    let data = if l4 == L4::Tcp {
                        tcp_frame(m)
                    } else {
                        m.to_vec()
                    };
                    let _ = h.feed(ts, dir, &data);
                    let _ = Dns::probe(dir, m);
                }
            }
            for _ in 0..200 {
                let mut m = seed.clone();
                if m.is_empty() {
                    break;
                }
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..m.len());
                    m[i] = rng.random();
                }
                ts += 1;
                let dir = if rng.random() {
                    Direction::ToServer
                } else {
                    Direction::ToClient
                };
                let data = if l4 == L4::Tcp { tcp_frame(&m) } else { m };
                let _ = h.feed(ts, dir, &data);
            }
            h.timer(ts + 100 * SEC);
        }
        h.close(ts + 200 * SEC);
        assert!(h.stats.anomalies > 0);
    }
}
