//! Types shared by the kernel data plane (`sensor-ebpf`) and user space (`sensor`).
//!
//! Rules (DESIGN.md, habit 5): `#[repr(C)]`, no `bool`, no data-carrying enums, explicit
//! padding, a `const` size assertion per type, and `aya::Pod` only behind the `user` feature.
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

/// Key of the kernel flow map: the canonical 5-tuple plus VLAN, so that both directions of a
/// connection land in one entry. IPv4 addresses are stored as IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
/// `addr_lo`/`port_lo` is the numerically smaller (address, port) endpoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
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

/// Per-direction counters of a flow in the kernel map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowCounters {
    /// Packets sent by the `lo` endpoint.
    pub packets_lo: u64,
    /// Bytes (whole frames) sent by the `lo` endpoint.
    pub bytes_lo: u64,
    /// Packets sent by the `hi` endpoint.
    pub packets_hi: u64,
    /// Bytes (whole frames) sent by the `hi` endpoint.
    pub bytes_hi: u64,
    /// First packet seen (ns, `bpf_ktime_get_ns`).
    pub first_seen_ns: u64,
    /// Last packet seen (ns).
    pub last_seen_ns: u64,
    /// OR of TCP flags seen.
    pub tcp_flags: u8,
    /// 1 when the `lo` endpoint sent the first packet, 2 when `hi` did.
    pub initiator: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 6],
}
const _: () = assert!(core::mem::size_of::<FlowCounters>() == 56);

/// Value of the PORTS map: which transports a port is enabled for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortRule {
    /// Bit 0: TCP, bit 1: UDP.
    pub transports: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<PortRule>() == 4);

/// `PortRule::transports` bit for TCP.
pub const PORT_TCP: u8 = 1;
/// `PortRule::transports` bit for UDP.
pub const PORT_UDP: u8 = 2;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] integers and byte arrays with explicit padding, no invalid bit patterns.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowCounters {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PortRule {}
}
