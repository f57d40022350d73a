//! The sensor's XDP program (DESIGN.md, data flow step 1).
//!
//! For every packet: a bounds-checked parse of Ethernet, up to two 802.1Q/802.1ad tags, IPv4
//! (IHL, fragments) or IPv6 (up to [`MAX_IPV6_EXT_HEADERS`] extension headers), then TCP, UDP,
//! ICMP or ICMPv6. Every IP packet is counted in the per-CPU LRU flow map `FLOWS` under its
//! canonical key. Then the verdict:
//!
//! * matched (a port in `PORTS` for its transport, or ICMP/ICMPv6 when `ICMP_ENABLED`) and not in
//!   `BYPASS` → redirect to the AF_XDP socket of this RX queue (`XSKS`), `XDP_PASS` when none;
//! * otherwise `XDP_PASS` in host mode, `XDP_DROP` in span mode (`SPAN_MODE`);
//! * headers that do not parse → `XDP_PASS` (counted as malformed; the host never loses traffic
//!   because of the sensor).
//!
//! Fragments: the first fragment of a datagram carries the ports; its ports are remembered in the
//! LRU map `FRAGS` under (source, destination, protocol, identification, VLANs) so later
//! fragments are counted — and filtered — as part of the same 5-tuple flow, the way user space
//! counts a reassembled datagram. A later fragment whose first fragment was not seen (reordered,
//! or evicted) is counted in the flow with ports 0 and given the unmatched verdict
//! (`FRAG_ORPHANS`).
#![no_std]
#![no_main]

use core::mem::size_of;

use aya_ebpf::{
    bindings::{xdp_action, BPF_NOEXIST, TC_ACT_UNSPEC},
    helpers::bpf_ktime_get_boot_ns,
    macros::{classifier, map, xdp},
    maps::{HashMap, LruHashMap, LruPerCpuHashMap, PerCpuArray, XskMap},
    programs::{TcContext, XdpContext},
};
use sensor_common::{
    ipproto, side, stat, FlowCounters, FlowKey, FragKey, FragPorts, PortRule, MAX_BYPASS,
    MAX_FLOWS, MAX_FRAGS, MAX_IPV6_EXT_HEADERS, MAX_PORTS, MAX_QUEUES, PORT_TCP, PORT_UDP,
};

/// Load-time setting: 1 = span-port mode (unmatched packets are dropped).
#[unsafe(no_mangle)]
static SPAN_MODE: u8 = 0;
/// Load-time setting: 1 = redirect ICMP/ICMPv6.
#[unsafe(no_mangle)]
static ICMP_ENABLED: u8 = 0;

#[map(name = "FLOWS")]
static FLOWS: LruPerCpuHashMap<FlowKey, FlowCounters> =
    LruPerCpuHashMap::with_max_entries(MAX_FLOWS, 0);
#[map(name = "PORTS")]
static PORTS: HashMap<u16, PortRule> = HashMap::with_max_entries(MAX_PORTS, 0);
#[map(name = "BYPASS")]
static BYPASS: LruHashMap<FlowKey, u8> = LruHashMap::with_max_entries(MAX_BYPASS, 0);
#[map(name = "FRAGS")]
static FRAGS: LruHashMap<FragKey, FragPorts> = LruHashMap::with_max_entries(MAX_FRAGS, 0);
#[map(name = "XSKS")]
static XSKS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);
#[map(name = "STATS")]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stat::COUNT, 0);

/// Ethernet header length.
const ETH_HLEN: usize = 14;
/// 802.1Q/802.1ad tag length.
const VLAN_HLEN: usize = 4;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;
/// Pre-standard QinQ outer tag, still seen on some switches.
const ETH_P_QINQ_9100: u16 = 0x9100;
/// Minimum IPv4 header.
const IPV4_HLEN: usize = 20;
/// IPv6 fixed header.
const IPV6_HLEN: usize = 40;
/// IPv4 "more fragments" flag in the flags/offset field.
const IP_MF: u16 = 0x2000;
/// IPv4 fragment offset mask.
const IP_OFFSET: u16 = 0x1FFF;
/// TCP header without options.
const TCP_HLEN: usize = 20;
const UDP_HLEN: usize = 8;
/// Type, code, checksum: what ICMP/ICMPv6 must at least carry.
const ICMP_MIN_HLEN: usize = 4;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_AUTH: u8 = 51;
const NEXTHDR_DEST: u8 = 60;
/// IPv6 fragment header length.
const IPV6_FRAG_HLEN: usize = 8;

/// Bytes of an egress skb made linear before parsing: Ethernet + 2 tags + IPv6 + extension
/// headers + TCP with options fit in 256 for all but pathological packets.
const EGRESS_PULL: u32 = 256;

/// Entry point: every error path ends in `XDP_PASS`, so the host never loses traffic.
#[xdp]
pub fn sensor(ctx: XdpContext) -> u32 {
    try_sensor(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

/// Egress entry point (TC/TCX): counts, never changes the packet's fate (`TC_ACT_UNSPEC` = TCX
/// "next": the following programs and the default action decide).
#[classifier]
pub fn sensor_egress(ctx: TcContext) -> i32 {
    try_egress(&ctx).unwrap_or(TC_ACT_UNSPEC)
}

/// A header that does not fit in the packet.
struct Truncated;

/// The packet's bytes: `[start, end)` (from `data`/`data_end` of either context).
struct Pkt {
    start: usize,
    end: usize,
}

/// What the parser learnt about an IP packet.
struct Parsed {
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    proto: u8,
    ip_version: u8,
    vlan_outer: u16,
    vlan_inner: u16,
    tcp_flags: u8,
    /// The ports are unknown (non-first fragment without a FRAGS entry).
    orphan: u8,
    /// Bytes of headers up to the end of the transport header (GSO accounting on egress).
    hdr_len: usize,
}

fn try_egress(ctx: &TcContext) -> Result<i32, ()> {
    count(stat::EGRESS_PACKETS);
    let len = ctx.len();
    let want = if len < EGRESS_PULL { len } else { EGRESS_PULL };
    if ((ctx.data_end() - ctx.data()) as u32) < want && ctx.pull_data(want).is_err() {
        count(stat::EGRESS_MALFORMED);
        return Ok(TC_ACT_UNSPEC);
    }
    let pkt = Pkt {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    let mut p = match parse(&pkt) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(TC_ACT_UNSPEC),
        Err(Truncated) => {
            count(stat::EGRESS_MALFORMED);
            return Ok(TC_ACT_UNSPEC);
        }
    };
    // SAFETY: `skb` is the program's context pointer; these fields are readable by TC programs.
    let (vlan_present, vlan_tci, gso_segs) = unsafe {
        let skb = ctx.skb.skb;
        ((*skb).vlan_present, (*skb).vlan_tci, (*skb).gso_segs)
    };
    if vlan_present != 0 {
        // An offloaded tag is the outermost one; a tag in the data is then the inner one.
        p.vlan_inner = p.vlan_outer;
        p.vlan_outer = (vlan_tci & 0x0FFF) as u16;
    }
    let segs = if gso_segs > 1 { u64::from(gso_segs) } else { 1 };
    // Each extra segment repeats the headers on the wire.
    let bytes = u64::from(len) + (segs - 1) * p.hdr_len as u64;
    let (key, from) = key_of(&p);
    update_flow(&key, from, segs, bytes, p.tcp_flags);
    Ok(TC_ACT_UNSPEC)
}

#[inline(always)]
fn key_of(p: &Parsed) -> (FlowKey, u8) {
    FlowKey::canonical(
        p.src,
        p.sport,
        p.dst,
        p.dport,
        p.proto,
        p.ip_version,
        p.vlan_outer,
        p.vlan_inner,
    )
}

fn try_sensor(ctx: &XdpContext) -> Result<u32, ()> {
    count(stat::PACKETS);
    let pkt = Pkt {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    let parsed = match parse(&pkt) {
        Ok(Some(p)) => p,
        Ok(None) => {
            count(stat::NON_IP);
            return Ok(unmatched());
        }
        Err(Truncated) => {
            count(stat::MALFORMED);
            count(stat::PASSED);
            return Ok(xdp_action::XDP_PASS);
        }
    };
    count(stat::PARSED);
    let (key, from) = key_of(&parsed);
    let len = (pkt.end - pkt.start) as u64;
    update_flow(&key, from, 1, len, parsed.tcp_flags);

    if parsed.orphan != 0 || !matched(&parsed) {
        return Ok(unmatched());
    }
    count(stat::MATCHED);
    if BYPASS.get_ptr(&key).is_some() {
        count(stat::BYPASSED);
        return Ok(unmatched());
    }
    match XSKS.redirect(ctx.rx_queue_index(), u64::from(xdp_action::XDP_PASS)) {
        Ok(action) => {
            count(stat::REDIRECTED);
            Ok(action)
        }
        Err(_) => {
            count(stat::REDIRECT_FAILED);
            count(stat::PASSED);
            Ok(xdp_action::XDP_PASS)
        }
    }
}

/// The verdict for packets the sensor does not want: pass (host mode) or drop (span mode).
#[inline(always)]
fn unmatched() -> u32 {
    // SAFETY: a plain read of a constant the loader may have patched before load.
    if unsafe { core::ptr::read_volatile(&SPAN_MODE) } != 0 {
        count(stat::DROPPED);
        xdp_action::XDP_DROP
    } else {
        count(stat::PASSED);
        xdp_action::XDP_PASS
    }
}

/// Is this packet one the sensor's dissectors want?
#[inline(always)]
fn matched(p: &Parsed) -> bool {
    let bit = match p.proto {
        ipproto::TCP => PORT_TCP,
        ipproto::UDP => PORT_UDP,
        ipproto::ICMP | ipproto::ICMPV6 => {
            // SAFETY: as in `unmatched`.
            return unsafe { core::ptr::read_volatile(&ICMP_ENABLED) } != 0;
        }
        _ => return false,
    };
    port_has(p.dport, bit) || port_has(p.sport, bit)
}

#[inline(always)]
fn port_has(port: u16, bit: u8) -> bool {
    match PORTS.get_ptr(&port) {
        // SAFETY: the pointer comes from a successful lookup and PortRule is plain data.
        Some(rule) => (unsafe { (*rule).transports } & bit) != 0,
        None => false,
    }
}

/// Add `packets` packets of `bytes` bytes to their flow's per-CPU counters.
#[inline(always)]
fn update_flow(key: &FlowKey, from: u8, packets: u64, bytes: u64, tcp_flags: u8) {
    // SAFETY: bpf_ktime_get_boot_ns has no preconditions.
    let now = unsafe { bpf_ktime_get_boot_ns() };
    if let Some(c) = FLOWS.get_ptr_mut(key) {
        // SAFETY: the pointer is this CPU's value of a live entry; only this CPU writes it
        // (XDP and TC run with preemption disabled).
        unsafe { add(&mut *c, from, packets, bytes, tcp_flags, now) };
        return;
    }
    let mut c = FlowCounters::default();
    add(&mut c, from, packets, bytes, tcp_flags, now);
    if FLOWS.insert(key, &c, u64::from(BPF_NOEXIST)).is_ok() {
        return;
    }
    // Another CPU created the entry meanwhile: add to this CPU's (zeroed) value.
    match FLOWS.get_ptr_mut(key) {
        // SAFETY: as above.
        Some(c) => unsafe { add(&mut *c, from, packets, bytes, tcp_flags, now) },
        None => count(stat::FLOW_INSERT_FAILED),
    }
}

#[inline(always)]
fn add(c: &mut FlowCounters, from: u8, packets: u64, bytes: u64, tcp_flags: u8, now: u64) {
    if from == side::LO {
        c.packets_lo += packets;
        c.bytes_lo += bytes;
    } else {
        c.packets_hi += packets;
        c.bytes_hi += bytes;
    }
    if c.first_seen_ns == 0 {
        c.first_seen_ns = now;
        c.initiator = from;
    }
    c.last_seen_ns = now;
    c.tcp_flags |= tcp_flags;
    if tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
        c.initiator = from;
        c.initiator_by_syn = 1;
    }
}

#[inline(always)]
fn count(index: u32) {
    if let Some(v) = STATS.get_ptr_mut(index) {
        // SAFETY: this CPU's slot of a per-CPU array; nothing else writes it concurrently.
        unsafe { *v += 1 };
    }
}

/// A pointer to a `T` at `offset` in the packet, or `Truncated` when it does not fit.
#[inline(always)]
fn ptr_at<T>(pkt: &Pkt, offset: usize) -> Result<*const T, Truncated> {
    if pkt.start + offset + size_of::<T>() > pkt.end {
        return Err(Truncated);
    }
    Ok((pkt.start + offset) as *const T)
}

/// Read a `T` (plain bytes, alignment 1) at `offset`.
#[inline(always)]
fn read<T: Copy>(ctx: &Pkt, offset: usize) -> Result<T, Truncated> {
    let p = ptr_at::<T>(ctx, offset)?;
    // SAFETY: `ptr_at` checked that the T lies within the packet; T is a byte array/u8.
    Ok(unsafe { core::ptr::read_unaligned(p) })
}

#[inline(always)]
fn be16(ctx: &Pkt, offset: usize) -> Result<u16, Truncated> {
    Ok(u16::from_be_bytes(read::<[u8; 2]>(ctx, offset)?))
}

/// `Ok(None)` for non-IP frames.
#[inline(always)]
fn parse(ctx: &Pkt) -> Result<Option<Parsed>, Truncated> {
    let mut off = ETH_HLEN;
    let mut ethertype = be16(ctx, 12)?;
    let mut vlan_outer = 0u16;
    let mut vlan_inner = 0u16;
    // Two tags, unrolled: outer then inner (QinQ).
    if is_vlan(ethertype) {
        vlan_outer = be16(ctx, off)? & 0x0FFF;
        ethertype = be16(ctx, off + 2)?;
        off += VLAN_HLEN;
        if is_vlan(ethertype) {
            vlan_inner = be16(ctx, off)? & 0x0FFF;
            ethertype = be16(ctx, off + 2)?;
            off += VLAN_HLEN;
        }
        count(stat::VLAN_TAGGED);
    }
    let mut p = Parsed {
        src: [0; 16],
        dst: [0; 16],
        sport: 0,
        dport: 0,
        proto: 0,
        ip_version: 0,
        vlan_outer,
        vlan_inner,
        tcp_flags: 0,
        orphan: 0,
        hdr_len: 0,
    };
    let l4 = match ethertype {
        ETH_P_IP => parse_ipv4(ctx, off, &mut p)?,
        ETH_P_IPV6 => parse_ipv6(ctx, off, &mut p)?,
        _ => return Ok(None),
    };
    if let Some(l4) = l4 {
        parse_l4(ctx, l4, &mut p)?;
    }
    Ok(Some(p))
}

#[inline(always)]
fn is_vlan(ethertype: u16) -> bool {
    ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD || ethertype == ETH_P_QINQ_9100
}

/// Fills addresses and protocol; returns the L4 offset when the packet carries the L4 header
/// (`None` for non-first fragments, whose ports are then taken from FRAGS).
#[inline(always)]
fn parse_ipv4(ctx: &Pkt, off: usize, p: &mut Parsed) -> Result<Option<usize>, Truncated> {
    let hdr = read::<[u8; IPV4_HLEN]>(ctx, off)?;
    if hdr[0] >> 4 != 4 {
        return Err(Truncated);
    }
    let ihl = usize::from(hdr[0] & 0x0F) * 4;
    if ihl < IPV4_HLEN {
        return Err(Truncated);
    }
    p.ip_version = 4;
    p.proto = hdr[9];
    p.src = FlowKey::v4_mapped([hdr[12], hdr[13], hdr[14], hdr[15]]);
    p.dst = FlowKey::v4_mapped([hdr[16], hdr[17], hdr[18], hdr[19]]);
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    let id = u32::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let l4 = off + ihl;
    fragment(ctx, p, id, frag & IP_OFFSET, frag & IP_MF != 0, l4)
}

/// Common fragment handling of IPv4 and IPv6; `offset` in 8-byte units.
#[inline(always)]
fn fragment(
    ctx: &Pkt,
    p: &mut Parsed,
    id: u32,
    offset: u16,
    more: bool,
    l4: usize,
) -> Result<Option<usize>, Truncated> {
    if offset == 0 && !more {
        return Ok(Some(l4));
    }
    count(stat::FRAGMENTS);
    let key = FragKey {
        src: p.src,
        dst: p.dst,
        id,
        vlan_outer: p.vlan_outer,
        vlan_inner: p.vlan_inner,
        proto: p.proto,
        _pad: [0; 3],
    };
    if offset == 0 {
        // First fragment: parse the ports, remember them for the rest.
        parse_l4(ctx, l4, p)?;
        let ports = FragPorts {
            sport: p.sport,
            dport: p.dport,
        };
        // A full map evicts (LRU); a failure only makes later fragments orphans.
        let _ = FRAGS.insert(&key, &ports, 0);
        return Ok(None);
    }
    match FRAGS.get_ptr(&key) {
        Some(ports) => {
            // SAFETY: pointer from a successful lookup; FragPorts is plain data.
            let ports = unsafe { *ports };
            p.sport = ports.sport;
            p.dport = ports.dport;
            if !more {
                // Last fragment (usually): the entry is no longer needed.
                let _ = FRAGS.remove(&key);
            }
        }
        None => {
            count(stat::FRAG_ORPHANS);
            p.orphan = 1;
        }
    }
    Ok(None)
}

#[inline(always)]
fn parse_ipv6(ctx: &Pkt, off: usize, p: &mut Parsed) -> Result<Option<usize>, Truncated> {
    let first = read::<u8>(ctx, off)?;
    if first >> 4 != 6 {
        return Err(Truncated);
    }
    let mut next = read::<u8>(ctx, off + 6)?;
    p.src = read::<[u8; 16]>(ctx, off + 8)?;
    p.dst = read::<[u8; 16]>(ctx, off + 24)?;
    p.ip_version = 6;
    let mut off = off + IPV6_HLEN;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let h = read::<[u8; 2]>(ctx, off)?;
                next = h[0];
                off += (usize::from(h[1]) + 1) * 8;
            }
            NEXTHDR_AUTH => {
                let h = read::<[u8; 2]>(ctx, off)?;
                next = h[0];
                off += (usize::from(h[1]) + 2) * 4;
            }
            NEXTHDR_FRAGMENT => {
                let h = read::<[u8; IPV6_FRAG_HLEN]>(ctx, off)?;
                p.proto = h[0];
                let field = u16::from_be_bytes([h[2], h[3]]);
                let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                // Offset in the high 13 bits, M flag in bit 0. Headers after a fragment header
                // (other than the upper layer) are rare and not walked.
                return fragment(ctx, p, id, field >> 3, field & 1 != 0, off + IPV6_FRAG_HLEN);
            }
            _ => {
                p.proto = next;
                return Ok(Some(off));
            }
        }
    }
    // Too many extension headers: count the packet with the last header as its protocol.
    count(stat::IPV6_EXT_LIMIT);
    p.proto = next;
    Ok(None)
}

/// Ports (and TCP flags) of the upper-layer header at `off`.
#[inline(always)]
fn parse_l4(ctx: &Pkt, off: usize, p: &mut Parsed) -> Result<(), Truncated> {
    match p.proto {
        ipproto::TCP => {
            let h = read::<[u8; TCP_HLEN]>(ctx, off)?;
            p.sport = u16::from_be_bytes([h[0], h[1]]);
            p.dport = u16::from_be_bytes([h[2], h[3]]);
            p.tcp_flags = h[13];
            p.hdr_len = off + usize::from(h[12] >> 4) * 4;
        }
        ipproto::UDP => {
            let h = read::<[u8; UDP_HLEN]>(ctx, off)?;
            p.sport = u16::from_be_bytes([h[0], h[1]]);
            p.dport = u16::from_be_bytes([h[2], h[3]]);
            p.hdr_len = off + UDP_HLEN;
        }
        ipproto::ICMP | ipproto::ICMPV6 => {
            read::<[u8; ICMP_MIN_HLEN]>(ctx, off)?;
            p.hdr_len = off + ICMP_MIN_HLEN;
        }
        _ => p.hdr_len = off,
    }
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel needs a GPL-compatible licence to allow the helpers we use.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
