//! Unit tests of the ICMP dissector with hand-built messages.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::msg::{self, Version};
use super::*;
use crate::config::CommonConfig;
use crate::proto::{ConnMeta, ProtoStats};

const C4: &str = "198.18.10.20";
const S4: &str = "198.18.10.10";
const C6: &str = "2001:db8:ca:10::20";
const S6: &str = "2001:db8:ca:10::10";

/// Test harness: one session, feeds messages as the pipeline does.
struct H {
    d: Icmp,
    common: CommonConfig,
    stats: ProtoStats,
    out: Vec<Txn>,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

impl H {
    fn new() -> H {
        H {
            d: Icmp::new(&Config::default()),
            common: CommonConfig::default(),
            stats: ProtoStats::default(),
            out: Vec::new(),
        }
    }

    fn meta(src: &str, dst: &str) -> ConnMeta {
        let (s, d) = (ip(src), ip(dst));
        ConnMeta {
            client: SocketAddr::new(s, 0),
            server: SocketAddr::new(d, 0),
            l4: if s.is_ipv4() { L4::Icmp } else { L4::Icmpv6 },
            vlan: vec![],
        }
    }

    fn feed(&mut self, ts: u64, src: &str, dst: &str, m: &[u8]) {
        let meta = H::meta(src, dst);
        let mut cx = Cx {
            ts: Ts(ts),
            meta: &meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        assert_eq!(
            self.d.parse(&mut cx, Direction::ToServer, m),
            Progress::Consumed
        );
    }

    fn timer(&mut self, ts: u64) {
        let meta = H::meta(C4, S4);
        let mut cx = Cx {
            ts: Ts(ts),
            meta: &meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        self.d.on_timer(&mut cx);
    }

    fn close(&mut self, ts: u64) {
        let meta = H::meta(C4, S4);
        let mut cx = Cx {
            ts: Ts(ts),
            meta: &meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        self.d.on_close(&mut cx, CloseReason::EndOfInput);
    }
}

/// An echo-like message: type, code, id, seq and `payload` zero bytes.
fn echo(ty: u8, id: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut m = vec![ty, 0, 0xab, 0xcd];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.resize(8 + payload, 0x5a);
    m
}

fn ipv4_header(src: &str, dst: &str, proto: u8, payload: usize) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 1, proto, 0, 0];
    let total = u16::try_from(20 + payload).unwrap();
    h[2..4].copy_from_slice(&total.to_be_bytes());
    match (ip(src), ip(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    h
}

fn ipv6_header(src: &str, dst: &str, next: u8, payload: usize) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&u16::try_from(payload).unwrap().to_be_bytes());
    h.extend_from_slice(&[next, 1]);
    match (ip(src), ip(dst)) {
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    h
}

/// An error message of `ty`/`code` quoting `quoted` (a whole IP datagram, cut as routers do).
fn error(ty: u8, code: u8, quoted: &[u8], keep: usize) -> Vec<u8> {
    let mut m = vec![ty, code, 0x11, 0x22, 0, 0, 0, 0];
    m.extend_from_slice(&quoted[..keep.min(quoted.len())]);
    m
}

fn ev(t: &Txn) -> serde_json::Value {
    serde_json::Value::Object(t.fields.clone())
}

#[test]
fn echo_request_reply_v4() {
    let mut h = H::new();
    h.feed(1_000, C4, S4, &echo(8, 20468, 1, 56));
    assert!(h.out.is_empty());
    h.feed(1_137, S4, C4, &echo(0, 20468, 1, 56));
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.client, SocketAddr::new(ip(C4), 0));
    assert_eq!(t.server, SocketAddr::new(ip(S4), 0));
    assert_eq!(t.l4, L4::Icmp);
    assert_eq!(t.request_ts, Some(Ts(1_000)));
    assert_eq!(t.response_ts, Some(Ts(1_137)));
    assert_eq!(t.request_bytes, Some(64));
    assert_eq!(t.response_bytes, Some(64));
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.path.as_deref(), Some(S4));
    assert!(t.notes.is_empty());
    assert_eq!(
        ev(t),
        json!({"icmp": {"version": 4,
            "request": {"message": "EchoRequest", "type": 8, "code": 0},
            "response": {"message": "EchoReply", "type": 0, "code": 0}}})
    );
    assert_eq!(
        t.community,
        Some(FlowTuple {
            src: ip(C4),
            dst: ip(S4),
            proto: 1,
            sport: 8,
            dport: 0
        })
    );
    assert_eq!(h.stats.transactions, 1);
}

#[test]
fn echo_v6_out_of_order_replies() {
    let mut h = H::new();
    h.feed(1, C6, S6, &echo(128, 7, 1, 56));
    h.feed(2, C6, S6, &echo(128, 7, 2, 56));
    h.feed(3, S6, C6, &echo(129, 7, 2, 56));
    h.feed(4, S6, C6, &echo(129, 7, 1, 56));
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[0].request_ts, Some(Ts(2)));
    assert_eq!(h.out[1].request_ts, Some(Ts(1)));
    for t in &h.out {
        assert_eq!(t.l4, L4::Icmpv6);
        assert_eq!(t.status, Status::Ok);
        assert_eq!(t.fields["icmp"]["version"], 6);
        assert_eq!(t.fields["icmp"]["response"]["type"], 129);
    }
}

#[test]
fn reply_from_wrong_peer_does_not_match() {
    let mut h = H::new();
    h.feed(1, C4, S4, &echo(8, 1, 1, 8));
    h.feed(2, "198.18.10.99", C4, &echo(0, 1, 1, 8));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].unmatched, Unmatched::Response);
    h.close(3);
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].unmatched, Unmatched::Request);
}

#[test]
fn timestamp_pair_v4() {
    let mut h = H::new();
    h.feed(1, C4, S4, &echo(13, 3, 4, 12));
    h.feed(2, S4, C4, &echo(14, 3, 4, 12));
    assert_eq!(h.out.len(), 1);
    assert_eq!(
        h.out[0].fields["icmp"]["request"]["message"],
        "TimestampRequest"
    );
    assert_eq!(h.out[0].fields["icmp"]["response"]["type"], 14);
    // An echo reply does not answer a timestamp request with the same id/seq.
    h.feed(3, C4, S4, &echo(13, 3, 5, 12));
    h.feed(4, S4, C4, &echo(0, 3, 5, 12));
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].unmatched, Unmatched::Response);
}

#[test]
fn unreachable_closes_pending_echo_v4() {
    let mut h = H::new();
    let target = "198.18.99.7";
    let req = echo(8, 20834, 1, 56);
    h.feed(10, C4, target, &req);
    let mut dgram = ipv4_header(C4, target, 1, req.len());
    dgram.extend_from_slice(&req);
    let err = error(3, 1, &dgram, dgram.len());
    assert_eq!(err.len(), 92);
    h.feed(20, S4, C4, &err);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.client.ip(), ip(C4));
    assert_eq!(t.server.ip(), ip(target));
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.request_bytes, Some(64));
    assert_eq!(t.response_bytes, Some(92));
    assert_eq!(t.response_ts, Some(Ts(20)));
    assert_eq!(t.path.as_deref(), Some(target));
    assert_eq!(
        t.fields["icmp"]["response"],
        json!({"message": "DestinationUnreachable(Host)", "type": 3, "code": 1})
    );
    assert_eq!(t.community.unwrap().sport, 8);
    assert_eq!(t.unmatched, Unmatched::No);
    // Nothing left pending.
    h.close(30);
    assert_eq!(h.out.len(), 1);
}

#[test]
fn time_exceeded_closes_pending_echo_v6_with_ext_header() {
    let mut h = H::new();
    let target = "2001:db8:ca:98::1";
    let req = echo(128, 20885, 1, 56);
    h.feed(10, C6, target, &req);
    // Quoted datagram with a destination-options header before ICMPv6.
    let mut dgram = ipv6_header(C6, target, 60, 8 + req.len());
    dgram.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]);
    dgram.extend_from_slice(&req);
    let err = error(3, 0, &dgram, dgram.len());
    h.feed(20, S6, C6, &err);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.server.ip(), ip(target));
    assert_eq!(
        t.fields["icmp"]["response"]["message"],
        "TimeExceeded(HopLimitExceeded)"
    );
    assert_eq!(t.fields["icmp"]["request"]["type"], 128);
}

#[test]
fn unreachable_with_only_8_quoted_bytes() {
    let mut h = H::new();
    let target = "198.18.96.3";
    let req = echo(8, 5, 9, 56);
    h.feed(1, C4, target, &req);
    let mut dgram = ipv4_header(C4, target, 1, req.len());
    dgram.extend_from_slice(&req);
    h.feed(2, S4, C4, &error(3, 13, &dgram, 28));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].status, Status::Error);
    assert_eq!(h.out[0].unmatched, Unmatched::No);
    assert_eq!(
        h.out[0].fields["icmp"]["response"]["message"],
        "DestinationUnreachable(CommAdminProhibited)"
    );
}

#[test]
fn port_unreachable_without_request_v4() {
    let mut h = H::new();
    let mut udp = vec![0x83, 0x1a, 0x27, 0x0f, 0, 15, 0, 0];
    udp.extend_from_slice(b"hello!!");
    let mut dgram = ipv4_header(C4, S4, 17, udp.len());
    dgram.extend_from_slice(&udp);
    let err = error(3, 3, &dgram, dgram.len());
    assert_eq!(err.len(), 43);
    h.feed(5, S4, C4, &err);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.client.ip(), ip(C4));
    assert_eq!(t.server.ip(), ip(S4));
    assert_eq!(t.request_ts, None);
    assert_eq!(t.request_bytes, None);
    assert_eq!(t.response_ts, Some(Ts(5)));
    assert_eq!(t.response_bytes, Some(43));
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.path.as_deref(), Some(S4));
    assert_eq!(t.notes, vec![ORPHANED_RESPONSE_NOTE.to_owned()]);
    assert_eq!(t.unmatched, Unmatched::Response);
    assert!(t.fields["icmp"].get("request").is_none());
    assert_eq!(
        t.fields["icmp"]["response"],
        json!({"message": "DestinationUnreachable(Port)", "type": 3, "code": 3})
    );
    // Community of the error as sent: sender first, one-way type.
    assert_eq!(
        t.community,
        Some(FlowTuple {
            src: ip(S4),
            dst: ip(C4),
            proto: 1,
            sport: 3,
            dport: 3
        })
    );
    assert_eq!(h.stats.anomalies, 0);
    assert_eq!(h.stats.unmatched_responses, 1);
}

#[test]
fn port_unreachable_without_request_v6() {
    let mut h = H::new();
    let udp = vec![0x80, 0x32, 0x27, 0x10, 0, 8, 0, 0];
    let mut dgram = ipv6_header(C6, S6, 17, udp.len());
    dgram.extend_from_slice(&udp);
    let err = error(1, 4, &dgram, dgram.len());
    h.feed(5, S6, C6, &err);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.client.ip(), ip(C6));
    assert_eq!(t.server.ip(), ip(S6));
    assert_eq!(t.l4, L4::Icmpv6);
    assert_eq!(
        t.fields["icmp"]["response"]["message"],
        "DestinationUnreachable(PortUnreachable)"
    );
    assert_eq!(t.community.unwrap().proto, 58);
}

#[test]
fn error_about_answered_echo_is_response_only() {
    let mut h = H::new();
    let req = echo(8, 1, 1, 8);
    h.feed(1, C4, S4, &req);
    h.feed(2, S4, C4, &echo(0, 1, 1, 8));
    let mut dgram = ipv4_header(C4, S4, 1, req.len());
    dgram.extend_from_slice(&req);
    h.feed(3, S4, C4, &error(11, 0, &dgram, dgram.len()));
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].unmatched, Unmatched::Response);
    assert_eq!(h.out[1].client.ip(), ip(C4));
}

#[test]
fn unanswered_echo_times_out() {
    let mut h = H::new();
    let target = "198.18.97.5";
    h.feed(1_000_000_000, C4, target, &echo(8, 20930, 1, 56));
    h.feed(1_300_000_000, C4, target, &echo(8, 20930, 2, 56));
    h.timer(5_000_000_000);
    assert!(h.out.is_empty());
    h.timer(11_000_000_000);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.request_ts, Some(Ts(1_000_000_000)));
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.response_bytes, None);
    assert_eq!(t.response_ts, None);
    assert!(t.fields["icmp"].get("response").is_none());
    assert_eq!(t.notes, vec![ORPHANED_REQUEST_NOTE.to_owned()]);
    assert_eq!(t.unmatched, Unmatched::Request);
    h.close(11_100_000_000);
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].request_ts, Some(Ts(1_300_000_000)));
    assert_eq!(h.stats.unmatched_requests, 2);
}

#[test]
fn timeout_follows_config() {
    let mut h = H::new();
    h.common.transaction_timeout = Duration::from_secs(1);
    h.feed(0, C4, S4, &echo(8, 1, 1, 8));
    h.timer(999_999_999);
    assert!(h.out.is_empty());
    h.timer(1_000_000_000);
    assert_eq!(h.out.len(), 1);
}

#[test]
fn close_publishes_oldest_first() {
    let mut h = H::new();
    h.feed(3, C4, S4, &echo(8, 1, 3, 8));
    h.feed(1, C6, S6, &echo(128, 1, 1, 8));
    h.feed(2, C4, S4, &echo(8, 1, 2, 8));
    h.close(10);
    let ts: Vec<_> = h.out.iter().map(|t| t.request_ts.unwrap().0).collect();
    assert_eq!(ts, vec![1, 2, 3]);
}

#[test]
fn duplicate_request() {
    let mut h = H::new();
    h.feed(1, C4, S4, &echo(8, 1, 1, 8));
    h.feed(2, C4, S4, &echo(8, 1, 1, 8));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].request_ts, Some(Ts(1)));
    assert_eq!(h.out[0].notes, vec![DUPLICATE_REQUEST_NOTE.to_owned()]);
    assert_eq!(h.out[0].status, Status::Error);
    h.feed(3, S4, C4, &echo(0, 1, 1, 8));
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].request_ts, Some(Ts(2)));
    assert_eq!(h.out[1].status, Status::Ok);
}

#[test]
fn pending_is_bounded() {
    let mut h = H::new();
    let n = u16::try_from(MAX_PENDING).unwrap();
    for seq in 0..=n {
        h.feed(u64::from(seq), C4, S4, &echo(8, 1, seq, 0));
    }
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].request_ts, Some(Ts(0)));
    assert_eq!(h.out[0].unmatched, Unmatched::Request);
    h.close(100_000);
    assert_eq!(h.out.len(), MAX_PENDING + 1);
}

#[test]
fn ndp_is_a_standalone_request() {
    let mut h = H::new();
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.resize(32, 0);
    h.feed(1, C6, "ff02::1:ff00:10", &ns);
    let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    na.resize(24, 0);
    h.feed(2, S6, C6, &na);
    assert_eq!(h.out.len(), 2);
    let t = &h.out[0];
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(32));
    assert_eq!(t.response_bytes, None);
    assert_eq!(t.unmatched, Unmatched::No);
    assert_eq!(
        t.fields["icmp"]["request"]["message"],
        "NeighborSolicitation"
    );
    assert_eq!(t.server.ip(), ip("ff02::1:ff00:10"));
    let t = &h.out[1];
    assert_eq!(t.fields["icmp"]["request"]["type"], 136);
    assert_eq!(t.client.ip(), ip(S6));
    // Router advertisement over ICMPv4 and MLD report: also stand-alone.
    h.feed(3, S4, "224.0.0.1", &[9, 0, 0, 0, 1, 0, 0, 0]);
    h.feed(4, C6, "ff02::16", &[143, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(h.out.len(), 4);
    assert_eq!(h.out[3].fields["icmp"]["request"]["message"], "143(0)");
    assert_eq!(h.stats.anomalies, 0);
}

#[test]
fn redirect_is_response_only_and_keeps_request_pending() {
    let mut h = H::new();
    let req = echo(8, 2, 2, 8);
    h.feed(1, C4, "198.18.99.1", &req);
    let mut dgram = ipv4_header(C4, "198.18.99.1", 1, req.len());
    dgram.extend_from_slice(&req);
    h.feed(2, S4, C4, &error(5, 1, &dgram, dgram.len()));
    assert_eq!(h.out.len(), 1);
    assert_eq!(
        h.out[0].fields["icmp"]["response"]["message"],
        "Redirect(Host)"
    );
    h.feed(3, "198.18.99.1", C4, &echo(0, 2, 2, 8));
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[1].status, Status::Ok);
}

#[test]
fn short_and_malformed_messages_are_anomalies() {
    let mut h = H::new();
    h.feed(1, C4, S4, &[]);
    h.feed(1, C4, S4, &[8, 0, 0]);
    h.feed(1, C4, S4, &[8, 0, 0, 0, 1]);
    h.feed(1, S4, C4, &[0, 0, 0, 0, 1, 2, 3]);
    assert_eq!(h.stats.anomalies, 4);
    assert!(h.out.is_empty());
    // An error whose quote is garbage: still published, counted.
    h.feed(2, S4, C4, &[3, 1, 0, 0, 0, 0, 0, 0, 0x99, 1, 2]);
    assert_eq!(h.stats.anomalies, 5);
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].unmatched, Unmatched::Response);
    // An error with nothing quoted.
    h.feed(3, S4, C4, &[11, 0, 0, 0]);
    assert_eq!(h.out.len(), 2);
}

#[test]
fn message_names() {
    use msg::message;
    assert_eq!(message(Version::V4, 8, 0), "EchoRequest");
    assert_eq!(message(Version::V4, 0, 0), "EchoReply");
    assert_eq!(message(Version::V4, 8, 3), "EchoRequest(Code: 3)");
    assert_eq!(message(Version::V4, 3, 3), "DestinationUnreachable(Port)");
    assert_eq!(
        message(Version::V4, 3, 99),
        "DestinationUnreachable(Code: 99)"
    );
    assert_eq!(message(Version::V4, 11, 0), "TimeExceeded(TTLExceeded)");
    assert_eq!(message(Version::V4, 5, 2), "Redirect(TOS+Net)");
    assert_eq!(message(Version::V4, 42, 0), "42(0)");
    assert_eq!(
        message(Version::V6, 1, 3),
        "DestinationUnreachable(AddressUnreachable)"
    );
    assert_eq!(message(Version::V6, 2, 0), "PacketTooBig");
    assert_eq!(message(Version::V6, 128, 0), "EchoRequest");
    assert_eq!(message(Version::V6, 135, 0), "NeighborSolicitation");
}

#[test]
fn quoted_fragments_and_v6_fragment_header() {
    let req = echo(128, 4, 5, 8);
    // First fragment (offset 0): usable.
    let mut d = ipv6_header(C6, S6, 44, 8 + req.len());
    d.extend_from_slice(&[58, 0, 0, 1, 0, 0, 0, 9]);
    d.extend_from_slice(&req);
    let q = msg::quoted(Version::V6, &error(2, 0, &d, d.len())).unwrap();
    assert_eq!((q.ty, q.id, q.seq), (128, 4, 5));
    // Later fragment: no L4 header.
    let mut d = ipv6_header(C6, S6, 44, 8 + req.len());
    d.extend_from_slice(&[58, 0, 0, 0x10, 0, 0, 0, 9]);
    d.extend_from_slice(&req);
    assert_eq!(
        msg::quoted(Version::V6, &error(2, 0, &d, d.len())),
        Err(msg::QuoteError::NotIcmpRequest)
    );
    // IPv4 non-first fragment.
    let mut d = ipv4_header(C4, S4, 1, 8);
    d[6..8].copy_from_slice(&0x00b9u16.to_be_bytes());
    d.extend_from_slice(&echo(8, 1, 1, 0));
    assert_eq!(
        msg::quoted(Version::V4, &error(3, 4, &d, d.len())),
        Err(msg::QuoteError::NotIcmpRequest)
    );
}

#[test]
fn random_bytes_and_truncations_never_panic() {
    let mut rng = SmallRng::seed_from_u64(0x1c4e);
    let mut h = H::new();
    let pairs = [(C4, S4), (S4, C4), (C6, S6), (S6, C6)];
    for i in 0..20_000u64 {
        let (src, dst) = pairs[usize::try_from(i % 4).unwrap()];
        let len = rng.random_range(0..96);
        let mut m: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // Bias towards interesting types so the deeper paths run.
        if let Some(t) = m.first_mut() {
            *t = match rng.random_range(0..6) {
                0 => 3,
                1 => 1,
                2 => 8,
                3 => 128,
                4 => 11,
                _ => *t,
            };
        }
        h.feed(i * 1_000_000, src, dst, &m);
        if i % 1000 == 0 {
            h.timer(i * 1_000_000);
        }
    }
    // Every truncation of a valid error quoting an echo.
    let req = echo(8, 9, 9, 56);
    let mut dgram = ipv4_header(C4, S4, 1, req.len());
    dgram.extend_from_slice(&req);
    let err = error(3, 1, &dgram, dgram.len());
    let req6 = echo(128, 9, 9, 56);
    let mut dgram6 = ipv6_header(C6, S6, 0, 8 + req6.len());
    dgram6.extend_from_slice(&[58, 0, 0, 0, 0, 0, 0, 0]);
    dgram6.extend_from_slice(&req6);
    let err6 = error(1, 0, &dgram6, dgram6.len());
    for cut in 0..=err.len() {
        h.feed(1, S4, C4, &err[..cut]);
    }
    for cut in 0..=err6.len() {
        h.feed(1, S6, C6, &err6[..cut]);
    }
    h.close(u64::MAX);
    assert!(h.d.pending.is_empty());
}

#[test]
fn wrong_transport_is_an_anomaly() {
    let mut h = H::new();
    let mut meta = H::meta(C4, S4);
    meta.l4 = L4::Udp;
    let mut cx = Cx {
        ts: Ts(1),
        meta: &meta,
        common: &h.common,
        stats: &mut h.stats,
        out: &mut h.out,
    };
    assert_eq!(
        h.d.parse(&mut cx, Direction::ToServer, &echo(8, 1, 1, 0)),
        Progress::Consumed
    );
    assert_eq!(h.stats.anomalies, 1);
}

#[test]
fn community_ids_match_oracle() {
    use crate::ecs::community_id::community_id;
    let cid = |t: &Txn| community_id(&t.community.unwrap(), 0);
    let mut h = H::new();
    // echo_v4
    h.feed(1, C4, S4, &echo(8, 1, 1, 56));
    h.feed(2, S4, C4, &echo(0, 1, 1, 56));
    assert_eq!(cid(&h.out[0]), "1:H4rnNlDlliiHWRjUGeA2zDghyr8=");
    // port_unreachable_v4: error-only event, community of the error as sent.
    let mut udp = vec![0x83, 0x1a, 0x27, 0x0f, 0, 15, 0, 0];
    udp.extend_from_slice(b"hello!!");
    let mut dgram = ipv4_header(C4, S4, 17, udp.len());
    dgram.extend_from_slice(&udp);
    h.feed(3, S4, C4, &error(3, 3, &dgram, dgram.len()));
    assert_eq!(cid(&h.out[1]), "1:lFYpWFzyp47R4kqITk4Qum92ey8=");
    // port_unreachable_v6
    let udp = vec![0x80, 0x32, 0x27, 0x10, 0, 8, 0, 0];
    let mut dgram = ipv6_header(C6, S6, 17, udp.len());
    dgram.extend_from_slice(&udp);
    h.feed(4, S6, C6, &error(1, 4, &dgram, dgram.len()));
    assert_eq!(cid(&h.out[2]), "1:zKCxSaBf2hdrGYXlj8N4xdalgkQ=");
    // ttl_exceeded v6: community of the echo request.
    let target = "2001:db8:ca:98::1";
    let req = echo(128, 20885, 1, 56);
    h.feed(5, C6, target, &req);
    let mut dgram = ipv6_header(C6, target, 58, req.len());
    dgram.extend_from_slice(&req);
    h.feed(6, S6, C6, &error(3, 0, &dgram, dgram.len()));
    assert_eq!(cid(&h.out[3]), "1:EztoOEvRVTl4viBq3zHjQnZBhhc=");
}
