//! Unit tests: hand-built CQL frames, each script fed whole, in 1-byte pieces and in random
//! pieces (fixed seed) through a small model of the pipeline, with identical results.

mod wire;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{ConnMeta, ProtoStats, Status, Txn, L4};
use crate::time::Ts;
use wire::*;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

#[derive(Clone, Debug)]
enum Ev {
    Data(Direction, u64, Vec<u8>),
    Gap(Direction, usize),
    Timer(u64),
}

fn d(dir: Direction, ms: u64, b: Vec<u8>) -> Ev {
    Ev::Data(dir, ms, b)
}

#[derive(Clone, Copy, Debug)]
enum Split {
    Whole,
    Bytes1,
    Random(u64),
}

fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
}

fn meta() -> ConnMeta {
    ConnMeta {
        client: "198.18.200.20:49626".parse().unwrap(),
        server: "198.18.200.10:9042".parse().unwrap(),
        l4: L4::Tcp,
        vlan: vec![],
    }
}

fn run_split(
    cfg: &Config,
    common: &CommonConfig,
    script: &[Ev],
    split: Split,
) -> (Vec<Txn>, ProtoStats) {
    let meta = meta();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut m = Cassandra::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut dead = [false, false];
    let mut rng = SmallRng::seed_from_u64(match split {
        Split::Random(s) => s,
        _ => 0,
    });
    let mut now = ts(0);
    for ev in script {
        let cx = |now: Ts,
                  stats: &mut ProtoStats,
                  out: &mut Vec<Txn>,
                  f: &mut dyn FnMut(&mut Cx<'_>)| {
            let mut cx = Cx {
                ts: now,
                meta: &meta,
                common,
                stats,
                out,
            };
            f(&mut cx);
        };
        match ev {
            Ev::Data(dir, ms, bytes) => {
                now = ts(*ms);
                let pieces: Vec<Vec<u8>> = match split {
                    Split::Whole => vec![bytes.clone()],
                    Split::Bytes1 => bytes.chunks(1).map(<[u8]>::to_vec).collect(),
                    Split::Random(_) => {
                        let mut v = Vec::new();
                        let mut rest: &[u8] = bytes;
                        while !rest.is_empty() {
                            let n = rng.random_range(1..=rest.len().min(97));
                            v.push(rest[..n].to_vec());
                            rest = &rest[n..];
                        }
                        v
                    }
                };
                for p in pieces {
                    let i = dir.index();
                    if dead[i] {
                        continue;
                    }
                    bufs[i].extend_from_slice(&p);
                    let buf = std::mem::take(&mut bufs[i]);
                    let mut r = Progress::Consumed;
                    cx(now, &mut stats, &mut out, &mut |cx| {
                        r = m.parse(cx, *dir, &buf)
                    });
                    match r {
                        Progress::Consumed => {}
                        Progress::NeedMore { consumed, .. } => bufs[i] = buf[consumed..].to_vec(),
                        Progress::GiveUp(_) => dead[i] = true,
                    }
                }
            }
            Ev::Gap(dir, n) => {
                bufs[dir.index()].clear();
                cx(now, &mut stats, &mut out, &mut |cx| m.on_gap(cx, *dir, *n));
            }
            Ev::Timer(ms) => {
                now = ts(*ms);
                cx(now, &mut stats, &mut out, &mut |cx| m.on_timer(cx));
            }
        }
    }
    let meta2 = meta.clone();
    let mut cx = Cx {
        ts: now,
        meta: &meta2,
        common,
        stats: &mut stats,
        out: &mut out,
    };
    m.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

/// Run whole, byte by byte and in random pieces; all must agree.
fn run_with(cfg: &Config, common: &CommonConfig, script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    let base = run_split(cfg, common, script, Split::Whole);
    for split in [Split::Bytes1, Split::Random(7), Split::Random(1234)] {
        let other = run_split(cfg, common, script, split);
        assert_eq!(base.0, other.0, "events differ with {split:?}");
        assert_eq!(
            base.1.anomalies, other.1.anomalies,
            "anomalies differ with {split:?}"
        );
    }
    base
}

fn run(script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    run_with(&Config::default(), &CommonConfig::default(), script)
}

fn cq(t: &Txn) -> &Value {
    &t.fields["cassandra"]
}

fn startup(stream: i16, compression: Option<&str>) -> Vec<u8> {
    let mut opts = vec![("CQL_VERSION", "3.0.0")];
    if let Some(c) = compression {
        opts.push(("COMPRESSION", c));
    }
    req(stream, op::STARTUP, &W::new().string_map(&opts).done())
}

#[test]
fn connect_sequence_and_query_rows() {
    let options = req(0, op::OPTIONS, &[]);
    let supported = resp(
        0,
        op::SUPPORTED,
        &W::new()
            .short(2)
            .string("COMPRESSION")
            .string_list(&["snappy", "lz4"])
            .string("CQL_VERSION")
            .string_list(&["3.4.4"])
            .done(),
    );
    let q = req(2, op::QUERY, &query_body("SELECT * FROM shop.events"));
    let rows = resp(2, op::RESULT, &rows_body(3, 4, Some(&[0xAB, 0x01])));
    let (ev, st) = run(&[
        d(C, 0, options.clone()),
        d(S, 1, supported.clone()),
        d(C, 2, startup(1, None)),
        d(S, 3, resp(1, op::READY, &[])),
        d(C, 4, q.clone()),
        d(S, 6, rows.clone()),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].request_bytes, Some(options.len() as u64));
    assert_eq!(ev[0].response_bytes, Some(supported.len() as u64));
    assert_eq!(cq(&ev[0])["request"]["headers"]["op"], "OPTIONS");
    assert_eq!(cq(&ev[0])["request"]["headers"]["version"], "4");
    assert_eq!(cq(&ev[0])["request"]["headers"]["flags"], "Default");
    assert_eq!(cq(&ev[0])["response"]["headers"]["op"], "SUPPORTED");
    assert_eq!(cq(&ev[0])["response"]["supported"]["COMPRESSION"][1], "lz4");
    assert_eq!(cq(&ev[1])["response"]["headers"]["op"], "READY");
    let t = &ev[2];
    assert_eq!(t.method.as_deref(), Some("QUERY"));
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_ts, Some(ts(4)));
    assert_eq!(t.response_ts, Some(ts(6)));
    assert_eq!(t.request_bytes, Some(q.len() as u64));
    assert_eq!(t.response_bytes, Some(rows.len() as u64));
    let c = cq(t);
    assert_eq!(c["request"]["query"], "SELECT * FROM shop.events");
    assert_eq!(c["request"]["headers"]["stream"], 2);
    assert_eq!(c["request"]["headers"]["length"], q.len() - 9);
    let r = &c["response"]["result"];
    assert_eq!(r["type"], "rows");
    assert_eq!(r["rows"]["num_rows"], 4);
    assert_eq!(r["rows"]["meta"]["col_count"], 3);
    assert_eq!(r["rows"]["meta"]["keyspace"], "shop");
    assert_eq!(r["rows"]["meta"]["table"], "events");
    assert_eq!(r["rows"]["meta"]["paging_state"], "AB01");
    assert_eq!(r["rows"]["meta"]["flags"], "GlobalTableSpec|HasMorePages");
}

#[test]
fn rows_with_column_specs_and_nested_types() {
    let (ev, st) = run(&[
        d(C, 0, req(5, op::QUERY, &query_body("SELECT * FROM ks.t"))),
        d(S, 1, resp(5, op::RESULT, &rows_complex_body())),
    ]);
    assert_eq!(st.anomalies, 0);
    let r = &cq(&ev[0])["response"]["result"]["rows"];
    assert_eq!(r["num_rows"], 0);
    assert_eq!(r["meta"]["col_count"], 4);
    assert_eq!(r["meta"]["keyspace"], "ks");
}

#[test]
fn prepare_execute_batch_resolve_texts() {
    let id = [0x11u8; 16];
    let text = "INSERT INTO orders (id) VALUES (?)";
    let batch = W::new()
        .byte(0)
        .short(3)
        .byte(1)
        .short_bytes(&id)
        .short(1)
        .bytes(b"x")
        .byte(0)
        .long_string("UPDATE t SET a = 1")
        .short(0)
        .byte(1)
        .short_bytes(&id)
        .short(1)
        .int(-1)
        .short(1)
        .byte(0)
        .done();
    let (ev, st) = run(&[
        d(C, 0, req(3, op::PREPARE, &prepare_body(text))),
        d(S, 1, resp(3, op::RESULT, &prepared_body(&id))),
        d(C, 2, req(4, op::EXECUTE, &execute_body(&id))),
        d(S, 3, resp(4, op::RESULT, &W::new().int(1).done())),
        d(C, 4, req(5, op::BATCH, &batch)),
        d(S, 5, resp(5, op::RESULT, &W::new().int(1).done())),
        d(C, 6, req(6, op::EXECUTE, &execute_body(&[9; 16]))),
        d(
            S,
            7,
            resp(
                6,
                op::ERROR,
                &error_body(0x2500, "Unprepared", W::new().short_bytes(&[9; 16]).done()),
            ),
        ),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 4);
    assert_eq!(cq(&ev[0])["request"]["query"], text);
    let p = &cq(&ev[0])["response"]["result"];
    assert_eq!(p["type"], "prepared");
    assert_eq!(
        p["prepared"]["prepared_id"],
        "11111111-1111-1111-1111-111111111111"
    );
    assert_eq!(p["prepared"]["req_meta"]["pkey_columns"][0], 0);
    assert_eq!(p["prepared"]["req_meta"]["table"], "orders");
    assert_eq!(p["prepared"]["resp_meta"]["flags"], "NoMetaData");
    assert_eq!(cq(&ev[1])["request"]["query"], text);
    assert_eq!(cq(&ev[1])["response"]["result"]["type"], "void");
    assert_eq!(
        cq(&ev[2])["request"]["query"],
        format!("{text}; UPDATE t SET a = 1")
    );
    assert_eq!(cq(&ev[2])["request"]["batch_type"], "LOGGED");
    assert!(cq(&ev[3])["request"].get("query").is_none());
    assert_eq!(ev[3].status, Status::Error);
    let e = &cq(&ev[3])["response"]["error"];
    assert_eq!(e["code"], 0x2500);
    assert_eq!(e["type"], "errUnprepared");
    assert_eq!(e["details"]["stmt_id"], "09".repeat(16));
}

#[test]
fn interleaved_streams_and_unmatched() {
    let (ev, st) = run(&[
        d(C, 0, req(1, op::QUERY, &query_body("SELECT 1"))),
        d(C, 0, req(2, op::QUERY, &query_body("SELECT 2"))),
        d(C, 1, req(3, op::QUERY, &query_body("SELECT 3"))),
        d(S, 2, resp(3, op::RESULT, &rows_body(1, 3, None))),
        d(S, 3, resp(1, op::RESULT, &rows_body(1, 1, None))),
        d(S, 4, resp(9, op::RESULT, &W::new().int(1).done())),
    ]);
    assert_eq!(ev.len(), 4);
    assert_eq!(cq(&ev[0])["request"]["query"], "SELECT 3");
    assert_eq!(cq(&ev[0])["response"]["result"]["rows"]["num_rows"], 3);
    assert_eq!(cq(&ev[1])["request"]["query"], "SELECT 1");
    assert_eq!(ev[2].unmatched, crate::proto::txn::Unmatched::Response);
    assert_eq!(cq(&ev[3])["request"]["query"], "SELECT 2");
    assert!(ev[3].notes.iter().any(|n| n == ecs::NOTE_UNMATCHED_REQUEST));
    assert_eq!(st.unmatched_requests, 1);
    assert_eq!(st.unmatched_responses, 1);
}

#[test]
fn errors_with_details() {
    let cases: Vec<(i32, Vec<u8>, &str, &str, Value)> = vec![
        (
            0x1000,
            W::new().short(4).int(2).int(1).done(),
            "errUnavailable",
            "required",
            2.into(),
        ),
        (
            0x1100,
            W::new().short(1).int(0).int(1).string("SIMPLE").done(),
            "errWriteTimeout",
            "write_type",
            "SIMPLE".into(),
        ),
        (
            0x1200,
            W::new().short(1).int(0).int(1).byte(1).done(),
            "errReadTimeout",
            "data_present",
            true.into(),
        ),
        (
            0x1300,
            W::new().short(1).int(0).int(1).int(2).byte(0).done(),
            "errReadFailure",
            "num_failures",
            2.into(),
        ),
        (
            0x1500,
            W::new()
                .short(1)
                .int(0)
                .int(1)
                .int(1)
                .string("BATCH")
                .done(),
            "errWriteFailure",
            "write_type",
            "BATCH".into(),
        ),
        (
            0x1400,
            W::new()
                .string("ks")
                .string("f")
                .string_list(&["int"])
                .done(),
            "errFunctionFailure",
            "function",
            "f".into(),
        ),
        (
            0x2400,
            W::new().string("shop").string("users").done(),
            "errAlreadyExists",
            "table",
            "users".into(),
        ),
    ];
    for (code, detail, ty, key, want) in cases {
        let (ev, st) = run(&[
            d(C, 0, req(7, op::QUERY, &query_body("X"))),
            d(S, 1, resp(7, op::ERROR, &error_body(code, "boom", detail))),
        ]);
        assert_eq!(st.anomalies, 0, "{ty}");
        assert_eq!(ev[0].status, Status::Error);
        let e = &cq(&ev[0])["response"]["error"];
        assert_eq!(e["type"], ty);
        assert_eq!(e["msg"], "boom");
        assert_eq!(e["details"][key], want, "{ty}");
    }
    let (ev, _) = run(&[
        d(C, 0, req(7, op::QUERY, &query_body("SELEC"))),
        d(
            S,
            1,
            resp(
                7,
                op::ERROR,
                &error_body(0x2000, "line 1:0 no viable alternative", vec![]),
            ),
        ),
    ]);
    assert_eq!(cq(&ev[0])["response"]["error"]["type"], "errSyntax");
    assert!(cq(&ev[0])["response"]["error"].get("details").is_none());
}

#[test]
fn event_pushes() {
    let topo = W::new()
        .string("TOPOLOGY_CHANGE")
        .string("NEW_NODE")
        .byte(4)
        .raw(&[10, 0, 0, 2])
        .int(9042)
        .done();
    let schema = W::new()
        .string("SCHEMA_CHANGE")
        .string("CREATED")
        .string("FUNCTION")
        .string("ks")
        .string("fn")
        .string_list(&["int", "text"])
        .done();
    let (ev, st) = run(&[
        d(S, 0, resp(-1, op::EVENT, &topo)),
        d(S, 1, resp(-1, op::EVENT, &schema)),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(st.unmatched_responses, 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].status, Status::Ok);
    assert!(ev[0].request_ts.is_none());
    assert_eq!(cq(&ev[0])["no_request"], true);
    assert_eq!(cq(&ev[0])["response"]["event"]["host"], "10.0.0.2");
    assert_eq!(cq(&ev[0])["response"]["event"]["port"], 9042);
    let sc = &cq(&ev[1])["response"]["event"]["schema_change"];
    assert_eq!(sc["target"], "FUNCTION");
    assert_eq!(sc["args"][1], "text");
}

#[test]
fn lz4_negotiated_compression() {
    let q = query_body("SELECT * FROM system.local");
    let rows = rows_body(2, 1, None);
    let cq_req = frame(0x04, 0x01, 2, op::QUERY, &lz4(&q));
    let cq_resp = frame(0x84, 0x01, 2, op::RESULT, &lz4(&rows));
    let ready = frame(0x84, 0x01, 1, op::READY, &lz4(&[]));
    let (ev, st) = run(&[
        d(C, 0, startup(1, Some("lz4"))),
        d(S, 1, ready),
        d(C, 2, cq_req.clone()),
        d(S, 3, cq_resp.clone()),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(cq(&ev[1])["request"]["query"], "SELECT * FROM system.local");
    assert_eq!(cq(&ev[1])["request"]["headers"]["flags"], "Compress");
    assert_eq!(ev[1].request_bytes, Some(cq_req.len() as u64));
    assert_eq!(ev[1].response_bytes, Some(cq_resp.len() as u64));
    assert_eq!(cq(&ev[1])["response"]["result"]["rows"]["num_rows"], 1);
}

#[test]
fn snappy_negotiated_configured_and_guessed() {
    let q = query_body("SELECT now() FROM system.local");
    let script = |with_startup: bool| {
        let mut s = Vec::new();
        if with_startup {
            s.push(d(C, 0, startup(1, Some("snappy"))));
            s.push(d(S, 1, resp(1, op::READY, &[])));
        }
        s.push(d(C, 2, frame(0x04, 0x01, 3, op::QUERY, &snappy(&q))));
        s.push(d(
            S,
            3,
            frame(0x84, 0x01, 3, op::RESULT, &snappy(&W::new().int(1).done())),
        ));
        s
    };
    let (ev, st) = run(&script(true));
    assert_eq!(st.anomalies, 0);
    assert_eq!(
        cq(&ev[1])["request"]["query"],
        "SELECT now() FROM system.local"
    );
    let cfg = Config {
        compressor: Some(Compression::Snappy),
        ..Config::default()
    };
    let (ev, st) = run_with(&cfg, &CommonConfig::default(), &script(false));
    assert_eq!(st.anomalies, 0);
    assert_eq!(cq(&ev[0])["response"]["result"]["type"], "void");
    // Neither negotiated nor configured: recognised.
    let (ev, st) = run(&script(false));
    assert_eq!(st.anomalies, 0);
    assert_eq!(
        cq(&ev[0])["request"]["query"],
        "SELECT now() FROM system.local"
    );
    // Garbage compressed body: a note and an anomaly, the event is still published.
    let (ev, st) = run(&[
        d(C, 0, frame(0x04, 0x01, 3, op::QUERY, &[0xFF; 12])),
        d(S, 1, resp(3, op::RESULT, &W::new().int(1).done())),
    ]);
    assert_eq!(st.anomalies, 1);
    assert!(ev[0].notes.iter().any(|n| n.contains("decompress")));
    assert_eq!(cq(&ev[0])["response"]["result"]["type"], "void");
}

#[test]
fn warnings_tracing_custom_payload() {
    let body = W::new()
        .raw(&[0x55; 16])
        .string_list(&["Aggregation query used without partition key"])
        .short(1)
        .string("k")
        .bytes(b"v")
        .raw(&rows_body(1, 1, None))
        .done();
    let (ev, st) = run(&[
        d(
            C,
            0,
            frame(
                0x04,
                0x02,
                4,
                op::QUERY,
                &query_body("SELECT count(*) FROM t"),
            ),
        ),
        d(S, 1, frame(0x84, 0x0E, 4, op::RESULT, &body)),
    ]);
    assert_eq!(st.anomalies, 0);
    let r = &cq(&ev[0])["response"];
    assert_eq!(
        r["warnings"][0],
        "Aggregation query used without partition key"
    );
    assert_eq!(r["tracing_id"], "55555555-5555-5555-5555-555555555555");
    assert_eq!(r["result"]["rows"]["num_rows"], 1);
    assert_eq!(r["headers"]["flags"], "Tracing|CustomPayload|Warning");
}

#[test]
fn authentication_flow() {
    let (ev, st) = run(&[
        d(C, 0, startup(1, None)),
        d(
            S,
            1,
            resp(
                1,
                op::AUTHENTICATE,
                &W::new()
                    .string("org.apache.cassandra.auth.PasswordAuthenticator")
                    .done(),
            ),
        ),
        d(
            C,
            2,
            req(
                2,
                op::AUTH_RESPONSE,
                &W::new().bytes(b"\0user\0secret").done(),
            ),
        ),
        d(
            S,
            3,
            resp(2, op::AUTH_CHALLENGE, &W::new().bytes(b"nonce").done()),
        ),
        d(
            C,
            4,
            req(3, op::AUTH_RESPONSE, &W::new().bytes(b"proof").done()),
        ),
        d(S, 5, resp(3, op::AUTH_SUCCESS, &W::new().int(-1).done())),
        d(
            C,
            6,
            req(4, op::AUTH_RESPONSE, &W::new().bytes(b"\0user\0bad").done()),
        ),
        d(
            S,
            7,
            resp(
                4,
                op::ERROR,
                &error_body(
                    0x0100,
                    "Provided username user and/or password are incorrect",
                    vec![],
                ),
            ),
        ),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 4);
    assert_eq!(
        cq(&ev[0])["response"]["authentication"]["class"],
        "org.apache.cassandra.auth.PasswordAuthenticator"
    );
    assert_eq!(
        cq(&ev[1])["response"]["authentication"]["data"],
        "\"nonce\""
    );
    assert_eq!(cq(&ev[2])["response"]["headers"]["op"], "AUTH_SUCCESS");
    assert_eq!(ev[3].status, Status::Error);
    assert_eq!(cq(&ev[3])["response"]["error"]["type"], "errCredentials");
    // The password is never copied.
    assert!(!serde_json::to_string(&ev[1].fields)
        .unwrap()
        .contains("secret"));
}

#[test]
fn options_ignored_ops_and_headers() {
    let cfg: Config = serde_yaml_ng::from_str(
        "ignored_ops: [options, SUPPORTED]\nsend_request_header: false\ncompressor: snappy",
    )
    .unwrap();
    assert_eq!(cfg.compressor, Some(Compression::Snappy));
    assert!(serde_yaml_ng::from_str::<Config>("ignored_ops: [NOPE]").is_err());
    assert!(serde_yaml_ng::from_str::<Config>("bogus: 1").is_err());
    assert!(serde_yaml_ng::from_str::<Config>("compressor: gzip").is_err());
    let (ev, _) = run_with(
        &cfg,
        &CommonConfig::default(),
        &[
            d(C, 0, req(0, op::OPTIONS, &[])),
            d(S, 1, resp(0, op::SUPPORTED, &W::new().short(0).done())),
            d(C, 2, req(1, op::QUERY, &query_body("SELECT 1"))),
            d(S, 3, resp(1, op::RESULT, &W::new().int(1).done())),
        ],
    );
    assert_eq!(ev.len(), 1);
    assert!(cq(&ev[0])["request"].get("headers").is_none());
    assert_eq!(cq(&ev[0])["request"]["query"], "SELECT 1");
    assert_eq!(cq(&ev[0])["response"]["headers"]["op"], "RESULT");
}

#[test]
fn v5_negotiation_detected_and_not_misparsed() {
    // A v4 server answers a v5 attempt with a protocol error in v4 framing.
    let beta = frame(0x05, 0x00, 0, op::OPTIONS, &[]);
    let perr = frame(
        0x84,
        0,
        0,
        op::ERROR,
        &error_body(
            0x000A,
            "Invalid or unsupported protocol version (5)",
            vec![],
        ),
    );
    let (ev, st) = run(&[d(C, 0, beta), d(S, 1, perr)]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(cq(&ev[0])["request"]["headers"]["version"], "5");
    assert_eq!(cq(&ev[0])["response"]["error"]["type"], "errProtocol");
    // A v5 server accepts: after READY, v5 segments follow and are not parsed.
    let start = frame(
        0x05,
        0,
        1,
        op::STARTUP,
        &W::new().string_map(&[("CQL_VERSION", "3.0.0")]).done(),
    );
    let ready = frame(0x85, 0, 1, op::READY, &[]);
    let segment = vec![0x11, 0x00, 0x02, 0xAA, 0xBB, 0xCC, 0x04, 0x00, 0x00, 0x05];
    let (ev, st) = run(&[
        d(C, 0, start),
        d(S, 1, ready),
        d(C, 2, segment.clone()),
        d(S, 3, segment),
    ]);
    assert_eq!(ev.len(), 1);
    assert_eq!(cq(&ev[0])["response"]["headers"]["op"], "READY");
    assert_eq!(st.anomalies, 1);
}

#[test]
fn gap_garbage_and_duplicate_stream() {
    let mut garbage = vec![0x42u8; 30];
    garbage.extend_from_slice(&req(1, op::QUERY, &query_body("SELECT a")));
    let (ev, st) = run(&[
        d(C, 0, garbage),
        d(S, 1, resp(1, op::RESULT, &W::new().int(1).done())),
        d(
            C,
            2,
            req(2, op::QUERY, &query_body("SELECT b"))[..12].to_vec(),
        ),
        Ev::Gap(C, 50),
        d(C, 3, req(3, op::QUERY, &query_body("SELECT c"))),
        d(C, 4, req(3, op::QUERY, &query_body("SELECT d"))),
        d(S, 5, resp(3, op::RESULT, &W::new().int(1).done())),
    ]);
    assert_eq!(st.anomalies, 1);
    assert_eq!(ev.len(), 3);
    assert_eq!(cq(&ev[0])["request"]["query"], "SELECT a");
    assert_eq!(cq(&ev[1])["request"]["query"], "SELECT c");
    assert!(ev[1].response_ts.is_none());
    assert_eq!(cq(&ev[2])["request"]["query"], "SELECT d");
}

#[test]
fn timer_expires_requests() {
    let (ev, _) = run(&[
        d(C, 0, req(1, op::QUERY, &query_body("SELECT 1"))),
        Ev::Timer(10_001),
        d(S, 10_002, resp(1, op::RESULT, &W::new().int(1).done())),
    ]);
    assert_eq!(ev.len(), 2);
    assert!(ev[0].response_ts.is_none());
    assert!(ev[1].request_ts.is_none());
}

#[test]
fn oversized_frame_parsed_from_prefix() {
    let rows = rows_body(2, 80_000, Some(&[1, 2, 3]));
    let big = resp(1, op::RESULT, &rows);
    assert!(big.len() > state::MAX_WHOLE);
    let (ev, st) = run(&[
        d(C, 0, req(1, op::QUERY, &query_body("SELECT * FROM big"))),
        d(S, 1, big.clone()),
        d(C, 2, req(2, op::QUERY, &query_body("SELECT 2"))),
        d(S, 3, resp(2, op::RESULT, &W::new().int(1).done())),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].response_bytes, Some(big.len() as u64));
    assert_eq!(cq(&ev[0])["response"]["result"]["rows"]["num_rows"], 80_000);
    assert_eq!(cq(&ev[1])["request"]["query"], "SELECT 2");
}

#[test]
fn v2_header_and_probe() {
    let v2 = vec![0x02, 0, 5, op::OPTIONS, 0, 0, 0, 0];
    let v2r = vec![0x82, 0, 5, op::READY, 0, 0, 0, 0];
    let (ev, _) = run(&[d(C, 0, v2), d(S, 1, v2r)]);
    assert_eq!(cq(&ev[0])["request"]["headers"]["stream"], 5);
    assert_eq!(ev[0].request_bytes, Some(8));
    assert_eq!(Cassandra::probe(C, &req(0, op::OPTIONS, &[])), Probe::Match);
    assert_eq!(
        Cassandra::probe(S, &req(0, op::OPTIONS, &[])),
        Probe::NotMine
    );
    assert_eq!(Cassandra::probe(C, &[4, 0]), Probe::Unsure);
    assert_eq!(Cassandra::probe(C, b"GET / HTTP/1.1\r\n"), Probe::NotMine);
}

#[test]
fn robustness_random_truncated_and_flipped() {
    let mut rng = SmallRng::seed_from_u64(99);
    let id = [3u8; 16];
    let samples: Vec<Vec<u8>> = vec![
        startup(1, Some("lz4")),
        frame(0x84, 1, 1, op::READY, &lz4(&[])),
        frame(0x04, 1, 2, op::QUERY, &lz4(&query_body("SELECT 1"))),
        frame(0x84, 1, 2, op::RESULT, &lz4(&rows_body(2, 2, Some(&[1])))),
        req(3, op::PREPARE, &prepare_body("SELECT ?")),
        resp(3, op::RESULT, &prepared_body(&id)),
        req(4, op::EXECUTE, &execute_body(&id)),
        resp(4, op::RESULT, &rows_complex_body()),
        resp(
            -1,
            op::EVENT,
            &W::new()
                .string("STATUS_CHANGE")
                .string("UP")
                .byte(16)
                .raw(&[0; 16])
                .int(1)
                .done(),
        ),
        resp(
            5,
            op::ERROR,
            &error_body(0x1000, "x", W::new().short(1).int(1).int(0).done()),
        ),
    ];
    for round in 0..400 {
        let mut script = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            let mut b = s.clone();
            match round % 4 {
                0 => {
                    for _ in 0..rng.random_range(1..6) {
                        let at = rng.random_range(0..b.len());
                        b[at] ^= rng.random_range(1..=255u8);
                    }
                }
                1 => b.truncate(rng.random_range(0..b.len())),
                2 => {
                    b = (0..rng.random_range(0..200))
                        .map(|_| rng.random())
                        .collect()
                }
                _ => {}
            }
            let dir = if s.first().is_some_and(|v| v & 0x80 != 0) {
                S
            } else {
                C
            };
            script.push(d(dir, i as u64, b));
        }
        let _ = run_split(
            &Config::default(),
            &CommonConfig::default(),
            &script,
            Split::Random(round),
        );
    }
}
