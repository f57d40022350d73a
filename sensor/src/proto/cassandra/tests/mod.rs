//! Unit tests: hand-built CQL frames, each script fed whole, in 1-byte pieces and in random
//! pieces (fixed seed) through a small model of the pipeline, with identical results.

mod errors;
mod robust;
mod wire;

use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::testkit::{self, d, ts, Ev, Split};
use crate::proto::{ConnMeta, ProtoStats, Status, Txn, L4};
use wire::*;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

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
    testkit::run_split::<Cassandra>(cfg, common, &meta(), script, split)
}

fn run_with(cfg: &Config, common: &CommonConfig, script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    testkit::run_with::<Cassandra>(cfg, common, &meta(), script)
}

fn run(script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    run_with(
        &Config::default(),
        &CommonConfig::defaults_for(crate::proto::ProtoId::Cassandra),
        script,
    )
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
        &CommonConfig::defaults_for(crate::proto::ProtoId::Cassandra),
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
