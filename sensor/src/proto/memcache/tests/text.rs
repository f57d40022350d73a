//! Text protocol over TCP.

use super::*;
use crate::proto::Status;

#[test]
fn storage_and_retrieval() {
    let t = run(&[
        d(C, 0, b"set user:1 5 300 5\r\nhello\r\n"),
        d(S, 1, b"STORED\r\n"),
        d(C, 2, b"get user:1 user:2\r\n"),
        d(S, 3, b"VALUE user:1 5 5\r\nhello\r\nEND\r\n"),
        d(C, 4, b"gets user:1\r\n"),
        d(S, 5, b"VALUE user:1 5 5 42\r\nhello\r\nEND\r\n"),
        d(C, 6, b"cas user:1 0 0 2 42\r\nhi\r\n"),
        d(S, 7, b"EXISTS\r\n"),
        d(C, 8, b"gat 60 user:1\r\n"),
        d(S, 9, b"END\r\n"),
    ]);
    assert_eq!(t.len(), 5);
    assert_eq!(f(&t[0], "request.command"), "set");
    assert_eq!(f(&t[0], "request.keys"), &serde_json::json!(["user:1"]));
    assert_eq!(f(&t[0], "request.flags"), 5);
    assert_eq!(f(&t[0], "request.exptime"), 300);
    assert_eq!(f(&t[0], "request.bytes"), 5);
    assert_eq!(f(&t[0], "response.command"), "STORED");
    assert_eq!(f(&t[0], "protocol_type"), "text");
    assert_eq!(t[0].request_bytes, Some(27));
    assert_eq!(t[0].response_bytes, Some(8));
    assert_eq!(
        f(&t[1], "request.keys"),
        &serde_json::json!(["user:1", "user:2"])
    );
    assert_eq!(f(&t[1], "response.count_values"), 1);
    assert_eq!(f(&t[1], "response.bytes"), 5);
    assert_eq!(t[1].response_bytes, Some(30));
    assert_eq!(f(&t[2], "response.cas_unique"), 42);
    assert_eq!(f(&t[3], "request.cas_unique"), 42);
    assert_eq!(t[3].status, Status::Ok);
    assert_eq!(f(&t[4], "request.command"), "gat");
    assert_eq!(f(&t[4], "request.exptime"), 60);
    assert_eq!(f(&t[4], "request.keys"), &serde_json::json!(["user:1"]));
    assert!(t.iter().all(|x| x.status == Status::Ok));
}

#[test]
fn counters_touch_delete_misc() {
    let t = run(&[
        d(C, 0, b"incr n 5\r\n"),
        d(S, 1, b"15\r\n"),
        d(C, 2, b"decr n 3\r\n"),
        d(S, 3, b"NOT_FOUND\r\n"),
        d(C, 4, b"touch n 60\r\n"),
        d(S, 5, b"TOUCHED\r\n"),
        d(C, 6, b"delete n\r\n"),
        d(S, 7, b"DELETED\r\n"),
        d(C, 8, b"version\r\n"),
        d(S, 9, b"VERSION 1.6.21\r\n"),
        d(C, 10, b"verbosity 1\r\n"),
        d(S, 11, b"OK\r\n"),
        d(C, 12, b"flush_all 10\r\n"),
        d(S, 13, b"OK\r\n"),
    ]);
    assert_eq!(t.len(), 7);
    assert_eq!(f(&t[0], "request.delta"), 5);
    assert_eq!(f(&t[0], "response.value"), 15);
    assert_eq!(t[1].status, Status::Ok);
    assert_eq!(f(&t[4], "response.version"), "1.6.21");
    assert_eq!(f(&t[5], "request.verbosity"), 1);
    assert_eq!(f(&t[6], "request.command"), "flush_all");
}

#[test]
fn stats_until_end() {
    let reply = b"STAT pid 1\r\nSTAT uptime 20\r\nSTAT version 1.6.21\r\nEND\r\n";
    let t = run(&[d(C, 0, b"stats\r\n"), d(S, 1, reply)]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(reply.len() as u64));
    assert_eq!(f(&t[0], "response.stats").as_array().unwrap().len(), 3);
    assert_eq!(f(&t[0], "response.stats")[2]["value"], "1.6.21");
}

#[test]
fn errors_set_status() {
    let t = run(&[
        d(C, 0, b"bogus_command\r\n"),
        d(S, 1, b"ERROR\r\n"),
        d(C, 2, b"incr name 1\r\n"),
        d(
            S,
            3,
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        ),
        d(C, 4, b"set big 0 0 1\r\nx\r\n"),
        d(S, 5, b"SERVER_ERROR out of memory storing object\r\n"),
    ]);
    assert_eq!(f(&t[0], "request.command"), "bogus_command");
    assert_eq!(f(&t[0], "request.type"), "UNKNOWN");
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[1].status, Status::ClientError);
    assert_eq!(
        t[1].notes,
        vec!["cannot increment or decrement non-numeric value".to_owned()]
    );
    assert_eq!(t[2].status, Status::ServerError);
}

#[test]
fn noreply_and_quit_need_no_reply() {
    let t = run(&[
        d(C, 0, b"set q 0 0 1 noreply\r\nx\r\n"),
        d(C, 1, b"delete q noreply\r\n"),
        d(C, 2, b"get q\r\n"),
        d(S, 3, b"END\r\n"),
        d(C, 4, b"quit\r\n"),
    ]);
    assert_eq!(t.len(), 4);
    assert_eq!(f(&t[0], "request.noreply"), true);
    assert!(t[0].response_bytes.is_none());
    assert_eq!(t[0].status, Status::Ok);
    assert!(t[0].notes.is_empty());
    assert_eq!(f(&t[2], "response.command"), "END");
    assert_eq!(f(&t[3], "request.command"), "quit");
    assert_eq!(t[3].request_bytes, Some(6));
    assert!(t[3].response_bytes.is_none());
}

#[test]
fn pipelined_requests() {
    let t = run(&[
        d(C, 0, b"get a\r\nget b\r\nset c 0 0 1\r\nz\r\n"),
        d(S, 1, b"VALUE a 0 1\r\n1\r\nEND\r\nEND\r\nSTORED\r\n"),
    ]);
    assert_eq!(t.len(), 3);
    assert_eq!(f(&t[0], "response.count_values"), 1);
    assert_eq!(f(&t[1], "response.command"), "END");
    assert_eq!(f(&t[2], "response.command"), "STORED");
}

#[test]
fn meta_commands() {
    let t = run(&[
        d(C, 0, b"ms k 2 T0\r\nhi\r\n"),
        d(S, 1, b"HD\r\n"),
        d(C, 2, b"mg k v\r\n"),
        d(S, 3, b"VA 2\r\nhi\r\n"),
        d(C, 4, b"mg miss v q\r\nmg k v q\r\nmn\r\n"),
        d(S, 5, b"VA 2\r\nhi\r\nMN\r\n"),
    ]);
    let cmds: Vec<_> = t.iter().map(|x| f(x, "request.command").clone()).collect();
    assert_eq!(cmds, ["ms", "mg", "mg", "mg", "mn"]);
    assert_eq!(t[0].request_bytes, Some(15));
    assert_eq!(t[1].response_bytes, Some(10));
    // The quiet miss got no reply; the hit did; mn closed the batch.
    assert!(t[2].response_bytes.is_some());
    assert_eq!(f(&t[2], "request.keys"), &serde_json::json!(["miss"]));
    assert!(t.iter().all(|x| x.status == Status::Ok));
}

#[test]
fn values_published_per_options() {
    let cfg = Config {
        maxvalues: -1,
        maxbytespervalue: 3,
        ..Config::default()
    };
    let t = run_with(
        &cfg,
        &[
            d(C, 0, b"get a b\r\n"),
            d(
                S,
                1,
                b"VALUE a 0 5\r\nhello\r\nVALUE b 0 2\r\nhi\r\nEND\r\n",
            ),
        ],
    );
    assert_eq!(
        f(&t[0], "response.values"),
        &serde_json::json!(["aGVs", "aGk="])
    );
    let t = run(&[
        d(C, 0, b"get a\r\n"),
        d(S, 1, b"VALUE a 0 5\r\nhello\r\nEND\r\n"),
    ]);
    assert!(f(&t[0], "response.values").is_null());
}

#[test]
fn large_value_and_gap_inside_it() {
    let big = vec![b'v'; 100_000];
    let mut req = b"set big 0 0 100000\r\n".to_vec();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\n");
    let t = run(&[d(C, 0, &req), d(S, 1, b"STORED\r\n")]);
    assert_eq!(t[0].request_bytes, Some(req.len() as u64));
    let t = run(&[
        d(C, 0, b"get big\r\n"),
        d(S, 1, b"VALUE big 0 1000\r\n"),
        d(S, 1, &[b'v'; 10]),
        Ev::Gap(S, 980),
        d(S, 2, b"vvvvvvvvvv\r\nEND\r\n"),
        d(C, 3, b"get x\r\n"),
        d(S, 4, b"END\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some(18 + 1000 + 2 + 5));
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_RESPONSE_LOSS));
    assert_eq!(f(&t[1], "response.command"), "END");
}

#[test]
fn gap_losing_a_reply() {
    let t = run(&[
        d(C, 0, b"get a\r\nget b\r\n"),
        Ev::Gap(S, 30),
        d(S, 2, b"END\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert!(t[0].response_bytes.is_none());
    assert_eq!(t[1].response_bytes, Some(5));
}

#[test]
fn expiry_and_close() {
    let t = run(&[
        d(C, 0, b"get a\r\n"),
        Ev::Timer(11_000),
        d(S, 12_000, b"END\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert!(t[0].response_bytes.is_none());
    assert_eq!(t[0].notes, vec![ecs::NOTE_UNFINISHED.to_owned()]);
    assert_eq!(t[1].notes, vec![ecs::NOTE_NO_REQUEST.to_owned()]);
    assert!(t[1].request_bytes.is_none());
}

#[test]
fn config_names() {
    let c: Config = serde_yaml_ng::from_str(
        "parseunknown: true\nmaxvalues: -1\nmaxbytespervalue: 10\nudptransactiontimeout: 200ms",
    )
    .unwrap();
    assert!(c.parseunknown);
    assert_eq!(c.udptransactiontimeout, Duration::from_millis(200));
    assert!(serde_yaml_ng::from_str::<Config>("nope: 1").is_err());
}
