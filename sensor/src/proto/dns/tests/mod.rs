//! Unit tests of the DNS dissector with hand-built messages (sessions here, wire parsing and
//! RDATA formats in `wire.rs`).

mod wire;

use serde_json::{json, Value};

use super::*;
use crate::config::CommonConfig;
use crate::proto::{ConnMeta, ProtoStats, Txn};

const SEC: u64 = 1_000_000_000;

/// Test harness: one session, fed as the pipeline does.
struct H {
    d: Dns,
    meta: ConnMeta,
    common: CommonConfig,
    stats: ProtoStats,
    out: Vec<Txn>,
}

impl H {
    fn new(l4: L4) -> H {
        H::with(l4, Config::default())
    }

    fn with(l4: L4, cfg: Config) -> H {
        H {
            d: Dns::new(&cfg),
            meta: ConnMeta {
                client: "198.18.10.20:40000".parse().unwrap(),
                server: "198.18.10.10:53".parse().unwrap(),
                l4,
                vlan: vec![],
            },
            common: CommonConfig::default(),
            stats: ProtoStats::default(),
            out: Vec::new(),
        }
    }

    fn call<R>(&mut self, ts: u64, f: impl FnOnce(&mut Dns, &mut Cx<'_>) -> R) -> R {
        let mut cx = Cx {
            ts: Ts(ts),
            meta: &self.meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        f(&mut self.d, &mut cx)
    }

    fn feed(&mut self, ts: u64, dir: Direction, data: &[u8]) -> Progress {
        self.call(ts, |d, cx| d.parse(cx, dir, data))
    }

    fn close(&mut self, ts: u64) {
        self.call(ts, |d, cx| d.on_close(cx, CloseReason::EndOfInput));
    }

    fn timer(&mut self, ts: u64) {
        self.call(ts, |d, cx| d.on_timer(cx));
    }

    /// Feed a TCP stream as the pipeline does: keep the unconsumed tail, append new bytes.
    fn feed_stream(&mut self, ts: u64, dir: Direction, chunks: &[&[u8]]) {
        let mut buf: Vec<u8> = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            match self.feed(ts, dir, &buf) {
                Progress::Consumed => buf.clear(),
                Progress::NeedMore { consumed, .. } => {
                    buf.drain(..consumed);
                }
                Progress::GiveUp(r) => panic!("gave up: {r:?}"),
            }
        }
        assert!(buf.is_empty(), "left over: {}", buf.len());
    }

    fn dns(&self, i: usize) -> &Value {
        &self.out[i].fields["dns"]
    }
}

/// Wire-format name.
fn wname(n: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in n.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// Message builder.
struct M {
    b: Vec<u8>,
}

impl M {
    fn new(id: u16, flags: u16, counts: [u16; 4]) -> M {
        let mut b = Vec::new();
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&flags.to_be_bytes());
        for c in counts {
            b.extend_from_slice(&c.to_be_bytes());
        }
        M { b }
    }
    fn q(mut self, name: &str, qtype: u16) -> M {
        self.b.extend(wname(name));
        self.b.extend_from_slice(&qtype.to_be_bytes());
        self.b.extend_from_slice(&1u16.to_be_bytes());
        self
    }
    /// A record whose owner is a pointer to the question name (offset 12).
    fn rr(self, rtype: u16, ttl: u32, rdata: &[u8]) -> M {
        self.rr_named(&[0xC0, 12], rtype, 1, ttl, rdata)
    }
    fn rr_named(mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> M {
        self.b.extend_from_slice(owner);
        self.b.extend_from_slice(&rtype.to_be_bytes());
        self.b.extend_from_slice(&class.to_be_bytes());
        self.b.extend_from_slice(&ttl.to_be_bytes());
        self.b
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.b.extend_from_slice(rdata);
        self
    }
    fn opt(self, udp: u16, ttl: u32, options: &[u8]) -> M {
        self.rr_named(&[0], TYPE_OPT_T, udp, ttl, options)
    }
}

const TYPE_OPT_T: u16 = 41;
const QUERY_RD: u16 = 0x0100;
const RESP_RD_RA: u16 = 0x8180;

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    M::new(id, QUERY_RD, [1, 0, 0, 0]).q(name, qtype).b
}

fn a_response(id: u16, name: &str, ips: &[[u8; 4]]) -> Vec<u8> {
    let mut m = M::new(id, RESP_RD_RA, [1, ips.len() as u16, 0, 0]).q(name, 1);
    for ip in ips {
        m = m.rr(1, 300, ip);
    }
    m.b
}

fn soa_rdata(serial: u32) -> Vec<u8> {
    let mut r = wname("ns1.corp.test");
    r.extend(wname("hostmaster.corp.test"));
    for v in [serial, 3600, 600, 86400, 300] {
        r.extend_from_slice(&v.to_be_bytes());
    }
    r
}

fn tcp_frame(m: &[u8]) -> Vec<u8> {
    let mut v = (m.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(m);
    v
}

#[test]
fn udp_query_response() {
    let mut h = H::new(L4::Udp);
    let q = query(0x1234, "www.corp.test", 1);
    let r = a_response(
        0x1234,
        "www.corp.test",
        &[[198, 18, 10, 30], [198, 18, 10, 31]],
    );
    assert_eq!(h.feed(SEC, Direction::ToServer, &q), Progress::Consumed);
    assert!(h.out.is_empty());
    h.feed(SEC + 500, Direction::ToClient, &r);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(q.len() as u64));
    assert_eq!(t.response_bytes, Some(r.len() as u64));
    assert_eq!(t.request_ts, Some(Ts(SEC)));
    assert_eq!(t.response_ts, Some(Ts(SEC + 500)));
    assert_eq!(t.method.as_deref(), Some("QUERY"));
    assert_eq!(t.resource.as_deref(), Some("www.corp.test"));
    assert_eq!(t.query.as_deref(), Some("class IN, type A, www.corp.test"));
    assert!(t.notes.is_empty());
    let d = h.dns(0);
    assert_eq!(d["id"], 0x1234);
    assert_eq!(d["op_code"], "QUERY");
    assert_eq!(d["response_code"], "NOERROR");
    assert_eq!(d["type"], "answer");
    assert_eq!(d["answers_count"], 2);
    assert_eq!(d["authorities_count"], 0);
    assert_eq!(d["additionals_count"], 0);
    assert_eq!(d["header_flags"], json!(["RD", "RA"]));
    assert_eq!(d["flags"]["recursion_desired"], true);
    assert_eq!(d["flags"]["authoritative"], false);
    assert_eq!(d["resolved_ip"], json!(["198.18.10.30", "198.18.10.31"]));
    assert_eq!(
        d["answers"][0],
        json!({"name": "www.corp.test", "type": "A", "class": "IN", "ttl": 300, "data": "198.18.10.30"})
    );
    assert_eq!(
        d["question"],
        json!({"name": "www.corp.test", "type": "A", "class": "IN",
               "registered_domain": "corp.test", "top_level_domain": "test",
               "subdomain": "www", "etld_plus_one": "corp.test."})
    );
    assert_eq!(h.stats.transactions, 1);
    assert_eq!(h.stats.anomalies, 0);
}

#[test]
fn nxdomain_is_error() {
    let mut h = H::new(L4::Udp);
    h.feed(SEC, Direction::ToServer, &query(7, "nope.corp.test", 28));
    let mut r = M::new(7, 0x8183, [1, 0, 1, 0]).q("nope.corp.test", 28);
    r = r.rr_named(&[0xC0, 17], 6, 1, 300, &soa_rdata(2024));
    h.feed(SEC + 1, Direction::ToClient, &r.b);
    assert_eq!(h.out[0].status, Status::Error);
    assert_eq!(h.dns(0)["response_code"], "NXDOMAIN");
    assert_eq!(h.dns(0)["authorities_count"], 1);
    assert!(h.dns(0).get("authorities").is_none());
}

#[test]
fn include_authorities_and_additionals() {
    let cfg = Config {
        include_authorities: true,
        include_additionals: true,
    };
    let mut h = H::with(L4::Udp, cfg);
    h.feed(SEC, Direction::ToServer, &query(7, "corp.test", 2));
    let r = M::new(7, 0x8580, [1, 0, 1, 2])
        .q("corp.test", 2)
        .rr(6, 300, &soa_rdata(99))
        .rr(1, 60, &[1, 2, 3, 4])
        .opt(1232, 0, &[]);
    h.feed(SEC + 1, Direction::ToClient, &r.b);
    let d = h.dns(0);
    assert_eq!(d["additionals_count"], 1);
    assert_eq!(d["additionals"].as_array().unwrap().len(), 1);
    assert_eq!(d["authorities"][0]["type"], "SOA");
    assert_eq!(d["authorities"][0]["data"], "ns1.corp.test");
    assert_eq!(d["authorities"][0]["rname"], "hostmaster.corp.test");
    assert_eq!(d["authorities"][0]["serial"], 99);
    assert_eq!(d["authorities"][0]["minimum"], 300);
    // Addresses of the additional section are not resolved IPs.
    assert!(d.get("resolved_ip").is_none());
    assert_eq!(d["header_flags"], json!(["AA", "RD", "RA"]));
}

#[test]
fn unanswered_then_timeout_and_close() {
    let mut h = H::new(L4::Udp);
    h.feed(SEC, Direction::ToServer, &query(1, "a.corp.test", 1));
    h.feed(2 * SEC, Direction::ToServer, &query(2, "b.corp.test", 1));
    h.timer(5 * SEC);
    assert!(h.out.is_empty());
    h.timer(11 * SEC);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.notes, vec![NOTE_NO_RESPONSE.to_string()]);
    assert_eq!(t.response_bytes, None);
    assert!(h.dns(0).get("response_code").is_none());
    assert_eq!(h.dns(0)["question"]["name"], "a.corp.test");
    h.close(12 * SEC);
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].resource.as_deref(), Some("b.corp.test"));
    assert_eq!(h.stats.unmatched_requests, 2);
    assert_eq!(
        h.common.transaction_timeout.as_secs(),
        10,
        "default timeout"
    );
}

#[test]
fn duplicate_id_closes_older_query() {
    let mut h = H::new(L4::Udp);
    h.feed(SEC, Direction::ToServer, &query(9, "a.corp.test", 1));
    h.feed(2 * SEC, Direction::ToServer, &query(9, "a.corp.test", 1));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].notes, vec![NOTE_DUPLICATE.to_string()]);
    assert_eq!(h.out[0].request_ts, Some(Ts(SEC)));
    h.feed(
        2 * SEC + 5,
        Direction::ToClient,
        &a_response(9, "a.corp.test", &[[1, 1, 1, 1]]),
    );
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].request_ts, Some(Ts(2 * SEC)));
    assert_eq!(h.out[1].status, Status::Ok);
}

#[test]
fn orphan_response() {
    let mut h = H::new(L4::Udp);
    h.feed(
        SEC,
        Direction::ToClient,
        &a_response(3, "x.corp.test", &[[1, 1, 1, 1]]),
    );
    let t = &h.out[0];
    assert_eq!(t.notes, vec![NOTE_ORPHAN.to_string()]);
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.request_bytes, None);
    assert!(t.response_bytes.is_some());
    assert_eq!(t.client, h.meta.client);
    assert_eq!(h.stats.unmatched_responses, 1);
}

#[test]
fn query_sent_by_the_port_53_side_swaps_roles() {
    let mut h = H::new(L4::Udp);
    h.feed(SEC, Direction::ToClient, &query(3, "x.corp.test", 1));
    h.feed(
        SEC + 1,
        Direction::ToServer,
        &a_response(3, "x.corp.test", &[[1, 1, 1, 1]]),
    );
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].client, h.meta.server);
    assert_eq!(h.out[0].server, h.meta.client);
    assert_eq!(h.out[0].status, Status::Ok);
}

#[test]
fn edns_fields_and_notes() {
    let mut h = H::new(L4::Udp);
    // DO bit, version 0, NSID option (empty) and a cookie.
    let mut opts = vec![0, 3, 0, 0];
    opts.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    let q = M::new(5, QUERY_RD, [1, 0, 0, 1])
        .q("www.corp.test", 1)
        .opt(1232, 0x0000_8000, &opts);
    h.feed(SEC, Direction::ToServer, &q.b);
    // The response has no OPT.
    h.feed(
        SEC + 1,
        Direction::ToClient,
        &a_response(5, "www.corp.test", &[[1, 2, 3, 4]]),
    );
    assert_eq!(h.out[0].notes, vec![NOTE_EDNS_NO_SUPPORT.to_string()]);
    assert!(h.dns(0).get("opt").is_none());

    // EDNS in the response: dns.opt from it; extended rcode combined.
    let mut r = M::new(6, RESP_RD_RA, [1, 0, 0, 1]).q("www.corp.test", 1);
    r = r.opt(4096, 0x0100_8000, &[0, 3, 0, 2, 0xab, 0xcd]);
    h.feed(2 * SEC, Direction::ToServer, &query(6, "www.corp.test", 1));
    h.feed(2 * SEC + 1, Direction::ToClient, &r.b);
    let d = h.dns(1);
    assert_eq!(
        d["opt"],
        json!({"version": "0", "do": true, "ext_rcode": "BADSIG", "udp_size": 4096, "nsid": "abcd"})
    );
    assert_eq!(d["response_code"], "BADSIG");
    assert_eq!(h.out[1].status, Status::Error);
    assert_eq!(h.out[1].notes, vec![NOTE_EDNS_UNEXPECTED.to_string()]);
    assert_eq!(d["additionals_count"], 0);
}

#[test]
fn tcp_framing_one_byte_splits() {
    let mut h = H::new(L4::Tcp);
    let q1 = query(1, "www.corp.test", 1);
    let q2 = query(2, "api.corp.test", 28);
    let mut stream = tcp_frame(&q1);
    stream.extend(tcp_frame(&q2));
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    h.feed_stream(SEC, Direction::ToServer, &chunks);
    let r1 = a_response(1, "www.corp.test", &[[1, 2, 3, 4]]);
    let r2 = M::new(2, RESP_RD_RA, [1, 1, 0, 0])
        .q("api.corp.test", 28)
        .rr(
            28,
            60,
            &[
                0x20, 1, 0xd, 0xb8, 0, 0xca, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x32,
            ],
        )
        .b;
    // Both responses in one segment.
    let mut resp = tcp_frame(&r2);
    resp.extend(tcp_frame(&r1));
    h.feed_stream(SEC + 1, Direction::ToClient, &[&resp]);
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[0].resource.as_deref(), Some("api.corp.test"));
    assert_eq!(h.out[0].request_bytes, Some(q2.len() as u64));
    assert_eq!(h.out[0].response_bytes, Some(r2.len() as u64));
    assert_eq!(h.dns(0)["answers"][0]["data"], "2001:db8:ca:10::32");
    assert_eq!(h.out[1].resource.as_deref(), Some("www.corp.test"));
    assert_eq!(h.stats.anomalies, 0);
}

#[test]
fn tcp_need_more_reports_missing_bytes() {
    let mut h = H::new(L4::Tcp);
    let f = tcp_frame(&query(1, "www.corp.test", 1));
    assert_eq!(
        h.feed(SEC, Direction::ToServer, &f[..1]),
        Progress::NeedMore {
            consumed: 0,
            needed: 1
        }
    );
    assert_eq!(
        h.feed(SEC, Direction::ToServer, &f[..10]),
        Progress::NeedMore {
            consumed: 0,
            needed: f.len() - 10
        }
    );
    let mut two = f.clone();
    two.extend_from_slice(&f[..5]);
    assert_eq!(
        h.feed(SEC, Direction::ToServer, &two),
        Progress::NeedMore {
            consumed: f.len(),
            needed: f.len() - 5
        }
    );
}

#[test]
fn tcp_zero_length_and_garbage_give_up_with_note() {
    let mut h = H::new(L4::Tcp);
    h.feed_stream(
        SEC,
        Direction::ToServer,
        &[&tcp_frame(&query(4, "www.corp.test", 1))],
    );
    assert_eq!(
        h.feed(SEC + 1, Direction::ToClient, &[0, 0, 1, 2]),
        Progress::GiveUp(Reason::Malformed)
    );
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].notes, vec![NOTE_RESP_ZERO_LENGTH.to_string()]);
    assert!(h.stats.anomalies >= 1);

    let mut h = H::new(L4::Tcp);
    assert_eq!(
        h.feed(SEC, Direction::ToServer, &[0, 5, 1, 2, 3, 4, 5]),
        Progress::GiveUp(Reason::Malformed)
    );
    let mut junk = vec![0, 20];
    junk.extend_from_slice(&[0xFF; 20]);
    let mut h = H::new(L4::Tcp);
    assert_eq!(
        h.feed(SEC, Direction::ToServer, &junk),
        Progress::GiveUp(Reason::Malformed)
    );
}

#[test]
fn tcp_gap_resyncs_on_plausible_message() {
    let mut h = H::new(L4::Tcp);
    h.call(SEC, |d, cx| d.on_gap(cx, Direction::ToServer, 100));
    // Mid-message bytes are skipped.
    assert_eq!(
        h.feed(SEC, Direction::ToServer, &[0x41; 30]),
        Progress::Consumed
    );
    h.feed_stream(
        SEC,
        Direction::ToServer,
        &[&tcp_frame(&query(8, "www.corp.test", 1))],
    );
    h.feed_stream(
        SEC + 1,
        Direction::ToClient,
        &[&tcp_frame(&a_response(8, "www.corp.test", &[[1, 1, 1, 1]]))],
    );
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].status, Status::Ok);
}

/// AXFR: SOA, records..., SOA over several messages; one transaction.
#[test]
fn axfr_over_several_messages() {
    let mut h = H::new(L4::Tcp);
    let q = query(77, "corp.test", 252);
    h.feed_stream(SEC, Direction::ToServer, &[&tcp_frame(&q)]);
    let m1 = M::new(77, 0x8400, [1, 3, 0, 0])
        .q("corp.test", 252)
        .rr(6, 3600, &soa_rdata(5))
        .rr(2, 3600, &wname("ns1.corp.test"))
        .rr(1, 300, &[10, 0, 0, 1])
        .b;
    let m2 = M::new(77, 0x8400, [1, 2, 0, 0])
        .q("corp.test", 252)
        .rr(16, 300, b"\x05hello\x05world")
        .rr(6, 3600, &soa_rdata(5))
        .b;
    h.feed_stream(SEC + 1, Direction::ToClient, &[&tcp_frame(&m1)]);
    assert!(h.out.is_empty(), "not finished before the closing SOA");
    h.feed_stream(SEC + 2, Direction::ToClient, &[&tcp_frame(&m2)]);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.response_bytes, Some((m1.len() + m2.len()) as u64));
    assert_eq!(t.response_ts, Some(Ts(SEC + 1)));
    assert_eq!(t.query.as_deref(), Some("class IN, type AXFR, corp.test"));
    let d = h.dns(0);
    assert_eq!(d["answers_count"], 5);
    assert_eq!(d["answers"].as_array().unwrap().len(), 5);
    assert_eq!(d["answers"][3]["data"], "hello world");
    assert_eq!(d["question"]["type"], "AXFR");
    h.close(SEC * 3);
    assert_eq!(h.out.len(), 1);
}

#[test]
fn axfr_unfinished_is_flushed_on_close_without_note() {
    let mut h = H::new(L4::Tcp);
    h.feed_stream(
        SEC,
        Direction::ToServer,
        &[&tcp_frame(&query(77, "corp.test", 252))],
    );
    let m1 = M::new(77, 0x8400, [1, 1, 0, 0])
        .q("corp.test", 252)
        .rr(6, 3600, &soa_rdata(5))
        .b;
    h.feed_stream(SEC + 1, Direction::ToClient, &[&tcp_frame(&m1)]);
    assert!(h.out.is_empty());
    h.close(2 * SEC);
    assert_eq!(h.out.len(), 1);
    assert!(h.out[0].notes.is_empty());
    assert_eq!(h.out[0].response_bytes, Some(m1.len() as u64));
    assert_eq!(h.out[0].status, Status::Ok);
}

#[test]
fn ixfr_single_soa_and_incremental() {
    // Up to date: one SOA.
    let mut h = H::new(L4::Tcp);
    h.feed_stream(
        SEC,
        Direction::ToServer,
        &[&tcp_frame(&query(5, "corp.test", 251))],
    );
    let m = M::new(5, 0x8400, [1, 1, 0, 0])
        .q("corp.test", 251)
        .rr(6, 3600, &soa_rdata(9))
        .b;
    h.feed_stream(SEC + 1, Direction::ToClient, &[&tcp_frame(&m)]);
    assert_eq!(h.out.len(), 1);

    // Incremental: SOA9 SOA8 (del) SOA9 (add) SOA9.
    let mut h = H::new(L4::Tcp);
    h.feed_stream(
        SEC,
        Direction::ToServer,
        &[&tcp_frame(&query(6, "corp.test", 251))],
    );
    let m1 = M::new(6, 0x8400, [1, 4, 0, 0])
        .q("corp.test", 251)
        .rr(6, 3600, &soa_rdata(9))
        .rr(6, 3600, &soa_rdata(8))
        .rr(1, 300, &[10, 0, 0, 1])
        .rr(6, 3600, &soa_rdata(9))
        .b;
    let m2 = M::new(6, 0x8400, [1, 2, 0, 0])
        .q("corp.test", 251)
        .rr(1, 300, &[10, 0, 0, 2])
        .rr(6, 3600, &soa_rdata(9))
        .b;
    h.feed_stream(SEC + 1, Direction::ToClient, &[&tcp_frame(&m1)]);
    assert!(h.out.is_empty());
    h.feed_stream(SEC + 2, Direction::ToClient, &[&tcp_frame(&m2)]);
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.dns(0)["answers_count"], 6);
}

#[test]
fn send_request_and_response_text() {
    let mut h = H::new(L4::Udp);
    h.common.send_request = true;
    h.common.send_response = true;
    h.feed(SEC, Direction::ToServer, &query(0x10, "www.corp.test", 1));
    h.feed(
        SEC + 1,
        Direction::ToClient,
        &a_response(0x10, "www.corp.test", &[[1, 2, 3, 4]]),
    );
    assert_eq!(
        h.out[0].request_raw.as_deref(),
        Some("ID 16; QR query; OPCODE QUERY; FLAGS rd; RCODE NOERROR; QUESTION class IN, type A, www.corp.test")
    );
    assert_eq!(
        h.out[0].response_raw.as_deref(),
        Some("ID 16; QR response; OPCODE QUERY; FLAGS rd ra; RCODE NOERROR; QUESTION class IN, type A, www.corp.test; ANSWER class IN, name www.corp.test, ttl 300, type A, 1.2.3.4")
    );
}

#[test]
fn truncated_records_keep_message_and_count_anomaly() {
    let mut h = H::new(L4::Udp);
    h.feed(SEC, Direction::ToServer, &query(2, "big.corp.test", 16));
    let mut r = M::new(2, 0x8380, [1, 3, 0, 0]).q("big.corp.test", 16);
    r = r.rr(16, 60, b"\x03abc").rr(16, 60, b"\x03def");
    // The third answer is cut.
    r.b.extend_from_slice(&[0xC0, 12, 0, 16]);
    h.feed(SEC + 1, Direction::ToClient, &r.b);
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.stats.anomalies, 1);
    let d = h.dns(0);
    assert_eq!(d["flags"]["truncated_response"], true);
    assert_eq!(d["answers_count"], 3);
    assert_eq!(d["answers"].as_array().unwrap().len(), 2);
    assert_eq!(h.out[0].status, Status::Ok);
}

#[test]
fn udp_garbage_is_an_anomaly() {
    let mut h = H::new(L4::Udp);
    assert_eq!(
        h.feed(SEC, Direction::ToServer, b"GET / HTTP/1.1\r\n"),
        Progress::Consumed
    );
    assert_eq!(h.feed(SEC, Direction::ToServer, &[]), Progress::Consumed);
    assert!(h.out.is_empty());
    assert_eq!(h.stats.anomalies, 2);
}

#[test]
fn probe() {
    let q = query(1, "www.corp.test", 1);
    assert_eq!(Dns::probe(Direction::ToServer, &q), Probe::Match);
    assert_eq!(
        Dns::probe(Direction::ToServer, &tcp_frame(&q)),
        Probe::Match
    );
    assert_eq!(Dns::probe(Direction::ToClient, &q), Probe::NotMine);
    assert_eq!(
        Dns::probe(Direction::ToServer, b"GET / HTTP/1.1\r\n"),
        Probe::NotMine
    );
    assert_eq!(Dns::probe(Direction::ToServer, &q[..5]), Probe::Unsure);
}

#[test]
fn pending_is_bounded() {
    let mut h = H::new(L4::Udp);
    for id in 0..(MAX_PENDING as u16 + 10) {
        h.feed(
            SEC + u64::from(id),
            Direction::ToServer,
            &query(id, "a.test", 1),
        );
    }
    assert_eq!(h.out.len(), 10);
    assert_eq!(h.out[0].notes, vec![NOTE_NO_RESPONSE.to_string()]);
    assert_eq!(h.d.pending.len(), MAX_PENDING);
}
