//! The XDP data plane loaded for real (DESIGN.md habit 6): two network namespaces joined by a
//! veth pair (198.18.0.0/24, 2001:db8::/64), the program on the server-side veth in native and
//! in SKB mode, real traffic from sockets opened inside the client namespace, and the kernel flow
//! map compared with what was sent, per direction.
//!
//! Needs root and the XDP object (`cargo xtask test` builds it and sets SENSOR_EBPF_OBJECT). The
//! only skip is a kernel without XDP. Every test makes its own namespaces (named after the
//! process id and the test) and a guard deletes them, also on failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration test: failures are panics"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sensor::capture::xdp::{AttachMode, DataPlane, FlowKey, XdpOptions, XdpStats};

#[path = "xdp_netns/net.rs"]
mod net;
#[path = "xdp_netns/sys.rs"]
mod sys;
#[path = "xdp_netns/traffic.rs"]
mod traffic;

use net::{preconditions, Net};
use sys::{in_ns, ping};
use traffic::{datagram_bytes, flow, key, sensor_key, tcp_exchange, udp_exchange, v4};

pub const CLI_MAC: &str = "02:00:00:00:00:01";
pub const SRV_MAC: &str = "02:00:00:00:00:02";
pub const CLI4: &str = "198.18.0.1";
pub const SRV4: &str = "198.18.0.2";
pub const CLI6: &str = "2001:db8::1";
pub const SRV6: &str = "2001:db8::2";
/// Interface names inside the namespaces (each namespace has its own name space for links).
pub const CLI_IF: &str = "veth0";
pub const SRV_IF: &str = "veth1";
/// A TCP port in the filter (HTTP-like).
pub const TCP_MATCHED: u16 = 8080;
/// A UDP port in the filter (DNS-like).
pub const UDP_MATCHED: u16 = 5353;
/// UDP ports no protocol claims: counted, never redirected.
pub const UDP_UNCLAIMED: u16 = 9999;
pub const UDP_FRAG_PORT: u16 = 9998;
/// Ethernet + IPv4 + UDP header bytes of a frame.
pub const V4_UDP_HDRS: u64 = 14 + 20 + 8;
pub const V6_UDP_HDRS: u64 = 14 + 40 + 8;
/// ICMP echo payload (the size `ping` sends).
pub const ECHO_PAYLOAD: usize = 56;
/// Bounded traffic: datagrams per UDP test.
pub const DATAGRAMS: usize = 20;
pub const ECHOES: usize = 5;
/// How long receivers wait for a datagram that should arrive.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for the last frames to cross the veth before the maps are read.
pub const SETTLE: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------------
// Tests.

/// TCP (matched port), UDP (unclaimed port), a fragmented UDP datagram and ICMP in host mode:
/// kernel counters equal the traffic per direction, and nothing else shows up.
fn host_mode(mode: AttachMode, tag: &str) {
    if !preconditions() {
        return;
    }
    let net = Net::new(tag, false);
    let dp = net.load(mode, false);
    assert!(
        dp.counts_egress(),
        "egress counting (TCX) is needed for the server's replies: {:?}",
        dp.egress_error()
    );
    eprintln!(
        "{mode:?}: verified instructions {:?}",
        dp.verified_instructions()
    );
    let before = dp.stats().unwrap();

    // TCP: compare with the client veth's own counters (IPv6 off, static ARP: only our frames).
    let c0 = net.cli_counters();
    let client = tcp_exchange(&net, TCP_MATCHED, 10_000, 30_000);
    let k = key(6, client, v4(TCP_MATCHED));
    let f = flow(&dp, &k);
    let c1 = net.cli_counters();
    let mut sent = (c1[0] - c0[0], c1[1] - c0[1]);
    if dp.attach_mode() == AttachMode::Native {
        // veth quirk: with native XDP on the peer, the sender's tx_bytes are the peer's XDP
        // receive bytes, counted after eth_type_trans, i.e. without the 14-byte Ethernet
        // header (SKB mode counts whole frames, as XDP does).
        sent.1 += 14 * sent.0;
    }
    let recv = (c1[2] - c0[2], c1[3] - c0[3]);
    eprintln!("{mode:?} TCP: client veth tx {sent:?} rx {recv:?}; kernel flow {f:?}");
    assert!(f.initiator_by_syn, "a SYN was seen");
    assert_eq!(f.endpoints(&k), (client, v4(TCP_MATCHED)));
    let fi = f.from_initiator();
    let fr = f.from_responder();
    assert_eq!((fi.packets, fi.bytes), sent, "client → server");
    assert_eq!((fr.packets, fr.bytes), recv, "server → client");
    assert!(
        sent.0 >= 4 && recv.0 >= 4,
        "a real exchange: {sent:?} {recv:?}"
    );
    assert_eq!(f.tcp_flags & 0x13, 0x13, "SYN, ACK and FIN seen");
    let after_tcp = dp.stats().unwrap();
    assert_eq!(
        after_tcp.matched - before.matched,
        sent.0,
        "TCP 8080 matched"
    );
    assert_eq!(
        after_tcp.redirect_failed - before.redirect_failed,
        sent.0,
        "no AF_XDP socket registered: matched packets fall back to XDP_PASS"
    );

    // UDP on an unclaimed port: counted, passed, never matched.
    let sizes: Vec<usize> = (0..DATAGRAMS).map(|i| 100 + 37 * i).collect();
    let (client, got) = udp_exchange(&net, v4(UDP_UNCLAIMED), sizes.clone(), 50);
    assert_eq!(got, DATAGRAMS);
    let f = flow(&dp, &key(17, client, v4(UDP_UNCLAIMED)));
    assert_eq!(
        (f.from_initiator().packets, f.from_initiator().bytes),
        (DATAGRAMS as u64, datagram_bytes(&sizes, V4_UDP_HDRS))
    );
    assert_eq!(
        (f.from_responder().packets, f.from_responder().bytes),
        (DATAGRAMS as u64, DATAGRAMS as u64 * (50 + V4_UDP_HDRS))
    );
    let after_udp = dp.stats().unwrap();
    assert_eq!(
        after_udp.matched, after_tcp.matched,
        "unclaimed port not matched"
    );

    // A 3000-byte datagram in three fragments: all counted in the 5-tuple flow.
    let (client, got) = udp_exchange(&net, v4(UDP_FRAG_PORT), vec![3000], 0);
    assert_eq!(got, 1);
    let f = flow(&dp, &key(17, client, v4(UDP_FRAG_PORT)));
    assert_eq!(
        (f.from_initiator().packets, f.from_initiator().bytes),
        (3, 3000 + 8 + 3 * (14 + 20)),
        "fragments land in their datagram's flow"
    );
    let after_frag = dp.stats().unwrap();
    assert_eq!(after_frag.fragments - after_udp.fragments, 3);
    assert_eq!(after_frag.frag_orphans, 0);

    // ICMP echo: the kernel of the server namespace answers each request.
    ping(&net.cli, false);
    let ik = key(1, v4(0), SocketAddr::new(CLI4.parse().unwrap(), 0));
    let f = flow(&dp, &ik);
    let echo = (14 + 20 + 8 + ECHO_PAYLOAD) as u64;
    assert_eq!((f.lo.packets + f.hi.packets), 2 * ECHOES as u64, "{f:?}");
    assert_eq!(f.from_initiator().bytes, ECHOES as u64 * echo);
    assert_eq!(f.from_responder().bytes, ECHOES as u64 * echo);
    assert_eq!(
        f.endpoints(&ik).0.ip(),
        CLI4.parse::<std::net::IpAddr>().unwrap()
    );

    let s = dp.stats().unwrap();
    eprintln!("{mode:?} stats: {s:?}");
    assert_eq!(s.malformed, 0);
    assert_eq!(s.dropped, 0, "host mode never drops");
    assert_eq!(
        s.packets,
        s.passed + s.redirected + s.dropped,
        "one verdict per packet"
    );
    assert_eq!(
        s.matched - after_frag.matched,
        ECHOES as u64,
        "ICMP matched (icmp on)"
    );
    // Only the flows we made: IPv6 is off and neighbours are static.
    let flows = dp.flows().unwrap();
    assert_eq!(flows.len(), 4, "{flows:#?}");

    // remove_flow deletes.
    let mut dp = dp;
    dp.remove_flow(&ik).unwrap();
    assert!(dp.flow(&ik).unwrap().is_none());

    drop(dp);
    assert_no_xdp(&net);
}

fn assert_no_xdp(net: &Net) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let link = net.srv_link();
        if !link.contains("xdp") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "an XDP program is still attached:\n{link}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn host_mode_native() {
    host_mode(AttachMode::Native, "n");
}

#[test]
fn host_mode_skb() {
    host_mode(AttachMode::Skb, "s");
}

/// IPv6: UDP on an unclaimed port and ICMPv6 echo, counted per direction (auto mode).
#[test]
fn ipv6_flows() {
    if !preconditions() {
        return;
    }
    let net = Net::new("6", true);
    let dp = net.load(AttachMode::Auto, false);
    assert_eq!(dp.attach_mode(), AttachMode::Native, "veth has native XDP");
    let to = SocketAddr::new(SRV6.parse().unwrap(), UDP_UNCLAIMED);
    let sizes: Vec<usize> = (0..DATAGRAMS).map(|i| 200 + 11 * i).collect();
    let (client, got) = udp_exchange(&net, to, sizes.clone(), 80);
    assert_eq!(got, DATAGRAMS);
    let f = flow(&dp, &key(17, client, to));
    assert_eq!(
        (f.from_initiator().packets, f.from_initiator().bytes),
        (DATAGRAMS as u64, datagram_bytes(&sizes, V6_UDP_HDRS))
    );
    assert_eq!(
        (f.from_responder().packets, f.from_responder().bytes),
        (DATAGRAMS as u64, DATAGRAMS as u64 * (80 + V6_UDP_HDRS))
    );
    ping(&net.cli, true);
    let ik = key(
        58,
        SocketAddr::new(CLI6.parse().unwrap(), 0),
        SocketAddr::new(SRV6.parse().unwrap(), 0),
    );
    let f = flow(&dp, &ik);
    let echo = (14 + 40 + 8 + ECHO_PAYLOAD) as u64;
    assert_eq!(
        (f.from_initiator().packets, f.from_initiator().bytes),
        (ECHOES as u64, ECHOES as u64 * echo),
        "{f:?}"
    );
    assert_eq!(
        (f.from_responder().packets, f.from_responder().bytes),
        (ECHOES as u64, ECHOES as u64 * echo)
    );
    let s = dp.stats().unwrap();
    eprintln!("ipv6 stats: {s:?}");
    assert_eq!(s.malformed, 0);
    drop(dp);
    assert_no_xdp(&net);
}

/// Span mode: unmatched packets are counted and dropped (the receiver sees nothing), matched
/// ones still pass (no AF_XDP socket), and a bypassed flow is dropped like unmatched traffic.
#[test]
fn span_mode_drops_unmatched() {
    if !preconditions() {
        return;
    }
    let net = Net::new("d", false);
    let mut dp = net.load(AttachMode::Skb, true);
    assert!(!dp.counts_egress(), "a span port only receives");
    let sizes = vec![120usize; DATAGRAMS];
    let (client, got) = udp_exchange(&net, v4(UDP_UNCLAIMED), sizes.clone(), 0);
    assert_eq!(
        got, 0,
        "span mode: unmatched datagrams never reach the server"
    );
    let f = flow(&dp, &key(17, client, v4(UDP_UNCLAIMED)));
    assert_eq!(
        (f.from_initiator().packets, f.from_initiator().bytes),
        (DATAGRAMS as u64, datagram_bytes(&sizes, V4_UDP_HDRS)),
        "dropped packets are still counted"
    );
    let s1 = dp.stats().unwrap();
    assert_eq!(s1.dropped, DATAGRAMS as u64, "{s1:?}");

    // Matched: redirect fails (no socket) → pass.
    let (client, got) = udp_exchange(&net, v4(UDP_MATCHED), vec![64; 3], 0);
    assert_eq!(got, 3, "matched datagrams fall back to XDP_PASS");
    let s2 = dp.stats().unwrap();
    assert_eq!(s2.redirect_failed - s1.redirect_failed, 3);

    // Bypass that flow: still counted, now dropped like unmatched traffic.
    let k = key(17, client, v4(UDP_MATCHED));
    dp.bypass(&k).unwrap();
    let to = v4(UDP_MATCHED);
    let srv = in_ns(&net.srv, move || UdpSocket::bind(to).unwrap());
    srv.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let cli = in_ns(&net.cli, move || UdpSocket::bind(client).unwrap());
    for _ in 0..3 {
        cli.send_to(&[7u8; 64], to).unwrap();
    }
    let mut buf = [0u8; 128];
    assert!(srv.recv_from(&mut buf).is_err(), "bypassed flow is dropped");
    let f = flow(&dp, &k);
    assert_eq!(f.from_initiator().packets, 6);
    let s3 = dp.stats().unwrap();
    eprintln!("span stats: {s3:?}");
    assert_eq!(s3.bypassed - s2.bypassed, 3);
    assert_eq!(s3.dropped - s2.dropped, 3);
    dp.detach().unwrap();
    assert_no_xdp(&net);
}

/// Crafted frames through BPF_PROG_TEST_RUN: 802.1Q, QinQ, IPv4 options, IPv6 extension
/// headers, truncated and non-IP frames.
#[test]
fn crafted_frames() {
    if !preconditions() {
        return;
    }
    let net = Net::new("f", false);
    let mut dp = net.load(AttachMode::Skb, false);
    const XDP_PASS: u32 = 2;
    let a = [198, 18, 1, 1];
    let b = [198, 18, 1, 2];
    let udp = |sport: u16, dport: u16, payload: usize| {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend(std::iter::repeat_n(0u8, payload));
        u
    };
    let ipv4 = |opts: usize, l4: &[u8]| {
        let ihl = 5 + opts / 4;
        let mut h = vec![0x40 | ihl as u8, 0];
        h.extend_from_slice(&((ihl * 4 + l4.len()) as u16).to_be_bytes());
        h.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
        h.extend_from_slice(&a);
        h.extend_from_slice(&b);
        h.extend(std::iter::repeat_n(1u8, opts)); // NOP options
        h.extend_from_slice(l4);
        h
    };
    let eth = |tags: &[(u16, u16)], ethertype: u16, l3: &[u8]| {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for (tpid, vid) in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    };
    let v4key = |sport, dport, vo, vi| {
        let (mut k, _) = sensor_key(
            FlowKey::v4_mapped(a),
            sport,
            FlowKey::v4_mapped(b),
            dport,
            17,
            true,
        );
        k.vlan_outer = vo;
        k.vlan_inner = vi;
        k
    };
    let before = dp.stats().unwrap();
    // 802.1Q, vlan 10; QinQ 100/20 with IPv4 options.
    let f1 = eth(&[(0x8100, 10)], 0x0800, &ipv4(0, &udp(1000, 2000, 10)));
    let f2 = eth(
        &[(0x88a8, 100), (0x8100, 20)],
        0x0800,
        &ipv4(8, &udp(1000, 2000, 10)),
    );
    assert_eq!(dp.test_run(&f1).unwrap(), XDP_PASS);
    assert_eq!(dp.test_run(&f2).unwrap(), XDP_PASS);
    let k1 = dp
        .flow(&v4key(1000, 2000, 10, 0))
        .unwrap()
        .expect("vlan 10 flow");
    assert_eq!((k1.lo.packets, k1.lo.bytes), (1, f1.len() as u64));
    let k2 = dp
        .flow(&v4key(1000, 2000, 100, 20))
        .unwrap()
        .expect("QinQ flow");
    assert_eq!((k2.lo.packets, k2.lo.bytes), (1, f2.len() as u64));

    // IPv6 with hop-by-hop (8 bytes) and destination options (16 bytes), then UDP.
    let s6: [u8; 16] = "2001:db8:1::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let d6: [u8; 16] = "2001:db8:1::2"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let u = udp(3000, 53, 20);
    let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0]; // HBH → dest opts, PadN
    ext.extend_from_slice(&[17, 1, 1, 12]); // dest opts (2×8 bytes) → UDP
    ext.extend(std::iter::repeat_n(0u8, 12));
    let mut h6 = vec![0x60, 0, 0, 0];
    h6.extend_from_slice(&((ext.len() + u.len()) as u16).to_be_bytes());
    h6.extend_from_slice(&[0, 64]); // next = hop-by-hop
    h6.extend_from_slice(&s6);
    h6.extend_from_slice(&d6);
    h6.extend_from_slice(&ext);
    h6.extend_from_slice(&u);
    let f3 = eth(&[], 0x86dd, &h6);
    assert_eq!(dp.test_run(&f3).unwrap(), XDP_PASS);
    let (k3, _) = sensor_key(s6, 3000, d6, 53, 17, false);
    let k3 = dp
        .flow(&k3)
        .unwrap()
        .expect("IPv6 flow behind extension headers");
    assert_eq!((k3.lo.packets, k3.lo.bytes), (1, f3.len() as u64));

    // Truncated UDP header, truncated IPv4, ARP: passed, never counted as flows.
    let mut t = eth(&[], 0x0800, &ipv4(0, &udp(1, 2, 0)));
    t.truncate(14 + 20 + 4);
    assert_eq!(dp.test_run(&t).unwrap(), XDP_PASS);
    assert_eq!(
        dp.test_run(&eth(&[], 0x0800, &[0x45, 0, 0])).unwrap(),
        XDP_PASS
    );
    assert_eq!(dp.test_run(&eth(&[], 0x0806, &[0; 28])).unwrap(), XDP_PASS);
    let s = dp.stats().unwrap();
    eprintln!("crafted stats: {s:?}");
    let d = |f: fn(&XdpStats) -> u64| f(&s) - f(&before);
    assert_eq!(d(|s| s.vlan_tagged), 2);
    assert_eq!(d(|s| s.malformed), 2);
    assert_eq!(d(|s| s.non_ip), 1);
    assert_eq!(d(|s| s.parsed), 3);
}

/// Environment variable that turns `xdp_child_attach` into the child of `sigkill_detaches`.
const CHILD_ENV: &str = "SENSOR_XDP_TEST_CHILD";

/// Not a test on its own: the child process of `sigkill_detaches` (a no-op otherwise).
#[test]
fn xdp_child_attach() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let opts = XdpOptions {
        iface: SRV_IF.into(),
        mode: AttachMode::Native,
        ..XdpOptions::default()
    };
    let _dp = DataPlane::load(&opts).unwrap();
    println!("ATTACHED");
    std::io::stdout().flush().unwrap();
    // Bounded: the parent kills us long before.
    std::thread::sleep(Duration::from_secs(60));
}

/// A sensor killed with SIGKILL leaves no program on the interface (bpf_link, not netlink).
#[test]
fn sigkill_detaches() {
    if !preconditions() {
        return;
    }
    let net = Net::new("k", false);
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &net.srv])
        .arg(&exe)
        .args([
            "--exact",
            "xdp_child_attach",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // `ip netns exec` execs the test binary: the child's pid is the sensor's pid.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ATTACHED") {
                let _ = tx.send(());
            }
        }
    });
    let attached = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    if !attached {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never attached");
    }
    assert!(
        net.srv_link().contains("xdp"),
        "child attached: {}",
        net.srv_link()
    );
    child.kill().unwrap(); // SIGKILL, by pid
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_no_xdp(&net);
}
