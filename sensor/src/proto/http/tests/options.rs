//! Option tests (headers, bodies, config), probe answers and the robustness test.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::super::*;
use super::{d, f, run_split, run_with, Ev, Split, C, GET, OK5, S};
use crate::config::CommonConfig;

#[test]
fn headers_options() {
    let cfg = Config {
        send_headers: SendHeaders::Names(vec!["Accept".into(), "Cookie".into(), "x-secret".into()]),
        redact_headers: vec!["X-Secret".into()],
        split_cookie: true,
        real_ip_header: Some("X-Forwarded-For".into()),
        ..Config::default()
    };
    let req = b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\nCookie: sid=\"42\"; Theme=dark\r\nX-Secret: s3\r\nX-Forwarded-For: 203.0.113.7, 198.51.100.23\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n";
    let t = run_with(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, req), d(S, 1, OK5)],
    );
    let t = &t[0];
    assert_eq!(f(t, "http.request.headers.accept"), "a, b");
    assert_eq!(f(t, "http.request.headers.cookie.sid"), "42");
    assert_eq!(f(t, "http.request.headers.cookie.theme"), "dark");
    assert_eq!(f(t, "http.request.headers.x-secret"), "REDACTED");
    assert_eq!(f(t, "http.request.headers.host"), &Value::Null);
    assert_eq!(f(t, "http.request.headers.content-length"), 0);
    assert_eq!(f(t, "network.forwarded_ip"), "203.0.113.7");
    assert_eq!(f(t, "user.name"), "alice");

    let cfg = Config {
        send_all_headers: true,
        redact_authorization: true,
        ..Config::default()
    };
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        ..CommonConfig::default()
    };
    let t = run_with(&cfg, &common, &[d(C, 0, req), d(S, 1, OK5)]);
    let t = &t[0];
    assert_eq!(f(t, "http.request.headers.host"), "h");
    assert_eq!(f(t, "http.request.headers.authorization"), "*");
    assert_eq!(
        f(t, "http.request.headers.cookie"),
        "sid=\"42\"; Theme=dark"
    );
    assert_eq!(f(t, "user.name"), &Value::Null);
    let raw = t.request_raw.as_deref().unwrap();
    assert!(raw.starts_with("GET / HTTP/1.1\r\n"));
    assert!(raw.contains("Authorization:*****"));
    assert!(!raw.contains("YWxp"));
    // Raw response: headers only (body not included).
    assert_eq!(
        t.response_raw.as_deref(),
        Some("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
    );
}

#[test]
fn bodies_included_and_decoded() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"{\"report\":[1,2,3]}").unwrap();
    let gz = e.finish().unwrap();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        gz.len()
    )
    .into_bytes();
    resp.extend_from_slice(&gz);
    resp.extend_from_slice(b"\r\n0\r\n\r\n");
    let req = b"POST /f?user=bob&password=hunter2 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nq=hello";
    let cfg = Config {
        include_body_for: vec!["application/json".into()],
        include_request_body_for: vec!["x-www-form".into()],
        hide_keywords: vec!["password".into()],
        ..Config::default()
    };
    let common = CommonConfig {
        send_response: true,
        ..CommonConfig::default()
    };
    let t = run_with(&cfg, &common, &[d(C, 0, req), d(S, 1, &resp)]);
    let t = &t[0];
    assert_eq!(f(t, "http.request.body.content"), "q=hello");
    assert_eq!(f(t, "http.response.body.content"), "{\"report\":[1,2,3]}");
    assert_eq!(f(t, "http.response.body.bytes"), gz.len() as u64);
    assert_eq!(t.response_bytes, Some(resp.len() as u64));
    assert_eq!(f(t, "url.query"), "user=bob&password=xxxxx");
    assert!(t
        .response_raw
        .as_deref()
        .unwrap()
        .ends_with("\r\n\r\n{\"report\":[1,2,3]}"));

    // decode_body off: raw bytes kept.
    let cfg = Config {
        decode_body: false,
        ..cfg
    };
    let t = run_with(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, req), d(S, 1, &resp)],
    );
    assert_ne!(
        f(&t[0], "http.response.body.content"),
        "{\"report\":[1,2,3]}"
    );
}

#[test]
fn max_message_size_trims_but_counts() {
    let cfg = Config {
        include_body_for: vec!["text/plain".into()],
        max_message_size: 10,
        ..Config::default()
    };
    let body = "z".repeat(5000);
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n{body}"
    );
    let t = run_with(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, GET), d(S, 1, resp.as_bytes())],
    );
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
    assert_eq!(f(&t[0], "http.response.body.bytes"), 5000);
    assert_eq!(f(&t[0], "http.response.body.content"), "zzzzzzzzzz");
}

#[test]
fn config_yaml() {
    let cfg: Config = serde_yaml_ng::from_str(
        "send_headers: [\"User-Agent\"]\nsend_all_headers: false\nmax_message_size: 1024\ndecode_body: false\nreal_ip_header: X-Real-IP\n",
    )
    .unwrap();
    assert_eq!(
        cfg.send_headers,
        SendHeaders::Names(vec!["User-Agent".into()])
    );
    assert!(cfg.header_selected("user-agent"));
    assert!(!cfg.header_selected("accept"));
    let cfg: Config = serde_yaml_ng::from_str("send_headers: true\n").unwrap();
    assert!(cfg.header_selected("anything"));
    assert!(cfg.decode_body);
    assert!(serde_yaml_ng::from_str::<Config>("bogus: 1\n").is_err());
}

#[test]
fn probe_answers() {
    assert_eq!(Http::probe(C, b"GET / HTTP/1.1\r\n"), Probe::Match);
    assert_eq!(Http::probe(C, b"POST /x"), Probe::Match);
    assert_eq!(Http::probe(C, b"GE"), Probe::Unsure);
    assert_eq!(Http::probe(C, b"\x16\x03\x01\x02"), Probe::NotMine);
    assert_eq!(Http::probe(S, b"HTTP/1.1 200 OK\r\n"), Probe::Match);
    assert_eq!(Http::probe(S, b"HTT"), Probe::Unsure);
    assert_eq!(Http::probe(S, b"SSH-2.0"), Probe::NotMine);
}

#[test]
fn robustness_random_and_truncated() {
    let cfg = Config {
        send_all_headers: true,
        split_cookie: true,
        include_body_for: vec!["text".into()],
        ..Config::default()
    };
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        transaction_timeout: Duration::from_millis(5),
        ..CommonConfig::default()
    };
    let mut rng = SmallRng::seed_from_u64(42);
    let samples: Vec<&[u8]> = vec![
        GET,
        OK5,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nbody",
    ];
    for round in 0..300 {
        let mut script = Vec::new();
        for i in 0..8 {
            let dir = if rng.random_bool(0.5) { C } else { S };
            let ms = (round * 10 + i) as u64;
            match rng.random_range(0..6) {
                0 => {
                    let n = rng.random_range(0..200);
                    let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                    script.push(Ev::Data(dir, ms, bytes));
                }
                1 => script.push(Ev::Gap(dir, rng.random_range(0..100))),
                2 => script.push(Ev::Fin(dir)),
                3 => script.push(Ev::Timer(ms)),
                _ => {
                    let s = samples[rng.random_range(0..samples.len())];
                    let cut = rng.random_range(0..=s.len());
                    let mut b = s[..cut].to_vec();
                    if rng.random_bool(0.3) && !b.is_empty() {
                        let at = rng.random_range(0..b.len());
                        b[at] = rng.random();
                    }
                    script.push(Ev::Data(dir, ms, b));
                }
            }
        }
        let _ = run_split(&cfg, &common, &script, Split::Whole);
        let _ = run_split(&cfg, &common, &script, Split::Random(round as u64));
    }
}
