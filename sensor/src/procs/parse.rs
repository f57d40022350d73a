//! Pure parsers of the `/proc` text formats the process watcher reads. None of them touches the
//! file system and none panics: malformed input yields `None` (or an empty value).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `TASK_COMM_LEN - 1`: the kernel truncates `comm` to 15 bytes.
const COMM_MAX: usize = 15;

/// TCP state `LISTEN` in `/proc/net/tcp*` (`st` column, hex).
const TCP_LISTEN: u8 = 0x0A;
/// State `CLOSE` (TCP) / unconnected (UDP): a bound socket without a peer.
const TCP_CLOSE: u8 = 0x07;

/// One socket row of `/proc/net/{tcp,tcp6,udp,udp6}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NetSocket {
    /// Local address; IPv4-mapped IPv6 addresses are returned as IPv4.
    pub ip: IpAddr,
    /// Local port.
    pub port: u16,
    /// The `st` column (kernel TCP state numbering, also used for UDP).
    pub state: u8,
    /// Socket inode (`0` for sockets without a file, e.g. TIME_WAIT).
    pub inode: u64,
}

impl NetSocket {
    /// A listening or unconnected (bound only) socket: it stands for the port rather than for
    /// one connection, so a connected socket with the same local endpoint takes precedence.
    pub fn passive(&self) -> bool {
        self.state == TCP_LISTEN || self.state == TCP_CLOSE
    }
}

/// Parses one line of `/proc/net/{tcp,tcp6,udp,udp6}`; `None` for the header and malformed
/// lines. The address family comes from the width of the address (8 or 32 hex digits).
///
/// Format (`sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`), e.g.
/// `   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 12345 ...`
/// Addresses are the kernel's in-memory 32-bit words printed with `%08X`, so each word is in
/// host byte order; ports are plain hex.
pub(crate) fn parse_net_line(line: &str) -> Option<NetSocket> {
    let mut f = line.split_ascii_whitespace();
    let sl = f.next()?;
    if !sl.ends_with(':') {
        return None; // header ("sl  local_address ...")
    }
    let local = f.next()?;
    let _remote = f.next()?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    // tx:rx, tr:when, retrnsmt, uid, timeout, then inode.
    let inode = f.nth(5)?.parse::<u64>().ok()?;
    let (addr, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = parse_hex_addr(addr)?;
    Some(NetSocket {
        ip,
        port,
        state,
        inode,
    })
}

/// A `/proc/net` hex address: 8 digits (IPv4) or 32 digits (IPv6, four host-order words).
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are returned as IPv4.
pub(crate) fn parse_hex_addr(s: &str) -> Option<IpAddr> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match s.len() {
        8 => {
            let w = u32::from_str_radix(s, 16).ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes())))
        }
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_exact_mut(4).enumerate() {
                let word = s.get(i * 8..i * 8 + 8)?;
                let w = u32::from_str_radix(word, 16).ok()?;
                chunk.copy_from_slice(&w.to_ne_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)).to_canonical())
        }
        _ => None,
    }
}

/// The fields of `/proc/<pid>/stat` the watcher needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Field 1.
    pub pid: u32,
    /// Field 2, without the parentheses (may itself contain spaces and parentheses).
    pub comm: String,
    /// Field 4.
    pub ppid: u32,
    /// Field 22: start time in clock ticks after boot.
    pub starttime: u64,
}

/// Parses `/proc/<pid>/stat`. `comm` is whatever lies between the first `(` and the *last* `)`,
/// since a process may name itself `a) b (c`; the numeric fields follow the last `)`.
pub(crate) fn parse_stat(buf: &[u8]) -> Option<Stat> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = std::str::from_utf8(buf.get(..open)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = String::from_utf8_lossy(buf.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(buf.get(close + 1..)?).ok()?;
    let mut f = rest.split_ascii_whitespace();
    let _state = f.next()?; // field 3
    let ppid = f.next()?.parse().ok()?; // field 4
    let starttime = f.nth(17)?.parse().ok()?; // field 22
    Some(Stat {
        pid,
        comm,
        ppid,
        starttime,
    })
}

/// The boot time (`btime`, seconds since the Unix epoch) from `/proc/stat`.
pub(crate) fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `/proc/<pid>/cmdline`: NUL-separated arguments (a trailing NUL ends the last one). Invalid
/// UTF-8 is replaced. Processes that rewrite their argv without NULs yield a single argument.
pub(crate) fn split_cmdline(buf: &[u8]) -> Vec<String> {
    let buf = buf.strip_suffix(&[0]).unwrap_or(buf);
    if buf.is_empty() {
        return Vec::new();
    }
    buf.split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The inode of a `/proc/<pid>/fd/N` link target `socket:[12345]`.
pub(crate) fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The process name. `comm` is truncated by the kernel to 15 bytes; when it is that long and
/// the executable's (or `argv[0]`'s) base name extends it, the longer name is used — the intent
/// of Packetbeat's `procName`. Otherwise `comm` as is.
pub(crate) fn process_name(comm: &str, executable: &str, args: &[String]) -> String {
    if comm.len() >= COMM_MAX {
        let exe = executable.strip_suffix(" (deleted)").unwrap_or(executable);
        let argv0 = args.first().map(String::as_str).unwrap_or("");
        for candidate in [basename(exe), basename(argv0)] {
            if candidate.len() > comm.len() && candidate.starts_with(comm) {
                return candidate.to_owned();
            }
        }
    }
    comm.to_owned()
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as the kernel prints them (x86_64 / aarch64: little-endian words).
    const TCP_LISTEN_LINE: &str = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1077 1 000000003ab198b7 100 0 0 10 0                      ";
    const TCP_EST_LINE: &str = "   3: 0F02000A:D2C4 22D8B85D:01BB 01 00000000:00000000 02:000009C4 00000000     0        0 48121 2 0000000000000000 20 4 30 10 -1                     ";
    const TCP6_LISTEN_ANY: &str = "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20519 1 0000000000000000 100 0 0 10 0";
    const TCP6_LOOPBACK: &str = "   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20520 1 0000000000000000 100 0 0 10 0";
    const TCP6_MAPPED: &str = "   2: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 20 4 30 10 -1";
    const TCP6_GLOBAL: &str = "   4: B80D0120000000000000000001000000:0050 B80D0120000000000000000002000000:C350 01 00000000:00000000 00:00000000 00000000    33        0 9999 1 0000000000000000 20 4 30 10 -1";
    const UDP_LINE: &str = "  254: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 16013 2 0000000000000000 0         ";
    const UDP6_LINE: &str = " 1234: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 18220 2 0000000000000000 0";
    const TIME_WAIT: &str = "   5: 0100007F:1F90 0100007F:A1B2 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000";

    #[cfg(target_endian = "little")]
    #[test]
    fn net_lines_v4() {
        let s = parse_net_line(TCP_LISTEN_LINE).unwrap();
        assert_eq!(s.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((s.port, s.state, s.inode), (8080, 0x0A, 1077));
        assert!(s.passive());
        let s = parse_net_line(TCP_EST_LINE).unwrap();
        assert_eq!(s.ip, "10.0.2.15".parse::<IpAddr>().unwrap());
        assert_eq!((s.port, s.state, s.inode), (53956, 1, 48121));
        assert!(!s.passive());
        let s = parse_net_line(UDP_LINE).unwrap();
        assert_eq!(s.ip, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!((s.port, s.inode), (68, 16013));
        assert!(s.passive());
        let s = parse_net_line(TIME_WAIT).unwrap();
        assert_eq!((s.state, s.inode), (6, 0));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn net_lines_v6_and_mapped() {
        let s = parse_net_line(TCP6_LISTEN_ANY).unwrap();
        assert_eq!(s.ip, "::".parse::<IpAddr>().unwrap());
        assert_eq!((s.port, s.inode), (22, 20519));
        let s = parse_net_line(TCP6_LOOPBACK).unwrap();
        assert_eq!(s.ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(s.port, 8081);
        let s = parse_net_line(TCP6_MAPPED).unwrap();
        assert_eq!(s.ip, "127.0.0.1".parse::<IpAddr>().unwrap(), "mapped → v4");
        assert_eq!((s.port, s.state, s.inode), (40000, 1, 777));
        let s = parse_net_line(TCP6_GLOBAL).unwrap();
        assert_eq!(s.ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(s.port, 80);
        let s = parse_net_line(UDP6_LINE).unwrap();
        assert_eq!(s.ip, "::".parse::<IpAddr>().unwrap());
        assert_eq!((s.port, s.inode), (5353, 18220));
    }

    #[test]
    fn net_lines_rejected() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        for bad in [
            "",
            header,
            "   0: 0100007F:1F90",
            "   0: 0100007G:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F:11F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F-1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 -1",
            "   0: +0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            "   0: 0000000000000000FFFF00000100007:1F90 0:0 0A 0:0 0:0 0 0 0 1",
            "   0: é00000000000000FFFF00000100007F:1F90 0:0 0A 0:0 0:0 0 0 0 1",
        ] {
            assert_eq!(parse_net_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stat_with_hostile_comm() {
        let line = b"4242 ((a) b (c)) S 17 4242 4242 0 -1 4194560 99 0 0 0 3 1 0 0 20 0 1 0 1128690 3133440 408 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "(a) b (c)");
        assert_eq!(s.ppid, 17);
        assert_eq!(s.starttime, 1128690);

        let s = parse_stat(b"1 (x) y) R 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0").unwrap();
        assert_eq!((s.comm.as_str(), s.ppid, s.starttime), ("x) y", 0, 5));
        let s = parse_stat(b"7 () Z 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 9").unwrap();
        assert_eq!((s.comm.as_str(), s.starttime), ("", 9));
    }

    #[test]
    fn stat_rejected() {
        for bad in [
            &b""[..],
            b"1 (a S 1",
            b"1 a) S 1 2",
            b") 1 (a",
            b"x (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
            b"1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",
            b"1 (a) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
            b"1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \xff",
        ] {
            assert_eq!(parse_stat(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn btime_cmdline_socket_link() {
        let stat = "cpu  1 2 3\nintr 5\nctxt 9\nbtime 1795807580\nprocesses 30199\n";
        assert_eq!(parse_btime(stat), Some(1_795_807_580));
        assert_eq!(parse_btime("cpu 1\n"), None);

        assert_eq!(
            split_cmdline(b"python3\0-c\0print(1)\0"),
            ["python3", "-c", "print(1)"]
        );
        assert_eq!(split_cmdline(b"a\0\0b\0"), ["a", "", "b"]);
        assert_eq!(
            split_cmdline(b"nginx: worker process"),
            ["nginx: worker process"]
        );
        assert!(split_cmdline(b"").is_empty());
        assert!(split_cmdline(b"\0").is_empty());
        assert_eq!(split_cmdline(b"\xff\0"), ["\u{fffd}"]);

        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[12a]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn names() {
        let args = vec!["/usr/bin/sensor-0123456789abcdef".to_string()];
        assert_eq!(
            process_name("sensor-01234567", "/usr/bin/sensor-0123456789abcdef", &args),
            "sensor-0123456789abcdef"
        );
        assert_eq!(
            process_name(
                "sensor-01234567",
                "/x/sensor-0123456789abcdef (deleted)",
                &[]
            ),
            "sensor-0123456789abcdef"
        );
        // argv rewritten, exe unreadable: comm stays.
        let args = vec!["nginx: worker process".to_string()];
        assert_eq!(process_name("nginx", "", &args), "nginx");
        assert_eq!(process_name("kworker/0:1-eve", "", &[]), "kworker/0:1-eve");
        // A long comm that the exe does not extend is kept.
        assert_eq!(
            process_name("abcdefghijklmno", "/bin/zzzzzzzzzzzzzzzzzz", &[]),
            "abcdefghijklmno"
        );
    }
}
