//! Binary protocol over TCP.

use super::*;
use crate::proto::Status;

const RQ: u8 = 0x80;
const RS: u8 = 0x81;

#[test]
fn set_get_incr() {
    let mut set_extras = 7u32.to_be_bytes().to_vec();
    set_extras.extend_from_slice(&0u32.to_be_bytes());
    let set = bin(RQ, 0x01, 0, 1, &set_extras, b"k", b"value");
    let mut incr_extras = 5u64.to_be_bytes().to_vec();
    incr_extras.extend_from_slice(&0u64.to_be_bytes());
    incr_extras.extend_from_slice(&0u32.to_be_bytes());
    let t = run(&[
        d(C, 0, &set),
        d(S, 1, &bin(RS, 0x01, 0, 1, &[], b"", b"")),
        d(C, 2, &bin(RQ, 0x00, 0, 2, &[], b"k", b"")),
        d(
            S,
            3,
            &bin(RS, 0x00, 0, 2, &7u32.to_be_bytes(), b"", b"value"),
        ),
        d(C, 4, &bin(RQ, 0x05, 0, 3, &incr_extras, b"n", b"")),
        d(S, 5, &bin(RS, 0x05, 0, 3, &[], b"", &12u64.to_be_bytes())),
        d(C, 6, &bin(RQ, 0x00, 0, 4, &[], b"gone", b"")),
        d(S, 7, &bin(RS, 0x00, 1, 4, &[], b"", b"Not found")),
    ]);
    assert_eq!(t.len(), 4);
    assert_eq!(f(&t[0], "protocol_type"), "binary");
    assert_eq!(f(&t[0], "request.command"), "set");
    assert_eq!(f(&t[0], "request.opcode"), "Set");
    assert_eq!(f(&t[0], "request.flags"), 7);
    assert_eq!(f(&t[0], "request.bytes"), 5);
    assert_eq!(t[0].request_bytes, Some(set.len() as u64));
    assert_eq!(f(&t[1], "response.flags"), 7);
    assert_eq!(f(&t[1], "response.count_values"), 1);
    assert_eq!(f(&t[2], "request.command"), "increment");
    assert_eq!(f(&t[2], "request.delta"), 5);
    assert_eq!(f(&t[2], "response.value"), 12);
    assert_eq!(f(&t[3], "response.status"), "Key not found");
    assert_eq!(f(&t[3], "response.error_msg"), "Not found");
    assert!(t.iter().all(|x| x.status == Status::Ok));
}

#[test]
fn error_status() {
    let t = run(&[
        d(C, 0, &bin(RQ, 0x05, 0, 0, &[0; 20], b"s", b"")),
        d(
            S,
            1,
            &bin(
                RS,
                0x05,
                6,
                0,
                &[],
                b"",
                b"Non-numeric server-side value for incr or decr",
            ),
        ),
        d(C, 2, &bin(RQ, 0x42, 0, 0, &[], b"", b"")),
        d(S, 3, &bin(RS, 0x42, 0x81, 0, &[], b"", b"Unknown command")),
    ]);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[1].status, Status::ServerError);
    assert_eq!(f(&t[1], "request.command"), "tap delete");
}

#[test]
fn quiet_gets_and_noop() {
    let mut reqs = bin(RQ, 0x0d, 0, 1, &[], b"a", b"");
    reqs.extend(bin(RQ, 0x0d, 0, 2, &[], b"b", b""));
    reqs.extend(bin(RQ, 0x11, 0, 3, &[0; 8], b"c", b"x"));
    reqs.extend(bin(RQ, 0x0a, 0, 4, &[], b"", b""));
    let mut resps = bin(RS, 0x0d, 0, 2, &[0; 4], b"b", b"vb");
    resps.extend(bin(RS, 0x0a, 0, 4, &[], b"", b""));
    let t = run(&[d(C, 0, &reqs), d(S, 1, &resps)]);
    assert_eq!(t.len(), 4);
    let cmds: Vec<_> = t.iter().map(|x| f(x, "request.command").clone()).collect();
    assert_eq!(cmds, ["getkq", "getkq", "setq", "no-op"]);
    assert!(t[0].response_bytes.is_none());
    assert_eq!(f(&t[0], "request.quiet"), true);
    assert_eq!(t[0].status, Status::Ok);
    assert!(t[0].notes.is_empty());
    assert_eq!(f(&t[1], "response.keys"), &serde_json::json!(["b"]));
    assert!(t[2].response_bytes.is_none());
    assert_eq!(t[3].response_bytes, Some(24));
}

#[test]
fn stat_replies_merge() {
    let mut resps = bin(RS, 0x10, 0, 9, &[], b"pid", b"1");
    resps.extend(bin(RS, 0x10, 0, 9, &[], b"uptime", b"20"));
    resps.extend(bin(RS, 0x10, 0, 9, &[], b"", b""));
    let t = run(&[
        d(C, 0, &bin(RQ, 0x10, 0, 9, &[], b"", b"")),
        d(S, 1, &resps),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(resps.len() as u64));
    assert_eq!(
        f(&t[0], "response.stats"),
        &serde_json::json!([{"name": "pid", "value": "1"}, {"name": "uptime", "value": "20"}])
    );
}

#[test]
fn quitq_and_version() {
    let t = run(&[
        d(C, 0, &bin(RQ, 0x0b, 0, 0, &[], b"", b"")),
        d(S, 1, &bin(RS, 0x0b, 0, 0, &[], b"", b"1.6.21")),
        d(C, 2, &bin(RQ, 0x17, 0, 0, &[], b"", b"")),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(f(&t[0], "response.version"), "1.6.21");
    assert_eq!(f(&t[1], "request.command"), "quitq");
    assert_eq!(t[1].status, Status::Ok);
}

#[test]
fn large_binary_value_and_gap() {
    let big = vec![7u8; 50_000];
    let t = run(&[
        d(C, 0, &bin(RQ, 0x00, 0, 1, &[], b"k", b"")),
        d(S, 1, &bin(RS, 0x00, 0, 1, &[0; 4], b"", &big)),
    ]);
    assert_eq!(t[0].response_bytes, Some(24 + 4 + 50_000));
    let resp = bin(RS, 0x00, 0, 1, &[0; 4], b"", &big);
    let t = run(&[
        d(C, 0, &bin(RQ, 0x00, 0, 1, &[], b"k", b"")),
        d(S, 1, &resp[..1000]),
        Ev::Gap(S, resp.len() - 1000),
        d(C, 2, &bin(RQ, 0x0a, 0, 2, &[], b"", b"")),
        d(S, 3, &bin(RS, 0x0a, 0, 2, &[], b"", b"")),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some(resp.len() as u64));
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_RESPONSE_LOSS));
    assert_eq!(f(&t[1], "request.command"), "no-op");
}
