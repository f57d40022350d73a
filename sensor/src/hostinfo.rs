//! Metadata of the machine the sensor runs on, as libbeat's `add_host_metadata` and
//! `add_observer_metadata` publish it (go-sysinfo's view of Linux): host name, machine id,
//! architecture, OS from `/etc/os-release` and `uname`, and the addresses of the non-loopback
//! interfaces.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

/// The operating system (`host.os.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsInfo {
    /// `host.os.type`: "linux".
    pub os_type: String,
    /// `host.os.family`: "debian", "redhat", "suse", "arch"... (empty when unknown).
    pub family: String,
    /// `host.os.name`: `NAME` of os-release ("Debian GNU/Linux").
    pub name: String,
    /// `host.os.kernel`: the kernel release (`uname -r`).
    pub kernel: String,
    /// `host.os.version`: `VERSION` of os-release ("12 (bookworm)").
    pub version: String,
    /// `host.os.platform`: `ID` of os-release ("debian").
    pub platform: String,
    /// `host.os.codename`: `VERSION_CODENAME` (or another `*CODENAME`, or the one in `VERSION`).
    pub codename: Option<String>,
    /// `host.os.build`: `BUILD_ID` of os-release.
    pub build: Option<String>,
}

/// Host metadata, gathered once with [`HostInfo::gather`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// The kernel host name (`/proc/sys/kernel/hostname`).
    pub hostname: String,
    /// `host.name`: the host name.
    pub name: String,
    /// `host.id`: `/etc/machine-id` (or `/var/lib/dbus/machine-id`).
    pub id: Option<String>,
    /// `host.architecture`: `uname -m` ("x86_64", "aarch64").
    pub architecture: String,
    /// `host.os.*`.
    pub os: OsInfo,
    /// Addresses of the non-loopback interfaces, interface by interface (IPv4 before IPv6, as
    /// the kernel lists them), link-local ones included, as libbeat does.
    pub ips: Vec<IpAddr>,
    /// Hardware addresses of the non-loopback interfaces, uppercase and dash-separated
    /// ("00-11-22-AA-BB-CC"), sorted, without duplicates or all-zero addresses.
    pub macs: Vec<String>,
}

impl HostInfo {
    /// Gather from this machine. Never panics: what cannot be read is left empty / `None`.
    pub fn gather() -> HostInfo {
        let uts = uname();
        let hostname = read_trimmed("/proc/sys/kernel/hostname")
            .or_else(|| uts.as_ref().map(|u| u.nodename.clone()))
            .unwrap_or_default();
        let id =
            read_trimmed("/etc/machine-id").or_else(|| read_trimmed("/var/lib/dbus/machine-id"));
        let kernel = uts
            .as_ref()
            .map(|u| u.release.clone())
            .or_else(|| read_trimmed("/proc/sys/kernel/osrelease"))
            .unwrap_or_default();
        let architecture = uts
            .as_ref()
            .map(|u| u.machine.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let os_release = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let (ips, macs) = net_info();
        HostInfo {
            name: hostname.clone(),
            hostname,
            id,
            architecture,
            os: OsInfo::from_os_release(&os_release, &kernel),
            ips,
            macs,
        }
    }

    /// The `host` object as `add_host_metadata` writes it: `hostname`, `name`, `architecture`,
    /// `os.{type,family,name,kernel,version,platform,codename,build}`, `id`, and with `netinfo`
    /// the `ip` and `mac` lists (left out when empty).
    pub fn host_fields(&self, netinfo: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("hostname".into(), self.hostname.clone().into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("architecture".into(), self.architecture.clone().into());
        m.insert("os".into(), Value::Object(self.os.fields()));
        if let Some(id) = self.id.as_ref().filter(|i| !i.is_empty()) {
            m.insert("id".into(), id.clone().into());
        }
        if netinfo {
            self.add_netinfo(&mut m);
        }
        m
    }

    /// The `observer` object as `add_observer_metadata` writes it: `hostname`, and with
    /// `netinfo` the `ip` and `mac` lists (left out when empty).
    pub fn observer_fields(&self, netinfo: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("hostname".into(), self.hostname.clone().into());
        if netinfo {
            self.add_netinfo(&mut m);
        }
        m
    }

    fn add_netinfo(&self, m: &mut Map<String, Value>) {
        if !self.ips.is_empty() {
            let ips = self.ips.iter().map(|ip| Value::String(ip.to_string()));
            m.insert("ip".into(), Value::Array(ips.collect()));
        }
        if !self.macs.is_empty() {
            let macs = self.macs.iter().cloned().map(Value::String);
            m.insert("mac".into(), Value::Array(macs.collect()));
        }
    }

    /// Whether `ip` belongs to this host: one of its interface addresses, a loopback address, or
    /// a link-local one (169.254.0.0/16, fe80::/10). IPv4-mapped IPv6 addresses count as IPv4.
    pub fn is_local_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback()
            || match ip {
                IpAddr::V4(a) => a.is_link_local(),
                IpAddr::V6(a) => a.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80),
            }
            || self.ips.iter().any(|own| own.to_canonical() == ip)
    }
}

impl OsInfo {
    /// OS info from the text of an os-release file (go-sysinfo's rules) and the kernel release.
    pub fn from_os_release(text: &str, kernel: &str) -> OsInfo {
        let f = parse_os_release(text);
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let name = get("NAME");
        let version = get("VERSION");
        let mut platform = get("ID");
        if platform.is_empty() {
            platform = name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase();
        }
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let codename = non_empty(get("VERSION_CODENAME"))
            .or_else(|| {
                f.iter()
                    .find(|(k, v)| k.contains("CODENAME") && !v.is_empty())
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| codename_in_version(&version));
        let family = family_of(&platform)
            .or_else(|| get("ID_LIKE").split_whitespace().find_map(family_of))
            .unwrap_or_default()
            .to_owned();
        OsInfo {
            os_type: "linux".to_owned(),
            family,
            name,
            kernel: kernel.to_owned(),
            version,
            platform,
            codename,
            build: non_empty(get("BUILD_ID")),
        }
    }

    /// The `os` object (`platform`, `version`, `family`, `name`, `kernel` always; `type`,
    /// `codename`, `build` when known), as libbeat's `MapHostInfo`.
    pub fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("platform".into(), self.platform.clone().into());
        m.insert("version".into(), self.version.clone().into());
        m.insert("family".into(), self.family.clone().into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("kernel".into(), self.kernel.clone().into());
        if !self.os_type.is_empty() {
            m.insert("type".into(), self.os_type.clone().into());
        }
        if let Some(c) = &self.codename {
            m.insert("codename".into(), c.clone().into());
        }
        if let Some(b) = &self.build {
            m.insert("build".into(), b.clone().into());
        }
        m
    }
}

/// `KEY=value` lines of an os-release file; quotes removed (with backslash escapes in double
/// quotes), comments and malformed lines skipped.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut s = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                } else {
                    s.push(c);
                }
            }
            s
        } else if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_owned()
        } else {
            v.to_owned()
        };
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    out
}

/// The codename in parentheses right after the version numbers ("12 (bookworm)").
fn codename_in_version(version: &str) -> Option<String> {
    let start = version.find(|c: char| c.is_ascii_digit())?;
    let rest = version.get(start..)?;
    let after_num = rest.trim_start_matches(|c: char| c.is_alphanumeric() || c == '.' || c == '_');
    let inner = after_num.strip_prefix(" (")?;
    let end = inner.find(')')?;
    let code = inner.get(..end)?;
    (!code.is_empty() && code.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then(|| code.to_owned())
}

/// The Linux family of a distribution id.
fn family_of(platform: &str) -> Option<&'static str> {
    let p = platform.to_ascii_lowercase();
    Some(match p.as_str() {
        "redhat" | "fedora" | "centos" | "scientific" | "oraclelinux" | "ol" | "amzn" | "rhel"
        | "almalinux" | "rocky" | "openeuler" => "redhat",
        "debian" | "ubuntu" | "raspbian" | "linuxmint" => "debian",
        "suse" | "sles" | "sled" => "suse",
        "arch" | "archarm" | "manjaro" | "endeavouros" => "arch",
        _ if p.starts_with("opensuse") => "suse",
        _ => return None,
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

struct Uname {
    nodename: String,
    release: String,
    machine: String,
}

fn c_chars(a: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = a
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn uname() -> Option<Uname> {
    // SAFETY: utsname is a struct of C char arrays, for which all-zero bytes are a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    Some(Uname {
        nodename: c_chars(&u.nodename),
        release: c_chars(&u.release),
        machine: c_chars(&u.machine),
    })
}

/// Format a hardware address as ECS wants it: "00-11-22-AA-BB-CC".
pub fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join("-")
}

/// ARPHRD types of IP tunnels, whose "hardware address" is an IP address (Go skips those).
const TUNNEL_HATYPES: &[u16] = &[768, 769, 776, 778, 823];

/// IPs (grouped by interface, in the order the kernel lists interfaces) and MACs (sorted,
/// unique) of the non-loopback interfaces, as libbeat's `GetNetInfo`.
fn net_info() -> (Vec<IpAddr>, Vec<String>) {
    let mut ifaces: Vec<(String, Vec<IpAddr>)> = Vec::new();
    let mut macs: Vec<String> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs stores a list that we free with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return (Vec::new(), Vec::new());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list returned by getifaddrs, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_flags & (libc::IFF_LOOPBACK as libc::c_uint) != 0
            || ifa.ifa_addr.is_null()
            || ifa.ifa_name.is_null()
        {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to at least a sockaddr header.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let pos = match ifaces.iter().position(|(n, _)| *n == name) {
            Some(p) => p,
            None => {
                ifaces.push((name, Vec::new()));
                ifaces.len() - 1
            }
        };
        let ip = match family {
            libc::AF_INET => {
                // SAFETY: for AF_INET, ifa_addr points to a sockaddr_in.
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr.cast()) };
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                // SAFETY: for AF_INET6, ifa_addr points to a sockaddr_in6.
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr.cast()) };
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            libc::AF_PACKET => {
                // SAFETY: for AF_PACKET, ifa_addr points to a sockaddr_ll.
                let sll: libc::sockaddr_ll =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr.cast()) };
                let len = usize::from(sll.sll_halen);
                if let Some(hw) = sll.sll_addr.get(..len) {
                    let tunnel =
                        TUNNEL_HATYPES.contains(&sll.sll_hatype) && (len == 4 || len == 16);
                    if !hw.is_empty() && hw.iter().any(|b| *b != 0) && !tunnel {
                        macs.push(format_mac(hw));
                    }
                }
                None
            }
            _ => None,
        };
        if let (Some(ip), Some((_, list))) = (ip, ifaces.get_mut(pos)) {
            list.push(ip);
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    macs.sort();
    macs.dedup();
    (ifaces.into_iter().flat_map(|(_, ips)| ips).collect(), macs)
}

/// This host, gathered once per process (processors, `network.direction`, `ignore_outgoing`).
pub fn shared() -> std::sync::Arc<HostInfo> {
    static HOST: std::sync::LazyLock<std::sync::Arc<HostInfo>> =
        std::sync::LazyLock::new(|| std::sync::Arc::new(HostInfo::gather()));
    HOST.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixed() -> HostInfo {
        HostInfo {
            hostname: "Sensor-01".into(),
            name: "Sensor-01".into(),
            id: None,
            architecture: "aarch64".into(),
            os: OsInfo::from_os_release("ID=fedora\nNAME=\"Fedora Linux\"\nVERSION=\"40 (Server Edition)\"\nVERSION_ID=40\n", "6.8.5"),
            ips: vec!["10.0.0.5".parse().unwrap(), "2001:db8::5".parse().unwrap()],
            macs: vec!["00-11-22-AA-BB-CC".into()],
        }
    }

    #[test]
    fn os_release_parsing_handles_quotes_and_comments() {
        let f = parse_os_release(
            "# comment\n\nNAME=\"Debian GNU/Linux\"\nID=debian\nPRETTY='Single quoted'\nESC=\"a \\\"b\\\" \\\\ c\"\nBROKEN LINE\n  SPACED = value \n",
        );
        assert_eq!(f.get("NAME").unwrap(), "Debian GNU/Linux");
        assert_eq!(f.get("ID").unwrap(), "debian");
        assert_eq!(f.get("PRETTY").unwrap(), "Single quoted");
        assert_eq!(f.get("ESC").unwrap(), "a \"b\" \\ c");
        assert_eq!(f.get("SPACED").unwrap(), "value");
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn os_info_of_common_distributions() {
        let debian = OsInfo::from_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
            "6.1.0",
        );
        assert_eq!(
            debian,
            OsInfo {
                os_type: "linux".into(),
                family: "debian".into(),
                name: "Debian GNU/Linux".into(),
                kernel: "6.1.0".into(),
                version: "12 (bookworm)".into(),
                platform: "debian".into(),
                codename: Some("bookworm".into()),
                build: None,
            }
        );
        let ubuntu = OsInfo::from_os_release(
            "NAME=\"Ubuntu\"\nVERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n",
            "5.15.0",
        );
        assert_eq!(
            (ubuntu.family.as_str(), ubuntu.codename.as_deref()),
            ("debian", Some("jammy"))
        );
        let rocky = OsInfo::from_os_release(
            "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
            "5.14",
        );
        assert_eq!((rocky.family.as_str(), rocky.codename), ("redhat", None));
        let pop = OsInfo::from_os_release(
            "NAME=\"Pop!_OS\"\nID=pop\nID_LIKE=\"ubuntu debian\"\nVERSION=\"22.04 LTS\"\n",
            "6.6",
        );
        assert_eq!(
            (pop.platform.as_str(), pop.family.as_str()),
            ("pop", "debian")
        );
        let suse = OsInfo::from_os_release(
            "NAME=\"openSUSE Leap\"\nID=\"opensuse-leap\"\nVERSION=\"15.5\"\n",
            "6.4",
        );
        assert_eq!(suse.family, "suse");
        let alpine = OsInfo::from_os_release(
            "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nBUILD_ID=20240101\n",
            "6.6",
        );
        assert_eq!(
            (alpine.family.as_str(), alpine.build.as_deref()),
            ("", Some("20240101"))
        );
        let no_id = OsInfo::from_os_release("NAME=\"Gentoo Linux\"\n", "6.6");
        assert_eq!(no_id.platform, "gentoo");
        let empty = OsInfo::from_os_release("", "6.6");
        assert_eq!(
            empty,
            OsInfo {
                os_type: "linux".into(),
                kernel: "6.6".into(),
                ..OsInfo::default()
            }
        );
    }

    #[test]
    fn codename_from_version() {
        assert_eq!(
            codename_in_version("12 (bookworm)").as_deref(),
            Some("bookworm")
        );
        assert_eq!(
            codename_in_version("7.9.2009 (Core)").as_deref(),
            Some("Core")
        );
        assert_eq!(codename_in_version("22.04.3 LTS (Jammy Jellyfish)"), None);
        assert_eq!(codename_in_version("rolling"), None);
        assert_eq!(codename_in_version("8 ("), None);
    }

    #[test]
    fn macs_are_uppercase_and_dash_separated() {
        assert_eq!(
            format_mac(&[0, 0x11, 0x22, 0xaa, 0xbb, 0xcc]),
            "00-11-22-AA-BB-CC"
        );
        assert_eq!(
            format_mac(&[1, 2, 3, 4, 5, 6, 7, 8]),
            "01-02-03-04-05-06-07-08"
        );
        assert_eq!(format_mac(&[]), "");
    }

    #[test]
    fn host_and_observer_fields() {
        let h = fixed();
        assert_eq!(
            Value::Object(h.host_fields(true)),
            json!({
                "hostname": "Sensor-01",
                "name": "Sensor-01",
                "architecture": "aarch64",
                "os": {
                    "type": "linux",
                    "family": "redhat",
                    "name": "Fedora Linux",
                    "kernel": "6.8.5",
                    "version": "40 (Server Edition)",
                    "platform": "fedora"
                },
                "ip": ["10.0.0.5", "2001:db8::5"],
                "mac": ["00-11-22-AA-BB-CC"]
            })
        );
        let no_net = h.host_fields(false);
        assert!(!no_net.contains_key("ip") && !no_net.contains_key("mac"));
        assert_eq!(
            Value::Object(h.observer_fields(true)),
            json!({"hostname": "Sensor-01", "ip": ["10.0.0.5", "2001:db8::5"], "mac": ["00-11-22-AA-BB-CC"]})
        );
        assert_eq!(
            Value::Object(h.observer_fields(false)),
            json!({"hostname": "Sensor-01"})
        );
        let bare = HostInfo::default();
        let f = bare.host_fields(true);
        assert!(!f.contains_key("id") && !f.contains_key("ip") && !f.contains_key("mac"));
    }

    #[test]
    fn local_ips() {
        let h = fixed();
        for ip in [
            "10.0.0.5",
            "2001:db8::5",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "169.254.10.1",
            "fe80::1",
            "::ffff:10.0.0.5",
        ] {
            assert!(h.is_local_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.6", "8.8.8.8", "2001:db8::6", "fec0::1", "0.0.0.0"] {
            assert!(!h.is_local_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    fn command(args: &[&str]) -> Option<String> {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    #[test]
    fn gather_matches_this_machine() {
        let h = HostInfo::gather();
        let kernel_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(h.hostname, kernel_hostname.trim());
        assert_eq!(h.name, h.hostname);
        let machine_id = std::fs::read_to_string("/etc/machine-id")
            .or_else(|_| std::fs::read_to_string("/var/lib/dbus/machine-id"))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        assert_eq!(h.id, machine_id);
        assert_eq!(h.os.os_type, "linux");
        if let Some(m) = command(&["uname", "-m"]) {
            assert_eq!(h.architecture, m);
        }
        if let Some(r) = command(&["uname", "-r"]) {
            assert_eq!(h.os.kernel, r);
        }
        if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
            let f = parse_os_release(&text);
            if let Some(id) = f.get("ID") {
                assert_eq!(&h.os.platform, id);
            }
            assert_eq!(h.os.name, f.get("NAME").cloned().unwrap_or_default());
            assert_eq!(h.os.version, f.get("VERSION").cloned().unwrap_or_default());
        }

        // Interfaces as iproute2 sees them.
        let Some(text) = command(&["ip", "-j", "addr"]) else {
            eprintln!("`ip -j addr` is not available; interface addresses not cross-checked");
            return;
        };
        let links: Vec<Value> = serde_json::from_str(&text).unwrap();
        let mut want_ips: Vec<IpAddr> = Vec::new();
        let mut want_macs: Vec<String> = Vec::new();
        for link in &links {
            let flags = link["flags"].as_array().cloned().unwrap_or_default();
            if flags.iter().any(|f| f == "LOOPBACK") {
                continue;
            }
            for a in link["addr_info"].as_array().cloned().unwrap_or_default() {
                if let Some(ip) = a["local"].as_str() {
                    want_ips.push(ip.parse().unwrap());
                }
            }
            if let Some(mac) = link["address"].as_str() {
                let bytes: Option<Vec<u8>> = mac
                    .split(':')
                    .map(|b| u8::from_str_radix(b, 16).ok())
                    .collect();
                if let Some(bytes) = bytes.filter(|b| !b.is_empty() && b.len() <= 8) {
                    if bytes.iter().any(|b| *b != 0) {
                        want_macs.push(format_mac(&bytes));
                    }
                }
            }
        }
        want_macs.sort();
        want_macs.dedup();
        assert_eq!(h.ips, want_ips);
        assert_eq!(h.macs, want_macs);
        for ip in &h.ips {
            assert!(h.is_local_ip(*ip));
        }
        assert!(h.ips.iter().all(|ip| !ip.is_loopback()));
    }
}
