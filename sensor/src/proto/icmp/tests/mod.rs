//! Unit tests of the ICMP dissector with hand-built messages: harness, pairing and timeouts.

mod errors;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::json;

use super::msg::Version;
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
fn message_names() {
    use super::msg::message;
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
