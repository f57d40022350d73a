//! Unit tests: hand-built byte streams, each fed whole, in 1-byte pieces and in random pieces
//! (fixed seed) through a small model of the pipeline; results must be identical.

mod options;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{CloseReason, ConnMeta, Cx, Direction, ProtoStats, Status, Txn, L4};
use crate::time::Ts;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

/// One event of a scripted connection.
#[derive(Clone, Debug)]
enum Ev {
    /// Bytes of one direction at a time (ms).
    Data(Direction, u64, Vec<u8>),
    Fin(Direction),
    Gap(Direction, usize),
    Timer(u64),
}

fn d(dir: Direction, ms: u64, bytes: &[u8]) -> Ev {
    Ev::Data(dir, ms, bytes.to_vec())
}

#[derive(Clone, Copy, Debug)]
enum Split {
    Whole,
    Bytes1,
    Random(u64),
}

fn meta() -> ConnMeta {
    ConnMeta {
        client: "198.18.10.20:40000".parse().unwrap(),
        server: "198.18.10.10:80".parse().unwrap(),
        l4: L4::Tcp,
        vlan: vec![],
    }
}

fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
}

/// Run a script through a model of the pipeline; returns the events and stats.
fn run_split(
    cfg: &Config,
    common: &CommonConfig,
    script: &[Ev],
    split: Split,
) -> (Vec<Txn>, ProtoStats) {
    let meta = meta();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut h = Http::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut dead = [false, false];
    let mut rng = match split {
        Split::Random(seed) => Some(SmallRng::seed_from_u64(seed)),
        _ => None,
    };
    let mut now = ts(0);
    for ev in script {
        match ev {
            Ev::Data(dir, ms, bytes) => {
                now = ts(*ms);
                let mut pieces: Vec<&[u8]> = Vec::new();
                match split {
                    Split::Whole => pieces.push(bytes),
                    Split::Bytes1 => pieces.extend(bytes.chunks(1)),
                    Split::Random(_) => {
                        let r = rng.as_mut().unwrap();
                        let mut rest: &[u8] = bytes;
                        while !rest.is_empty() {
                            let n = r.random_range(1..=rest.len().min(64));
                            let (a, b) = rest.split_at(n);
                            pieces.push(a);
                            rest = b;
                        }
                    }
                }
                for p in pieces {
                    let i = dir.index();
                    if dead[i] {
                        continue;
                    }
                    bufs[i].extend_from_slice(p);
                    let mut cx = Cx {
                        ts: now,
                        meta: &meta,
                        common,
                        stats: &mut stats,
                        out: &mut out,
                    };
                    match h.parse(&mut cx, *dir, &bufs[i]) {
                        Progress::Consumed => bufs[i].clear(),
                        Progress::NeedMore { consumed, .. } => {
                            bufs[i].drain(..consumed);
                        }
                        Progress::GiveUp(_) => {
                            dead[i] = true;
                            bufs[i].clear();
                        }
                    }
                }
            }
            Ev::Fin(dir) => {
                let mut cx = Cx {
                    ts: now,
                    meta: &meta,
                    common,
                    stats: &mut stats,
                    out: &mut out,
                };
                h.on_fin(&mut cx, *dir);
            }
            Ev::Gap(dir, len) => {
                bufs[dir.index()].clear();
                let mut cx = Cx {
                    ts: now,
                    meta: &meta,
                    common,
                    stats: &mut stats,
                    out: &mut out,
                };
                h.on_gap(&mut cx, *dir, *len);
            }
            Ev::Timer(ms) => {
                now = ts(*ms);
                let mut cx = Cx {
                    ts: now,
                    meta: &meta,
                    common,
                    stats: &mut stats,
                    out: &mut out,
                };
                h.on_timer(&mut cx);
            }
        }
    }
    let mut cx = Cx {
        ts: now,
        meta: &meta,
        common,
        stats: &mut stats,
        out: &mut out,
    };
    h.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

/// Run whole, 1-byte and random splits; assert identical events; return them.
fn run_with(cfg: &Config, common: &CommonConfig, script: &[Ev]) -> Vec<Txn> {
    let (whole, st) = run_split(cfg, common, script, Split::Whole);
    let (ones, st1) = run_split(cfg, common, script, Split::Bytes1);
    assert_eq!(whole, ones, "1-byte split differs");
    assert_eq!(st, st1, "1-byte split stats differ");
    for seed in 1..=5 {
        let (r, _) = run_split(cfg, common, script, Split::Random(seed));
        assert_eq!(whole, r, "random split (seed {seed}) differs");
    }
    whole
}

fn run(script: &[Ev]) -> Vec<Txn> {
    run_with(&Config::default(), &CommonConfig::default(), script)
}

fn f<'a>(t: &'a Txn, path: &str) -> &'a Value {
    let mut v = t
        .fields
        .get(path.split('.').next().unwrap())
        .unwrap_or(&Value::Null);
    for k in path.split('.').skip(1) {
        v = v.get(k).unwrap_or(&Value::Null);
    }
    v
}

const GET: &[u8] = b"GET /index.html?a=1&b=2 HTTP/1.1\r\nHost: www.corp.test\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
const OK5: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn simple_get() {
    let t = run(&[d(C, 0, GET), d(S, 3, OK5), Ev::Fin(C), Ev::Fin(S)]);
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(GET.len() as u64));
    assert_eq!(t.response_bytes, Some(OK5.len() as u64));
    assert_eq!(t.request_ts, Some(ts(0)));
    assert_eq!(t.response_ts, Some(ts(3)));
    assert_eq!(t.method.as_deref(), Some("get"));
    assert_eq!(t.path.as_deref(), Some("/index.html"));
    assert_eq!(t.query.as_deref(), Some("GET /index.html"));
    assert!(t.notes.is_empty());
    assert_eq!(f(t, "http.request.method"), "get");
    assert_eq!(f(t, "http.version"), "1.1");
    assert_eq!(f(t, "http.request.bytes"), GET.len() as u64);
    assert_eq!(f(t, "http.response.bytes"), OK5.len() as u64);
    assert_eq!(f(t, "http.response.status_code"), 200);
    assert_eq!(f(t, "http.response.status_phrase"), "ok");
    assert_eq!(f(t, "http.response.body.bytes"), 5);
    assert_eq!(f(t, "http.request.body.bytes"), 0);
    assert_eq!(f(t, "http.response.headers.content-length"), 5);
    assert_eq!(f(t, "http.response.headers.content-type"), "text/plain");
    assert_eq!(f(t, "url.path"), "/index.html");
    assert_eq!(f(t, "url.query"), "a=1&b=2");
    assert_eq!(f(t, "url.domain"), "www.corp.test");
    assert_eq!(f(t, "url.scheme"), "http");
    assert_eq!(f(t, "url.full"), "http://www.corp.test/index.html?a=1&b=2");
    assert_eq!(f(t, "url.port"), &Value::Null);
    assert_eq!(f(t, "server.domain"), "www.corp.test");
    assert_eq!(f(t, "destination.domain"), "www.corp.test");
    assert_eq!(f(t, "user_agent.original"), "curl/7.88.1");
    assert!(t.request_raw.is_none() && t.response_raw.is_none());
}

#[test]
fn ip_host_and_port_mismatch() {
    let req = b"GET / HTTP/1.1\r\nHost: 198.18.10.10:8080\r\n\r\n";
    let t = run(&[d(C, 0, req), d(S, 1, OK5)]);
    assert_eq!(t.len(), 1);
    assert_eq!(f(&t[0], "server.domain"), &Value::Null);
    assert_eq!(f(&t[0], "url.domain"), "198.18.10.10");
    assert_eq!(f(&t[0], "url.port"), 8080);
    assert_eq!(f(&t[0], "url.query"), &Value::Null);
    assert_eq!(
        t[0].notes,
        vec!["Host header port number mismatch".to_owned()]
    );
}

#[test]
fn keepalive_and_error_status() {
    let r404 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!";
    let t = run(&[
        d(C, 0, GET),
        d(S, 1, OK5),
        d(C, 10, b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"),
        d(S, 11, r404),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].status, Status::Ok);
    assert_eq!(t[1].status, Status::Error);
    assert_eq!(f(&t[1], "http.response.status_code"), 404);
    assert_eq!(f(&t[1], "http.response.status_phrase"), "not found");
    assert_eq!(t[1].response_bytes, Some(r404.len() as u64));
    assert_eq!(t[1].request_ts, Some(ts(10)));
}

#[test]
fn pipelining_fifo() {
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 0..3 {
        reqs.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        let body = "x".repeat(i + 1);
        resps.extend_from_slice(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", i + 1).as_bytes(),
        );
    }
    let t = run(&[d(C, 0, &reqs), d(S, 5, &resps)]);
    assert_eq!(t.len(), 3);
    for (i, t) in t.iter().enumerate() {
        assert_eq!(t.path.as_deref(), Some(format!("/p{i}").as_str()));
        assert_eq!(f(t, "http.response.body.bytes"), (i + 1) as u64);
        assert_eq!(t.status, Status::Ok);
    }
}

#[test]
fn chunked_response_with_extensions_and_trailers() {
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let t = run(&[d(C, 0, GET), d(S, 1, resp), d(C, 5, GET), d(S, 6, OK5)]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
    assert_eq!(f(&t[0], "http.response.body.bytes"), 11);
    assert_eq!(f(&t[0], "http.response.headers.content-length"), 11);
    assert_eq!(t[1].response_bytes, Some(OK5.len() as u64));
}

#[test]
fn chunked_request() {
    let req = b"POST /api/ingest HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
    let resp = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    let t = run(&[d(C, 0, req), d(S, 2, resp)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].request_bytes, Some(req.len() as u64));
    assert_eq!(f(&t[0], "http.request.body.bytes"), 7);
    assert_eq!(t[0].method.as_deref(), Some("post"));
    assert_eq!(t[0].query.as_deref(), Some("POST /api/ingest"));
}

#[test]
fn expect_100_continue() {
    let head = b"PUT /api/upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let t = run(&[
        d(C, 0, head),
        d(S, 1, cont),
        d(C, 2, b"0123456789"),
        d(S, 3, resp),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].request_bytes, Some((head.len() + 10) as u64));
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
    assert_eq!(t[0].response_ts, Some(ts(3)));
    assert_eq!(f(&t[0], "http.response.status_code"), 200);
}

#[test]
fn other_interim_responses_skipped() {
    let resp = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n";
    let t = run(&[d(C, 0, GET), d(S, 1, resp), d(S, 2, OK5)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(OK5.len() as u64));
}

#[test]
fn early_response_before_request_body() {
    let head = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
    let resp = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n";
    let t = run(&[d(C, 0, head), d(S, 1, resp), d(C, 2, b"abcd")]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[0].request_bytes, Some((head.len() + 4) as u64));
}

#[test]
fn head_204_304_have_no_body() {
    let head_req = b"HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n";
    let head_resp = b"HTTP/1.1 200 OK\r\nContent-Length: 102400\r\n\r\n";
    let r204 = b"HTTP/1.1 204 No Content\r\n\r\n";
    let r304 = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n";
    let t = run(&[
        d(C, 0, head_req),
        d(S, 1, head_resp),
        d(C, 2, GET),
        d(S, 3, r204),
        d(C, 4, GET),
        d(S, 5, r304),
        d(C, 6, GET),
        d(S, 7, OK5),
    ]);
    assert_eq!(t.len(), 4);
    assert_eq!(t[0].method.as_deref(), Some("head"));
    assert_eq!(t[0].response_bytes, Some(head_resp.len() as u64));
    assert_eq!(f(&t[0], "http.response.headers.content-length"), 102400);
    assert_eq!(t[1].response_bytes, Some(r204.len() as u64));
    assert_eq!(t[2].response_bytes, Some(r304.len() as u64));
    assert_eq!(t[3].response_bytes, Some(OK5.len() as u64));
}

#[test]
fn http10_close_delimited() {
    let req = b"GET / HTTP/1.0\r\nHost: h\r\n\r\n";
    let resp = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hi</html>";
    let t = run(&[d(C, 0, req), d(S, 1, resp), Ev::Fin(S), Ev::Fin(C)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
    assert_eq!(f(&t[0], "http.version"), "1.0");
    assert!(t[0].notes.is_empty());
    // Without a FIN the end of input completes it too.
    let t = run(&[d(C, 0, req), d(S, 1, resp)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
}

#[test]
fn connect_and_upgrade_stop_parsing() {
    let req = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    let resp = b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01\x00\x05hello";
    let t = run(&[d(C, 0, req), d(S, 1, resp), d(C, 2, b"\x16\x03\x01garbage")]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].method.as_deref(), Some("connect"));
    assert_eq!(t[0].response_bytes, Some(39));

    let req = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello";
    let (t, st) = run_split(
        &Config::default(),
        &CommonConfig::default(),
        &[d(C, 0, req), d(S, 1, resp), d(C, 2, b"\x81\x85abcdefghi")],
        Split::Whole,
    );
    assert_eq!(t.len(), 1);
    assert_eq!(f(&t[0], "http.response.status_code"), 101);
    assert_eq!(st.anomalies, 0);
}

#[test]
fn unmatched_request_and_response() {
    let t = run(&[d(C, 0, GET)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[0].notes, vec!["Unmatched request".to_owned()]);
    assert!(t[0].response_bytes.is_none());
    assert_eq!(f(&t[0], "http.response"), &Value::Null);

    let (t, st) = run_split(
        &Config::default(),
        &CommonConfig::default(),
        &[d(S, 0, OK5)],
        Split::Whole,
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[0].notes, vec!["Unmatched response".to_owned()]);
    assert_eq!(st.unmatched_responses, 1);
    assert!(t[0].request_bytes.is_none());
    assert_eq!(f(&t[0], "http.version"), "1.1");
}

#[test]
fn timeout_expires_requests() {
    let t = run(&[
        d(C, 0, GET),
        Ev::Timer(5_000),
        Ev::Timer(10_001),
        d(S, 12_000, OK5),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].notes, vec!["Unmatched request".to_owned()]);
    assert_eq!(t[1].notes, vec!["Unmatched response".to_owned()]);
}

#[test]
fn body_gap_tolerated() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    let t = run(&[
        d(C, 0, GET),
        d(S, 1, head),
        d(S, 1, &[b'a'; 30]),
        Ev::Gap(S, 40),
        d(S, 2, &[b'b'; 30]),
        d(C, 3, GET),
        d(S, 4, OK5),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some((head.len() + 100) as u64));
    assert_eq!(
        t[0].notes,
        vec!["Packet loss while capturing the response".to_owned()]
    );
    assert_eq!(t[1].status, Status::Ok);

    // The gap swallows the end of the body and the next message's start.
    let t = run(&[
        d(C, 0, GET),
        d(S, 1, head),
        Ev::Gap(S, 150),
        d(S, 2, b"ome tail\r\n"),
        d(C, 3, GET),
        d(S, 4, OK5),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some((head.len() + 100) as u64));
    assert_eq!(t[1].response_bytes, Some(OK5.len() as u64));
}

#[test]
fn header_gap_resyncs() {
    let t = run(&[
        d(C, 0, b"GET /lost HTTP/1.1\r\nHo"),
        Ev::Gap(C, 20),
        d(C, 1, b"rest-of-header: x\r\n\r\n"),
        d(C, 2, GET),
        d(S, 3, OK5),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].path.as_deref(), Some("/index.html"));
    assert_eq!(t[0].request_ts, Some(ts(2)));
}

#[test]
fn garbage_then_request_resyncs() {
    let (t, st) = run_split(
        &Config::default(),
        &CommonConfig::default(),
        &[
            d(C, 0, b"\x00\x01garbage line\r\nmore garbage\r\n"),
            d(C, 1, GET),
            d(S, 2, OK5),
        ],
        Split::Whole,
    );
    assert_eq!(t.len(), 1);
    assert!(st.anomalies >= 1);
    assert_eq!(t[0].status, Status::Ok);
}

#[test]
fn large_body_consumed_incrementally() {
    let body = vec![b'q'; 200_000];
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n".to_vec();
    resp.extend_from_slice(&body);
    let (t, _) = run_split(
        &Config::default(),
        &CommonConfig::default(),
        &[d(C, 0, GET), d(S, 1, &resp)],
        Split::Random(9),
    );
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
}

#[test]
fn transaction_fields_json_shape() {
    let t = run(&[d(C, 0, GET), d(S, 1, OK5)]);
    let http = t[0].fields.get("http").unwrap();
    assert!(http.get("request").unwrap().get("headers").is_some());
    assert!(t[0].fields.get("url").unwrap().is_object());
}

#[test]
fn gap_ending_exactly_at_body_end_publishes() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    let (t, _) = run_split(
        &Config::default(),
        &CommonConfig::default(),
        &[d(C, 0, GET), d(S, 1, head), d(S, 1, b"abc"), Ev::Gap(S, 7)],
        Split::Whole,
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some((head.len() + 10) as u64));
    assert_eq!(t[0].status, Status::Ok);
}

#[test]
fn h2_prior_knowledge_stops() {
    let t = run(&[
        d(C, 0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"),
        d(S, 1, b"\x00\x00\x06\x04"),
    ]);
    assert!(t.is_empty());
}

#[test]
fn session_is_small() {
    // The dissector enum holds sessions inline: keep this one small.
    assert!(
        std::mem::size_of::<Http>() <= 256,
        "{}",
        std::mem::size_of::<Http>()
    );
}
