//! Unit tests: hand-built AMQP streams fed whole, in 1-byte pieces and in random pieces (fixed
//! seed) through a small model of the pipeline; the results must be identical.

mod methods;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

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
    Timer(u64),
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
        server: "198.18.10.10:5672".parse().unwrap(),
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
    let mut h = Amqp::new(cfg);
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
                        Progress::GiveUp(_) => panic!("amqp never gives up"),
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

fn amqp(t: &Txn) -> &Value {
    &t.fields["amqp"]
}

// ---- frame builders ----

fn frame(kind: u8, ch: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&ch.to_be_bytes());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v.push(0xCE);
    v
}

fn method(ch: u16, class: u16, m: u16, args: &[u8]) -> Vec<u8> {
    let mut p = class.to_be_bytes().to_vec();
    p.extend_from_slice(&m.to_be_bytes());
    p.extend_from_slice(args);
    frame(1, ch, &p)
}

fn ss(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn ls(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Content header with content-type and message-id.
fn header(ch: u16, size: u64, ctype: &str) -> Vec<u8> {
    let mut p = 60u16.to_be_bytes().to_vec();
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&size.to_be_bytes());
    p.extend_from_slice(&(0x8000u16 | 0x0080).to_be_bytes());
    p.extend(ss(ctype));
    p.extend(ss("m0"));
    frame(2, ch, &p)
}

fn body(ch: u16, b: &[u8]) -> Vec<u8> {
    frame(3, ch, b)
}

fn queue_declare(ch: u16, q: &str, bits: u8) -> Vec<u8> {
    method(ch, 50, 10, &cat(&[&[0, 0], &ss(q), &[bits], &ls(&[])]))
}

fn declare_ok(ch: u16, q: &str) -> Vec<u8> {
    method(
        ch,
        50,
        11,
        &cat(&[&ss(q), &3u32.to_be_bytes(), &1u32.to_be_bytes()]),
    )
}

fn publish(ch: u16, ex: &str, rk: &str) -> Vec<u8> {
    method(ch, 60, 40, &cat(&[&[0, 0], &ss(ex), &ss(rk), &[0]]))
}

fn close(class: u16, ch: u16, code: u16, text: &str, c: u16, m: u16) -> Vec<u8> {
    let meth = if class == 10 { 50 } else { 40 };
    method(
        ch,
        class,
        meth,
        &cat(&[
            &code.to_be_bytes(),
            &ss(text),
            &c.to_be_bytes(),
            &m.to_be_bytes(),
        ]),
    )
}

fn close_ok(class: u16, ch: u16) -> Vec<u8> {
    method(ch, class, if class == 10 { 51 } else { 41 }, &[])
}

const PROTO_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";

// ---- tests ----

#[test]
fn sync_pair() {
    let req = queue_declare(1, "orders", 0);
    let resp = declare_ok(1, "orders");
    let t = run(&[
        d(C, 0, PROTO_HEADER.to_vec()),
        d(C, 1, req.clone()),
        d(S, 3, resp.clone()),
    ]);
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(t.method.as_deref(), Some("queue.declare"));
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(req.len() as u64));
    assert_eq!(t.response_bytes, Some(resp.len() as u64));
    assert_eq!(t.request_ts, Some(ts(1)));
    assert_eq!(t.response_ts, Some(ts(3)));
    assert_eq!(amqp(t)["queue"], "orders");
    assert_eq!(amqp(t)["message-count"], 3);
    assert_eq!(amqp(t)["consumer-count"], 1);
    assert_eq!(amqp(t)["passive"], false);
    assert_eq!(t.client, meta().client);
}

#[test]
fn publish_with_split_body() {
    let msg = cat(&[
        &publish(1, "", "orders"),
        &header(1, 10, "text/plain"),
        &body(1, b"hello"),
        &body(1, b"world"),
    ]);
    let common = CommonConfig {
        send_request: true,
        ..CommonConfig::default()
    };
    let t = run_with(&Config::default(), &common, &[d(C, 5, msg.clone())]);
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(t.method.as_deref(), Some("basic.publish"));
    assert_eq!(t.request_bytes, Some(msg.len() as u64));
    assert_eq!(t.response_bytes, None);
    assert_eq!(amqp(t)["routing-key"], "orders");
    assert!(amqp(t).get("exchange").is_none());
    assert_eq!(amqp(t)["content-type"], "text/plain");
    assert_eq!(amqp(t)["message-id"], "m0");
    assert_eq!(t.request_raw.as_deref(), Some("helloworld"));
}

#[test]
fn body_cut_at_max_body_length() {
    let cfg = Config {
        max_body_length: 4,
        ..Config::default()
    };
    let common = CommonConfig {
        send_request: true,
        ..CommonConfig::default()
    };
    let msg = cat(&[
        &publish(1, "x", "k"),
        &header(1, 6, "application/octet-stream"),
        &body(1, &[1, 2, 3, 4, 5, 6]),
    ]);
    let t = run_with(&cfg, &common, &[d(C, 0, msg)]);
    assert_eq!(t[0].request_raw.as_deref(), Some("1 2 3 4 [...]"));
    assert_eq!(amqp(&t[0])["exchange"], "x");
}

#[test]
fn deliver_client_is_broker() {
    let deliver = method(
        1,
        60,
        60,
        &cat(&[
            &ss("ctag"),
            &7u64.to_be_bytes(),
            &[0],
            &ss("events"),
            &ss("evt.a"),
        ]),
    );
    let msg = cat(&[&deliver, &header(1, 0, "text/plain")]);
    let ack = method(1, 60, 80, &cat(&[&7u64.to_be_bytes(), &[0]]));
    let t = run(&[d(S, 0, msg.clone()), d(C, 2, ack.clone())]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("basic.deliver"));
    assert_eq!(t[0].client, meta().server);
    assert_eq!(t[0].server, meta().client);
    assert_eq!(t[0].request_bytes, Some(msg.len() as u64));
    assert_eq!(amqp(&t[0])["delivery-tag"], 7);
    assert_eq!(amqp(&t[0])["exchange"], "events");
    assert_eq!(t[1].method.as_deref(), Some("basic.ack"));
    assert_eq!(t[1].client, meta().client);
    assert_eq!(t[1].response_bytes, None);
    assert_eq!(amqp(&t[1])["multiple"], false);
}

#[test]
fn channel_close_fails_request() {
    let req = queue_declare(1, "ghost", 1);
    let cl = close(20, 1, 404, "NOT_FOUND - no queue 'ghost'", 50, 10);
    let ok = close_ok(20, 1);
    let t = run(&[
        d(C, 0, req.clone()),
        d(S, 1, cl.clone()),
        d(C, 2, ok.clone()),
    ]);
    assert_eq!(t.len(), 2);
    let (a, b) = (&t[0], &t[1]);
    assert_eq!(a.method.as_deref(), Some("queue.declare"));
    assert_eq!(a.status, Status::Error);
    assert_eq!(a.response_bytes, None);
    assert_eq!(amqp(a)["reply-code"], 404);
    assert_eq!(a.notes, vec!["NOT_FOUND - no queue 'ghost'".to_owned()]);
    assert_eq!(b.method.as_deref(), Some("channel.close"));
    assert_eq!(b.status, Status::Error);
    assert_eq!(b.client, meta().server);
    assert_eq!(b.request_bytes, Some(cl.len() as u64));
    assert_eq!(b.response_bytes, Some(ok.len() as u64));
    assert_eq!(amqp(b)["class-id"], 50);
}

#[test]
fn connection_close_fails_open_and_hides_normal_close() {
    let open = method(0, 10, 40, &cat(&[&ss("/nope"), &ss(""), &[0]]));
    let cl = close(10, 0, 530, "NOT_ALLOWED", 10, 40);
    let t = run(&[d(C, 0, open), d(S, 1, cl), d(C, 2, close_ok(10, 0))]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("connection.open"));
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[1].method.as_deref(), Some("connection.close"));
    // A normal close is connection information: hidden by default.
    let t = run(&[
        d(C, 0, close(20, 1, 200, "Normal shutdown", 0, 0)),
        d(S, 1, close_ok(20, 1)),
    ]);
    assert!(t.is_empty());
}

#[test]
fn connection_information_shown_when_asked() {
    let start = method(
        0,
        10,
        10,
        &cat(&[
            &[0, 9],
            &ls(&cat(&[&ss("product"), b"S", &ls(b"RabbitMQ")])),
            &ls(b"PLAIN"),
            &ls(b"en_US"),
        ]),
    );
    let start_ok = method(
        0,
        10,
        11,
        &cat(&[&ls(&[]), &ss("PLAIN"), &ls(b"\0guest\0guest"), &ss("en_US")]),
    );
    let qos = method(
        1,
        60,
        10,
        &cat(&[&0u32.to_be_bytes(), &10u16.to_be_bytes(), &[0]]),
    );
    let qos_ok = method(1, 60, 11, &[]);
    let heartbeat = frame(8, 0, &[]);
    let script = [
        d(C, 0, PROTO_HEADER.to_vec()),
        d(S, 1, start),
        d(C, 2, cat(&[&start_ok, &heartbeat])),
        d(C, 3, qos),
        d(S, 4, qos_ok),
    ];
    assert!(run(&script).is_empty());
    let cfg = Config {
        hide_connection_information: false,
        ..Config::default()
    };
    let t = run_with(&cfg, &CommonConfig::default(), &script);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("connection.start"));
    assert_eq!(t[0].client, meta().server);
    assert_eq!(amqp(&t[0])["server-properties"]["product"], "RabbitMQ");
    assert_eq!(amqp(&t[0])["mechanism"], "PLAIN");
    assert!(amqp(&t[0]).get("response").is_none());
    assert_eq!(t[1].method.as_deref(), Some("basic.qos"));
    assert_eq!(amqp(&t[1])["prefetch-count"], 10);
}

#[test]
fn basic_get_ok_and_empty() {
    let get = method(1, 60, 70, &cat(&[&[0, 0], &ss("orders"), &[0]]));
    let get_ok = cat(&[
        &method(
            1,
            60,
            71,
            &cat(&[
                &1u64.to_be_bytes(),
                &[0],
                &ss(""),
                &ss("orders"),
                &2u32.to_be_bytes(),
            ]),
        ),
        &header(1, 3, "text/plain"),
        &body(1, b"abc"),
    ]);
    let empty = method(1, 60, 72, &ss(""));
    let t = run(&[
        d(C, 0, get.clone()),
        d(S, 1, get_ok.clone()),
        d(C, 2, get.clone()),
        d(S, 3, empty.clone()),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("basic.get"));
    assert_eq!(t[0].response_bytes, Some(get_ok.len() as u64));
    assert_eq!(amqp(&t[0])["queue"], "orders");
    assert_eq!(amqp(&t[0])["delivery-tag"], 1);
    assert_eq!(amqp(&t[0])["message-count"], 2);
    assert_eq!(t[1].method.as_deref(), Some("basic.get"));
    assert_eq!(t[1].response_bytes, Some(empty.len() as u64));
}

#[test]
fn no_wait_is_async_and_channels_are_separate() {
    let t = run(&[
        d(C, 0, queue_declare(1, "a", 0x10)),
        d(C, 1, queue_declare(2, "b", 0)),
        d(C, 2, queue_declare(3, "c", 0)),
        d(S, 3, declare_ok(3, "c")),
        d(S, 4, declare_ok(2, "b")),
    ]);
    let names: Vec<_> = t
        .iter()
        .map(|t| amqp(t)["queue"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "c", "b"]);
    assert_eq!(t[0].response_bytes, None);
    assert_eq!(amqp(&t[0])["no-wait"], true);
    assert!(t[1].response_bytes.is_some() && t[2].response_bytes.is_some());
}

#[test]
fn server_named_queue_keeps_request_value() {
    let t = run(&[
        d(C, 0, queue_declare(1, "", 0)),
        d(S, 1, declare_ok(1, "amq.gen-1")),
    ]);
    assert_eq!(amqp(&t[0])["queue"], "");
}

#[test]
fn unanswered_and_timeout() {
    let t = run(&[
        d(C, 0, queue_declare(1, "q", 0)),
        Ev::Timer(5_000),
        Ev::Timer(11_000),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, None);
    assert_eq!(t[0].notes, vec![ecs::NOTE_NO_RESPONSE.to_owned()]);
}

#[test]
fn field_tables_all_types() {
    let mut tbl = Vec::new();
    tbl.extend(cat(&[&ss("t"), b"t", &[1]]));
    tbl.extend(cat(&[&ss("b"), b"b", &[0xFF]]));
    tbl.extend(cat(&[&ss("B"), b"B", &[200]]));
    tbl.extend(cat(&[&ss("s"), b"s", &(-2i16).to_be_bytes()]));
    tbl.extend(cat(&[&ss("u"), b"u", &60000u16.to_be_bytes()]));
    tbl.extend(cat(&[&ss("I"), b"I", &(-3i32).to_be_bytes()]));
    tbl.extend(cat(&[&ss("i"), b"i", &4_000_000_000u32.to_be_bytes()]));
    tbl.extend(cat(&[&ss("l"), b"l", &(-5i64).to_be_bytes()]));
    tbl.extend(cat(&[&ss("f"), b"f", &1.5f32.to_be_bytes()]));
    tbl.extend(cat(&[&ss("d"), b"d", &2.25f64.to_be_bytes()]));
    tbl.extend(cat(&[&ss("D"), b"D", &[2], &12345i32.to_be_bytes()]));
    tbl.extend(cat(&[&ss("S"), b"S", &ls(b"long")]));
    tbl.extend(cat(&[
        &ss("A"),
        b"A",
        &ls(&cat(&[b"I", &1i32.to_be_bytes(), b"S", &ls(b"x")])),
    ]));
    tbl.extend(cat(&[&ss("T"), b"T", &0u64.to_be_bytes()]));
    tbl.extend(cat(&[&ss("F"), b"F", &ls(&cat(&[&ss("k"), b"V"]))]));
    tbl.extend(cat(&[&ss("x"), b"x", &ls(&[1, 2])]));
    let m = parse::table(&tbl, 0).unwrap();
    assert_eq!(
        Value::Object(m),
        json!({"t": true, "b": -1, "B": 200, "s": -2, "u": 60000, "I": -3, "i": 4_000_000_000u32,
               "l": -5, "f": 1.5, "d": 2.25, "D": "123.45", "S": "long", "A": {"0": 1, "1": "x"},
               "T": "January  1 00:00:00 1970", "F": {"k": null}, "x": "[1, 2]"})
    );
    assert!(parse::table(b"\x01kZ", 0).is_none());
    assert_eq!(parse::amqp_time(1_795_802_859), "November 27 18:07:39 2026");
}

#[test]
fn gap_in_body_and_resync() {
    let msg = cat(&[&publish(1, "", "q"), &header(1, 100, "text/plain")]);
    let mut b = vec![3u8, 0, 1, 0, 0, 0, 100];
    b.extend_from_slice(&[b'a'; 40]);
    let rest = cat(&[&[b'b'; 30], &[0xCE], &queue_declare(1, "after", 0)]);
    let t = run(&[
        d(C, 0, cat(&[&msg, &b])),
        Ev::Gap(C, 30),
        d(C, 1, rest),
        d(S, 2, declare_ok(1, "after")),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("basic.publish"));
    assert!(t[0].notes.contains(&state::NOTE_INCOMPLETE.to_owned()));
    assert_eq!(amqp(&t[1])["queue"], "after");
    // Garbage, then a valid method: resynchronised.
    let t = run(&[
        d(
            C,
            0,
            cat(&[b"\x01\x00\x01garbage!", &queue_declare(1, "x", 0)]),
        ),
        d(S, 1, declare_ok(1, "x")),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(amqp(&t[0])["queue"], "x");
}

#[test]
fn probe() {
    assert_eq!(Amqp::probe(C, PROTO_HEADER), Probe::Match);
    assert_eq!(Amqp::probe(C, b"AM"), Probe::Unsure);
    assert_eq!(Amqp::probe(C, &queue_declare(1, "q", 0)), Probe::Match);
    assert_eq!(Amqp::probe(C, b"GET / HTTP/1.1\r\n"), Probe::NotMine);
}

#[test]
fn config_names() {
    let c: Config = serde_yaml_ng::from_str(
        "max_body_length: 10\nparse_headers: false\nparse_arguments: false\nhide_connection_information: false\n",
    )
    .unwrap();
    assert_eq!(c.max_body_length, 10);
    assert!(serde_yaml_ng::from_str::<Config>("nope: 1").is_err());
}

#[test]
fn no_panic_on_garbage() {
    let mut rng = SmallRng::seed_from_u64(7);
    let valid = cat(&[
        PROTO_HEADER,
        &queue_declare(1, "q", 0),
        &publish(1, "e", "k"),
        &header(1, 4, "text/plain"),
        &body(1, b"abcd"),
        &close(20, 1, 404, "x", 50, 10),
    ]);
    let common = CommonConfig::default();
    for round in 0..300 {
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
