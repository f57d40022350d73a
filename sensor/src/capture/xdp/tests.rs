//! Unit tests of the loader's pure parts (the kernel parts run in tests/tests/xdp_netns.rs).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::*;
use crate::decode::Vlans;
use sensor_common::{ipproto, side, FlowCounters};

/// (source, port, destination, port, protocol, (outer VLAN, inner VLAN)).
type Case = (&'static str, u16, &'static str, u16, u8, (u16, u16));

fn counters(lo: u64, hi: u64, first: u64, initiator: u8, syn: u8) -> FlowCounters {
    FlowCounters {
        packets_lo: lo,
        bytes_lo: lo * 100,
        packets_hi: hi,
        bytes_hi: hi * 60,
        first_seen_ns: first,
        last_seen_ns: first + 10,
        tcp_flags: if syn != 0 { 0x02 } else { 0x10 },
        initiator,
        initiator_by_syn: syn,
        _pad: [0; 5],
    }
}

#[test]
fn merge_sums_cpus_and_prefers_syn() {
    let empty = FlowCounters::default();
    // CPU 1 saw the server's packet first; CPU 2 saw the client's SYN later: SYN wins.
    let v = [
        empty,
        counters(0, 2, 100, side::HI, 0),
        counters(3, 0, 150, side::LO, 1),
    ];
    let f = KernelFlow::merge(&v).unwrap();
    assert_eq!(
        f.lo,
        DirCount {
            packets: 3,
            bytes: 300
        }
    );
    assert_eq!(
        f.hi,
        DirCount {
            packets: 2,
            bytes: 120
        }
    );
    assert_eq!((f.initiator, f.initiator_by_syn), (Endpoint::Lo, true));
    assert_eq!((f.first_seen_ns, f.last_seen_ns), (100, 160));
    assert_eq!(f.tcp_flags, 0x12);
    assert_eq!(f.from_initiator(), f.lo);
    // Without a SYN the earliest CPU decides.
    let v = [
        counters(1, 0, 200, side::LO, 0),
        counters(0, 1, 50, side::HI, 0),
    ];
    let f = KernelFlow::merge(&v).unwrap();
    assert_eq!(f.initiator, Endpoint::Hi);
    assert_eq!(f.from_initiator(), f.hi);
    assert!(KernelFlow::merge(&[empty, empty]).is_none());
}

#[test]
fn kernel_key_equals_user_space_key() {
    let cases: [Case; 4] = [
        ("198.18.0.1", 40000, "198.18.0.2", 80, ipproto::TCP, (0, 0)),
        ("198.18.0.9", 53, "198.18.0.2", 53, ipproto::UDP, (10, 0)),
        (
            "2001:db8::2",
            0,
            "2001:db8::1",
            0,
            ipproto::ICMPV6,
            (100, 20),
        ),
        ("198.18.0.1", 9, "198.18.0.1", 8, ipproto::UDP, (0, 0)),
    ];
    for (a, ap, b, bp, proto, (vo, vi)) in cases {
        let src = SocketAddr::new(a.parse().unwrap(), ap);
        let dst = SocketAddr::new(b.parse().unwrap(), bp);
        let (user, user_lo) = crate::flow::flow_key(proto, src, dst, &Vlans::from_ids(vo, vi));
        let v = if src.is_ipv4() { 4 } else { 6 };
        let a16 = crate::flow::addr16(src.ip());
        let b16 = crate::flow::addr16(dst.ip());
        let (kernel, side) = FlowKey::canonical(a16, ap, b16, bp, proto, v, vo, vi);
        assert_eq!(kernel, user, "{a} {b}");
        assert_eq!(side == side::LO, user_lo);
        let f = KernelFlow::merge(&[counters(1, 0, 1, side, 0)]).unwrap();
        assert_eq!(f.endpoints(&kernel), (src, dst));
    }
}

#[test]
fn boot_clock_is_close_to_now() {
    let c = BootClock::now();
    let now = c.system_time(boot_ns());
    let d = now
        .duration_since(SystemTime::now())
        .unwrap_or_else(|e| e.duration());
    assert!(d < Duration::from_secs(1), "{d:?}");
}

#[test]
fn named_stats_follow_the_kernel_indices() {
    let s = XdpStats {
        dropped: 7,
        egress_malformed: 3,
        ..XdpStats::default()
    };
    let n = s.named();
    assert_eq!(n[stat::DROPPED as usize], ("dropped", 7));
    assert_eq!(n[stat::EGRESS_MALFORMED as usize], ("egress_malformed", 3));
}

#[test]
fn empty_object_says_how_to_build_it() {
    let e = DataPlane::load_object(&XdpOptions::default(), &[]).unwrap_err();
    assert!(e.to_string().contains("cargo xtask build"), "{e}");
}
