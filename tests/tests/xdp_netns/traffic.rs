//! Traffic generators and flow-key helpers.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};

use sensor::capture::xdp::{DataPlane, FlowKey, KernelFlow};

use super::net::Net;
use super::sys::in_ns;
use super::{CLI4, CLI6, RECV_TIMEOUT, SETTLE, SRV4};

pub fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(SRV4.parse().unwrap(), port)
}

pub fn key(proto: u8, c: SocketAddr, s: SocketAddr) -> FlowKey {
    // Same canonical order as the kernel and sensor::flow::flow_key.
    let a16 = |a: SocketAddr| match a.ip() {
        std::net::IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v) => v.octets(),
    };
    let (k, _) = sensor_key(a16(c), c.port(), a16(s), s.port(), proto, c.is_ipv4());
    k
}

pub fn sensor_key(
    a: [u8; 16],
    ap: u16,
    b: [u8; 16],
    bp: u16,
    proto: u8,
    v4: bool,
) -> (FlowKey, bool) {
    let a_lo = (a, ap) <= (b, bp);
    let ((al, pl), (ah, ph)) = if a_lo {
        ((a, ap), (b, bp))
    } else {
        ((b, bp), (a, ap))
    };
    (
        FlowKey {
            addr_lo: al,
            addr_hi: ah,
            port_lo: pl,
            port_hi: ph,
            vlan_outer: 0,
            vlan_inner: 0,
            proto,
            ip_version: if v4 { 4 } else { 6 },
            _pad: [0; 2],
        },
        a_lo,
    )
}

/// A TCP exchange (client sends `up` bytes, server answers `down` bytes); returns the client's
/// local address.
pub fn tcp_exchange(net: &Net, port: u16, up: usize, down: usize) -> SocketAddr {
    let srv = net.srv.clone();
    let listener = in_ns(&srv, move || TcpListener::bind(v4(port)).unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&vec![b'r'; down]).unwrap();
        got.len()
    });
    let local = in_ns(&net.cli, move || {
        let mut c = TcpStream::connect_timeout(&v4(port), RECV_TIMEOUT).unwrap();
        c.write_all(&vec![b'q'; up]).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), down);
        c.local_addr().unwrap()
    });
    assert_eq!(server.join().unwrap(), up);
    local
}

/// Send `sizes.len()` datagrams from the client to `to`; the server answers each with
/// `reply` bytes. Returns (client address, datagrams the server received).
pub fn udp_exchange(
    net: &Net,
    to: SocketAddr,
    sizes: Vec<usize>,
    reply: usize,
) -> (SocketAddr, usize) {
    let n = sizes.len();
    let server = in_ns(&net.srv, move || UdpSocket::bind(to).unwrap());
    server.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut got = 0;
        while got < n {
            match server.recv_from(&mut buf) {
                Ok((_, from)) => {
                    got += 1;
                    if reply > 0 {
                        server.send_to(&vec![b'a'; reply], from).unwrap();
                    }
                }
                Err(_) => break, // timeout: the caller asserts the count
            }
        }
        got
    });
    // Bound to the client's address, so `local_addr` is the flow's address.
    let me: SocketAddr = if to.is_ipv4() {
        SocketAddr::new(CLI4.parse().unwrap(), 0)
    } else {
        SocketAddr::new(CLI6.parse().unwrap(), 0)
    };
    let client = in_ns(&net.cli, move || UdpSocket::bind(me).unwrap());
    client.set_read_timeout(Some(RECV_TIMEOUT)).unwrap();
    let mut answers = 0;
    for len in &sizes {
        client.send_to(&vec![b'x'; *len], to).unwrap();
        if reply > 0 {
            let mut buf = [0u8; 2048];
            if client.recv_from(&mut buf).is_ok() {
                answers += 1;
            }
        }
    }
    let local = client.local_addr().unwrap();
    let got = receiver.join().unwrap();
    if reply > 0 {
        assert_eq!(answers, got, "every received datagram is answered");
    }
    (local, got)
}

pub fn flow(dp: &DataPlane, k: &FlowKey) -> KernelFlow {
    std::thread::sleep(SETTLE);
    dp.flow(k).unwrap().unwrap_or_else(|| {
        panic!(
            "no kernel flow for {k:?}; flows: {:#?}",
            dp.flows().unwrap()
        )
    })
}

pub fn datagram_bytes(sizes: &[usize], hdrs: u64) -> u64 {
    sizes.iter().map(|s| *s as u64 + hdrs).sum()
}
