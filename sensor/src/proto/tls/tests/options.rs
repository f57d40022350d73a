//! Options, configuration parsing and the probe.

use super::scenarios::full12;
use super::*;

#[test]
fn options_shape_the_event() {
    let cfg = Config {
        send_certificates: false,
        include_raw_certificates: true,
        include_detailed_fields: false,
        fingerprints: vec![Fingerprint::Md5, Fingerprint::Sha256],
    };
    let out = run_cfg(&cfg, &full12());
    let t = &out[0];
    assert_eq!(get(t, "tls.detailed"), &Value::Null);
    assert_eq!(get(t, "tls.server.x509"), &Value::Null);
    assert_eq!(get(t, "tls.server.hash.sha1"), &Value::Null);
    assert_eq!(get(t, "tls.server.hash.md5").as_str().unwrap().len(), 32);
    assert_eq!(get(t, "tls.server.hash.sha256").as_str().unwrap().len(), 64);
    let pems = get(t, "tls.server.certificate_chain").as_array().unwrap();
    assert_eq!(pems.len(), 2);
    assert!(pems[0]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(get(t, "tls.client.ja3_string"), &Value::Null);
}

#[test]
fn config_parsing() {
    let c: Config =
        serde_json::from_value(serde_json::json!({"fingerprints": ["sha256", "md5"]})).unwrap();
    assert_eq!(c.fingerprints, vec![Fingerprint::Sha256, Fingerprint::Md5]);
    assert!(c.send_certificates && c.include_detailed_fields && !c.include_raw_certificates);
    assert!(
        serde_json::from_value::<Config>(serde_json::json!({"fingerprints": ["crc32"]})).is_err()
    );
    assert!(serde_json::from_value::<Config>(serde_json::json!({"bogus": 1})).is_err());
}

#[test]
fn probe() {
    let ch = hs_records(&[ch12("p.test")], 1000);
    assert_eq!(Tls::probe(C, &ch), Probe::Match);
    assert_eq!(Tls::probe(C, &ch[..3]), Probe::Unsure);
    assert_eq!(Tls::probe(C, b"GET / HTTP/1.1\r\n"), Probe::NotMine);
    let sh = hs_records(&[server_hello(0x0303, &[], 0xc02f, &[])], 1000);
    assert_eq!(Tls::probe(S, &sh), Probe::Match);
}
