//! Resynchronisation, oversized messages, checksums, timers and random input.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::wire::*;
use super::*;

#[test]
fn timer_expires_requests() {
    let (ev, _) = run(&[
        d(C, 0, find_cmd(1)),
        Ev::Timer(5_000),
        Ev::Timer(10_500),
        d(C, 10_600, find_cmd(2)),
    ]);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].request_ts, Some(ts(0)));
    assert!(ev[0].notes.iter().any(|n| n == ecs::NOTE_UNMATCHED_REQUEST));
}

#[test]
fn checksum_verified() {
    let body = doc(&[("ping", B::I32(1)), ("$db", B::Str("admin"))]);
    let good = op_msg_checksum(1, &body, true);
    let bad = op_msg_checksum(2, &body, false);
    let (ev, st) = run(&[d(C, 0, good), d(C, 1, bad)]);
    assert_eq!(ev.len(), 2);
    assert!(ev[0].notes.iter().all(|n| !n.contains("checksum")));
    assert!(ev[1].notes.iter().any(|n| n.contains("checksum")));
    assert_eq!(st.anomalies, 1);
    assert!(ev.iter().all(|t| t.method.as_deref() == Some("ping")));
}

#[test]
fn gap_and_garbage_resync() {
    let mut garbage = vec![0xEEu8; 40];
    garbage.extend_from_slice(&find_cmd(1));
    let (ev, st) = run(&[
        d(C, 0, garbage),
        d(S, 1, cursor_reply(50, 1, 1, "firstBatch", 0)),
        d(C, 2, find_cmd(2)[..30].to_vec()),
        Ev::Gap(C, 100),
        d(C, 3, find_cmd(3)),
        d(S, 4, cursor_reply(51, 3, 1, "firstBatch", 0)),
    ]);
    assert_eq!(ev.len(), 2);
    assert!(ev
        .iter()
        .all(|t| t.status == Status::Ok && t.response_bytes.is_some()));
    assert_eq!(st.anomalies, 1);
}

#[test]
fn oversized_message_parsed_from_prefix() {
    let big: Vec<Vec<u8>> = (0..30)
        .map(|i| doc(&[("_id", B::I32(i)), ("pad", B::S("p".repeat(50_000)))]))
        .collect();
    let req = msg(
        1,
        0,
        2013,
        &op_msg_body(
            0,
            &doc(&[("insert", B::Str("blobs")), ("$db", B::Str("shop"))]),
            &[("documents", big)],
        ),
    );
    assert!(req.len() > state::MAX_WHOLE);
    let reply = op_msg(2, 1, 0, &doc(&[("n", B::I32(30)), ("ok", B::F64(1.0))]));
    let (ev, st) = run(&[d(C, 0, req.clone()), d(S, 1, reply), d(C, 2, find_cmd(5))]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].method.as_deref(), Some("insert"));
    assert_eq!(ev[0].resource.as_deref(), Some("shop.blobs"));
    assert_eq!(ev[0].request_bytes, Some(req.len() as u64));
    assert_eq!(ev[1].method.as_deref(), Some("find"));
}

#[test]
fn robustness_random_truncated_and_flipped() {
    let mut rng = SmallRng::seed_from_u64(42);
    let samples: Vec<Vec<u8>> = vec![
        find_cmd(1),
        cursor_reply(2, 1, 3, "firstBatch", 0),
        op_query(
            3,
            "admin.$cmd",
            0,
            -1,
            &doc(&[("isMaster", B::I32(1))]),
            None,
        ),
        op_reply(4, 3, 0, 0, &[doc(&[("ok", B::F64(1.0))])]),
        op_compressed(&find_cmd(5), 1),
        op_compressed(&find_cmd(6), 2),
        op_legacy(7, 2001, "a.b", &[doc(&[]), doc(&[])]),
        op_kill_cursors(8, &[1, 2]),
        op_msg_checksum(9, &doc(&[("ping", B::I32(1))]), true),
    ];
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        ..CommonConfig::default()
    };
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
            script.push(d(if i % 2 == 0 { C } else { S }, i as u64, b));
        }
        let _ = run_split(&Config::default(), &common, &script, Split::Random(round));
    }
}
