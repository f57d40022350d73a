//! ICMPv4/ICMPv6 message parsing: header, type classes (as Packetbeat), human-readable names
//! (gopacket's `ICMPv4TypeCode`/`ICMPv6TypeCode` strings, which Packetbeat prints) and the
//! quoted datagram of error messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Length of the fixed ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;
/// Smallest message we look at: type, code and checksum.
pub const MIN_LEN: usize = 4;

/// IP protocol number of ICMPv4 (in a quoted IPv4 header).
const PROTO_ICMP: u8 = 1;
/// IP protocol number of ICMPv6 (in a quoted IPv6 header chain).
const PROTO_ICMPV6: u8 = 58;
/// Length of the fixed IPv6 header.
const IPV6_HEADER_LEN: usize = 40;
/// Smallest IPv4 header (IHL 5).
const IPV4_MIN_HEADER_LEN: usize = 20;
/// Extension headers walked in a quoted IPv6 packet before giving up (a real chain is short;
/// the bound keeps hostile input from looping).
const MAX_IPV6_EXT_HEADERS: usize = 8;

/// ICMP version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// ICMPv4.
    V4,
    /// ICMPv6.
    V6,
}

impl Version {
    /// `icmp.version`.
    pub fn number(self) -> u8 {
        match self {
            Version::V4 => 4,
            Version::V6 => 6,
        }
    }
}

/// What a message means for correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request answered by a reply with the same id and sequence (echo, timestamp, info,
    /// address mask).
    PairRequest,
    /// The reply to a [`Class::PairRequest`]; carries the request type it answers.
    PairReply(u8),
    /// An error quoting the datagram that caused it.
    Error,
    /// A redirect: quotes a datagram, but the datagram was still forwarded.
    Redirect,
    /// Anything else (NDP, router discovery, MLD, unknown): published on its own.
    Other,
}

/// Classify `ty` for `v` (Packetbeat's tables, plus redirects).
pub fn classify(v: Version, ty: u8) -> Class {
    match v {
        Version::V4 => match ty {
            8 | 13 | 15 | 17 => Class::PairRequest,
            0 => Class::PairReply(8),
            14 => Class::PairReply(13),
            16 => Class::PairReply(15),
            18 => Class::PairReply(17),
            3 | 4 | 11 | 12 => Class::Error,
            5 => Class::Redirect,
            _ => Class::Other,
        },
        Version::V6 => match ty {
            128 => Class::PairRequest,
            129 => Class::PairReply(128),
            1..=4 => Class::Error,
            137 => Class::Redirect,
            _ => Class::Other,
        },
    }
}

/// The fixed header of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Type.
    pub ty: u8,
    /// Code.
    pub code: u8,
    /// Identifier (bytes 4..6; meaningful for pair types).
    pub id: u16,
    /// Sequence number (bytes 6..8; meaningful for pair types).
    pub seq: u16,
}

/// Read the header; `None` when shorter than [`MIN_LEN`]. Id and sequence are 0 when the
/// message is shorter than [`HEADER_LEN`].
pub fn header(msg: &[u8]) -> Option<Header> {
    let (&ty, rest) = msg.split_first()?;
    let (&code, rest) = rest.split_first()?;
    let (_checksum, rest) = rest.split_at_checked(2)?;
    let id = be16(rest, 0).unwrap_or(0);
    let seq = be16(rest, 2).unwrap_or(0);
    Some(Header { ty, code, id, seq })
}

/// Big-endian u16 at `at`.
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let hi = *b.get(at)?;
    let lo = *b.get(at.checked_add(1)?)?;
    Some(u16::from_be_bytes([hi, lo]))
}

/// The original request an error message quotes: an ICMP pair request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Source of the quoted datagram (the requester).
    pub src: IpAddr,
    /// Destination of the quoted datagram.
    pub dst: IpAddr,
    /// Type of the quoted ICMP message.
    pub ty: u8,
    /// Its identifier.
    pub id: u16,
    /// Its sequence number.
    pub seq: u16,
}

/// Why a quoted datagram was not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteError {
    /// Truncated or inconsistent header: counted as an anomaly.
    Malformed,
    /// A valid datagram that is not an ICMP request of the same version (e.g. UDP).
    NotIcmpRequest,
}

/// Parse the datagram quoted after the 8-byte header of an error or redirect message.
pub fn quoted(v: Version, msg: &[u8]) -> Result<Quoted, QuoteError> {
    let (_, body) = msg
        .split_at_checked(HEADER_LEN)
        .ok_or(QuoteError::Malformed)?;
    let (src, dst, proto, l4) = match v {
        Version::V4 => quoted_v4(body)?,
        Version::V6 => quoted_v6(body)?,
    };
    let want = match v {
        Version::V4 => PROTO_ICMP,
        Version::V6 => PROTO_ICMPV6,
    };
    if proto != want {
        return Err(QuoteError::NotIcmpRequest);
    }
    let h = match header(l4) {
        Some(h) if l4.len() >= HEADER_LEN => h,
        _ => return Err(QuoteError::Malformed),
    };
    if classify(v, h.ty) != Class::PairRequest {
        return Err(QuoteError::NotIcmpRequest);
    }
    Ok(Quoted {
        src,
        dst,
        ty: h.ty,
        id: h.id,
        seq: h.seq,
    })
}

/// Quoted IPv4 header → (src, dst, protocol, L4 bytes).
fn quoted_v4(b: &[u8]) -> Result<(IpAddr, IpAddr, u8, &[u8]), QuoteError> {
    let &vihl = b.first().ok_or(QuoteError::Malformed)?;
    if vihl >> 4 != 4 {
        return Err(QuoteError::Malformed);
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER_LEN {
        return Err(QuoteError::Malformed);
    }
    let (hdr, l4) = b.split_at_checked(ihl).ok_or(QuoteError::Malformed)?;
    let frag = be16(hdr, 6).ok_or(QuoteError::Malformed)?;
    if frag & 0x1fff != 0 {
        // A non-first fragment has no L4 header.
        return Err(QuoteError::NotIcmpRequest);
    }
    let &proto = hdr.get(9).ok_or(QuoteError::Malformed)?;
    let src = v4_at(hdr, 12).ok_or(QuoteError::Malformed)?;
    let dst = v4_at(hdr, 16).ok_or(QuoteError::Malformed)?;
    Ok((IpAddr::V4(src), IpAddr::V4(dst), proto, l4))
}

/// IPv4 address at `at`.
fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s = b.get(at..at.checked_add(4)?)?;
    let a: [u8; 4] = s.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

/// IPv6 address at `at`.
fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s = b.get(at..at.checked_add(16)?)?;
    let a: [u8; 16] = s.try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

/// Quoted IPv6 header (and extension headers) → (src, dst, upper protocol, L4 bytes).
fn quoted_v6(b: &[u8]) -> Result<(IpAddr, IpAddr, u8, &[u8]), QuoteError> {
    let &v = b.first().ok_or(QuoteError::Malformed)?;
    if v >> 4 != 6 {
        return Err(QuoteError::Malformed);
    }
    let (hdr, mut rest) = b
        .split_at_checked(IPV6_HEADER_LEN)
        .ok_or(QuoteError::Malformed)?;
    let mut next = *hdr.get(6).ok_or(QuoteError::Malformed)?;
    let src = v6_at(hdr, 8).ok_or(QuoteError::Malformed)?;
    let dst = v6_at(hdr, 24).ok_or(QuoteError::Malformed)?;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            // Hop-by-hop, routing, destination options: (next, len in 8-octet units - 1).
            0 | 43 | 60 => {
                let &nh = rest.first().ok_or(QuoteError::Malformed)?;
                let &len = rest.get(1).ok_or(QuoteError::Malformed)?;
                let skip = (usize::from(len) + 1) * 8;
                let (_, r) = rest.split_at_checked(skip).ok_or(QuoteError::Malformed)?;
                next = nh;
                rest = r;
            }
            // Fragment header: fixed 8 bytes; only the first fragment has the L4 header.
            44 => {
                let &nh = rest.first().ok_or(QuoteError::Malformed)?;
                let off = be16(rest, 2).ok_or(QuoteError::Malformed)?;
                if off & 0xfff8 != 0 {
                    return Err(QuoteError::NotIcmpRequest);
                }
                let (_, r) = rest.split_at_checked(8).ok_or(QuoteError::Malformed)?;
                next = nh;
                rest = r;
            }
            _ => return Ok((IpAddr::V6(src), IpAddr::V6(dst), next, rest)),
        }
    }
    Err(QuoteError::Malformed)
}

/// Names of a type's codes.
type CodeNames = fn(u8) -> Option<&'static str>;
/// Name of a type and, when it has a code table, its code names.
type TypeNames = (&'static str, Option<CodeNames>);

/// gopacket's name and code names of an ICMPv4 type (`None` codes: the type has no code table).
fn v4_names(ty: u8) -> Option<TypeNames> {
    Some(match ty {
        0 => ("EchoReply", None),
        3 => ("DestinationUnreachable", Some(v4_unreach_code)),
        4 => ("SourceQuench", None),
        5 => ("Redirect", Some(v4_redirect_code)),
        8 => ("EchoRequest", None),
        9 => ("RouterAdvertisement", None),
        10 => ("RouterSolicitation", None),
        11 => ("TimeExceeded", Some(v4_time_code)),
        12 => ("ParameterProblem", Some(v4_param_code)),
        13 => ("TimestampRequest", None),
        14 => ("TimestampReply", None),
        15 => ("InfoRequest", None),
        16 => ("InfoReply", None),
        17 => ("AddressMaskRequest", None),
        18 => ("AddressMaskReply", None),
        _ => return None,
    })
}

/// ICMPv4 destination-unreachable code names.
fn v4_unreach_code(c: u8) -> Option<&'static str> {
    const NAMES: [&str; 16] = [
        "Net",
        "Host",
        "Protocol",
        "Port",
        "FragmentationNeeded",
        "SourceRoutingFailed",
        "NetUnknown",
        "HostUnknown",
        "SourceIsolated",
        "NetAdminProhibited",
        "HostAdminProhibited",
        "NetTOS",
        "HostTOS",
        "CommAdminProhibited",
        "HostPrecedence",
        "PrecedenceCutoff",
    ];
    NAMES.get(usize::from(c)).copied()
}

/// ICMPv4 redirect code names.
fn v4_redirect_code(c: u8) -> Option<&'static str> {
    ["Net", "Host", "TOS+Net", "TOS+Host"]
        .get(usize::from(c))
        .copied()
}

/// ICMPv4 time-exceeded code names.
fn v4_time_code(c: u8) -> Option<&'static str> {
    ["TTLExceeded", "FragmentReassemblyTimeExceeded"]
        .get(usize::from(c))
        .copied()
}

/// ICMPv4 parameter-problem code names.
fn v4_param_code(c: u8) -> Option<&'static str> {
    ["PointerIndicatesError", "MissingOption", "BadLength"]
        .get(usize::from(c))
        .copied()
}

/// gopacket's name and code names of an ICMPv6 type.
fn v6_names(ty: u8) -> Option<TypeNames> {
    Some(match ty {
        1 => ("DestinationUnreachable", Some(v6_unreach_code)),
        2 => ("PacketTooBig", None),
        3 => ("TimeExceeded", Some(v6_time_code)),
        4 => ("ParameterProblem", Some(v6_param_code)),
        128 => ("EchoRequest", None),
        129 => ("EchoReply", None),
        133 => ("RouterSolicitation", None),
        134 => ("RouterAdvertisement", None),
        135 => ("NeighborSolicitation", None),
        136 => ("NeighborAdvertisement", None),
        137 => ("Redirect", None),
        _ => return None,
    })
}

/// ICMPv6 destination-unreachable code names.
fn v6_unreach_code(c: u8) -> Option<&'static str> {
    [
        "NoRouteToDst",
        "AdminProhibited",
        "BeyondScopeOfSrc",
        "AddressUnreachable",
        "PortUnreachable",
        "SrcAddressFailedPolicy",
        "RejectRouteToDst",
    ]
    .get(usize::from(c))
    .copied()
}

/// ICMPv6 time-exceeded code names.
fn v6_time_code(c: u8) -> Option<&'static str> {
    ["HopLimitExceeded", "FragmentReassemblyTimeExceeded"]
        .get(usize::from(c))
        .copied()
}

/// ICMPv6 parameter-problem code names (gopacket's table, including its duplicate).
fn v6_param_code(c: u8) -> Option<&'static str> {
    [
        "ErroneousHeaderField",
        "UnrecognizedNextHeader",
        "UnrecognizedNextHeader",
    ]
    .get(usize::from(c))
    .copied()
}

/// `icmp.*.message`: the string Packetbeat prints (gopacket's `TypeCode.String()`), e.g.
/// `EchoRequest`, `DestinationUnreachable(Port)`, `EchoRequest(Code: 3)`, `42(0)`.
pub fn message(v: Version, ty: u8, code: u8) -> String {
    let names = match v {
        Version::V4 => v4_names(ty),
        Version::V6 => v6_names(ty),
    };
    match names {
        None => format!("{ty}({code})"),
        Some((name, None)) if code == 0 => name.to_owned(),
        Some((name, None)) => format!("{name}(Code: {code})"),
        Some((name, Some(codes))) => match codes(code) {
            Some(c) => format!("{name}({c})"),
            None => format!("{name}(Code: {code})"),
        },
    }
}
