//! The two namespaces of a test and the `ip` helpers.

use std::process::Command;

use sensor::capture::xdp::{has_embedded_object, AttachMode, DataPlane, XdpOptions};

use super::sys::in_ns;
use super::{CLI4, CLI6, CLI_IF, CLI_MAC, SRV4, SRV6, SRV_IF, SRV_MAC, TCP_MATCHED, UDP_MATCHED};

pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ns_exec(ns: &str, args: &[&str]) {
    let mut a = vec!["netns", "exec", ns];
    a.extend_from_slice(args);
    ip(&a);
}

/// Two namespaces joined by a veth pair; deleted (with the veths and any XDP/TCX links on
/// them) in `Drop`, which runs on failure too.
pub struct Net {
    pub cli: String,
    pub srv: String,
}

impl Net {
    /// `v6`: keep IPv6 on (static neighbours, no DAD); otherwise IPv6 is disabled so that the
    /// only frames on the link are the test's (interface counters then equal the flow).
    pub fn new(tag: &str, v6: bool) -> Net {
        let pid = std::process::id();
        let net = Net {
            cli: format!("sxc{pid}{tag}"),
            srv: format!("sxs{pid}{tag}"),
        };
        for ns in [&net.cli, &net.srv] {
            // Tolerate a leftover from a killed run with the same pid.
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
            let v = if v6 { "0" } else { "1" };
            for k in ["all", "default"] {
                ns_exec(
                    ns,
                    &[
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{k}.disable_ipv6={v}"),
                    ],
                );
            }
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n", &net.cli, "link", "add", CLI_IF, "address", CLI_MAC, "type", "veth", "peer",
            "name", SRV_IF, "address", SRV_MAC, "netns", &net.srv,
        ]);
        for (ns, dev, me, peer, peer6, me6, mac) in [
            (&net.cli, CLI_IF, CLI4, SRV4, SRV6, CLI6, SRV_MAC),
            (&net.srv, SRV_IF, SRV4, CLI4, CLI6, SRV6, CLI_MAC),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{me}/24"), "dev", dev]);
            ip(&[
                "-n",
                ns,
                "neigh",
                "add",
                peer,
                "lladdr",
                mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
            if v6 {
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{me6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
                ip(&[
                    "-n",
                    ns,
                    "neigh",
                    "add",
                    peer6,
                    "lladdr",
                    mac,
                    "dev",
                    dev,
                    "nud",
                    "permanent",
                ]);
            }
            // One frame per segment, so counts are wire packets in every mode.
            ns_exec(
                ns,
                &[
                    "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                ],
            );
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        net
    }

    /// `ip -d link show` of the server veth.
    pub fn srv_link(&self) -> String {
        ip(&["-n", &self.srv, "-d", "link", "show", SRV_IF])
    }

    /// (tx packets, tx bytes, rx packets, rx bytes) of the client veth.
    pub fn cli_counters(&self) -> [u64; 4] {
        let j = ip(&["-n", &self.cli, "-j", "-s", "link", "show", CLI_IF]);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        let s = &v[0]["stats64"];
        let g = |d: &str, f: &str| s[d][f].as_u64().unwrap();
        [
            g("tx", "packets"),
            g("tx", "bytes"),
            g("rx", "packets"),
            g("rx", "bytes"),
        ]
    }

    pub fn load(&self, mode: AttachMode, span: bool) -> DataPlane {
        let opts = XdpOptions {
            iface: SRV_IF.into(),
            mode,
            span,
            tcp_ports: vec![TCP_MATCHED],
            udp_ports: vec![UDP_MATCHED],
            icmp: true,
        };
        let dp = in_ns(&self.srv, move || DataPlane::load(&opts))
            .unwrap_or_else(|e| panic!("loading the data plane: {e:#}"));
        assert!(
            self.srv_link().contains("xdp"),
            "no XDP program on {SRV_IF} after load:\n{}",
            self.srv_link()
        );
        dp
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.cli, &self.srv] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Fail (not skip) without the object or privileges; skip loudly only without kernel XDP.
pub fn preconditions() -> bool {
    if !std::fs::read_to_string("/proc/kallsyms")
        .map(|s| s.contains(" xdp_do_redirect") || s.contains(" do_xdp_generic"))
        .unwrap_or(true)
    {
        eprintln!(
            "\n!!!!!!!! SKIPPING the XDP netns tests: this kernel has no XDP support !!!!!!!!\n"
        );
        return false;
    }
    assert!(
        has_embedded_object(),
        "the sensor was built without the XDP object: run `cargo xtask test` (it builds the \
         object and sets SENSOR_EBPF_OBJECT), as CI does"
    );
    true
}
