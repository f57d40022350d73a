//! Errors quoting requests, response-only events, malformed input and robustness.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::super::msg::{self, Version};
use super::super::*;
use super::*;

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
