//! A small lab of network namespaces for live end-to-end tests, torn down in `Drop` (also when a
//! test fails): a client and a server joined by a veth pair, and a sensor namespace that receives
//! a mirror of everything crossing the server's veth (tc u32 + mirred: a span port). Addresses are
//! in 198.18.0.0/15 and 2001:db8::/32 only. Only processes started here are stopped, by PID.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test harness"
)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Run a command, panic with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when running as root (the tests need it; CI runs as root).
pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// The lab: namespaces, links, servers and their temp dir.
pub struct Lab {
    /// Client namespace.
    pub cli: String,
    /// Server namespace.
    pub srv: String,
    /// Sensor namespace.
    pub sen: String,
    /// The sensor's interface (inside `sen`), receiving the mirror.
    pub span_if: String,
    /// Server address.
    pub srv_ip: &'static str,
    /// Server IPv6 address.
    pub srv_ip6: &'static str,
    /// Client address.
    pub cli_ip: &'static str,
    /// Scratch directory.
    pub dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    /// Move the span interface into the server namespace: a sensor there sees the mirror and
    /// the server namespace's sockets (`monitor_processes`).
    pub fn span_into_server(&self) {
        sh(&[
            "ip",
            "-n",
            &self.sen,
            "link",
            "set",
            &self.span_if,
            "netns",
            &self.srv,
        ]);
        let x = |args: &[&str]| {
            let mut v = vec!["ip", "netns", "exec", &self.srv];
            v.extend_from_slice(args);
            sh(&v);
        };
        x(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", self.span_if),
        ]);
        x(&["ip", "link", "set", &self.span_if, "up"]);
    }

    /// Build the lab; `tag` keeps names unique between tests of one run.
    pub fn new(tag: &str) -> Lab {
        Lab::with_queues(tag, 1)
    }

    /// [`Lab::new`] with `queues` TX/RX queues on every veth (the kernel spreads flows over
    /// them by socket hash, not symmetrically: a request and its reply can take different
    /// queues, as on a NIC without symmetric RSS).
    pub fn with_queues(tag: &str, queues: u32) -> Lab {
        let q = queues.to_string();
        let id = format!("{}{}", std::process::id() % 100_000, tag);
        let dir = std::env::temp_dir().join(format!("sensor-lab-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            cli: format!("snc{id}"),
            srv: format!("sns{id}"),
            sen: format!("snx{id}"),
            span_if: "span0".into(),
            srv_ip: "198.18.40.2",
            srv_ip6: "2001:db8:40::2",
            cli_ip: "198.18.40.1",
            dir,
            children: Vec::new(),
        };
        for ns in [&lab.cli, &lab.srv, &lab.sen] {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        sh(&[
            "ip",
            "link",
            "add",
            "cv0",
            "netns",
            &lab.cli,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "sv0",
            "netns",
            &lab.srv,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ]);
        sh(&[
            "ip",
            "link",
            "add",
            "sm0",
            "netns",
            &lab.srv,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "span0",
            "netns",
            &lab.sen,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ]);
        for (ns, ifc) in [(&lab.sen, "span0"), (&lab.srv, "sm0")] {
            // The mirror carries only copies: no addresses, no IPv6 autoconfiguration noise.
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{ifc}.disable_ipv6=1"),
            ]);
        }
        sh(&[
            "ip",
            "-n",
            &lab.cli,
            "addr",
            "add",
            "198.18.40.1/24",
            "dev",
            "cv0",
        ]);
        sh(&[
            "ip",
            "-n",
            &lab.srv,
            "addr",
            "add",
            "198.18.40.2/24",
            "dev",
            "sv0",
        ]);
        sh(&[
            "ip",
            "-n",
            &lab.cli,
            "-6",
            "addr",
            "add",
            "2001:db8:40::1/64",
            "dev",
            "cv0",
            "nodad",
        ]);
        sh(&[
            "ip",
            "-n",
            &lab.srv,
            "-6",
            "addr",
            "add",
            "2001:db8:40::2/64",
            "dev",
            "sv0",
            "nodad",
        ]);
        for (ns, ifc) in [
            (&lab.cli, "cv0"),
            (&lab.srv, "sv0"),
            (&lab.srv, "sm0"),
            (&lab.sen, "span0"),
        ] {
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"]);
        }
        let x = |args: &[&str]| {
            let mut v = vec!["ip", "netns", "exec", &lab.srv];
            v.extend_from_slice(args);
            sh(&v);
        };
        x(&["tc", "qdisc", "add", "dev", "sv0", "clsact"]);
        for dir in ["ingress", "egress"] {
            x(&[
                "tc", "filter", "add", "dev", "sv0", dir, "u32", "match", "u32", "0", "0",
                "action", "mirred", "egress", "mirror", "dev", "sm0",
            ]);
        }
        lab
    }

    /// Start a long-running process inside `ns`; it is killed (by PID) when the lab drops.
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> u32 {
        let name = args[0].rsplit('/').next().unwrap_or("proc").to_owned();
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        // Its own process group: the lab ends the server with everything it forked (nginx
        // workers outlive a killed master otherwise).
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// A Python server `script` in the server namespace, listening on `port` when this returns.
    pub fn python_server(&mut self, script: &str, port: u16) {
        let srv = self.srv.clone();
        self.spawn(&srv, &["python3", "-c", script]);
        self.wait_tcp(&srv, port);
    }

    /// One `curl` of the lab's nginx from the client namespace.
    pub fn curl_hello(&self) {
        self.run(
            &self.cli,
            &[
                "curl",
                "-sf",
                "-o",
                "/dev/null",
                "http://198.18.40.2/hello.txt",
            ],
        );
    }

    /// Run a client command inside `ns` to completion; returns stdout.
    pub fn run(&self, ns: &str, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Start nginx (port 80) in the server namespace, serving `files`.
    pub fn nginx(&mut self, files: &[(&str, &str)]) {
        let www = self.dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        for (name, body) in files {
            std::fs::write(www.join(name), body).unwrap();
        }
        let d = self.dir.display().to_string();
        let conf = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/pt;\n\
               fastcgi_temp_path {d}/ft; uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;\n\
               server {{ listen 198.18.40.2:80; listen [2001:db8:40::2]:80; root {d}/www; }} }}\n"
        );
        let path = self.dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let srv = self.srv.clone();
        self.spawn(&srv, &["nginx", "-c", path.to_str().unwrap(), "-p", &d]);
        self.wait_tcp(&srv, 80);
    }

    /// Start dnsmasq (port 53) answering `name` with the server's address.
    pub fn dnsmasq(&mut self, name: &str) {
        let srv = self.srv.clone();
        let pidf = self.dir.join("dnsmasq.pid");
        let addr = format!("--address=/{name}/198.18.40.2");
        let pid = format!("--pid-file={}", pidf.display());
        self.spawn(
            &srv,
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--port=53",
                "--listen-address=198.18.40.2",
                "--bind-interfaces",
                &addr,
                &pid,
                "--user=root",
                "--log-facility=-",
            ],
        );
        self.wait_tcp(&srv, 53);
    }

    /// Start redis-server (port 6379).
    pub fn redis(&mut self) {
        let srv = self.srv.clone();
        let d = self.dir.display().to_string();
        self.spawn(
            &srv,
            &[
                "redis-server",
                "--port",
                "6379",
                "--bind",
                "198.18.40.2",
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &d,
            ],
        );
        self.wait_tcp(&srv, 6379);
    }

    /// Wait until something listens on TCP `port` in `ns`.
    pub fn wait_tcp(&self, ns: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = self.run(ns, &["ss", "-ltnH"]);
            if out.lines().any(|l| l.contains(&format!(":{port} "))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on port {port} in {ns}");
    }

    /// Whether an XDP program is attached to `ifc` in `ns` (from `ip -d link`).
    pub fn xdp_attached(&self, ns: &str, ifc: &str) -> bool {
        let out = self.run(ns, &["ip", "-d", "link", "show", "dev", ifc]);
        out.contains("prog/xdp")
            || out.contains("xdpgeneric")
            || out.contains("xdpdrv")
            || out.contains(" xdp ")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            // The whole process group (the server and its workers), then reap the leader.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.cli, &self.srv, &self.sen] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running sensor (`sensor run`) inside the lab's sensor namespace.
pub struct Sensor {
    /// The process.
    pub child: Child,
    /// Where its events go.
    pub events: PathBuf,
    stderr: mpsc::Receiver<String>,
    /// Stderr lines seen so far.
    pub stderr_log: Vec<String>,
}

impl Sensor {
    /// Start `sensor run` on the span interface with `extra` arguments; waits until it captures.
    pub fn start(lab: &Lab, bin: &str, extra: &[&str]) -> Sensor {
        Sensor::start_in(lab, &lab.sen, bin, extra)
    }

    /// [`Sensor::start`] in namespace `ns` (where the span interface has been moved).
    pub fn start_in(lab: &Lab, ns: &str, bin: &str, extra: &[&str]) -> Sensor {
        Sensor::start_wrapped(lab, ns, &[], bin, extra)
    }

    /// [`Sensor::start_in`] through `wrapper` (e.g. `setpriv ... --`, `prlimit ... --`), which
    /// must exec the sensor in place.
    pub fn start_wrapped(
        lab: &Lab,
        ns: &str,
        wrapper: &[&str],
        bin: &str,
        extra: &[&str],
    ) -> Sensor {
        let tag: String = extra
            .join("_")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let events = lab.dir.join(format!("events-{tag}.ndjson"));
        let _ = std::fs::remove_file(&events);
        let out = format!("file:{}", events.display());
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(wrapper)
            .args([bin, "run", "--interface", &lab.span_if, "--output", &out])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut s = Sensor {
            child,
            events,
            stderr: rx,
            stderr_log: Vec::new(),
        };
        s.wait_for("capturing on", Duration::from_secs(30));
        s
    }

    /// Wait for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.stderr_log.push(l);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        panic!(
                            "sensor exited ({st}) before {needle:?}:\n{}",
                            self.stderr_log.join("\n")
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "sensor did not print {needle:?}:\n{}",
            self.stderr_log.join("\n")
        );
    }

    /// SIGTERM, wait for a clean exit, return the events and the stderr lines.
    pub fn stop(mut self) -> (Vec<serde_json::Value>, Vec<String>) {
        let pid = self.child.id().to_string();
        sh(&["kill", "-TERM", &pid]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(200)) {
                    self.stderr_log.push(l);
                }
                assert!(
                    st.success(),
                    "sensor failed: {st}\n{}",
                    self.stderr_log.join("\n")
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sensor did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = std::fs::read_to_string(&self.events).unwrap_or_default();
        let events = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON event"))
            .collect();
        (events, std::mem::take(&mut self.stderr_log))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Events of one dataset.
pub fn of_type<'a>(events: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}
