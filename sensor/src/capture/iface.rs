//! Interface helpers of live capture: `default_route` as a device name (Packetbeat's
//! `packetbeat.interfaces.device: default_route`), and promiscuous mode held by a packet socket
//! membership, which the kernel withdraws by itself when the socket closes — also when the
//! sensor crashes or is killed, and without needing a capability at exit.

use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};

/// The interface of the lowest-metric IPv4 default route (`/proc/net/route`), else of the
/// lowest-metric IPv6 one (`/proc/net/ipv6_route`), in this network namespace.
pub fn default_route() -> Result<String> {
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    match default_route_from(&v4, &v6) {
        Some(i) => Ok(i),
        None => bail!(
            "device `default_route`: there is no default route in this network namespace \
             (with Kubernetes: is the pod on hostNetwork?); name the interface instead"
        ),
    }
}

/// [`default_route`] over the texts of the two tables.
pub fn default_route_from(route: &str, ipv6_route: &str) -> Option<String> {
    let mut best: Option<(u64, &str)> = None;
    for l in route.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(iface), Some(dest), Some(flags), Some(metric), Some(mask)) =
            (f.first(), f.get(1), f.get(3), f.get(6), f.get(7))
        else {
            continue;
        };
        let up = u32::from_str_radix(flags, 16).is_ok_and(|x| x & 1 == 1);
        if *dest != "00000000" || *mask != "00000000" || !up {
            continue;
        }
        let m: u64 = metric.parse().unwrap_or(u64::MAX);
        if best.is_none_or(|(bm, _)| m < bm) {
            best = Some((m, iface));
        }
    }
    if best.is_none() {
        for l in ipv6_route.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (Some(dest), Some(len), Some(metric), Some(iface)) =
                (f.first(), f.get(1), f.get(5), f.get(9))
            else {
                continue;
            };
            if dest.bytes().any(|b| b != b'0') || *len != "00" || *iface == "lo" {
                continue;
            }
            let m = u64::from_str_radix(metric, 16).unwrap_or(u64::MAX);
            if best.is_none_or(|(bm, _)| m < bm) {
                best = Some((m, iface));
            }
        }
    }
    best.map(|(_, i)| i.to_owned())
}

/// Promiscuous mode on an interface for as long as this value lives.
#[derive(Debug)]
pub struct Promisc {
    _sock: OwnedFd,
}

impl Promisc {
    /// Join the interface's promiscuous membership (needs CAP_NET_RAW, at start-up).
    pub fn enable(ifindex: u32) -> Result<Promisc> {
        // SAFETY: socket() takes integer arguments; the fd is owned right below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .context("packet socket for promiscuous mode");
        }
        // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let mreq = libc::packet_mreq {
            mr_ifindex: i32::try_from(ifindex).unwrap_or(0),
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        // SAFETY: setsockopt reads one packet_mreq of the given size from a valid reference.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                (&mreq as *const libc::packet_mreq).cast(),
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .context("PACKET_ADD_MEMBERSHIP (promiscuous)");
        }
        Ok(Promisc { _sock: sock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth1\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
eth2\t00000000\t0102A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n";
    const V6: &str = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003 wlan0\n\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";

    #[test]
    fn lowest_metric_up_default_route() {
        assert_eq!(default_route_from(ROUTE, V6).as_deref(), Some("eth0"));
        assert_eq!(default_route_from("Iface\n", V6).as_deref(), Some("wlan0"));
        assert_eq!(default_route_from("", ""), None);
    }
}
