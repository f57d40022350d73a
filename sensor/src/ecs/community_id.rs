//! Community ID v1 (corelight/community-id-spec): a stable hash of a flow's 5-tuple, written as
//! `network.community_id`.
//!
//! `"1:" + base64(sha1(seed . saddr . daddr . proto . 0x00 . sport . dport))`, with the
//! endpoints ordered so the smaller (address, port) comes first. ICMP and ICMPv6 put the type in
//! the source-port slot and the code, or for request/reply types the counter-type, in the
//! destination-port slot (Zeek's table); one-way ICMP types keep the sender first. Protocols
//! other than TCP, UDP, SCTP, ICMP and ICMPv6 hash the addresses and the protocol only.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::proto::txn::FlowTuple;

/// IP protocol number of ICMP.
const ICMP: u8 = 1;
/// IP protocol number of TCP.
const TCP: u8 = 6;
/// IP protocol number of UDP.
const UDP: u8 = 17;
/// IP protocol number of ICMPv6.
const ICMPV6: u8 = 58;
/// IP protocol number of SCTP.
const SCTP: u8 = 132;

/// Version prefix of every Community ID v1 string.
const PREFIX: &str = "1:";

/// ICMPv4 counter-type of a request/reply type (Zeek's table as used by the spec), if any.
fn icmp4_counterpart(ty: u8) -> Option<u8> {
    match ty {
        8 => Some(0),   // echo request → echo reply
        0 => Some(8),   // echo reply → echo request
        13 => Some(14), // timestamp
        14 => Some(13),
        15 => Some(16), // information
        16 => Some(15),
        10 => Some(9), // router solicitation → advertisement
        9 => Some(10),
        17 => Some(18), // address mask
        18 => Some(17),
        _ => None,
    }
}

/// ICMPv6 counter-type of a request/reply type (Zeek's table as used by the spec), if any.
fn icmp6_counterpart(ty: u8) -> Option<u8> {
    match ty {
        128 => Some(129), // echo
        129 => Some(128),
        133 => Some(134), // router solicitation / advertisement
        134 => Some(133),
        135 => Some(136), // neighbor solicitation / advertisement
        136 => Some(135),
        130 => Some(131), // MLD query / report
        131 => Some(130),
        144 => Some(145), // home agent address discovery
        145 => Some(144),
        139 => Some(140), // node information query / response
        140 => Some(139),
        _ => None,
    }
}

/// Port slots for the hash: `(sport, dport, one_way)`, or `None` for protocols without ports.
fn port_slots(t: &FlowTuple) -> Option<(u16, u16, bool)> {
    match t.proto {
        TCP | UDP | SCTP => Some((t.sport, t.dport, false)),
        ICMP | ICMPV6 => {
            // Types and codes are one byte; the tuple carries them in u16 slots.
            let ty = u8::try_from(t.sport).unwrap_or(u8::MAX);
            let counter = if t.proto == ICMP {
                icmp4_counterpart(ty)
            } else {
                icmp6_counterpart(ty)
            };
            match counter {
                Some(c) => Some((t.sport, u16::from(c), false)),
                None => Some((t.sport, t.dport, true)),
            }
        }
        _ => None,
    }
}

/// Feed an address's network-order bytes to the hasher.
fn hash_addr(h: &mut Sha1, a: &IpAddr) {
    match a {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
}

/// Network-order bytes of an address, for ordering (same family compares like the spec).
fn addr_key(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => {
            let mut k = [0u8; 16];
            for (dst, src) in k.iter_mut().zip(v4.octets()) {
                *dst = src;
            }
            k
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Community ID v1 of `t` with `seed` (Packetbeat and the scorer use seed 0).
///
/// For ICMP (proto 1) and ICMPv6 (proto 58), `t.sport` is the message type and `t.dport` its
/// code.
pub fn community_id(t: &FlowTuple, seed: u16) -> String {
    let ports = port_slots(t);
    let (mut src, mut dst) = (&t.src, &t.dst);
    let mut sp_dp = ports.map(|(s, d, _)| (s, d));
    let one_way = ports.is_some_and(|(_, _, ow)| ow);
    if !one_way {
        let (ks, kd) = (addr_key(src), addr_key(dst));
        let swap = match sp_dp {
            Some((s, d)) => ks > kd || (ks == kd && s > d),
            None => ks > kd,
        };
        if swap {
            std::mem::swap(&mut src, &mut dst);
            sp_dp = sp_dp.map(|(s, d)| (d, s));
        }
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    hash_addr(&mut h, src);
    hash_addr(&mut h, dst);
    h.update([t.proto, 0]);
    if let Some((s, d)) = sp_dp {
        h.update(s.to_be_bytes());
        h.update(d.to_be_bytes());
    }
    let digest = h.finalize();
    // sha1 = 20 bytes → 28 base64 characters.
    let mut out = String::with_capacity(PREFIX.len() + 28);
    out.push_str(PREFIX);
    STANDARD.encode_string(digest, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(src: &str, dst: &str, proto: u8, sport: u16, dport: u16) -> FlowTuple {
        FlowTuple {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
            sport,
            dport,
        }
    }

    const V6A: &str = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D";
    const V6B: &str = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D";

    fn check(tuple: FlowTuple, seed0: &str, seed1: Option<&str>) {
        assert_eq!(community_id(&tuple, 0), seed0, "{tuple:?} seed 0");
        if let Some(s1) = seed1 {
            assert_eq!(community_id(&tuple, 1), s1, "{tuple:?} seed 1");
        }
    }

    #[test]
    fn tcp_udp_sctp() {
        let tcp = "1:wCb3OG7yAFWelaUydu0D+125CLM=";
        let tcp1 = "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=";
        check(t("1.2.3.4", "5.6.7.8", 6, 1122, 3344), tcp, Some(tcp1));
        check(t("5.6.7.8", "1.2.3.4", 6, 3344, 1122), tcp, Some(tcp1));
        check(
            t("1.2.3.4", "5.6.7.8", 17, 1122, 3344),
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            Some("1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        );
        check(
            t("5.6.7.8", "1.2.3.4", 17, 3344, 1122),
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            Some("1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        );
        check(
            t("1.2.3.4", "5.6.7.8", 132, 1122, 3344),
            "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
            Some("1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
        );
        check(
            t("5.6.7.8", "1.2.3.4", 132, 3344, 1122),
            "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
            Some("1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
        );
    }

    #[test]
    fn icmp_pairs_and_one_way() {
        let echo = "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=";
        let echo1 = "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=";
        check(t("1.2.3.4", "5.6.7.8", 1, 8, 0), echo, Some(echo1));
        check(t("5.6.7.8", "1.2.3.4", 1, 0, 0), echo, Some(echo1));
        check(
            t("1.2.3.4", "5.6.7.8", 1, 11, 0),
            "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=",
            Some("1:1DD7cWGC/Yg91YGsQeni8du3pIA="),
        );
        let echo6 = "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=";
        let echo61 = "1:IO27GQzPuCtNnwFvjWALMHu5tJE=";
        check(t(V6A, V6B, 58, 128, 0), echo6, Some(echo61));
        check(t(V6B, V6A, 58, 129, 0), echo6, Some(echo61));
        check(
            t(V6A, V6B, 58, 146, 0),
            "1:fYC8+pz24E+EhANP1EZhpX0Dw10=",
            Some("1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="),
        );
        check(
            t("192.168.0.89", "192.168.0.1", 1, 8, 0),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
            None,
        );
    }

    #[test]
    fn one_way_keeps_sender_first() {
        let fwd = community_id(&t("5.6.7.8", "1.2.3.4", 1, 11, 0), 0);
        let rev = community_id(&t("1.2.3.4", "5.6.7.8", 1, 11, 0), 0);
        assert_ne!(fwd, rev);
    }

    #[test]
    fn no_ports() {
        let v4 = "1:ikv3kmf89luf73WPz1jOs49S768=";
        let v41 = "1:/buhqeOmaRCopOZFy9HnoJd5XW8=";
        check(t("1.2.3.4", "5.6.7.8", 46, 0, 0), v4, Some(v41));
        check(t("5.6.7.8", "1.2.3.4", 46, 0, 0), v4, Some(v41));
        // Ports are ignored for protocols without them.
        check(t("5.6.7.8", "1.2.3.4", 46, 7, 9), v4, Some(v41));
        let v6 = "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=";
        let v61 = "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=";
        check(t(V6A, V6B, 46, 0, 0), v6, Some(v61));
        check(t(V6B, V6A, 46, 0, 0), v6, Some(v61));
    }

    #[test]
    fn from_pcaps() {
        check(
            t("128.232.110.120", "66.35.250.204", 6, 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            None,
        );
        check(
            t("66.35.250.204", "128.232.110.120", 6, 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            None,
        );
        check(
            t(
                "2001:470:e5bf:dead:4957:2174:e82c:4887",
                "2607:f8b0:400c:c03::1a",
                6,
                63943,
                25,
            ),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            None,
        );
        check(
            t("192.168.170.8", "192.168.170.56", 132, 7, 7),
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            None,
        );
        check(
            t("192.168.170.56", "192.168.170.8", 132, 7, 7),
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            None,
        );
    }

    #[test]
    fn same_address_ports_decide() {
        let a = community_id(&t("10.0.0.1", "10.0.0.1", 6, 2000, 1000), 0);
        let b = community_id(&t("10.0.0.1", "10.0.0.1", 6, 1000, 2000), 0);
        assert_eq!(a, b);
    }
}
