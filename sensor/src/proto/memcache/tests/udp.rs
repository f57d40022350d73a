//! UDP: frame header, multi-datagram replies, request-id correlation, timeout.

use super::*;

fn udp_meta() -> ConnMeta {
    ConnMeta {
        l4: L4::Udp,
        ..meta()
    }
}

fn dgram(id: u16, seq: u16, total: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [id, seq, total, 0] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn run_udp(cfg: &Config, script: &[Ev]) -> (Vec<Txn>, ProtoStats) {
    let meta = udp_meta();
    let common = CommonConfig::default();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut h = Memcache::new(cfg);
    let mut now = ts(0);
    for ev in script {
        match ev {
            Ev::Data(dir, ms, b) => {
                now = ts(*ms);
                let mut cx = Cx {
                    ts: now,
                    meta: &meta,
                    common: &common,
                    stats: &mut stats,
                    out: &mut out,
                };
                assert_eq!(h.parse(&mut cx, *dir, b), Progress::Consumed);
            }
            Ev::Timer(ms) => {
                now = ts(*ms);
                let mut cx = Cx {
                    ts: now,
                    meta: &meta,
                    common: &common,
                    stats: &mut stats,
                    out: &mut out,
                };
                h.on_timer(&mut cx);
            }
            Ev::Gap(..) => {}
        }
    }
    let mut cx = Cx {
        ts: now,
        meta: &meta,
        common: &common,
        stats: &mut stats,
        out: &mut out,
    };
    h.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

#[test]
fn single_and_multi_datagram() {
    let value = vec![b'z'; 3000];
    let mut reply = b"VALUE big 0 3000\r\n".to_vec();
    reply.extend_from_slice(&value);
    reply.extend_from_slice(b"\r\nEND\r\n");
    let (a, rest) = reply.split_at(1400);
    let (b, c) = rest.split_at(1400);
    let (t, _) = run_udp(
        &Config::default(),
        &[
            d(C, 0, &dgram(1, 0, 1, b"set k 0 0 1\r\nx\r\n")),
            d(S, 1, &dgram(1, 0, 1, b"STORED\r\n")),
            d(C, 2, &dgram(2, 0, 1, b"get big\r\n")),
            d(S, 3, &dgram(2, 1, 3, b)),
            d(S, 4, &dgram(2, 0, 3, a)),
            d(S, 5, &dgram(2, 2, 3, c)),
        ],
    );
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].request_bytes, Some(8 + 16));
    assert_eq!(t[0].response_bytes, Some(16));
    assert_eq!(f(&t[1], "response.bytes"), 3000);
    assert_eq!(t[1].response_bytes, Some(reply.len() as u64 + 24));
    assert_eq!(t[1].response_ts, Some(ts(3)));
    assert_eq!(t[1].l4, L4::Udp);
}

#[test]
fn out_of_order_ids_and_noreply() {
    let (t, _) = run_udp(
        &Config::default(),
        &[
            d(C, 0, &dgram(10, 0, 1, b"get a\r\n")),
            d(C, 1, &dgram(11, 0, 1, b"get b\r\n")),
            d(C, 2, &dgram(12, 0, 1, b"delete c noreply\r\n")),
            d(S, 3, &dgram(11, 0, 1, b"END\r\n")),
            d(S, 4, &dgram(10, 0, 1, b"END\r\n")),
        ],
    );
    assert_eq!(t.len(), 3);
    assert_eq!(f(&t[0], "request.command"), "delete");
    assert!(t[0].response_bytes.is_none());
    assert_eq!(f(&t[1], "request.keys"), &serde_json::json!(["b"]));
    assert_eq!(f(&t[2], "request.keys"), &serde_json::json!(["a"]));
}

#[test]
fn missing_datagram_times_out() {
    let cfg = Config {
        udptransactiontimeout: Duration::from_millis(200),
        ..Config::default()
    };
    let (t, _) = run_udp(
        &cfg,
        &[
            d(C, 0, &dgram(1, 0, 1, b"get big\r\n")),
            d(S, 1, &dgram(1, 0, 2, b"VALUE big 0 10\r\n0123")),
            Ev::Timer(100),
            d(C, 150, &dgram(2, 0, 1, b"get x\r\n")),
            Ev::Timer(300),
        ],
    );
    // The first exchange expired at 300 ms; the second is flushed at close.
    assert_eq!(t.len(), 2);
    assert_eq!(f(&t[1], "request.keys"), &serde_json::json!(["x"]));
    assert_eq!(t[0].notes, vec![ecs::NOTE_UDP_INCOMPLETE.to_owned()]);
    assert!(t[0].response_bytes.is_some());
}

#[test]
fn binary_over_udp_and_garbage() {
    let (t, st) = run_udp(
        &Config::default(),
        &[
            d(C, 0, &dgram(5, 0, 1, &bin(0x80, 0x0b, 0, 0, &[], b"", b""))),
            d(
                S,
                1,
                &dgram(5, 0, 1, &bin(0x81, 0x0b, 0, 0, &[], b"", b"1.6")),
            ),
            d(C, 2, b"\x01\x02"),
            d(S, 3, &dgram(9, 0, 1, b"\x00\x01garbage")),
        ],
    );
    assert_eq!(f(&t[0], "response.version"), "1.6");
    assert!(st.anomalies >= 1);
}
