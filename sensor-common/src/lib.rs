//! Types shared by the kernel data plane (`sensor-ebpf`) and user space (`sensor`).
//!
//! Rules (DESIGN.md, habit 5): `#[repr(C)]`, no `bool`, no data-carrying enums, explicit
//! padding, a `const` size assertion per type, and `aya::Pod` only behind the `user` feature
//! (a default feature: the eBPF crate turns default features off, so it never sees aya).
//!
//! Map and global names are constants here so that the program and the loader cannot drift.
#![no_std]

/// Transport numbers as they appear in [`FlowKey::proto`].
pub mod ipproto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
}

/// Names of the maps of the XDP program (the loader looks them up by these names).
pub mod maps {
    /// `LRU_PERCPU_HASH` [`crate::FlowKey`] → [`crate::FlowCounters`]: counters of all IP traffic.
    pub const FLOWS: &str = "FLOWS";
    /// `HASH` `u16` port (host order) → [`crate::PortRule`]: ports whose packets are redirected.
    pub const PORTS: &str = "PORTS";
    /// `LRU_HASH` [`crate::FlowKey`] → `u8` (1): flows user space no longer wants redirected.
    pub const BYPASS: &str = "BYPASS";
    /// `LRU_HASH` [`crate::FragKey`] → [`crate::FragPorts`]: ports of fragmented datagrams, so
    /// that non-first fragments land in the flow of their first fragment.
    pub const FRAGS: &str = "FRAGS";
    /// `XSKMAP` RX queue index → AF_XDP socket.
    pub const XSKS: &str = "XSKS";
    /// `PERCPU_ARRAY` [`crate::stat`] index → `u64` counter.
    pub const STATS: &str = "STATS";
}

/// Names of the load-time globals (`.rodata`, set with aya's `override_global`).
pub mod globals {
    /// `u8`: 1 = span-port mode (unmatched packets are dropped), 0 = host mode (passed).
    pub const SPAN_MODE: &str = "SPAN_MODE";
    /// `u8`: 1 = redirect ICMP and ICMPv6 (the icmp protocol is enabled).
    pub const ICMP_ENABLED: &str = "ICMP_ENABLED";
}

/// Name of the XDP program in the object.
pub const PROGRAM_NAME: &str = "sensor";
/// Name of the TC egress counting program in the object.
pub const EGRESS_PROGRAM_NAME: &str = "sensor_egress";

/// Capacity of [`maps::FLOWS`]: LRU, so the least recently seen flows are evicted when full; 64 Ki
/// flows is the concurrent flow count of a busy server, and per-CPU values cost
/// 56 B × CPUs each, so 64 Ki × 56 B × 64 CPUs stays below 256 MiB.
pub const MAX_FLOWS: u32 = 65_536;
/// Capacity of [`maps::PORTS`]: Packetbeat configurations list tens of ports; 1 Ki leaves room
/// for port ranges expanded by user space.
pub const MAX_PORTS: u32 = 1_024;
/// Capacity of [`maps::BYPASS`]: LRU, so a user space that forgets to remove entries cannot fill
/// it; bypassed flows are a subset of the redirected ones, a quarter of [`MAX_FLOWS`] is plenty.
pub const MAX_BYPASS: u32 = 16_384;
/// Capacity of [`maps::FRAGS`]: LRU; one entry per fragmented datagram in flight, which is rare
/// traffic (kernel reassembly defaults hold about 4 MiB, i.e. a few thousand datagrams).
pub const MAX_FRAGS: u32 = 4_096;
/// Capacity of [`maps::XSKS`]: RX queues of the largest NICs we expect (one socket per queue).
pub const MAX_QUEUES: u32 = 256;
/// IPv6 extension headers the parser walks before giving up (counted as
/// [`stat::IPV6_EXT_LIMIT`]); real traffic carries at most 2–3 (hop-by-hop, routing, fragment).
pub const MAX_IPV6_EXT_HEADERS: u32 = 6;

/// Indices of the per-CPU counter array [`maps::STATS`].
pub mod stat {
    /// Every packet seen by the program.
    pub const PACKETS: u32 = 0;
    /// IPv4/IPv6 packets whose headers parsed (they are counted in the flow map).
    pub const PARSED: u32 = 1;
    /// Packets that are not IPv4/IPv6 (ARP, LLDP, …).
    pub const NON_IP: u32 = 2;
    /// Truncated or inconsistent headers (passed, never counted in a flow).
    pub const MALFORMED: u32 = 3;
    /// Redirected to an AF_XDP socket.
    pub const REDIRECTED: u32 = 4;
    /// Matched, but no socket for this RX queue in the XSKMAP: passed instead.
    pub const REDIRECT_FAILED: u32 = 5;
    /// `XDP_PASS` verdicts (all causes).
    pub const PASSED: u32 = 6;
    /// `XDP_DROP` verdicts (span mode, unmatched).
    pub const DROPPED: u32 = 7;
    /// Matched packets of flows in the BYPASS map (not redirected).
    pub const BYPASSED: u32 = 8;
    /// IPv4/IPv6 fragments (first and later ones).
    pub const FRAGMENTS: u32 = 9;
    /// Non-first fragments whose first fragment was not seen: counted under ports 0.
    pub const FRAG_ORPHANS: u32 = 10;
    /// Flow map insertions that failed (the packet is still given a verdict).
    pub const FLOW_INSERT_FAILED: u32 = 11;
    /// Packets with at least one 802.1Q/802.1ad tag.
    pub const VLAN_TAGGED: u32 = 12;
    /// IPv6 packets with more extension headers than the parser walks.
    pub const IPV6_EXT_LIMIT: u32 = 13;
    /// Packets matched by the port filter or the ICMP setting.
    pub const MATCHED: u32 = 14;
    /// Packets seen by the egress (TC) counter program.
    pub const EGRESS_PACKETS: u32 = 15;
    /// Egress packets whose headers could not be read.
    pub const EGRESS_MALFORMED: u32 = 16;
    /// Number of counters.
    pub const COUNT: u32 = 17;

    /// Names of the counters, by index (for telemetry).
    pub const NAMES: [&str; COUNT as usize] = [
        "packets",
        "parsed",
        "non_ip",
        "malformed",
        "redirected",
        "redirect_failed",
        "passed",
        "dropped",
        "bypassed",
        "fragments",
        "frag_orphans",
        "flow_insert_failed",
        "vlan_tagged",
        "ipv6_ext_limit",
        "matched",
        "egress_packets",
        "egress_malformed",
    ];
}

/// Key of the kernel flow map: the canonical 5-tuple plus VLAN, so that both directions of a
/// connection land in one entry. IPv4 addresses are stored as IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
/// `addr_lo`/`port_lo` is the smaller (address bytes, then port) endpoint — the same order as
/// `sensor::flow::flow_key`. ICMP and other port-less transports use ports 0; so do non-first
/// fragments whose first fragment was not seen.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FlowKey {
    /// Smaller endpoint address (16 bytes, network order).
    pub addr_lo: [u8; 16],
    /// Larger endpoint address (16 bytes, network order).
    pub addr_hi: [u8; 16],
    /// Port of `addr_lo` (host order); 0 for ICMP.
    pub port_lo: u16,
    /// Port of `addr_hi` (host order); 0 for ICMP.
    pub port_hi: u16,
    /// Outer 802.1Q VLAN id, 0 when untagged.
    pub vlan_outer: u16,
    /// Inner 802.1Q VLAN id (QinQ), 0 when absent.
    pub vlan_inner: u16,
    /// IP protocol number, see [`ipproto`].
    pub proto: u8,
    /// 4 or 6.
    pub ip_version: u8,
    /// Explicit padding to a multiple of 4 bytes; always zero.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<FlowKey>() == 44);

/// Which endpoint of a [`FlowKey`] a packet came from.
pub mod side {
    /// The `lo` endpoint (`addr_lo`, `port_lo`).
    pub const LO: u8 = 1;
    /// The `hi` endpoint.
    pub const HI: u8 = 2;
}

impl FlowKey {
    /// The canonical key of a packet `src` → `dst`, and the [`side`] of its sender. Used by the
    /// XDP program; user space gets the same key from `sensor::flow::flow_key`.
    #[inline(always)]
    #[allow(
        clippy::too_many_arguments,
        reason = "a packet's 5-tuple plus VLANs; a struct would only be unpacked again"
    )]
    pub fn canonical(
        src: [u8; 16],
        sport: u16,
        dst: [u8; 16],
        dport: u16,
        proto: u8,
        ip_version: u8,
        vlan_outer: u16,
        vlan_inner: u16,
    ) -> (FlowKey, u8) {
        // Big-endian integers order like the address bytes; u128 compares are two 64-bit
        // compares in BPF (no memcmp, which the BPF target lacks).
        let s = u128::from_be_bytes(src);
        let d = u128::from_be_bytes(dst);
        let src_is_lo = s < d || (s == d && sport <= dport);
        let (al, pl, ah, ph, side) = if src_is_lo {
            (src, sport, dst, dport, side::LO)
        } else {
            (dst, dport, src, sport, side::HI)
        };
        (
            FlowKey {
                addr_lo: al,
                addr_hi: ah,
                port_lo: pl,
                port_hi: ph,
                vlan_outer,
                vlan_inner,
                proto,
                ip_version,
                _pad: [0; 2],
            },
            side,
        )
    }

    /// `::ffff:a.b.c.d`, the form IPv4 addresses take in a key.
    #[inline(always)]
    pub const fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
        [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3],
        ]
    }
}

/// Per-direction counters of a flow in the kernel map (one value per CPU; user space merges).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowCounters {
    /// Packets sent by the `lo` endpoint.
    pub packets_lo: u64,
    /// Bytes (whole frames as seen by XDP) sent by the `lo` endpoint.
    pub bytes_lo: u64,
    /// Packets sent by the `hi` endpoint.
    pub packets_hi: u64,
    /// Bytes (whole frames) sent by the `hi` endpoint.
    pub bytes_hi: u64,
    /// First packet seen on this CPU (ns since boot, `bpf_ktime_get_boot_ns`, CLOCK_BOOTTIME).
    pub first_seen_ns: u64,
    /// Last packet seen on this CPU (ns since boot).
    pub last_seen_ns: u64,
    /// OR of TCP flags seen.
    pub tcp_flags: u8,
    /// [`side`] of the endpoint that initiated: the sender of a SYN without ACK when one was seen
    /// (see `initiator_by_syn`), otherwise the sender of the first packet seen on this CPU.
    pub initiator: u8,
    /// 1 when `initiator` comes from a SYN without ACK, 0 when from the first packet.
    pub initiator_by_syn: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 5],
}
const _: () = assert!(core::mem::size_of::<FlowCounters>() == 56);

/// Value of the PORTS map: which transports a port is enabled for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortRule {
    /// Bit set of [`PORT_TCP`], [`PORT_UDP`].
    pub transports: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<PortRule>() == 4);

/// `PortRule::transports` bit for TCP.
pub const PORT_TCP: u8 = 1;
/// `PortRule::transports` bit for UDP.
pub const PORT_UDP: u8 = 2;

/// Key of the FRAGS map: one fragmented datagram (RFC 791/8200: source, destination, protocol,
/// identification), plus VLANs so equal addresses in two VLANs stay apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FragKey {
    /// Source address (IPv4-mapped for IPv4).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    /// Outer VLAN id, 0 when untagged.
    pub vlan_outer: u16,
    /// Inner VLAN id, 0 when absent.
    pub vlan_inner: u16,
    /// Upper-layer protocol.
    pub proto: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<FragKey>() == 44);

/// Value of the FRAGS map: the ports read from the first fragment.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FragPorts {
    /// Source port of the datagram (host order).
    pub sport: u16,
    /// Destination port (host order).
    pub dport: u16,
}
const _: () = assert!(core::mem::size_of::<FragPorts>() == 4);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] integers and byte arrays with explicit padding, no invalid bit patterns.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowCounters {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PortRule {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FragKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FragPorts {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_is_symmetric() {
        let a = FlowKey::v4_mapped([198, 18, 0, 1]);
        let b = FlowKey::v4_mapped([198, 18, 0, 2]);
        let (k1, s1) = FlowKey::canonical(a, 40000, b, 80, ipproto::TCP, 4, 7, 0);
        let (k2, s2) = FlowKey::canonical(b, 80, a, 40000, ipproto::TCP, 4, 7, 0);
        assert_eq!(k1, k2);
        assert_eq!((s1, s2), (side::LO, side::HI));
        assert_eq!(k1.addr_lo, a);
        assert_eq!(k1.port_lo, 40000);
        // Same address: the port decides.
        let (k3, s3) = FlowKey::canonical(a, 9, a, 8, ipproto::UDP, 4, 0, 0);
        assert_eq!((k3.port_lo, k3.port_hi, s3), (8, 9, side::HI));
    }
}
