//! Protocol cases: commands, replies of every RESP type, pipelining, pub/sub, gaps, expiry.

use super::*;
use crate::proto::Status;

#[test]
fn set_get_basic() {
    let set = cmd(&["SET", "k", "hello"]);
    let get = cmd(&["get", "k"]);
    let t = run(&[
        d(C, 0, &set),
        d(S, 1, b"+OK\r\n"),
        d(C, 2, &get),
        d(S, 3, b"$5\r\nhello\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("SET"));
    assert_eq!(t[0].resource.as_deref(), Some("k"));
    assert_eq!(t[0].query.as_deref(), Some("SET k hello"));
    assert_eq!(t[0].request_bytes, Some(set.len() as u64));
    assert_eq!(t[0].response_bytes, Some(5));
    assert_eq!(f(&t[0], "return_value"), "OK");
    assert_eq!(t[0].request_ts, Some(ts(0)));
    assert_eq!(t[0].response_ts, Some(ts(1)));
    assert_eq!(t[1].method.as_deref(), Some("GET"));
    assert_eq!(f(&t[1], "return_value"), "hello");
    assert_eq!(t[1].response_bytes, Some(11));
    assert_eq!(t[1].status, Status::Ok);
}

#[test]
fn error_reply_sets_status_and_note() {
    let t = run(&[
        d(C, 0, &cmd(&["INCR", "name"])),
        d(S, 1, b"-ERR value is not an integer\r\n"),
    ]);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(f(&t[0], "error"), "ERR value is not an integer");
    assert_eq!(t[0].notes, vec!["ERR value is not an integer".to_owned()]);
    assert!(f(&t[0], "return_value").is_null());
}

#[test]
fn pipelining_fifo() {
    let mut reqs = Vec::new();
    for i in 0..5 {
        reqs.extend(cmd(&["SET", &format!("p:{i}"), "v"]));
    }
    reqs.extend(cmd(&["MGET", "p:0", "nope"]));
    let t = run(&[
        d(C, 0, &reqs),
        d(
            S,
            1,
            b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n*2\r\n$1\r\nv\r\n$-1\r\n",
        ),
    ]);
    assert_eq!(t.len(), 6);
    for (i, x) in t.iter().take(5).enumerate() {
        assert_eq!(x.resource.as_deref(), Some(format!("p:{i}").as_str()));
        assert_eq!(x.response_bytes, Some(5));
    }
    assert_eq!(f(&t[5], "return_value"), "[v, nil]");
    assert_eq!(t[5].response_bytes, Some(16));
}

#[test]
fn resp2_aggregates_render() {
    let t = run(&[
        d(C, 0, &cmd(&["X"])),
        d(S, 1, b"*3\r\n:1\r\n*2\r\n+a\r\n$0\r\n\r\n*0\r\n"),
        d(C, 2, &cmd(&["BLPOP", "q", "1"])),
        d(S, 3, b"*-1\r\n"),
    ]);
    assert_eq!(f(&t[0], "return_value"), "[1, [a, ], []]");
    assert_eq!(f(&t[1], "return_value"), "nil");
    assert_eq!(t[1].response_bytes, Some(5));
    assert!(t[0].resource.is_none());
}

#[test]
fn resp3_types() {
    let replies: &[(&[u8], &str)] = &[
        (b"%2\r\n+a\r\n:1\r\n+b\r\n#t\r\n", "{a: 1, b: true}"),
        (
            b"~2\r\n,3.14\r\n(12345678901234567890\r\n",
            "[3.14, 12345678901234567890]",
        ),
        (b"_\r\n", "nil"),
        (b"=15\r\ntxt:Some string\r\n", "Some string"),
        (b"|1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n", "hi"),
        (b"$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n", "abc"),
        (b"*?\r\n:1\r\n:2\r\n.\r\n", "[1, 2]"),
        (b"*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n", "[1, 2]"),
    ];
    let mut script = Vec::new();
    for (i, (r, _)) in replies.iter().enumerate() {
        script.push(d(C, 10 * i as u64, &cmd(&["CMD", &i.to_string()])));
        script.push(d(S, 10 * i as u64 + 1, r));
    }
    let t = run(&script);
    assert_eq!(t.len(), replies.len());
    for (x, (r, want)) in t.iter().zip(replies) {
        assert_eq!(
            f(x, "return_value"),
            *want,
            "{}",
            String::from_utf8_lossy(r)
        );
        assert_eq!(x.response_bytes, Some(r.len() as u64));
    }
}

#[test]
fn blob_error_is_error() {
    let t = run(&[d(C, 0, &cmd(&["X"])), d(S, 1, b"!9\r\nERR nope!\r\n")]);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(f(&t[0], "error"), "ERR nope!");
}

#[test]
fn multi_exec_queued() {
    let t = run(&[
        d(C, 0, &cmd(&["MULTI"])),
        d(S, 1, b"+OK\r\n"),
        d(C, 2, &cmd(&["SET", "a", "1"])),
        d(S, 3, b"+QUEUED\r\n"),
        d(C, 4, &cmd(&["INCR", "a"])),
        d(S, 5, b"+QUEUED\r\n"),
        d(C, 6, &cmd(&["EXEC"])),
        d(S, 7, b"*2\r\n+OK\r\n:2\r\n"),
    ]);
    let methods: Vec<_> = t.iter().map(|x| x.method.clone().unwrap()).collect();
    assert_eq!(methods, ["MULTI", "SET", "INCR", "EXEC"]);
    assert_eq!(f(&t[1], "return_value"), "QUEUED");
    assert_eq!(f(&t[3], "return_value"), "[OK, 2]");
}

#[test]
fn inline_commands() {
    let t = run(&[
        d(C, 0, b"PING\r\n"),
        d(S, 1, b"+PONG\r\n"),
        d(C, 2, b"\r\nset k \"a b\"\n"),
        d(S, 3, b"+OK\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("PING"));
    assert_eq!(t[0].request_bytes, Some(6));
    assert_eq!(t[1].method.as_deref(), Some("SET"));
    assert_eq!(t[1].resource.as_deref(), Some("k"));
    assert_eq!(t[1].request_bytes, Some(12));
}

fn sub_reply(kind: &str, ch: &str, n: i64, push: bool) -> Vec<u8> {
    format!(
        "{}3\r\n${}\r\n{}\r\n${}\r\n{}\r\n:{}\r\n",
        if push { '>' } else { '*' },
        kind.len(),
        kind,
        ch.len(),
        ch,
        n
    )
    .into_bytes()
}

fn message(ch: &str, body: &str, push: bool) -> Vec<u8> {
    format!(
        "{}3\r\n$7\r\nmessage\r\n${}\r\n{}\r\n${}\r\n{}\r\n",
        if push { '>' } else { '*' },
        ch.len(),
        ch,
        body.len(),
        body
    )
    .into_bytes()
}

fn pubsub(push: bool) {
    let mut both = sub_reply("subscribe", "news", 1, push);
    both.extend(sub_reply("subscribe", "alerts", 2, push));
    let mut unsub = sub_reply("unsubscribe", "news", 1, push);
    unsub.extend(sub_reply("unsubscribe", "alerts", 0, push));
    let t = run(&[
        d(C, 0, &cmd(&["SUBSCRIBE", "news", "alerts"])),
        d(S, 1, &both),
        d(S, 5, &message("news", "hello", push)),
        d(S, 6, &message("alerts", "x", push)),
        d(C, 7, &cmd(&["PING"])),
        d(S, 8, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
        d(C, 10, &cmd(&["UNSUBSCRIBE"])),
        d(S, 11, &unsub),
        d(C, 12, &cmd(&["GET", "message"])),
        d(S, 13, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ]);
    let methods: Vec<_> = t.iter().map(|x| x.method.clone().unwrap()).collect();
    assert_eq!(methods, ["SUBSCRIBE", "PING", "UNSUBSCRIBE", "GET"]);
    assert_eq!(t[0].response_bytes, Some(both.len() as u64));
    assert_eq!(t[0].response_ts, Some(ts(1)));
    assert_eq!(
        f(&t[0], "return_value"),
        "[[subscribe, news, 1], [subscribe, alerts, 2]]"
    );
    assert_eq!(f(&t[1], "return_value"), "[pong, ]");
    assert_eq!(t[2].response_bytes, Some(unsub.len() as u64));
    // Not subscribed any more: an array starting with "message" is an ordinary reply.
    assert_eq!(f(&t[3], "return_value"), "[message, a, b]");
}

#[test]
fn pubsub_resp2() {
    pubsub(false);
}

#[test]
fn pubsub_resp3_push() {
    pubsub(true);
}

#[test]
fn unsubscribe_when_not_subscribed() {
    let t = run(&[
        d(C, 0, &cmd(&["UNSUBSCRIBE"])),
        d(S, 1, b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"),
        d(C, 2, &cmd(&["PING"])),
        d(S, 3, b"+PONG\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some(31));
    assert_eq!(f(&t[1], "return_value"), "PONG");
}

#[test]
fn resp3_invalidate_push_is_not_a_reply() {
    let t = run(&[
        d(C, 0, &cmd(&["GET", "k"])),
        d(S, 1, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"),
        d(S, 2, b"$1\r\nv\r\n"),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(f(&t[0], "return_value"), "v");
    assert_eq!(t[0].response_ts, Some(ts(2)));
}

#[test]
fn large_bulk_value_incremental() {
    let big = "x".repeat(200_000);
    let set = cmd(&["SET", "blob", &big]);
    let reply = format!("$200000\r\n{big}\r\n");
    let t = run(&[
        d(C, 0, &set),
        d(S, 1, b"+OK\r\n"),
        d(C, 2, &cmd(&["GET", "blob"])),
        d(S, 3, reply.as_bytes()),
    ]);
    assert_eq!(t[0].request_bytes, Some(set.len() as u64));
    assert_eq!(t[1].response_bytes, Some(reply.len() as u64));
    let rv = f(&t[1], "return_value").as_str().unwrap();
    assert!(rv.len() <= state::MAX_TEXT + 3 && rv.ends_with("..."));
}

#[test]
fn gap_inside_bulk_is_absorbed() {
    let t = run(&[
        d(C, 0, &cmd(&["GET", "blob"])),
        d(S, 1, b"$1000\r\n"),
        d(S, 1, &[b'a'; 100]),
        Ev::Gap(S, 800),
        d(S, 2, &[b'a'; 100]),
        d(S, 2, b"\r\n"),
        d(C, 3, &cmd(&["PING"])),
        d(S, 4, b"+PONG\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].response_bytes, Some(1009));
    assert!(t[0].notes.iter().any(|n| n.contains("Packet loss")));
    assert_eq!(f(&t[1], "return_value"), "PONG");
}

#[test]
fn gap_in_reply_publishes_request_and_resyncs() {
    let t = run(&[
        d(C, 0, &cmd(&["GET", "a"])),
        d(C, 0, &cmd(&["GET", "b"])),
        Ev::Gap(S, 7),
        d(S, 2, b"$1\r\nb\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].resource.as_deref(), Some("a"));
    assert!(t[0].response_bytes.is_none());
    assert_eq!(t[0].notes, vec![ecs::NOTE_RESPONSE_LOST.to_owned()]);
    assert_eq!(f(&t[1], "return_value"), "b");
}

#[test]
fn gap_in_request_drops_its_reply() {
    let t = run(&[
        Ev::Gap(C, 20),
        d(C, 1, &cmd(&["GET", "b"])),
        d(S, 2, b"$1\r\na\r\n$1\r\nb\r\n"),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(f(&t[0], "return_value"), "b");
}

#[test]
fn expiry_and_late_reply() {
    let t = run(&[
        d(C, 0, &cmd(&["BLPOP", "q", "0"])),
        Ev::Timer(11_000),
        d(C, 11_500, &cmd(&["PING"])),
        d(S, 12_000, b"*2\r\n$1\r\nq\r\n$1\r\nv\r\n+PONG\r\n"),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("BLPOP"));
    assert!(t[0].response_bytes.is_none());
    assert_eq!(t[0].notes, vec![ecs::NOTE_UNMATCHED_REQUEST.to_owned()]);
    assert_eq!(f(&t[1], "return_value"), "PONG");
}

#[test]
fn queue_limits() {
    let cfg = Config {
        queue_max_messages: 2,
        queue_max_bytes: 1 << 20,
    };
    let mut reqs = Vec::new();
    for k in ["a", "b", "c"] {
        reqs.extend(cmd(&["GET", k]));
    }
    let t = run_with(&cfg, &[d(C, 0, &reqs)]);
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].notes, vec![ecs::NOTE_QUEUE_FULL.to_owned()]);
    let cfg = Config {
        queue_max_messages: 100,
        queue_max_bytes: 30,
    };
    let t = run_with(&cfg, &[d(C, 0, &reqs)]);
    assert_eq!(
        t.iter()
            .filter(|x| x.notes == [ecs::NOTE_QUEUE_FULL])
            .count(),
        2
    );
}

#[test]
fn unmatched_at_close_and_orphan_reply() {
    let t = run(&[d(S, 0, b"+OK\r\n"), d(C, 1, &cmd(&["GET", "x"]))]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(t[0].notes, vec![ecs::NOTE_UNMATCHED_REQUEST.to_owned()]);
}

#[test]
fn send_request_response_raw() {
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        ..CommonConfig::default()
    };
    let (t, _) = run_split(
        &Config::default(),
        &common,
        &[d(C, 0, &cmd(&["GET", "k"])), d(S, 1, b"$1\r\nv\r\n")],
        Split::Whole,
    );
    assert_eq!(t[0].request_raw.as_deref(), Some("GET k"));
    assert_eq!(t[0].response_raw.as_deref(), Some("v"));
}

#[test]
fn config_names() {
    let c: Config = serde_yaml_ng::from_str("queue_max_bytes: 10\nqueue_max_messages: 3").unwrap();
    assert_eq!((c.queue_max_bytes, c.queue_max_messages), (10, 3));
    assert!(serde_yaml_ng::from_str::<Config>("bogus: 1").is_err());
}
