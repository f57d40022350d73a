//! System calls std does not offer: setns for per-thread namespaces, raw ICMP sockets.

use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{ECHOES, ECHO_PAYLOAD, SRV4, SRV6};

const CLONE_NEWNET: c_int = 0x4000_0000;
const AF_INET: c_int = 2;
const AF_INET6: c_int = 10;
const SOCK_RAW: c_int = 3;
const IPPROTO_ICMP: c_int = 1;
const IPPROTO_ICMPV6: c_int = 58;

extern "C" {
    fn setns(fd: c_int, nstype: c_int) -> c_int;
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn sendto(
        fd: c_int,
        buf: *const c_void,
        len: usize,
        flags: c_int,
        addr: *const c_void,
        addrlen: u32,
    ) -> isize;
}

/// Run `f` on a thread that lives in network namespace `ns` (sockets it opens stay there).
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a valid namespace fd; setns only changes this thread's network namespace.
        let rc = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("thread in namespace panicked")
}

fn raw_socket(domain: c_int, proto: c_int) -> OwnedFd {
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let fd = unsafe { socket(domain, SOCK_RAW, proto) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn send_raw(fd: &OwnedFd, buf: &[u8], addr: &[u8]) {
    // SAFETY: buf and addr are valid for their lengths during the call.
    let n = unsafe {
        sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            addr.as_ptr().cast(),
            addr.len() as u32,
        )
    };
    assert_eq!(
        n,
        buf.len() as isize,
        "sendto: {}",
        std::io::Error::last_os_error()
    );
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend((0..ECHO_PAYLOAD).map(|i| i as u8));
    if !v6 {
        // The kernel fills the ICMPv6 checksum of raw sockets itself.
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    m
}

/// Send `ECHOES` echo requests to the server from the client namespace.
pub fn ping(ns: &str, v6: bool) {
    in_ns(ns, move || {
        let (fd, addr) = if v6 {
            let mut a = vec![0u8; 28]; // sockaddr_in6
            a[..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
            a[8..24].copy_from_slice(&SRV6.parse::<std::net::Ipv6Addr>().unwrap().octets());
            (raw_socket(AF_INET6, IPPROTO_ICMPV6), a)
        } else {
            let mut a = vec![0u8; 16]; // sockaddr_in
            a[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
            a[4..8].copy_from_slice(&SRV4.parse::<std::net::Ipv4Addr>().unwrap().octets());
            (raw_socket(AF_INET, IPPROTO_ICMP), a)
        };
        for seq in 0..ECHOES as u16 {
            send_raw(&fd, &echo_request(v6, 0x5e5e, seq), &addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}
