//! Tests against this host's real `/proc`: sockets of the test process itself and of a real
//! child process.

use super::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Longer than MAP_TTL and than any rescan interval: the next lookup may rescan.
const WAIT_ALL: Duration = MAX_RESCAN_INTERVAL;
/// TEST-NET-3: never an address of this host.
const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));

fn me() -> u32 {
    std::process::id()
}

fn self_exe() -> String {
    std::env::current_exe()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn comm_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

/// Checks `info` describes this test process.
fn assert_is_me(info: &ProcessInfo) {
    assert_eq!(info.pid, me());
    assert_eq!(info.ppid, std::os::unix::process::parent_id());
    assert_eq!(info.executable, self_exe());
    let exe_name = self_exe().rsplit('/').next().unwrap().to_owned();
    let comm = comm_of(me());
    assert!(info.name.starts_with(&comm), "{} vs comm {comm}", info.name);
    // The test binary's name (`sensor-<hash>`) is longer than comm's 15 bytes: the full name.
    if exe_name.len() >= 15 {
        assert_eq!(info.name, exe_name);
    } else {
        assert_eq!(info.name, comm);
    }
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(info.args, args);
    assert_eq!(
        info.working_directory,
        std::env::current_dir().unwrap().to_string_lossy()
    );
    // Start: after boot, not in the future, and this process started within the last hour.
    let start = humantime::parse_rfc3339(info.start.as_deref().unwrap()).unwrap();
    let now = std::time::SystemTime::now();
    assert!(start <= now + Duration::from_secs(2), "{:?}", info.start);
    assert!(
        start + Duration::from_secs(3600) >= now,
        "{:?} is too old",
        info.start
    );
    assert!(info.start.as_deref().unwrap().ends_with('Z'));
}

#[test]
fn own_tcp_listener_and_udp_socket() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut w = ProcessWatcher::new();
    let now = Instant::now();

    let p = w
        .lookup(SockProto::Tcp, LO4, tcp.local_addr().unwrap().port(), now)
        .expect("own TCP listener");
    assert_is_me(&p);
    let q = w
        .lookup(SockProto::Udp, LO4, udp.local_addr().unwrap().port(), now)
        .expect("own UDP socket");
    assert_is_me(&q);
    assert!(Arc::ptr_eq(&p, &q), "one cached process for both sockets");

    let s = w.stats();
    eprintln!("{s:?}");
    assert_eq!((s.lookups, s.hits, s.misses), (2, 2, 0));
    assert_eq!(s.rescans, 1, "the second lookup is a cache hit");
    assert_eq!(s.errors, 0);
    assert!(s.sockets >= 2 && s.processes >= 1, "{s:?}");

    // IPv4-mapped IPv6 is the same endpoint.
    let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
    let r = w.lookup(
        SockProto::Tcp,
        mapped,
        tcp.local_addr().unwrap().port(),
        now,
    );
    assert_eq!(r.map(|r| r.pid), Some(me()));
    assert_eq!(w.stats().rescans, 1);
}

#[test]
fn wildcard_binds_and_locality() {
    let udp_any = UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = udp_any.local_addr().unwrap().port();
    let mut w = ProcessWatcher::new();
    let now = Instant::now();

    let p = w.lookup(SockProto::Udp, LO4, port, now);
    assert_eq!(p.map(|p| p.pid), Some(me()), "0.0.0.0 matches loopback");
    // Every interface address of this host matches a wildcard bind too.
    for ip in scan::local_addrs().unwrap() {
        if ip.is_ipv4() {
            let p = w.lookup(SockProto::Udp, ip, port, now);
            assert_eq!(p.map(|p| p.pid), Some(me()), "{ip}");
        }
    }
    let rescans = w.stats().rescans;
    // A remote address never matches a wildcard bind, and never costs a rescan.
    assert!(w.lookup(SockProto::Udp, REMOTE, port, now).is_none());
    assert!(w
        .lookup(SockProto::Udp, REMOTE, 1, now + Duration::from_secs(60))
        .is_none());
    let s = w.stats();
    assert_eq!(s.not_local, 2);
    assert_eq!(s.rescans, rescans);
    // Traffic from the unspecified address itself (a DHCP client's 0.0.0.0:68) is the
    // socket bound there: an exact match.
    let p = w.lookup(SockProto::Udp, IpAddr::V4(Ipv4Addr::UNSPECIFIED), port, now);
    assert_eq!(p.map(|p| p.pid), Some(me()));

    // IPv6, when this host has it: `::1` exact, and `::` (dual-stack) matching IPv4 too.
    let Ok(v6_lo) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback: IPv6 part skipped");
        return;
    };
    let v6_any = TcpListener::bind("[::]:0").unwrap();
    let later = now + WAIT_ALL; // new sockets: rescan
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let p = w.lookup(
        SockProto::Tcp,
        lo6,
        v6_lo.local_addr().unwrap().port(),
        later,
    );
    assert_eq!(p.map(|p| p.pid), Some(me()));
    let any_port = v6_any.local_addr().unwrap().port();
    for ip in [lo6, LO4] {
        let p = w.lookup(SockProto::Tcp, ip, any_port, later);
        assert_eq!(p.map(|p| p.pid), Some(me()), "{ip} on [::]");
    }
    // `::1`'s listener does not answer for 127.0.0.1.
    let r = w.lookup(
        SockProto::Tcp,
        LO4,
        v6_lo.local_addr().unwrap().port(),
        later,
    );
    assert!(r.is_none());
}

/// Kills and reaps the child on drop, also when the test fails.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CHILD_ENV: &str = "SENSOR_PROCS_TEST_CHILD";
const MARKER: &str = "procs-test-marker";
const PY_LISTENER: &str = "import socket, sys, time\n\
s = socket.socket()\n\
s.bind(('127.0.0.1', 0))\n\
s.listen(1)\n\
print('PORT', s.getsockname()[1], flush=True)\n\
time.sleep(120)\n";

/// A real child process that owns a listening socket on 127.0.0.1 and prints `PORT <n>`:
/// `python3 -c …`, or, without python3, this test binary running [`child_listener`].
fn spawn_listener_child() -> (ChildGuard, u16) {
    let py = Command::new("python3")
        .args(["-c", PY_LISTENER, MARKER])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn();
    let child = match py {
        Ok(c) => c,
        Err(e) => {
            eprintln!("python3 unavailable ({e}): re-running the test binary as the child");
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "procs::tests::child_listener",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                    MARKER,
                ])
                .env(CHILD_ENV, "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        }
    };
    let mut guard = ChildGuard(child);
    let stdout = guard.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // libtest may print `test … ... ` before the helper's output on the same line.
            if let Some((_, p)) = line.split_once("PORT ") {
                let _ = tx.send(p.trim().parse::<u16>().unwrap());
                return;
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("child printed its port");
    (guard, port)
}

/// Helper process of [`child_process_is_found_then_expires`] when python3 is missing.
#[test]
#[ignore = "helper: runs only as the child of child_process_is_found_then_expires"]
fn child_listener() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("PORT {}", l.local_addr().unwrap().port());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn child_process_is_found_then_expires() {
    let (mut child, port) = spawn_listener_child();
    let pid = child.0.id();
    let mut w = ProcessWatcher::new();
    let now = Instant::now();

    let p = w
        .lookup(SockProto::Tcp, LO4, port, now)
        .expect("child's listener");
    assert_eq!(p.pid, pid);
    assert_eq!(p.ppid, me());
    assert!(p.args.iter().any(|a| a == MARKER), "{:?}", p.args);
    let comm = comm_of(pid);
    assert!(p.name.starts_with(&comm), "{} vs {comm}", p.name);
    assert!(!p.executable.is_empty() && !p.working_directory.is_empty());
    assert!(p.start.is_some());
    if p.args.iter().any(|a| a == "-c") {
        assert!(p.name.starts_with("python"), "{}", p.name);
    }

    // The child exits; once the map is older than MAP_TTL the next lookup rescans and the
    // child's socket is gone.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let later = now + WAIT_ALL;
    assert!(w.lookup(SockProto::Tcp, LO4, port, later).is_none());
    assert_eq!(w.stats().rescans, 2);
    assert!(
        !w.procs.contains_key(&pid),
        "the exited process left the cache"
    );
}

#[test]
fn enrich_loopback_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let client = TcpStream::connect(server).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    let client = client.local_addr().unwrap();
    let ep = |a: SocketAddr| json!({"ip": a.ip().to_string(), "port": a.port()});

    let mut ev = json!({
        "source": ep(client), "destination": ep(server),
        "client": ep(client), "server": ep(server),
        "network": {"transport": "tcp", "type": "ipv4"},
    })
    .as_object()
    .unwrap()
    .clone();
    let mut w = ProcessWatcher::new();
    w.enrich(&mut ev, Instant::now());
    for side in ["source", "destination", "client", "server"] {
        let p = &ev[side]["process"];
        assert_eq!(p["pid"], json!(me()), "{side}: {p}");
        assert_eq!(p["executable"], json!(self_exe()), "{side}");
        assert_eq!(p["ppid"], json!(std::os::unix::process::parent_id()));
        assert!(p["start"].is_string() && p["args"].is_array());
    }
    assert_eq!(ev["process"], ev["destination"]["process"]);
    assert_eq!(ev["source"]["ip"], json!("127.0.0.1"), "endpoints kept");
    let s = w.stats();
    assert_eq!(
        s.lookups, 2,
        "client/server reuse the source/destination lookups"
    );
    assert_eq!(s.hits, 2);

    // Without client/server: Packetbeat's exact output.
    let mut ev2 = json!({
        "source": ep(client), "destination": ep(server),
        "client": ep(client), "server": ep(server),
        "network": {"transport": "tcp"},
    })
    .as_object()
    .unwrap()
    .clone();
    w.set_client_server(false);
    w.enrich(&mut ev2, Instant::now());
    assert!(ev2["source"].get("process").is_some());
    assert!(ev2["client"].get("process").is_none());
    assert!(ev2["server"].get("process").is_none());
    w.set_client_server(true);

    // Remote source: only the destination is enriched; root process is the destination's.
    let mut ev3 = json!({
        "source": {"ip": REMOTE.to_string(), "port": 40000},
        "destination": ep(server),
        "network": {"transport": "tcp"},
    })
    .as_object()
    .unwrap()
    .clone();
    w.enrich(&mut ev3, Instant::now());
    assert!(ev3["source"].get("process").is_none());
    assert_eq!(ev3["process"]["pid"], json!(me()));

    // Local source, remote destination: root process falls back to the source's.
    let mut ev4 = json!({
        "source": ep(client),
        "destination": {"ip": REMOTE.to_string(), "port": 443},
        "network": {"transport": "tcp"},
    })
    .as_object()
    .unwrap()
    .clone();
    w.enrich(&mut ev4, Instant::now());
    assert!(ev4["destination"].get("process").is_none());
    assert_eq!(ev4["process"], ev4["source"]["process"]);

    // Other transports, missing or malformed endpoints: untouched.
    for ev in [
        json!({"source": ep(client), "destination": ep(server), "network": {"transport": "icmp"}}),
        json!({"source": ep(client), "destination": ep(server)}),
        json!({"source": {"ip": "127.0.0.1"}, "destination": {"ip": "x", "port": 1},
               "client": {"ip": "127.0.0.1", "port": 70000}, "server": "127.0.0.1:1",
               "network": {"transport": "tcp"}}),
    ] {
        let mut m = ev.as_object().unwrap().clone();
        w.enrich(&mut m, Instant::now());
        assert_eq!(Value::Object(m), ev);
    }
}

#[test]
fn rescans_are_rate_limited() {
    // A port that was free a moment ago (and is most likely still unused).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut w = ProcessWatcher::new();
    let t0 = Instant::now();

    // A burst at one instant: one rescan.
    for _ in 0..1000 {
        assert!(w.lookup(SockProto::Tcp, LO4, port, t0).is_none());
    }
    let s = w.stats();
    assert_eq!(s.rescans, 1);
    assert_eq!(s.rate_limited, 999);

    // 10 s of lookups every millisecond: at most one rescan per MIN_RESCAN_INTERVAL.
    let n: u32 = 10_000;
    for i in 1..=n {
        let _ = w.lookup(
            SockProto::Tcp,
            LO4,
            port,
            t0 + Duration::from_millis(u64::from(i)),
        );
    }
    let span = Duration::from_millis(u64::from(n));
    let bound = 1 + u64::try_from(span.as_millis() / MIN_RESCAN_INTERVAL.as_millis()).unwrap();
    let s = w.stats();
    assert!(s.rescans >= 1, "{s:?}");
    assert!(s.rescans <= bound, "{} rescans > {bound}", s.rescans);
    assert_eq!(s.lookups, 1000 + u64::from(n));
    assert_eq!(s.misses + s.hits, s.lookups);
    assert!(s.rate_limited >= s.lookups - s.rescans - s.hits);
}

#[test]
fn stale_map_is_refreshed_and_new_sockets_found() {
    let mut w = ProcessWatcher::new();
    let t0 = Instant::now();
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    let p1 = first.local_addr().unwrap().port();
    assert!(w.lookup(SockProto::Tcp, LO4, p1, t0).is_some());

    // A socket opened after the rescan: a miss inside the rate limit, found after it.
    let second = UdpSocket::bind("127.0.0.1:0").unwrap();
    let p2 = second.local_addr().unwrap().port();
    assert!(w.lookup(SockProto::Udp, LO4, p2, t0).is_none());
    assert_eq!(w.stats().rate_limited, 1);
    let t1 = t0 + WAIT_ALL;
    assert!(w.lookup(SockProto::Udp, LO4, p2, t1).is_some());

    // A closed socket stays in the map until it is older than MAP_TTL, then disappears.
    drop(first);
    assert!(w.lookup(SockProto::Tcp, LO4, p1, t1).is_some(), "cached");
    let rescans = w.stats().rescans;
    let t2 = t1 + WAIT_ALL;
    assert!(w.lookup(SockProto::Tcp, LO4, p1, t2).is_none());
    assert_eq!(w.stats().rescans, rescans + 1);
}

#[test]
fn unreadable_proc_is_not_fatal() {
    let mut w = ProcessWatcher::with_proc_root("/nonexistent/proc");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    assert!(w
        .lookup(SockProto::Tcp, LO4, port, Instant::now())
        .is_none());
    let s = w.stats();
    assert_eq!((s.rescans, s.errors, s.misses), (1, 1, 1));
    assert!(format!("{w:?}").contains("ProcessWatcher"));
    let mut ev = json!({"source": {"ip": "127.0.0.1", "port": port},
                        "network": {"transport": "tcp"}})
    .as_object()
    .unwrap()
    .clone();
    let before = ev.clone();
    w.enrich(&mut ev, Instant::now());
    assert_eq!(ev, before);
}

#[test]
fn watcher_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ProcessWatcher>();
    send_sync::<Arc<ProcessInfo>>();
    let w = std::thread::spawn(ProcessWatcher::new).join().unwrap();
    assert_eq!(w.stats(), ProcStats::default());
    assert_eq!(w.proc_root(), Path::new("/proc"));
}

#[test]
fn ecs_shape() {
    let p = ProcessInfo {
        pid: 42,
        ppid: 1,
        name: "nginx".into(),
        args: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        executable: "/usr/sbin/nginx".into(),
        working_directory: "/".into(),
        start: Some("2026-11-27T18:07:39.080Z".into()),
    };
    assert_eq!(
        Value::Object(p.to_ecs()),
        json!({
            "pid": 42, "ppid": 1, "name": "nginx", "args": ["nginx", "-g", "daemon off;"],
            "executable": "/usr/sbin/nginx", "working_directory": "/",
            "start": "2026-11-27T18:07:39.080Z",
        })
    );
    let bare = ProcessInfo {
        pid: 7,
        ppid: 0,
        name: String::new(),
        args: vec![],
        executable: String::new(),
        working_directory: String::new(),
        start: None,
    };
    assert_eq!(Value::Object(bare.to_ecs()), json!({"pid": 7}));
}

#[test]
fn start_time_formula() {
    let c = Clock {
        boot_secs: Some(1_795_807_580),
        ticks_per_sec: 100,
    };
    // 1128690 ticks = 11286.90 s after boot.
    assert_eq!(
        c.start_time(1_128_690).as_deref(),
        Some("2026-11-27T22:34:26.900Z")
    );
    assert_eq!(c.start_time(u64::MAX), None);
    let unknown = Clock {
        boot_secs: None,
        ticks_per_sec: 100,
    };
    assert_eq!(unknown.start_time(5), None);
}
