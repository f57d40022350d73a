//! Unit tests: hand-built Thrift streams (binary and compact, framed and unframed) fed whole,
//! in 1-byte pieces and in random pieces (fixed seed); the results must be identical.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::idl::Idl;
use super::*;
use crate::config::CommonConfig;
use crate::proto::{CloseReason, ConnMeta, Cx, Direction, ProtoStats, Status, Txn, L4};
use crate::time::Ts;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

#[derive(Clone, Debug)]
enum Ev {
    Data(Direction, u64, Vec<u8>),
    Gap(Direction, usize),
}

fn d(dir: Direction, ms: u64, bytes: Vec<u8>) -> Ev {
    Ev::Data(dir, ms, bytes)
}

#[derive(Clone, Copy)]
enum Split {
    Whole,
    Bytes1,
    Random(u64),
}

fn meta() -> ConnMeta {
    ConnMeta {
        client: "198.18.10.20:40000".parse().unwrap(),
        server: "198.18.10.10:9090".parse().unwrap(),
        l4: L4::Tcp,
        vlan: vec![],
    }
}

fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
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
    let mut h = Thrift::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
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
                        Progress::GiveUp(_) => panic!("thrift never gives up"),
                    }
                }
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

fn th<'a>(t: &'a Txn, k: &str) -> Option<&'a str> {
    t.fields["thrift"].get(k).and_then(|v| v.as_str())
}

// ---- binary builders ----

fn bhead(mtype: u8, name: &str, seq: i32) -> Vec<u8> {
    let mut v = vec![0x80, 0x01, 0x00, mtype];
    v.extend_from_slice(&(name.len() as i32).to_be_bytes());
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v
}

fn bfield(t: u8, id: i16, val: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(val);
    v
}

fn bstr(s: &str) -> Vec<u8> {
    let mut v = (s.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn framed(m: &[u8]) -> Vec<u8> {
    let mut v = (m.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(m);
    v
}

fn add_call() -> Vec<u8> {
    [
        bhead(1, "add", 0),
        bfield(8, 1, &1i32.to_be_bytes()),
        bfield(8, 2, &(-2i32).to_be_bytes()),
        vec![0],
    ]
    .concat()
}

fn add_reply() -> Vec<u8> {
    [
        bhead(2, "add", 0),
        bfield(8, 0, &(-1i32).to_be_bytes()),
        vec![0],
    ]
    .concat()
}

// ---- compact builders ----

fn chead(mtype: u8, name: &str, seq: u8) -> Vec<u8> {
    let mut v = vec![0x82, (mtype << 5) | 1, seq, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v
}

#[test]
fn binary_unframed_call_reply() {
    let (req, resp) = (add_call(), add_reply());
    let t = run(&[d(C, 0, req.clone()), d(S, 2, resp.clone())]);
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(t.method.as_deref(), Some("add"));
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(req.len() as u64));
    assert_eq!(t.response_bytes, Some(resp.len() as u64));
    assert_eq!(th(t, "params"), Some("(1: 1, 2: -2)"));
    assert_eq!(th(t, "return_value"), Some("-1"));
    assert_eq!(t.query.as_deref(), Some("add(1: 1, 2: -2)"));
    assert_eq!(t.response_ts, Some(ts(2)));
}

#[test]
fn binary_framed_and_app_exception_and_oneway() {
    let req = framed(
        &[
            bhead(1, "removeItem", 0),
            bfield(10, 1, &2i64.to_be_bytes()),
            vec![0],
        ]
        .concat(),
    );
    let exc = framed(
        &[
            bhead(3, "removeItem", 0),
            bfield(11, 1, &bstr("Unknown function removeItem")),
            bfield(8, 2, &1i32.to_be_bytes()),
            vec![0],
        ]
        .concat(),
    );
    let oneway = framed(&[bhead(4, "logEvent", 0), bfield(11, 1, &bstr("hi")), vec![0]].concat());
    let t = run(&[
        d(C, 0, req.clone()),
        d(S, 1, exc.clone()),
        d(C, 2, oneway.clone()),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[0].request_bytes, Some(req.len() as u64));
    assert_eq!(t[0].response_bytes, Some(exc.len() as u64));
    assert_eq!(
        th(&t[0], "exceptions"),
        Some("(1: \"Unknown function removeItem\", 2: 1)")
    );
    assert_eq!(th(&t[0], "return_value"), Some(""));
    assert_eq!(t[1].method.as_deref(), Some("logEvent"));
    assert_eq!(t[1].response_bytes, None);
    assert!(t[1].notes.is_empty());
}

#[test]
fn declared_exception_and_collections() {
    // search(1: "w") -> list<struct>, then getItem -> exception field 1.
    let call = [bhead(1, "search", 5), bfield(11, 1, &bstr("w")), vec![0]].concat();
    let mut item = bfield(10, 1, &1i64.to_be_bytes());
    item.extend(bfield(4, 3, &9.99f64.to_be_bytes()));
    item.extend(bfield(
        15,
        4,
        &[
            [11u8].as_slice(),
            &2i32.to_be_bytes(),
            &bstr("red"),
            &bstr("small"),
        ]
        .concat(),
    ));
    item.extend(bfield(
        13,
        5,
        &[
            [11u8, 8].as_slice(),
            &1i32.to_be_bytes(),
            &bstr("berlin"),
            &12i32.to_be_bytes(),
        ]
        .concat(),
    ));
    item.extend(bfield(2, 6, &[1]));
    item.extend(bfield(
        14,
        7,
        &[[8u8].as_slice(), &0i32.to_be_bytes()].concat(),
    ));
    item.push(0);
    let list = [[12u8].as_slice(), &1i32.to_be_bytes(), &item].concat();
    let reply = [bhead(2, "search", 5), bfield(15, 0, &list), vec![0]].concat();
    let get = [
        bhead(1, "getItem", 6),
        bfield(10, 1, &77i64.to_be_bytes()),
        vec![0],
    ]
    .concat();
    let exc = [
        bhead(2, "getItem", 6),
        bfield(
            12,
            1,
            &[
                bfield(11, 1, &bstr("item 77")),
                bfield(8, 2, &404i32.to_be_bytes()),
                vec![0],
            ]
            .concat(),
        ),
        vec![0],
    ]
    .concat();
    let t = run(&[d(C, 0, call), d(S, 1, reply), d(C, 2, get), d(S, 3, exc)]);
    assert_eq!(
        th(&t[0], "return_value"),
        Some("[(1: 1, 3: 9.99, 4: [\"red\", \"small\"], 5: {\"berlin\": 12}, 6: true, 7: )]")
    );
    assert_eq!(t[1].status, Status::Error);
    assert_eq!(
        th(&t[1], "exceptions"),
        Some("(1: (1: \"item 77\", 2: 404))")
    );
}

#[test]
fn compact_framed() {
    // echo("hi") -> "hi"; compact field header: delta 1, type 8 (binary).
    let call = framed(&[chead(1, "echo", 3), vec![0x18, 2, b'h', b'i', 0]].concat());
    let reply = framed(&[chead(2, "echo", 3), vec![0x08, 0x00, 2, b'h', b'i', 0]].concat());
    // getItem(1: i64 77) -> exception field 1 {1: "x", 2: 404}; bool field true.
    let get = framed(&[chead(1, "getItem", 4), vec![0x16, 154, 1, 0x11, 0]].concat());
    let exc = framed(
        &[
            chead(2, "getItem", 4),
            vec![0x1C, 0x18, 1, b'x', 0x15, 0xA8, 0x06, 0],
            vec![0],
        ]
        .concat(),
    );
    let t = run(&[
        d(C, 0, call.clone()),
        d(S, 1, reply.clone()),
        d(C, 2, get),
        d(S, 3, exc),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].request_bytes, Some(call.len() as u64));
    assert_eq!(t[0].response_bytes, Some(reply.len() as u64));
    assert_eq!(th(&t[0], "params"), Some("(1: \"hi\")"));
    assert_eq!(th(&t[0], "return_value"), Some("\"hi\""));
    assert_eq!(th(&t[1], "params"), Some("(1: 77, 2: true)"));
    assert_eq!(t[1].status, Status::Error);
    assert_eq!(th(&t[1], "exceptions"), Some("(1: (1: \"x\", 2: 404))"));
}

#[test]
fn idl_names() {
    let mut idl = Idl::default();
    idl.add(
        r#"
        namespace py demo // comment
        struct Item { 1: i64 id, 2: string name = "x" }
        exception NotFound { 1: string what }
        /* block */ service Store extends Base {
          i32 add(1: i32 num1, 2: i32 num2),
          Item getItem(1: required i64 id) throws (1: NotFound nf);
          oneway void logEvent(1: map<string, list<i32>> e)
        }
        "#,
    );
    let f = idl.find("getItem").unwrap();
    assert_eq!(f.service, "Store");
    assert_eq!(f.params[&1], "id");
    assert_eq!(f.exceptions[&1], "nf");
    assert_eq!(idl.find("logEvent").unwrap().params[&1], "e");
    let mut cfg = Config::default();
    cfg.idl_files.idl = Arc::new(idl);
    let t = run_with(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, add_call()), d(S, 1, add_reply())],
    );
    assert_eq!(th(&t[0], "params"), Some("(num1: 1, num2: -2)"));
    assert_eq!(th(&t[0], "service"), Some("Store"));
    assert_eq!(t[0].path.as_deref(), Some("Store"));
}

#[test]
fn multiplexed_name() {
    let call = [bhead(1, "Calc:add", 0), vec![0]].concat();
    let reply = [bhead(2, "Calc:add", 0), vec![0]].concat();
    let t = run(&[d(C, 0, call), d(S, 1, reply)]);
    assert_eq!(t[0].method.as_deref(), Some("Calc:add"));
    assert_eq!(th(&t[0], "service"), Some("Calc"));
}

#[test]
fn limits_and_obfuscation() {
    let long = "a".repeat(10);
    let list: Vec<u8> = [
        [8u8].as_slice(),
        &4i32.to_be_bytes(),
        &1i32.to_be_bytes(),
        &2i32.to_be_bytes(),
        &3i32.to_be_bytes(),
        &4i32.to_be_bytes(),
    ]
    .concat();
    let call = [
        bhead(1, "f", 1),
        bfield(11, 1, &bstr(&long)),
        bfield(15, 2, &list),
        bfield(11, 3, &bstr("")),
        vec![0],
    ]
    .concat();
    let cfg = Config {
        string_max_size: 3,
        collection_max_size: 2,
        ..Config::default()
    };
    let t = run_with(&cfg, &CommonConfig::default(), &[d(C, 0, call.clone())]);
    assert_eq!(
        th(&t[0], "params"),
        Some("(1: \"aaa...\", 2: [1, 2, ...], ...)")
    );
    assert_eq!(t[0].notes, vec![NOTE_NO_RESPONSE.to_owned()]);
    let cfg = Config {
        obfuscate_strings: true,
        ..Config::default()
    };
    let t = run_with(&cfg, &CommonConfig::default(), &[d(C, 0, call.clone())]);
    assert_eq!(
        th(&t[0], "params"),
        Some("(1: \"*\", 2: [1, 2, 3, 4], 3: \"\")")
    );
    let cfg = Config {
        drop_after_n_struct_fields: 2,
        ..Config::default()
    };
    let (t, st) = run_split(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, call)],
        Split::Whole,
    );
    assert!(t.is_empty());
    assert!(st.anomalies > 0);
}

#[test]
fn capture_reply_off_and_raw_texts() {
    let cfg = Config {
        capture_reply: false,
        ..Config::default()
    };
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        ..CommonConfig::default()
    };
    let t = run_with(&cfg, &common, &[d(C, 0, add_call()), d(S, 1, add_reply())]);
    assert!(th(&t[0], "return_value").is_none());
    assert_eq!(t[0].request_raw.as_deref(), Some("add(1: 1, 2: -2)"));
    let t = run_with(
        &Config::default(),
        &common,
        &[d(C, 0, add_call()), d(S, 1, add_reply())],
    );
    assert_eq!(t[0].response_raw.as_deref(), Some("-1"));
}

#[test]
fn forced_transport_and_old_binary() {
    let old = [
        (3i32).to_be_bytes().to_vec(),
        b"add".to_vec(),
        vec![1],
        0i32.to_be_bytes().to_vec(),
        vec![0],
    ]
    .concat();
    let old_reply = [
        (3i32).to_be_bytes().to_vec(),
        b"add".to_vec(),
        vec![2],
        0i32.to_be_bytes().to_vec(),
        vec![0],
    ]
    .concat();
    let t = run(&[d(C, 0, framed(&old)), d(S, 1, framed(&old_reply))]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(old_reply.len() as u64 + 4));
    let cfg = Config {
        transport_type: TransportType::Framed,
        protocol_type: ProtocolType::Binary,
        ..Config::default()
    };
    let t = run_with(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, framed(&add_call())), d(S, 1, framed(&add_reply()))],
    );
    assert_eq!(t[0].request_bytes, Some(add_call().len() as u64 + 4));
    let c: Config = serde_yaml_ng::from_str(
        "transport_type: socket\nprotocol_type: compact\nstring_max_size: 5\n",
    )
    .unwrap();
    assert_eq!(c.transport_type, TransportType::Socket);
    assert!(serde_yaml_ng::from_str::<Config>("idl_files: [/nonexistent.thrift]").is_err());
    let path =
        std::env::temp_dir().join(format!("sensor-thrift-idl-{}.thrift", std::process::id()));
    std::fs::write(&path, "service Calc { i32 add(1: i32 a, 2: i32 b) }").unwrap();
    let c: Config = serde_yaml_ng::from_str(&format!("idl_files: [{}]", path.display())).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(c.idl_files.idl.find("add").unwrap().params[&2], "b");
    let t = run_with(
        &c,
        &CommonConfig::default(),
        &[d(C, 0, add_call()), d(S, 1, add_reply())],
    );
    assert_eq!(th(&t[0], "params"), Some("(a: 1, b: -2)"));
}

#[test]
fn resync_after_gap_and_garbage() {
    let t = run(&[
        d(C, 0, add_call()[..10].to_vec()),
        Ev::Gap(C, 20),
        d(C, 1, [b"junkjunk".to_vec(), add_call()].concat()),
        d(S, 2, add_reply()),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].method.as_deref(), Some("add"));
    assert_eq!(t[0].request_ts, Some(ts(1)));
}

#[test]
fn pairing_by_seqid() {
    let c1 = [bhead(1, "f", 1), vec![0]].concat();
    let c2 = [bhead(1, "f", 2), vec![0]].concat();
    let r2 = [bhead(2, "f", 2), bfield(8, 0, &2i32.to_be_bytes()), vec![0]].concat();
    let r1 = [bhead(2, "f", 1), bfield(8, 0, &1i32.to_be_bytes()), vec![0]].concat();
    let t = run(&[d(C, 0, [c1, c2].concat()), d(S, 1, r2), d(S, 2, r1)]);
    assert_eq!(th(&t[0], "return_value"), Some("2"));
    assert_eq!(t[0].request_ts, Some(ts(0)));
    assert_eq!(th(&t[1], "return_value"), Some("1"));
}

#[test]
fn no_panic_on_garbage() {
    let mut rng = SmallRng::seed_from_u64(9);
    let valid = [
        add_call(),
        framed(&add_reply()),
        framed(
            &[
                chead(1, "echo", 3),
                vec![
                    0x18, 2, b'h', b'i', 0x19, 0x2C, 0x1C, 0x11, 0, 0x1B, 0x01, 0x85, 0,
                ],
            ]
            .concat(),
        ),
    ]
    .concat();
    let common = CommonConfig::default();
    for round in 0..300u64 {
        let mut bytes = if round % 3 == 0 {
            (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect::<Vec<u8>>()
        } else {
            valid.clone()
        };
        if round % 3 == 1 {
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
        }
        if round % 3 == 2 {
            bytes.truncate(rng.random_range(0..bytes.len()));
        }
        let script = [d(C, 0, bytes.clone()), d(S, 1, bytes)];
        let _ = run_split(&Config::default(), &common, &script, Split::Random(round));
    }
}
