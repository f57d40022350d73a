//! L2–L4 decoding: link layer (Ethernet, 802.1Q/QinQ, Linux SLL/SLL2, BSD NULL/loopback, raw IP),
//! IPv4 (with fragment reassembly), IPv6 (extension headers, fragments), TCP, UDP, ICMPv4/v6.
//!
//! Headers are read with etherparse's header slices (bounds-checked); the glue (link types,
//! VLAN stacking, extension-header walk, fragments) is here. Nothing panics on any input:
//! malformed frames are counted in [`DecodeStats`].

pub mod defrag;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, Ipv6RawExtHeaderSlice,
    TcpHeaderSlice, UdpHeaderSlice,
};

use crate::time::Ts;
use defrag::{Defrag, FragKey};

/// Link types of capture files (pcap LINKTYPE_* values) we decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// LINKTYPE_NULL (0) and LINKTYPE_LOOP (108): 4-byte address family.
    Null,
    /// LINKTYPE_RAW (101) / DLT_RAW (12, 14): the frame starts with an IP header.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
}

impl LinkType {
    /// From a pcap/pcapng link-type number.
    pub fn from_linktype(n: i32) -> Option<LinkType> {
        Some(match n {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            0 | 108 => LinkType::Null,
            101 | 12 | 14 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            _ => return None,
        })
    }
}

/// At most two stacked 802.1Q tags are decoded (QinQ), as Packetbeat.
pub const MAX_VLANS: usize = 2;

/// IPv6 extension headers walked before giving up: real packets carry one or two; a bound keeps
/// crafted chains from costing time.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// 802.1Q VLAN ids of a frame, outermost first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Vlans {
    ids: [u16; MAX_VLANS],
    len: u8,
}

impl Vlans {
    /// The ids, outermost first.
    pub fn as_slice(&self) -> &[u16] {
        self.ids.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// From an outer and an inner id (0 = absent), as the kernel flow key stores them.
    pub fn from_ids(outer: u16, inner: u16) -> Vlans {
        let mut v = Vlans::default();
        for id in [outer, inner] {
            if id != 0 {
                v.push(id);
            }
        }
        v
    }

    fn push(&mut self, id: u16) -> bool {
        match self.ids.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = id;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Outer id (0 when untagged).
    pub fn outer(&self) -> u16 {
        if self.len >= 1 {
            self.ids[0]
        } else {
            0
        }
    }

    /// Inner id (0 when absent).
    pub fn inner(&self) -> u16 {
        if self.len >= 2 {
            self.ids[1]
        } else {
            0
        }
    }
}

/// TCP flag bits as on the wire.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// The transport part of a decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// TCP segment.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number (valid when the ACK flag is set).
        ack: u32,
        /// Flags, see [`tcp_flags`].
        flags: u8,
        /// Segment payload.
        payload: &'a [u8],
    },
    /// UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Datagram payload.
        payload: &'a [u8],
    },
    /// ICMPv4 (`v6 == false`) or ICMPv6 message, header included.
    Icmp {
        /// ICMPv6.
        v6: bool,
        /// The whole ICMP message.
        msg: &'a [u8],
    },
    /// Another IP protocol (counted in flows without ports).
    Other {
        /// IP protocol number.
        proto: u8,
    },
}

/// A decoded IP packet (or a reassembled datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time (of the last fragment for a reassembled datagram).
    pub ts: Ts,
    /// Captured frames this packet is made of (fragments).
    pub frames: u32,
    /// Sum of the frames' wire lengths.
    pub wire_bytes: u64,
    /// VLAN tags.
    pub vlans: Vlans,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport.
    pub transport: Transport<'a>,
}

/// What a frame decoded to.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// An IP packet.
    Packet(Packet<'a>),
    /// A fragment held for reassembly.
    FragmentHeld,
    /// A frame without IP (ARP, LLDP, ...).
    NotIp,
    /// A malformed frame, with the reason.
    Malformed(&'static str),
}

/// Decoder counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames given to the decoder.
    pub frames: u64,
    /// IP packets produced (reassembled datagrams count once).
    pub ip_packets: u64,
    /// Frames without IP.
    pub not_ip: u64,
    /// Malformed frames.
    pub malformed: u64,
    /// Frames with more VLAN tags than [`MAX_VLANS`].
    pub too_many_vlans: u64,
}

/// Per-worker decoder: link-type handling plus fragment reassembly.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Fragment reassembly.
    pub defrag: Defrag,
    /// Counters.
    pub stats: DecodeStats,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

impl Decoder {
    /// A decoder with default caps.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Decode one captured frame. `wire_len` is the original length on the wire.
    pub fn decode<'a>(
        &'a mut self,
        link: LinkType,
        ts: Ts,
        frame: &'a [u8],
        wire_len: u32,
    ) -> Decoded<'a> {
        self.stats.frames += 1;
        let mut vlans = Vlans::default();
        let (ethertype, l3) = match link {
            LinkType::Ethernet => match be16(frame, 12) {
                Some(t) => (t, frame.get(14..).unwrap_or(&[])),
                None => return self.malformed("ethernet header truncated"),
            },
            LinkType::LinuxSll => match be16(frame, 14) {
                Some(t) => (t, frame.get(16..).unwrap_or(&[])),
                None => return self.malformed("linux sll header truncated"),
            },
            LinkType::LinuxSll2 => match be16(frame, 0) {
                Some(t) => (t, frame.get(20..).unwrap_or(&[])),
                None => return self.malformed("linux sll2 header truncated"),
            },
            LinkType::Null => {
                let Some(fam) = frame.get(..4).and_then(|f| <[u8; 4]>::try_from(f).ok()) else {
                    return self.malformed("null/loopback header truncated");
                };
                let le = u32::from_le_bytes(fam);
                let be = u32::from_be_bytes(fam);
                // AF_INET = 2 everywhere; AF_INET6 = 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD),
                // 30 (macOS). The family is in the capturing host's byte order.
                let t = match (le, be) {
                    (2, _) | (_, 2) => ETH_IPV4,
                    (10 | 24 | 28 | 30, _) | (_, 10 | 24 | 28 | 30) => ETH_IPV6,
                    _ => return self.not_ip(),
                };
                (t, frame.get(4..).unwrap_or(&[]))
            }
            LinkType::Raw => match frame.first().map(|b| b >> 4) {
                Some(4) => (ETH_IPV4, frame),
                Some(6) => (ETH_IPV6, frame),
                _ => return self.malformed("raw IP frame with an unknown IP version"),
            },
            LinkType::Ipv4 => (ETH_IPV4, frame),
            LinkType::Ipv6 => (ETH_IPV6, frame),
        };
        // 802.1Q / QinQ tags (only after Ethernet or SLL, but harmless elsewhere).
        let mut ethertype = ethertype;
        let mut l3 = l3;
        while matches!(ethertype, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
            let (Some(tci), Some(next)) = (be16(l3, 0), be16(l3, 2)) else {
                return self.malformed("802.1Q tag truncated");
            };
            if !vlans.push(tci & 0x0fff) {
                self.stats.too_many_vlans += 1;
                return self.malformed("more than two 802.1Q tags");
            }
            ethertype = next;
            l3 = l3.get(4..).unwrap_or(&[]);
        }
        let wire = u64::from(wire_len);
        match ethertype {
            ETH_IPV4 => self.ipv4(ts, vlans, l3, wire_len, wire),
            ETH_IPV6 => self.ipv6(ts, vlans, l3, wire_len, wire),
            _ => self.not_ip(),
        }
    }

    fn not_ip<'a>(&mut self) -> Decoded<'a> {
        self.stats.not_ip += 1;
        Decoded::NotIp
    }

    fn malformed<'a>(&mut self, why: &'static str) -> Decoded<'a> {
        self.stats.malformed += 1;
        Decoded::Malformed(why)
    }

    fn ipv4<'a>(
        &'a mut self,
        ts: Ts,
        vlans: Vlans,
        data: &'a [u8],
        wire_len: u32,
        wire: u64,
    ) -> Decoded<'a> {
        let Ok(h) = Ipv4HeaderSlice::from_slice(data) else {
            return self.malformed("bad IPv4 header");
        };
        let hlen = usize::from(h.ihl()) * 4;
        let total = usize::from(h.total_len());
        // Ethernet padding follows the datagram; a frame cut by the snap length is shorter.
        let end = if total >= hlen {
            total.min(data.len())
        } else {
            data.len()
        };
        let payload = data.get(hlen..end).unwrap_or(&[]);
        let src = IpAddr::V4(h.source_addr());
        let dst = IpAddr::V4(h.destination_addr());
        let proto = h.protocol().0;
        if h.is_fragmenting_payload() {
            let key = FragKey {
                src,
                dst,
                id: u32::from(h.identification()),
                proto,
            };
            let offset = u32::from(h.fragments_offset().byte_offset());
            let more = h.more_fragments();
            let Decoder { defrag, stats } = self;
            return match defrag.add(ts, key, offset, more, payload, wire_len) {
                Some(r) => counted(
                    stats,
                    finish(
                        ts,
                        r.frames,
                        r.wire_bytes,
                        vlans,
                        src,
                        dst,
                        proto,
                        false,
                        r.payload,
                    ),
                ),
                None => Decoded::FragmentHeld,
            };
        }
        counted(
            &mut self.stats,
            finish(ts, 1, wire, vlans, src, dst, proto, false, payload),
        )
    }

    fn ipv6<'a>(
        &'a mut self,
        ts: Ts,
        vlans: Vlans,
        data: &'a [u8],
        wire_len: u32,
        wire: u64,
    ) -> Decoded<'a> {
        let Ok(h) = Ipv6HeaderSlice::from_slice(data) else {
            return self.malformed("bad IPv6 header");
        };
        let src = IpAddr::V6(Ipv6Addr::from(h.source()));
        let dst = IpAddr::V6(Ipv6Addr::from(h.destination()));
        let plen = usize::from(h.payload_length());
        let body = data.get(40..).unwrap_or(&[]);
        // Jumbograms (payload length 0) take the rest of the frame.
        let mut rest = if plen == 0 {
            body
        } else {
            body.get(..plen.min(body.len())).unwrap_or(body)
        };
        let mut next = h.next_header().0;
        let mut frag: Option<(u32, bool, u32)> = None;
        for _ in 0..MAX_IPV6_EXT_HEADERS {
            match next {
                // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
                0 | 43 | 60 | 135 | 139 | 140 => {
                    let Ok(e) = Ipv6RawExtHeaderSlice::from_slice(rest) else {
                        return self.malformed("bad IPv6 extension header");
                    };
                    next = e.next_header().0;
                    rest = rest.get(e.slice().len()..).unwrap_or(&[]);
                }
                // Authentication header: length in 4-byte units.
                51 => {
                    let Some(&n) = rest.get(1) else {
                        return self.malformed("bad IPv6 authentication header");
                    };
                    let len = (usize::from(n) + 2) * 4;
                    next = rest.first().copied().unwrap_or(59);
                    rest = match rest.get(len..) {
                        Some(r) => r,
                        None => return self.malformed("bad IPv6 authentication header"),
                    };
                }
                44 => {
                    let Ok(f) = Ipv6FragmentHeaderSlice::from_slice(rest) else {
                        return self.malformed("bad IPv6 fragment header");
                    };
                    next = f.next_header().0;
                    if f.is_fragmenting_payload() {
                        frag = Some((
                            u32::from(f.fragment_offset().byte_offset()),
                            f.more_fragments(),
                            f.identification(),
                        ));
                    }
                    rest = rest.get(8..).unwrap_or(&[]);
                    break;
                }
                _ => break,
            }
        }
        if let Some((offset, more, id)) = frag {
            let key = FragKey {
                src,
                dst,
                id,
                proto: next,
            };
            let Decoder { defrag, stats } = self;
            return match defrag.add(ts, key, offset, more, rest, wire_len) {
                Some(r) => counted(
                    stats,
                    finish(
                        ts,
                        r.frames,
                        r.wire_bytes,
                        vlans,
                        src,
                        dst,
                        next,
                        true,
                        r.payload,
                    ),
                ),
                None => Decoded::FragmentHeld,
            };
        }
        counted(
            &mut self.stats,
            finish(ts, 1, wire, vlans, src, dst, next, true, rest),
        )
    }
}

fn counted<'a>(stats: &mut DecodeStats, d: Decoded<'a>) -> Decoded<'a> {
    match d {
        Decoded::Packet(_) => stats.ip_packets += 1,
        Decoded::Malformed(_) => stats.malformed += 1,
        _ => {}
    }
    d
}

#[allow(clippy::too_many_arguments, reason = "plain data handed through")]
fn finish<'a>(
    ts: Ts,
    frames: u32,
    wire_bytes: u64,
    vlans: Vlans,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    v6: bool,
    payload: &'a [u8],
) -> Decoded<'a> {
    let transport = match proto {
        6 => match TcpHeaderSlice::from_slice(payload) {
            Ok(t) => {
                let mut flags = 0u8;
                for (on, bit) in [
                    (t.fin(), tcp_flags::FIN),
                    (t.syn(), tcp_flags::SYN),
                    (t.rst(), tcp_flags::RST),
                    (t.psh(), tcp_flags::PSH),
                    (t.ack(), tcp_flags::ACK),
                ] {
                    if on {
                        flags |= bit;
                    }
                }
                Transport::Tcp {
                    sport: t.source_port(),
                    dport: t.destination_port(),
                    seq: t.sequence_number(),
                    ack: t.acknowledgment_number(),
                    flags,
                    payload: payload.get(t.slice().len()..).unwrap_or(&[]),
                }
            }
            Err(_) => return Decoded::Malformed("bad TCP header"),
        },
        17 => match UdpHeaderSlice::from_slice(payload) {
            Ok(u) => {
                let len = usize::from(u.length());
                let body = payload.get(8..).unwrap_or(&[]);
                // The UDP length bounds the payload (trailing bytes are padding); 0 = jumbogram.
                let body = if len >= 8 {
                    body.get(..(len - 8).min(body.len())).unwrap_or(body)
                } else {
                    body
                };
                Transport::Udp {
                    sport: u.source_port(),
                    dport: u.destination_port(),
                    payload: body,
                }
            }
            Err(_) => return Decoded::Malformed("bad UDP header"),
        },
        1 if !v6 => Transport::Icmp {
            v6: false,
            msg: payload,
        },
        58 if v6 => Transport::Icmp {
            v6: true,
            msg: payload,
        },
        p => Transport::Other { proto: p },
    };
    Decoded::Packet(Packet {
        ts,
        frames,
        wire_bytes,
        vlans,
        src,
        dst,
        transport,
    })
}

/// IPv4 address from 4 bytes (helper for tests and other decoders).
pub fn ipv4(b: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(b))
}

#[cfg(test)]
mod tests;
