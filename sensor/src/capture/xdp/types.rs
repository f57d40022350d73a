//! User-space views of the kernel maps: merged flow counters, verdict counters, clock.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sensor_common::{side, stat, FlowCounters, FlowKey};

/// One direction's counters of a kernel flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCount {
    /// Packets.
    pub packets: u64,
    /// Bytes of whole frames (Ethernet header included, FCS excluded).
    pub bytes: u64,
}

/// An endpoint of a [`FlowKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `addr_lo`/`port_lo`.
    Lo,
    /// `addr_hi`/`port_hi`.
    Hi,
}

/// A kernel flow with its per-CPU values merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelFlow {
    /// Sent by the key's `lo` endpoint.
    pub lo: DirCount,
    /// Sent by the key's `hi` endpoint.
    pub hi: DirCount,
    /// The endpoint that initiated the flow: the sender of a SYN without ACK when one was seen,
    /// otherwise the sender of the earliest packet.
    pub initiator: Endpoint,
    /// `initiator` comes from a SYN (not only from packet order).
    pub initiator_by_syn: bool,
    /// First packet, CLOCK_BOOTTIME ns (see [`BootClock`]).
    pub first_seen_ns: u64,
    /// Last packet, CLOCK_BOOTTIME ns.
    pub last_seen_ns: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u8,
}

impl KernelFlow {
    /// Merge the per-CPU values of one entry; `None` when every CPU's value is empty.
    pub fn merge(values: &[FlowCounters]) -> Option<KernelFlow> {
        let mut out = KernelFlow {
            lo: DirCount::default(),
            hi: DirCount::default(),
            initiator: Endpoint::Lo,
            initiator_by_syn: false,
            first_seen_ns: u64::MAX,
            last_seen_ns: 0,
            tcp_flags: 0,
        };
        let mut syn_seen_at = u64::MAX;
        for v in values.iter().filter(|v| v.first_seen_ns != 0) {
            out.lo.packets += v.packets_lo;
            out.lo.bytes += v.bytes_lo;
            out.hi.packets += v.packets_hi;
            out.hi.bytes += v.bytes_hi;
            out.tcp_flags |= v.tcp_flags;
            out.last_seen_ns = out.last_seen_ns.max(v.last_seen_ns);
            let who = if v.initiator == side::HI {
                Endpoint::Hi
            } else {
                Endpoint::Lo
            };
            if v.initiator_by_syn != 0 {
                // A SYN beats packet order; among SYNs the CPU that saw traffic first wins.
                if v.first_seen_ns < syn_seen_at {
                    syn_seen_at = v.first_seen_ns;
                    out.initiator = who;
                    out.initiator_by_syn = true;
                }
            } else if !out.initiator_by_syn && v.first_seen_ns < out.first_seen_ns {
                out.initiator = who;
            }
            out.first_seen_ns = out.first_seen_ns.min(v.first_seen_ns);
        }
        (out.first_seen_ns != u64::MAX).then_some(out)
    }

    /// Counters of the packets sent by the initiator.
    pub fn from_initiator(&self) -> DirCount {
        match self.initiator {
            Endpoint::Lo => self.lo,
            Endpoint::Hi => self.hi,
        }
    }

    /// Counters of the packets sent by the other side.
    pub fn from_responder(&self) -> DirCount {
        match self.initiator {
            Endpoint::Lo => self.hi,
            Endpoint::Hi => self.lo,
        }
    }

    /// (source, destination) = (initiator, responder) as socket addresses (ports 0 for ICMP).
    pub fn endpoints(&self, key: &FlowKey) -> (SocketAddr, SocketAddr) {
        let v4 = key.ip_version == 4;
        let lo = SocketAddr::new(addr(key.addr_lo, v4), key.port_lo);
        let hi = SocketAddr::new(addr(key.addr_hi, v4), key.port_hi);
        match self.initiator {
            Endpoint::Lo => (lo, hi),
            Endpoint::Hi => (hi, lo),
        }
    }
}

fn addr(b: [u8; 16], v4: bool) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match (v4, v6.to_ipv4_mapped()) {
        (true, Some(a)) => IpAddr::V4(a),
        _ => IpAddr::V6(v6),
    }
}

/// Converts kernel CLOCK_BOOTTIME nanoseconds to wall-clock time. Take one per report cycle: it
/// samples both clocks once, so conversions within a cycle are consistent.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    /// Unix-epoch ns minus boot ns at the moment of sampling.
    offset_ns: i128,
}

impl BootClock {
    /// Sample CLOCK_BOOTTIME and the realtime clock now.
    pub fn now() -> BootClock {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let boot = super::sys::boot_ns();
        BootClock {
            offset_ns: i128::try_from(real).unwrap_or(i128::MAX) - i128::from(boot),
        }
    }

    /// Unix-epoch nanoseconds of a kernel timestamp (the value of `sensor::time::Ts`).
    pub fn unix_ns(&self, boot_ns: u64) -> u64 {
        let ns = self.offset_ns.saturating_add(i128::from(boot_ns));
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
    }

    /// Wall-clock time of a kernel timestamp.
    pub fn system_time(&self, boot_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_ns(boot_ns))
    }
}

/// The program's verdict and parse counters, summed over CPUs (names as in
/// `sensor_common::stat::NAMES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Every packet seen.
    pub packets: u64,
    /// IP packets parsed and counted in the flow map.
    pub parsed: u64,
    /// Not IPv4/IPv6.
    pub non_ip: u64,
    /// Truncated or inconsistent headers (passed).
    pub malformed: u64,
    /// Redirected to an AF_XDP socket.
    pub redirected: u64,
    /// Matched but no socket for the RX queue (passed).
    pub redirect_failed: u64,
    /// `XDP_PASS` verdicts.
    pub passed: u64,
    /// `XDP_DROP` verdicts.
    pub dropped: u64,
    /// Matched packets of bypassed flows.
    pub bypassed: u64,
    /// Fragments (first and later).
    pub fragments: u64,
    /// Later fragments whose first fragment was not seen.
    pub frag_orphans: u64,
    /// Failed flow map insertions.
    pub flow_insert_failed: u64,
    /// 802.1Q/802.1ad tagged packets.
    pub vlan_tagged: u64,
    /// IPv6 packets with too many extension headers.
    pub ipv6_ext_limit: u64,
    /// Packets matched by the port filter or the ICMP setting.
    pub matched: u64,
    /// Packets seen by the egress counter.
    pub egress_packets: u64,
    /// Egress packets whose headers could not be read.
    pub egress_malformed: u64,
}

impl XdpStats {
    pub(super) fn from_counters(c: &[u64; stat::COUNT as usize]) -> XdpStats {
        let g = |i: u32| c.get(i as usize).copied().unwrap_or(0);
        XdpStats {
            packets: g(stat::PACKETS),
            parsed: g(stat::PARSED),
            non_ip: g(stat::NON_IP),
            malformed: g(stat::MALFORMED),
            redirected: g(stat::REDIRECTED),
            redirect_failed: g(stat::REDIRECT_FAILED),
            passed: g(stat::PASSED),
            dropped: g(stat::DROPPED),
            bypassed: g(stat::BYPASSED),
            fragments: g(stat::FRAGMENTS),
            frag_orphans: g(stat::FRAG_ORPHANS),
            flow_insert_failed: g(stat::FLOW_INSERT_FAILED),
            vlan_tagged: g(stat::VLAN_TAGGED),
            ipv6_ext_limit: g(stat::IPV6_EXT_LIMIT),
            matched: g(stat::MATCHED),
            egress_packets: g(stat::EGRESS_PACKETS),
            egress_malformed: g(stat::EGRESS_MALFORMED),
        }
    }

    /// (name, value) pairs for telemetry, in `stat` index order.
    pub fn named(&self) -> [(&'static str, u64); stat::COUNT as usize] {
        let v = [
            self.packets,
            self.parsed,
            self.non_ip,
            self.malformed,
            self.redirected,
            self.redirect_failed,
            self.passed,
            self.dropped,
            self.bypassed,
            self.fragments,
            self.frag_orphans,
            self.flow_insert_failed,
            self.vlan_tagged,
            self.ipv6_ext_limit,
            self.matched,
            self.egress_packets,
            self.egress_malformed,
        ];
        let mut out = [("", 0u64); stat::COUNT as usize];
        for ((o, name), value) in out.iter_mut().zip(stat::NAMES).zip(v) {
            *o = (name, value);
        }
        out
    }
}
