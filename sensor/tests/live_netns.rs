//! Live capture end to end, as root, in network namespaces: real servers (nginx, dnsmasq,
//! redis-server) and real clients (curl, dig, redis-cli, a TCP client on a port no protocol
//! claims) talk across a veth pair whose traffic is mirrored (tc mirred) to the sensor's
//! interface — a span port. The sensor runs in native and in SKB mode. A tcpdump of the mirror is
//! the independent record: replayed through the same pipeline, it must give the same transactions,
//! and the kernel's flow records must count exactly the packets and bytes it holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod netns;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netns::{is_root, of_type, sh, Lab, Sensor};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sensor");

fn root_or_skip(name: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!(
        "!!!!! {name}: SKIPPED — needs root (network namespaces, XDP); CI runs it as root !!!!!"
    );
    false
}

/// Python one-liners for a TCP service on a port no protocol claims.
const ECHO_SERVER: &str = "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('198.18.40.2', 7777)); s.listen(8)\nwhile True:\n  c,_=s.accept(); d=b''\n  while len(d) < 3000:\n    x=c.recv(65536)\n    if not x: break\n    d+=x\n  c.sendall(d[:500]); c.close()\n";
const ECHO_CLIENT: &str = "import socket\nc=socket.create_connection(('198.18.40.2', 7777), timeout=5); c.sendall(b'x'*3000)\nwhile c.recv(65536): pass\nc.close()\n";

struct Capture {
    pid: String,
    file: std::path::PathBuf,
}

/// tcpdump on `ifc` in `ns`, started before the traffic.
fn tcpdump(lab: &mut Lab, ns: &str, ifc: &str, name: &str) -> Capture {
    let file = lab.dir.join(format!("{name}.pcap"));
    let f = file.display().to_string();
    let pid = lab
        .spawn(ns, &["tcpdump", "-i", ifc, "-U", "-n", "-w", &f])
        .to_string();
    // tcpdump writes the file header as soon as it listens.
    for _ in 0..100 {
        if std::fs::metadata(&file)
            .map(|m| m.len() >= 24)
            .unwrap_or(false)
        {
            std::thread::sleep(Duration::from_millis(200));
            return Capture { pid, file };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("tcpdump on {ifc} did not start");
}

fn stop_capture(c: &Capture) {
    // `ip netns exec` execs tcpdump, so the PID is tcpdump's.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &c.pid])
        .status();
    std::thread::sleep(Duration::from_millis(500));
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Replay a capture through the library's pipeline (default config).
fn replay(path: &std::path::Path) -> Vec<Value> {
    let buf = Buf::default();
    let out = sensor::output::Output::from_writer(Box::new(buf.clone()));
    let mut p = sensor::pipeline::Pipeline::new(sensor::config::Config::default(), out);
    sensor::capture::pcap::read_file(path, &mut |l, ts, d, w| p.frame(l, ts, d, w)).unwrap();
    p.finish();
    drop(p);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What identifies a transaction independently of timing.
fn tx_key(e: &Value) -> String {
    format!(
        "{} {} {} {} {} {}",
        e["type"],
        e["method"],
        e["url"]["path"],
        e["dns"]["question"]["name"],
        e["http"]["response"]["status_code"],
        e["status"]
    )
}

fn tx_multiset(events: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["type"] != "flow" && e["type"] != "icmp")
        .filter(|e| e["event"]["kind"] != "metric")
    {
        *m.entry(tx_key(e)).or_insert(0) += 1;
    }
    m
}

/// Final flow records by (transport, unordered endpoints) → per-endpoint (packets, bytes).
fn flow_map(events: &[Value]) -> BTreeMap<String, BTreeMap<String, (u64, u64)>> {
    let mut m = BTreeMap::new();
    for e in of_type(events, "flow")
        .into_iter()
        .filter(|e| e["flow"]["final"] == true)
    {
        let ep = |s: &Value| {
            format!(
                "{}:{}",
                s["ip"].as_str().unwrap_or(""),
                s["port"].as_u64().unwrap_or(0)
            )
        };
        let (a, b) = (ep(&e["source"]), ep(&e["destination"]));
        let mut ends = [a.clone(), b.clone()];
        ends.sort();
        let key = format!(
            "{} {} {}",
            e["network"]["transport"].as_str().unwrap_or(""),
            ends[0],
            ends[1]
        );
        let mut per = BTreeMap::new();
        per.insert(
            a,
            (
                e["source"]["packets"].as_u64().unwrap(),
                e["source"]["bytes"].as_u64().unwrap(),
            ),
        );
        per.insert(
            b,
            (
                e["destination"]["packets"].as_u64().unwrap(),
                e["destination"]["bytes"].as_u64().unwrap(),
            ),
        );
        m.insert(key, per);
    }
    m
}

/// `name{label="value"} value` lines of a Prometheus exposition.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn traffic(lab: &Lab) {
    let c = &lab.cli;
    for _ in 0..3 {
        lab.run(
            c,
            &[
                "curl",
                "-sf",
                "-o",
                "/dev/null",
                "http://198.18.40.2/hello.txt",
            ],
        );
    }
    let _ = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            c,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "http://198.18.40.2/missing",
        ])
        .status();
    lab.run(
        c,
        &[
            "curl",
            "-sf",
            "-o",
            "/dev/null",
            "http://[2001:db8:40::2]/hello.txt",
        ],
    );
    let a = lab.run(
        c,
        &[
            "dig",
            "+short",
            "+tries=1",
            "+time=3",
            "@198.18.40.2",
            "www.lab.test",
            "A",
        ],
    );
    assert_eq!(a.trim(), "198.18.40.2");
    lab.run(
        c,
        &[
            "dig",
            "+short",
            "+tcp",
            "+tries=1",
            "+time=3",
            "@198.18.40.2",
            "www.lab.test",
            "A",
        ],
    );
    assert_eq!(
        lab.run(
            c,
            &["redis-cli", "-h", "198.18.40.2", "SET", "lab:key", "v1"]
        )
        .trim(),
        "OK"
    );
    assert_eq!(
        lab.run(c, &["redis-cli", "-h", "198.18.40.2", "GET", "lab:key"])
            .trim(),
        "v1"
    );
    lab.run(c, &["python3", "-c", ECHO_CLIENT]);
    lab.run(c, &["ping", "-c", "2", "-i", "0.2", "198.18.40.2"]);
    // Let the last segments (FIN/ACK) cross the mirror before stopping.
    std::thread::sleep(Duration::from_millis(800));
}

fn live_matches_the_mirror(mode: &str, tag: &str) {
    let mut lab = Lab::new(tag);
    lab.nginx(&[("hello.txt", "hello from the lab\n")]);
    lab.dnsmasq("www.lab.test");
    lab.redis();
    let srv = lab.srv.clone();
    lab.python_server(ECHO_SERVER, 7777);
    let cap = tcpdump(&mut lab, &srv, "sm0", "mirror");
    let sensor = Sensor::start(
        &lab,
        BIN,
        &[
            "--xdp-mode",
            mode,
            "--summary",
            "-E",
            "http.enabled=true",
            "-E",
            "http.host=127.0.0.1",
            "-E",
            "logging.metrics.period=1s",
        ],
    );
    assert!(lab.xdp_attached(&lab.sen, "span0"), "XDP program attached");
    traffic(&lab);
    let scrape = |path: &str| {
        lab.run(
            &lab.sen,
            &["curl", "-sf", &format!("http://127.0.0.1:5066{path}")],
        )
    };
    // Counters are published about once a second, by each thread on its own beat: wait until
    // two scrapes a publication apart agree (no packet in flight between them).
    let stable = |m: &BTreeMap<String, f64>| -> Vec<(String, f64)> {
        m.iter()
            .filter(|(k, _)| !k.starts_with("sensor_process_") && !k.starts_with("sensor_output_"))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let mut metrics = parse_metrics(&scrape("/metrics"));
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(1200));
        let next = parse_metrics(&scrape("/metrics"));
        let same = stable(&next) == stable(&metrics);
        metrics = next;
        if same {
            break;
        }
    }
    assert_eq!(scrape("/readyz").trim(), "ready");
    assert_eq!(scrape("/healthz").trim(), "ok");
    stop_capture(&cap);
    let (live, stderr) = sensor.stop();
    eprintln!("{}", stderr.join("\n"));
    assert!(
        !lab.xdp_attached(&lab.sen, "span0"),
        "XDP program detached after exit"
    );

    // What the clients did.
    let http = of_type(&live, "http");
    assert_eq!(http.len(), 5, "http events: {http:#?}");
    let codes: Vec<u64> = http
        .iter()
        .map(|e| e["http"]["response"]["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 4, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 404).count(), 1, "{codes:?}");
    assert!(http.iter().all(|e| e["http"]["request"]["method"] == "get"));
    let dns = of_type(&live, "dns");
    assert_eq!(dns.len(), 2, "dns events: {dns:#?}");
    assert!(dns
        .iter()
        .all(|e| e["dns"]["question"]["name"] == "www.lab.test"));
    let transports: Vec<&str> = dns
        .iter()
        .map(|e| e["network"]["transport"].as_str().unwrap())
        .collect();
    assert!(
        transports.contains(&"udp") && transports.contains(&"tcp"),
        "{transports:?}"
    );
    let redis = of_type(&live, "redis");
    let methods: Vec<&str> = redis
        .iter()
        .map(|e| e["method"].as_str().unwrap_or(""))
        .collect();
    assert!(
        methods.contains(&"SET") && methods.contains(&"GET"),
        "redis events: {redis:#?}"
    );
    // The monitoring endpoint agreed with the events while the sensor ran.
    let m = |k: &str| {
        metrics
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("no metric {k}"))
    };
    for (proto, n) in [
        ("http", http.len()),
        ("dns", dns.len()),
        ("redis", redis.len()),
    ] {
        assert_eq!(
            m(&format!(
                "sensor_protocol_transactions_total{{protocol=\"{proto}\"}}"
            )),
            n as f64,
            "{proto} transactions in /metrics"
        );
    }
    let redirected = m("sensor_xdp_verdict_packets_total{verdict=\"redirected\"}");
    let received: f64 = metrics
        .iter()
        .filter(|(k, _)| k.starts_with("sensor_afxdp_rx_frames_total"))
        .map(|(_, v)| v)
        .sum();
    assert!(redirected > 0.0);
    assert_eq!(
        redirected, received,
        "every redirected frame reached a worker"
    );
    assert_eq!(
        m("sensor_afxdp_rx_ring_full_frames_total{queue=\"0\"}"),
        0.0
    );
    assert!(
        m("sensor_xdp_verdict_packets_total{verdict=\"passed\"}") > 0.0,
        "unclaimed traffic passed"
    );
    assert!(m("sensor_flow_kernel_active_flows") > 0.0);
    assert!(
        live.iter().any(|e| e["event"]["dataset"] == "sensor.stats"),
        "a periodic stats event was published"
    );
    let echo: Vec<&Value> = of_type(&live, "flow")
        .into_iter()
        .filter(|e| e["destination"]["port"] == 7777 && e["flow"]["final"] == true)
        .collect();
    assert_eq!(
        echo.len(),
        1,
        "the unclaimed port's flow is counted: {echo:#?}"
    );

    // The independent record: the mirror as tcpdump saw it.
    let replayed = replay(&cap.file);
    assert_eq!(
        tx_multiset(&live),
        tx_multiset(&replayed),
        "live vs replay of the mirror capture"
    );
    let (lf, rf) = (flow_map(&live), flow_map(&replayed));
    for (k, per) in &rf {
        if !(k.starts_with("tcp") || k.starts_with("udp")) {
            continue;
        }
        assert_eq!(
            lf.get(k),
            Some(per),
            "flow {k}: live (kernel map) vs the mirror capture"
        );
    }
}

#[test]
fn live_native_mode_matches_the_mirror() {
    if root_or_skip("live_native_mode_matches_the_mirror") {
        live_matches_the_mirror("native", "n");
    }
}

#[test]
fn live_skb_mode_matches_the_mirror() {
    if root_or_skip("live_skb_mode_matches_the_mirror") {
        live_matches_the_mirror("skb", "s");
    }
}

#[test]
fn span_mode_drops_unmatched_but_counts_them() {
    if !root_or_skip("span_mode_drops_unmatched_but_counts_them") {
        return;
    }
    let mut lab = Lab::new("d");
    lab.python_server(ECHO_SERVER, 7777);
    let sen = lab.sen.clone();
    let behind = tcpdump(&mut lab, &sen, "span0", "behind-xdp");
    // The packet memberships holding promiscuous mode (tcpdump holds one too).
    let promiscuity = || -> u32 {
        let d = sh(&["ip", "-d", "-n", &lab.sen, "link", "show", "span0"]);
        d.split_whitespace()
            .skip_while(|w| *w != "promiscuity")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no promiscuity in {d}"))
    };
    let before = promiscuity();
    let sensor = Sensor::start(&lab, BIN, &["--span", "--summary"]);
    assert_eq!(
        promiscuity(),
        before + 1,
        "span mode puts the interface in promiscuous mode"
    );
    lab.run(&lab.cli, &["python3", "-c", ECHO_CLIENT]);
    std::thread::sleep(Duration::from_millis(800));
    stop_capture(&behind);
    let (live, _) = sensor.stop();
    // tcpdump has stopped too: nothing holds the interface promiscuous any more.
    assert_eq!(
        promiscuity(),
        before - 1,
        "promiscuous mode withdrawn at exit"
    );
    let seen = replay(&behind.file);
    let port7777 = |e: &Value| e["destination"]["port"] == 7777 || e["source"]["port"] == 7777;
    assert!(
        of_type(&seen, "flow").iter().all(|e| !port7777(e)),
        "XDP_DROP: nothing behind XDP"
    );
    let flows: Vec<&Value> = of_type(&live, "flow")
        .into_iter()
        .filter(|e| port7777(e))
        .collect();
    assert_eq!(flows.len(), 1, "{flows:#?}");
    assert!(flows[0]["network"]["packets"].as_u64().unwrap() >= 6);
}

#[test]
fn no_program_left_after_sigkill() {
    if !root_or_skip("no_program_left_after_sigkill") {
        return;
    }
    let lab = Lab::new("k");
    let mut sensor = Sensor::start(&lab, BIN, &[]);
    assert!(lab.xdp_attached(&lab.sen, "span0"));
    sh(&["kill", "-KILL", &sensor.child.id().to_string()]);
    let _ = sensor.child.wait();
    // The bpf_link goes away with the process's file descriptors.
    let mut gone = false;
    for _ in 0..50 {
        if !lab.xdp_attached(&lab.sen, "span0") {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone, "an XDP program is still attached after SIGKILL");
}

#[test]
fn ring_overflow_is_counted_and_the_sensor_recovers() {
    if !root_or_skip("ring_overflow_is_counted_and_the_sensor_recovers") {
        return;
    }
    let mut lab = Lab::new("b");
    lab.dnsmasq("www.lab.test");
    let sensor = Sensor::start(
        &lab,
        BIN,
        &["--xsk-frames", "64", "--xsk-ring", "64", "--summary"],
    );
    // A bounded burst of DNS-port datagrams, as fast as one Python sender goes.
    let burst = "import socket,time\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nq=bytes.fromhex('123401000001000000000000037777770000010001')\nt=time.time()\nfor i in range(30000):\n  s.sendto(q, ('198.18.40.2', 53))\n";
    lab.run(&lab.cli, &["python3", "-c", burst]);
    std::thread::sleep(Duration::from_millis(500));
    let a = lab.run(
        &lab.cli,
        &[
            "dig",
            "+short",
            "+tries=2",
            "+time=3",
            "@198.18.40.2",
            "www.lab.test",
            "A",
        ],
    );
    assert_eq!(a.trim(), "198.18.40.2");
    std::thread::sleep(Duration::from_millis(500));
    let (live, stderr) = sensor.stop();
    let text = stderr.join("\n");
    eprintln!("{text}");
    let after: Vec<&Value> = of_type(&live, "dns")
        .into_iter()
        .filter(|e| e["dns"]["question"]["name"] == "www.lab.test")
        .collect();
    assert!(!after.is_empty(), "the query after the burst is still seen");
    assert!(
        text.contains("rx_ring_full=") && text.contains("fill_ring_empty="),
        "ring counters reported"
    );
}

/// The capability sets of every thread of `pid` (CapInh, CapPrm, CapEff, CapBnd, CapAmb) and
/// NoNewPrivs.
fn thread_caps(pid: u32) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        out.push(
            status
                .lines()
                .filter(|l| l.starts_with("Cap") || l.starts_with("NoNewPrivs"))
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                .collect(),
        );
    }
    out
}

/// `ip netns exec` runs the sensor in place (exec), so the child's pid is the sensor's.
fn sensor_pid(s: &Sensor) -> u32 {
    let pid = s.child.id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(
        comm.trim(),
        "sensor",
        "ip netns exec did not exec the sensor"
    );
    pid
}

#[test]
fn capabilities_are_dropped_after_start_up_and_required_at_start() {
    if !root_or_skip("capabilities_are_dropped_after_start_up_and_required_at_start") {
        return;
    }
    let mut lab = Lab::new("p");
    lab.nginx(&[("hello.txt", "hello from the lab\n")]);
    const NONE: &str = "0000000000000000";
    let sensor = Sensor::start(
        &lab,
        BIN,
        &["-E", "http.enabled=true", "-E", "http.host=127.0.0.1"],
    );
    // The threads started after the drop (workers, output, signals, http) inherit nothing.
    let all = thread_caps(sensor_pid(&sensor));
    assert!(
        all.len() >= 4,
        "worker, output, signal and http threads: {all:?}"
    );
    for t in &all {
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(t[set], NONE, "{set} of a thread: {t:?}");
        }
        assert_eq!(t["NoNewPrivs"], "1");
    }
    // It still works without them: transactions, flows from the kernel map, the endpoint.
    lab.curl_hello();
    std::thread::sleep(Duration::from_millis(1500));
    let m = lab.run(&lab.sen, &["curl", "-sf", "http://127.0.0.1:5066/metrics"]);
    assert!(
        m.contains("sensor_protocol_transactions_total{protocol=\"http\"} 1"),
        "{m}"
    );
    let (live, _) = sensor.stop();
    assert_eq!(of_type(&live, "http").len(), 1);
    assert!(of_type(&live, "flow")
        .iter()
        .any(|e| e["flow"]["final"] == true));

    // monitor_processes keeps exactly what reading other processes' /proc/PID/fd needs.
    let sensor = Sensor::start(
        &lab,
        BIN,
        &[
            "-E",
            "packetbeat.protocols=[{type: http, monitor_processes: true}]",
        ],
    );
    let want = format!("{:016x}", (1u64 << 19) | (1u64 << 2)); // SYS_PTRACE, DAC_READ_SEARCH
    for t in thread_caps(sensor_pid(&sensor)) {
        assert_eq!(t["CapEff"], want, "{t:?}");
        assert_eq!(t["CapPrm"], want, "{t:?}");
    }
    drop(sensor.stop());

    // Missing a needed capability: a clear refusal, nothing attached.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.sen,
            "setpriv",
            "--bounding-set",
            "-net_raw",
            "--",
            BIN,
        ])
        .args(["run", "--interface", &lab.span_if])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("CAP_NET_RAW") && err.contains("missing"),
        "{err}"
    );
    assert!(!lab.xdp_attached(&lab.sen, "span0"));
}

#[test]
fn sighup_reloads_protocol_options_and_keeps_running_on_a_bad_file() {
    if !root_or_skip("sighup_reloads_protocol_options_and_keeps_running_on_a_bad_file") {
        return;
    }
    let mut lab = Lab::new("h");
    lab.nginx(&[("hello.txt", "hello from the lab\n")]);
    lab.dnsmasq("www.lab.test");
    let cfg = lab.dir.join("sensor.yml");
    let write = |text: &str| std::fs::write(&cfg, text).unwrap();
    write("packetbeat.protocols:\n- type: http\n  ports: [80]\n- type: dns\n  ports: [53]\n");
    let mut sensor = Sensor::start(&lab, BIN, &["-c", cfg.to_str().unwrap()]);
    let curl = || {
        lab.run(
            &lab.cli,
            &[
                "curl",
                "-sf",
                "-o",
                "/dev/null",
                "http://198.18.40.2/hello.txt",
            ],
        )
    };
    let dig = || {
        let a = lab.run(
            &lab.cli,
            &[
                "dig",
                "+short",
                "+tries=1",
                "+time=3",
                "@198.18.40.2",
                "www.lab.test",
                "A",
            ],
        );
        assert_eq!(a.trim(), "198.18.40.2");
    };
    let hup = |s: &Sensor| sh(&["kill", "-HUP", &s.child.id().to_string()]);
    curl();
    dig();
    // HTTP off, DNS tagged: applies to what comes next, without a restart.
    write(
        "packetbeat.protocols:\n- type: http\n  enabled: false\n- type: dns\n  ports: [53]\n  tags: [after-reload]\n",
    );
    hup(&sensor);
    sensor.wait_for("configuration reloaded", Duration::from_secs(10));
    // Workers pick the new configuration up within their flush interval.
    std::thread::sleep(Duration::from_millis(500));
    curl();
    dig();
    // A broken file: an error naming it, the running configuration stays.
    write("packetbeat.protocols:\n- type: dns\n  portz: [53]\n");
    hup(&sensor);
    sensor.wait_for("reload failed", Duration::from_secs(10));
    dig();
    std::thread::sleep(Duration::from_millis(800));
    let (live, stderr) = sensor.stop();
    let log = stderr.join("\n");
    assert!(log.contains("portz"), "the error names the bad key: {log}");
    let http = of_type(&live, "http");
    assert_eq!(
        http.len(),
        1,
        "only the request before the reload: {http:#?}"
    );
    let dns = of_type(&live, "dns");
    assert_eq!(dns.len(), 3, "{dns:#?}");
    let tagged = dns
        .iter()
        .filter(|e| {
            e["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&"after-reload".into()))
        })
        .count();
    assert_eq!(
        tagged, 2,
        "the two queries after the reload are tagged: {dns:#?}"
    );
    // The second HTTP connection still got its flow record from the kernel map.
    let http_flows = of_type(&live, "flow")
        .into_iter()
        .filter(|e| e["destination"]["port"] == 80 && e["flow"]["final"] == true)
        .count();
    assert_eq!(http_flows, 2);
}

/// An HTTP client whose connections live a little (a real client's socket outlives its
/// packets by more than the few milliseconds a veth exchange takes).
const SLOW_CLIENT: &str = "import socket, time\nfor i in range(3):\n  s = socket.create_connection(('198.18.40.1', 8000), timeout=5)\n  time.sleep(0.2)\n  s.sendall(b'GET / HTTP/1.1\\r\\nHost: 198.18.40.1\\r\\n\\r\\n')\n  while s.recv(65536): pass\n  time.sleep(0.3)\n  s.close()\n";

#[test]
fn monitor_processes_names_local_clients_and_servers() {
    if !root_or_skip("monitor_processes_names_local_clients_and_servers") {
        return;
    }
    let mut lab = Lab::new("m");
    lab.nginx(&[("hello.txt", "hello from the lab\n")]);
    let cli = lab.cli.clone();
    lab.spawn(
        &cli,
        &[
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            "198.18.40.1",
        ],
    );
    lab.wait_tcp(&cli, 8000);
    lab.span_into_server();
    let srv = lab.srv.clone();
    let sensor = Sensor::start_in(
        &lab,
        &srv,
        BIN,
        &[
            "-E",
            "packetbeat.protocols=[{type: http, ports: [80, 8000], monitor_processes: true}]",
        ],
    );
    // A remote client to the local nginx; a local client (python3) to a remote server.
    lab.curl_hello();
    lab.run(&srv, &["python3", "-c", SLOW_CLIENT]);
    std::thread::sleep(Duration::from_millis(800));
    let (live, _) = sensor.stop();
    let http = of_type(&live, "http");
    let to_nginx: Vec<&&Value> = http.iter().filter(|e| e["server"]["port"] == 80).collect();
    assert_eq!(to_nginx.len(), 1, "{http:#?}");
    let e = to_nginx[0];
    assert_eq!(e["server"]["process"]["name"], "nginx", "{e:#}");
    assert_eq!(e["destination"]["process"]["name"], "nginx");
    assert_eq!(
        e["process"]["name"], "nginx",
        "root process = the destination's"
    );
    assert!(
        e["client"].get("process").is_none(),
        "the remote curl is not local: {e:#}"
    );
    let local: Vec<&&Value> = http
        .iter()
        .filter(|e| e["server"]["port"] == 8000)
        .collect();
    assert_eq!(local.len(), 3, "{http:#?}");
    for e in local {
        let p = &e["client"]["process"];
        assert_eq!(p["name"], "python3", "{e:#}");
        assert!(p["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains("create_connection")));
        assert!(p["pid"].as_u64().unwrap() > 1 && p["start"].is_string());
        assert_eq!(e["source"]["process"], *p);
        assert!(e["server"].get("process").is_none(), "the server is remote");
        assert_eq!(e["process"], *p, "no destination process: the source's");
        assert_eq!(e["network"]["direction"], "egress");
    }
    for e in to_nginx {
        assert_eq!(e["network"]["direction"], "ingress");
    }

    // ignore_outgoing: what this host's clients start is not published; the rest is.
    let sensor = Sensor::start_in(
        &lab,
        &srv,
        BIN,
        &[
            "-E",
            "packetbeat.protocols=[{type: http, ports: [80, 8000]}]",
            "-E",
            "packetbeat.ignore_outgoing=true",
        ],
    );
    lab.curl_hello();
    lab.run(&srv, &["python3", "-c", SLOW_CLIENT]);
    std::thread::sleep(Duration::from_millis(800));
    let (live, _) = sensor.stop();
    let http = of_type(&live, "http");
    assert_eq!(http.len(), 1, "{http:#?}");
    assert_eq!(http[0]["server"]["port"], 80);
    assert!(
        of_type(&live, "flow")
            .iter()
            .any(|e| e["destination"]["port"] == 8000),
        "flows of outgoing connections are still reported"
    );
}

/// A server that reads requests and never answers.
const SILENT_SERVER: &str = "import socket, time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('198.18.40.2', 8080)); s.listen(8)\nconns=[]\nwhile True:\n  c,_=s.accept(); c.recv(65536); conns.append(c)\n";
/// A client that sends one request and waits for an answer that never comes.
const WAITING_CLIENT: &str = "import socket, time\nc=socket.create_connection(('198.18.40.2', 8080), timeout=30)\nc.sendall(b'GET /pending HTTP/1.1\\r\\nHost: lab\\r\\n\\r\\n')\ntime.sleep(30)\n";

#[test]
fn sigterm_publishes_pending_transactions_and_final_flows() {
    if !root_or_skip("sigterm_publishes_pending_transactions_and_final_flows") {
        return;
    }
    let mut lab = Lab::new("t");
    let cli = lab.cli.clone();
    lab.python_server(SILENT_SERVER, 8080);
    let sensor = Sensor::start(&lab, BIN, &["--summary"]);
    lab.spawn(&cli, &["python3", "-c", WAITING_CLIENT]);
    // Let the request cross the mirror, then stop the sensor while the connection is open.
    std::thread::sleep(Duration::from_millis(1500));
    let (live, stderr) = sensor.stop();
    let http = of_type(&live, "http");
    assert_eq!(http.len(), 1, "the pending request is published: {live:#?}");
    let e = http[0];
    assert_eq!(e["url"]["path"], "/pending");
    assert_eq!(e["status"], "Error");
    assert!(
        e["destination"].get("bytes").is_none(),
        "no response: {e:#}"
    );
    let flows: Vec<&Value> = of_type(&live, "flow")
        .into_iter()
        .filter(|f| f["destination"]["port"] == 8080)
        .collect();
    assert_eq!(
        flows.iter().filter(|f| f["flow"]["final"] == true).count(),
        1,
        "{flows:#?}"
    );
    // The output was drained: everything counted was written.
    let written = stderr
        .iter()
        .find_map(|l| l.strip_prefix("sensor: output events="))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("summary line");
    assert_eq!(written, live.len(), "every event written reached the file");
}

#[test]
fn two_queues_hand_off_keeps_connections_whole() {
    if !root_or_skip("two_queues_hand_off_keeps_connections_whole") {
        return;
    }
    let mut lab = Lab::with_queues("q", 2);
    lab.nginx(&[("hello.txt", "hello from the lab\n")]);
    lab.dnsmasq("www.lab.test");
    lab.redis();
    let srv = lab.srv.clone();
    lab.python_server(ECHO_SERVER, 7777);
    let cap = tcpdump(&mut lab, &srv, "sm0", "mirror");
    let sensor = Sensor::start(&lab, BIN, &["--summary"]);
    assert!(
        sensor.stderr_log.iter().any(|l| l.contains("2 queue(s)")),
        "{:?}",
        sensor.stderr_log
    );
    for _ in 0..3 {
        traffic(&lab);
    }
    stop_capture(&cap);
    let (live, stderr) = sensor.stop();
    let log = stderr.join("\n");
    eprintln!("{log}");
    let queue_line = |q: u32, key: &str| -> u64 {
        let l = stderr
            .iter()
            .find(|l| l.starts_with(&format!("sensor: queue {q}:")))
            .unwrap_or_else(|| panic!("no queue {q} line: {log}"));
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        queue_line(0, "frames") > 0 && queue_line(1, "frames") > 0,
        "both queues used"
    );
    let sent = queue_line(0, "handoff_sent") + queue_line(1, "handoff_sent");
    let received = queue_line(0, "handoff_received") + queue_line(1, "handoff_received");
    assert!(sent > 0, "asymmetric queues made workers hand frames over");
    assert_eq!(sent, received, "every handed frame was processed");
    assert_eq!(
        queue_line(0, "handoff_dropped") + queue_line(1, "handoff_dropped"),
        0
    );
    // Every request and every response was processed exactly once, in the worker owning its
    // connection: per protocol, the requests and responses (and their bytes) of the events
    // equal those of the mirror's replay. (Pairing can still split when the worker that
    // received a request hands it over later than the other worker processes the reply: the
    // README's "hand-off" note; here each side is counted whether paired or not.)
    let replayed = replay(&cap.file);
    let sides = |evs: &[Value]| -> BTreeMap<String, (u64, u64, u64, u64)> {
        let mut m = BTreeMap::new();
        // HTTP and DNS publish every request and every response, paired or not (Redis, for
        // one, counts an orphan response without publishing it).
        for e in evs
            .iter()
            .filter(|e| e["type"] == "http" || e["type"] == "dns")
        {
            let k = m
                .entry(e["type"].as_str().unwrap().to_owned())
                .or_insert((0, 0, 0, 0));
            if let Some(b) = e["source"]["bytes"].as_u64() {
                k.0 += 1;
                k.1 += b;
            }
            if let Some(b) = e["destination"]["bytes"].as_u64() {
                k.2 += 1;
                k.3 += b;
            }
        }
        m
    };
    assert_eq!(
        sides(&live),
        sides(&replayed),
        "requests/responses and their bytes"
    );
    assert_eq!(sides(&live)["http"].0, 15);
    let paired = |evs: &[Value]| tx_multiset(evs).values().sum::<usize>();
    eprintln!(
        "hand-off: {} of {} transactions paired as in the replay",
        paired(&replayed) - (paired(&live) - paired(&replayed)),
        paired(&replayed)
    );
}

#[test]
fn small_memlock_limit_shrinks_the_rings_instead_of_failing() {
    if !root_or_skip("small_memlock_limit_shrinks_the_rings_instead_of_failing") {
        return;
    }
    let mut lab = Lab::new("l");
    lab.nginx(&[("hello.txt", "hello from the lab\n")]);
    // No CAP_SYS_RESOURCE (cannot raise the limit), no CAP_IPC_LOCK, 8 MiB locked memory: what
    // a container runtime typically gives. The default rings (32 MiB) do not fit.
    let sensor = Sensor::start_wrapped(
        &lab,
        &lab.sen,
        &[
            "setpriv",
            "--bounding-set",
            "-sys_resource,-ipc_lock",
            "--",
            "prlimit",
            "--memlock=8388608:8388608",
            "--",
        ],
        BIN,
        &[],
    );
    assert!(
        sensor
            .stderr_log
            .iter()
            .any(|l| l.contains("using 1024 AF_XDP frames per queue")),
        "{:?}",
        sensor.stderr_log
    );
    lab.curl_hello();
    std::thread::sleep(Duration::from_millis(800));
    let (live, _) = sensor.stop();
    assert_eq!(of_type(&live, "http").len(), 1);
}

/// An echo server on the HTTP port 8080.
const ECHO_8080: &str = "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('198.18.40.2', 8080)); s.listen(8)\nwhile True:\n  c,_=s.accept()\n  while True:\n    d=c.recv(65536)\n    if not d: break\n    c.sendall(d)\n  c.close()\n";
/// An HTTP/2 (prior knowledge) client: the HTTP/1.x dissector gives up on both directions.
const H2_CLIENT: &str = "import socket, time\nc=socket.create_connection(('198.18.40.2', 8080), timeout=5)\nc.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'); c.recv(65536)\nfor i in range(20):\n  time.sleep(0.05); c.sendall(b'x' * 100); c.recv(65536)\nc.close()\n";

#[test]
fn a_connection_the_dissector_gave_up_on_is_bypassed_but_still_counted() {
    if !root_or_skip("a_connection_the_dissector_gave_up_on_is_bypassed_but_still_counted") {
        return;
    }
    let mut lab = Lab::new("b");
    let srv = lab.srv.clone();
    lab.python_server(ECHO_8080, 8080);
    let cap = tcpdump(&mut lab, &srv, "sm0", "mirror");
    let sensor = Sensor::start(
        &lab,
        BIN,
        &[
            "--span",
            "-E",
            "http.enabled=true",
            "-E",
            "http.host=127.0.0.1",
        ],
    );
    lab.run(&lab.cli, &["python3", "-c", H2_CLIENT]);
    std::thread::sleep(Duration::from_millis(1800));
    let metrics =
        parse_metrics(&lab.run(&lab.sen, &["curl", "-sf", "http://127.0.0.1:5066/metrics"]));
    stop_capture(&cap);
    let (live, _) = sensor.stop();
    let m = |k: &str| {
        metrics
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("no metric {k}"))
    };
    assert_eq!(m("sensor_flow_bypassed_flows_total"), 1.0);
    let bypassed = m("sensor_xdp_verdict_packets_total{verdict=\"bypassed\"}");
    let redirected = m("sensor_xdp_verdict_packets_total{verdict=\"redirected\"}");
    assert!(
        bypassed >= 20.0,
        "the rest of the connection stayed in the kernel: {bypassed}"
    );
    // Still counted exactly: the kernel's flow record equals the mirror capture.
    let (lf, rf) = (flow_map(&live), flow_map(&replay(&cap.file)));
    let key = rf
        .keys()
        .find(|k| k.contains(":8080"))
        .expect("the connection in the mirror")
        .clone();
    assert_eq!(lf.get(&key), rf.get(&key), "flow {key}");
    let total: u64 = rf[&key].values().map(|(p, _)| p).sum();
    assert!(
        bypassed < total as f64 && redirected + bypassed >= total as f64,
        "the start of the connection was parsed, the rest bypassed: {redirected} + {bypassed} vs {total}"
    );
}
