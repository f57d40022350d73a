//! Unit tests: hand-built wire messages, each script fed whole, in 1-byte pieces and in random
//! pieces (fixed seed) through a small model of the pipeline, with identical results.

mod legacy;
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
        client: "198.19.10.20:49626".parse().unwrap(),
        server: "198.19.10.10:27017".parse().unwrap(),
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
    testkit::run_split::<Mongodb>(cfg, common, &meta(), script, split)
}

fn run_with(cfg: &Config, common: &CommonConfig, script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    testkit::run_with::<Mongodb>(cfg, common, &meta(), script)
}

fn run(script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    run_with(&Config::default(), &CommonConfig::default(), script)
}

fn mf(t: &Txn) -> &Value {
    &t.fields["mongodb"]
}

fn find_cmd(id: i32) -> Vec<u8> {
    op_msg(
        id,
        0,
        0,
        &doc(&[
            ("find", B::Str("items")),
            (
                "filter",
                B::Doc(doc(&[("qty", B::Doc(doc(&[("$gt", B::I32(3))])))])),
            ),
            ("limit", B::I32(5)),
            ("skip", B::I32(2)),
            ("lsid", B::Doc(doc(&[("id", B::Bin(4, vec![7; 16]))]))),
            ("$db", B::Str("shop")),
        ]),
    )
}

fn cursor_reply(id: i32, to: i32, n: usize, batch: &str, flags: u32) -> Vec<u8> {
    let docs: Vec<Vec<u8>> = (0..n).map(|i| doc(&[("_id", B::I32(i as i32))])).collect();
    op_msg(
        id,
        to,
        flags,
        &doc(&[
            (
                "cursor",
                B::Doc(doc(&[
                    (batch, B::Arr(arr(&docs))),
                    ("id", B::I64(77)),
                    ("ns", B::Str("shop.items")),
                ])),
            ),
            ("ok", B::F64(1.0)),
        ]),
    )
}

#[test]
fn op_msg_find_and_reply() {
    let req = find_cmd(11);
    let resp = cursor_reply(500, 11, 3, "firstBatch", 0);
    let (ev, st) = run(&[d(C, 0, req.clone()), d(S, 2, resp.clone())]);
    assert_eq!(ev.len(), 1);
    let t = &ev[0];
    assert_eq!(t.method.as_deref(), Some("find"));
    assert_eq!(t.resource.as_deref(), Some("shop.items"));
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(req.len() as u64));
    assert_eq!(t.response_bytes, Some(resp.len() as u64));
    assert_eq!(t.request_ts, Some(ts(0)));
    assert_eq!(t.response_ts, Some(ts(2)));
    let m = mf(t);
    assert_eq!(m["numberReturned"], 3);
    assert_eq!(m["cursorId"], 77);
    assert_eq!(m["query"], r#"{"qty":{"$gt":3}}"#);
    assert_eq!(m["numberToSkip"], 2);
    assert_eq!(m["numberToReturn"], 5);
    assert_eq!(m["fullCollectionName"], "shop.items");
    assert_eq!(m["opcodeName"], "OP_MSG");
    let q = t.query.as_deref().unwrap();
    assert!(q.starts_with("shop.items.find({\"filter\""), "{q}");
    assert!(q.ends_with(".skip(2).limit(5)"), "{q}");
    assert!(!q.contains("lsid"));
    assert!(t.notes.is_empty());
    assert_eq!(st.anomalies, 0);
}

#[test]
fn write_errors_ok0_and_write_concern_are_errors() {
    let insert = msg(
        21,
        0,
        2013,
        &op_msg_body(
            0,
            &doc(&[
                ("insert", B::Str("users")),
                ("ordered", B::Bool(true)),
                ("$db", B::Str("shop")),
            ]),
            &[(
                "documents",
                vec![doc(&[("_id", B::I32(1))]), doc(&[("_id", B::I32(1))])],
            )],
        ),
    );
    let werr = op_msg(
        600,
        21,
        0,
        &doc(&[
            ("n", B::I32(1)),
            (
                "writeErrors",
                B::Arr(arr(&[doc(&[
                    ("index", B::I32(1)),
                    ("code", B::I32(11000)),
                    ("errmsg", B::Str("E11000 duplicate key")),
                ])])),
            ),
            ("ok", B::F64(1.0)),
        ]),
    );
    let bad = op_msg(
        22,
        0,
        0,
        &doc(&[("drop", B::Str("nope")), ("$db", B::Str("shop"))]),
    );
    let ok0 = op_msg(
        601,
        22,
        0,
        &doc(&[
            ("ok", B::F64(0.0)),
            ("errmsg", B::Str("ns not found")),
            ("code", B::I32(26)),
        ]),
    );
    let upd = op_msg(
        23,
        0,
        0,
        &doc(&[("update", B::Str("u")), ("$db", B::Str("shop"))]),
    );
    let wce = op_msg(
        602,
        23,
        0,
        &doc(&[
            ("n", B::I32(1)),
            (
                "writeConcernError",
                B::Doc(doc(&[
                    ("code", B::I32(64)),
                    ("errmsg", B::Str("waiting for replication timed out")),
                ])),
            ),
            ("ok", B::I32(1)),
        ]),
    );
    let (ev, _) = run(&[
        d(C, 0, insert),
        d(S, 1, werr),
        d(C, 2, bad),
        d(S, 3, ok0),
        d(C, 4, upd),
        d(S, 5, wce),
    ]);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].status, Status::Error);
    assert_eq!(mf(&ev[0])["error"], "E11000 duplicate key");
    assert_eq!(mf(&ev[0])["message"], "documents");
    assert_eq!(ev[0].resource.as_deref(), Some("shop.users"));
    assert_eq!(ev[1].status, Status::Error);
    assert_eq!(mf(&ev[1])["error"], "ns not found");
    assert_eq!(ev[1].method.as_deref(), Some("drop"));
    assert_eq!(ev[2].status, Status::Error);
    assert_eq!(mf(&ev[2])["error"], "waiting for replication timed out");
}

#[test]
fn more_to_come_request_is_published_alone() {
    let req = op_msg(
        5,
        0,
        2,
        &doc(&[("insert", B::Str("logs")), ("$db", B::Str("app"))]),
    );
    let (ev, st) = run(&[d(C, 0, req)]);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].status, Status::Ok);
    assert!(ev[0].notes.is_empty());
    assert!(ev[0].response_bytes.is_none());
    assert_eq!(st.unmatched_requests, 0);
}

#[test]
fn exhaust_replies_fold_into_one_event() {
    let req = op_msg(
        9,
        0,
        1 << 16,
        &doc(&[
            ("getMore", B::I64(77)),
            ("collection", B::Str("items")),
            ("$db", B::Str("shop")),
        ]),
    );
    let r1 = cursor_reply(100, 9, 2, "nextBatch", 2);
    let r2 = cursor_reply(101, 100, 2, "nextBatch", 2);
    let r3 = cursor_reply(102, 101, 1, "nextBatch", 0);
    let total = (r1.len() + r2.len() + r3.len()) as u64;
    let (ev, _) = run(&[d(C, 0, req), d(S, 1, r1), d(S, 2, r2), d(S, 3, r3)]);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].method.as_deref(), Some("getMore"));
    assert_eq!(ev[0].resource.as_deref(), Some("shop.items"));
    assert_eq!(ev[0].response_bytes, Some(total));
    assert_eq!(mf(&ev[0])["numberReturned"], 5);
    assert_eq!(mf(&ev[0])["cursorId"], 77);
}

#[test]
fn interleaved_replies_and_unmatched() {
    let a = find_cmd(1);
    let b = op_msg(
        2,
        0,
        0,
        &doc(&[("ping", B::I32(1)), ("$db", B::Str("admin"))]),
    );
    let c = op_msg(
        3,
        0,
        0,
        &doc(&[("ping", B::I32(1)), ("$db", B::Str("admin"))]),
    );
    let rb = op_msg(11, 2, 0, &doc(&[("ok", B::F64(1.0))]));
    let ra = cursor_reply(12, 1, 0, "firstBatch", 0);
    let orphan = op_msg(13, 999, 0, &doc(&[("ok", B::F64(1.0))]));
    let (ev, st) = run(&[
        d(C, 0, a),
        d(C, 1, b),
        d(C, 2, c),
        d(S, 3, rb),
        d(S, 4, ra),
        d(S, 5, orphan),
    ]);
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[0].method.as_deref(), Some("ping"));
    assert_eq!(ev[0].request_ts, Some(ts(1)));
    assert_eq!(ev[1].method.as_deref(), Some("find"));
    assert_eq!(ev[2].unmatched, crate::proto::txn::Unmatched::Response);
    assert_eq!(ev[3].request_ts, Some(ts(2)));
    assert!(ev[3].notes.iter().any(|n| n == ecs::NOTE_UNMATCHED_REQUEST));
    assert_eq!(ev[3].status, Status::Error);
    assert_eq!(st.unmatched_requests, 1);
    assert_eq!(st.unmatched_responses, 1);
}

#[test]
fn raw_request_response_and_truncation_markers() {
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        ..CommonConfig::default()
    };
    let cfg = Config {
        max_docs: 2,
        max_doc_length: 12,
    };
    let (ev, _) = run_with(
        &cfg,
        &common,
        &[
            d(C, 0, find_cmd(1)),
            d(S, 1, cursor_reply(2, 1, 4, "firstBatch", 0)),
        ],
    );
    let t = &ev[0];
    let resp = t.response_raw.as_deref().unwrap();
    let lines: Vec<&str> = resp.lines().collect();
    assert_eq!(lines, [r#"{"_id":0}"#, r#"{"_id":1}"#, "[...]"]);
    let req = t.request_raw.as_deref().unwrap();
    assert!(req.starts_with("shop.items.find({\"filter\":{\""), "{req}");
    assert!(req.contains(" ..."), "{req}");
    assert!(mf(t)["query"].as_str().unwrap().ends_with(" ..."));
    // Defaults: no raw text.
    let (ev, _) = run(&[
        d(C, 0, find_cmd(1)),
        d(S, 1, cursor_reply(2, 1, 4, "firstBatch", 0)),
    ]);
    assert!(ev[0].request_raw.is_none() && ev[0].response_raw.is_none());
}

#[test]
fn config_and_probe() {
    let c: Config = serde_yaml_ng::from_str("max_docs: 0\nmax_doc_length: 100").unwrap();
    assert_eq!(c.max_docs, 0);
    assert!(serde_yaml_ng::from_str::<Config>("bogus: 1").is_err());
    assert_eq!(Config::default().max_docs, 10);
    assert_eq!(Mongodb::probe(C, &find_cmd(1)), Probe::Match);
    assert_eq!(Mongodb::probe(C, &[1, 2, 3]), Probe::Unsure);
    assert_eq!(
        Mongodb::probe(C, b"GET / HTTP/1.1\r\nHost: x\r\n"),
        Probe::NotMine
    );
}

#[test]
fn explain_and_database_level_commands() {
    let explain = op_msg(
        1,
        0,
        0,
        &doc(&[
            (
                "explain",
                B::Doc(doc(&[
                    ("count", B::Str("orders")),
                    ("query", B::Doc(doc(&[]))),
                ])),
            ),
            ("verbosity", B::Str("queryPlanner")),
            ("$db", B::Str("shop")),
        ]),
    );
    let agg = op_msg(
        2,
        0,
        0,
        &doc(&[
            ("aggregate", B::I32(1)),
            ("pipeline", B::Arr(arr(&[]))),
            ("$db", B::Str("admin")),
        ]),
    );
    let (ev, _) = run(&[
        d(C, 0, explain),
        d(S, 1, op_msg(10, 1, 0, &doc(&[("ok", B::F64(1.0))]))),
        d(C, 2, agg),
        d(S, 3, op_msg(11, 2, 0, &doc(&[("ok", B::I32(1))]))),
    ]);
    assert_eq!(ev[0].method.as_deref(), Some("explain"));
    assert_eq!(ev[0].resource.as_deref(), Some("shop.orders"));
    assert_eq!(ev[1].method.as_deref(), Some("aggregate"));
    assert_eq!(ev[1].resource.as_deref(), Some("admin"));
    assert_eq!(mf(&ev[1])["query"], "[]");
    assert!(ev.iter().all(|t| t.status == Status::Ok));
}
