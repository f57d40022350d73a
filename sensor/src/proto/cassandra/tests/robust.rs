//! Compression, resynchronisation, oversized frames, timers, v1/v2 headers and random input.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::wire::*;
use super::*;

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
    let (ev, st) = run_with(
        &cfg,
        &CommonConfig::defaults_for(crate::proto::ProtoId::Cassandra),
        &script(false),
    );
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
            &CommonConfig::defaults_for(crate::proto::ProtoId::Cassandra),
            &script,
            Split::Random(round),
        );
    }
}
