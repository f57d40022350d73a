//! File-system side of the process watcher: reading the socket tables, walking
//! `/proc/<pid>/fd`, reading one process's details, and the host's local addresses.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use rustc_hash::FxHashMap;

use super::parse::{self, NetSocket, Stat};
use super::{ProcessInfo, SockProto};

/// The socket tables: file under `<proc>/net/`, transport, and whether the file may be absent
/// (kernels without IPv6).
pub(super) const TABLES: [(&str, SockProto, bool); 4] = [
    ("tcp", SockProto::Tcp, false),
    ("tcp6", SockProto::Tcp, true),
    ("udp", SockProto::Udp, false),
    ("udp6", SockProto::Udp, true),
];

/// Reads one socket table, appending its sockets that have an inode. `Ok(false)` when an
/// optional table does not exist.
pub(super) fn read_table(
    path: &Path,
    optional: bool,
    out: &mut Vec<NetSocket>,
) -> io::Result<bool> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if optional && e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    out.extend(
        text.lines()
            .filter_map(parse::parse_net_line)
            .filter(|s| s.inode != 0),
    );
    Ok(true)
}

/// What a walk of the process directories saw.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Walk {
    /// Process directories visited.
    pub pids: u64,
    /// Processes whose `fd` directory could not be read for lack of permission.
    pub denied: u64,
}

/// Walks `<proc>/<pid>/fd/*` of every process and records, for each socket inode present in
/// `owners`, the lowest pid holding it (sockets inherited across `fork` are held by several).
/// Processes that vanish or deny access are skipped; threads share their process's table and
/// are not listed by `readdir(/proc)`, so they are not visited.
pub(super) fn socket_owners(root: &Path, owners: &mut FxHashMap<u64, u32>) -> io::Result<Walk> {
    let mut walk = Walk::default();
    for entry in fs::read_dir(root)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = std::str::from_utf8(name.as_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        walk.pids += 1;
        let mut fd_dir = entry.path();
        fd_dir.push("fd");
        let fds = match fs::read_dir(&fd_dir) {
            Ok(fds) => fds,
            Err(e) => {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    walk.denied += 1;
                }
                continue;
            }
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = parse::socket_inode(target.as_os_str().as_bytes()) else {
                continue;
            };
            if let Some(owner) = owners.get_mut(&inode) {
                *owner = (*owner).min(pid);
            }
        }
    }
    Ok(walk)
}

/// Reads and parses `<proc>/<pid>/stat`; `None` when the process is gone or unreadable.
pub(super) fn read_stat(root: &Path, pid: u32) -> Option<Stat> {
    let buf = fs::read(root.join(pid.to_string()).join("stat")).ok()?;
    parse::parse_stat(&buf).filter(|s| s.pid == pid)
}

/// Clock facts needed to turn `starttime` (ticks after boot) into a wall-clock time.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// Boot time, seconds since the Unix epoch (`btime` of `<proc>/stat`).
    pub boot_secs: Option<u64>,
    /// `sysconf(_SC_CLK_TCK)` (USER_HZ), 100 when unknown.
    pub ticks_per_sec: u64,
}

impl Clock {
    /// Reads `btime` under `root` and the clock tick rate.
    pub fn read(root: &Path) -> Clock {
        let boot_secs = fs::read_to_string(root.join("stat"))
            .ok()
            .and_then(|s| parse::parse_btime(&s));
        Clock {
            boot_secs,
            ticks_per_sec: clock_ticks(),
        }
    }

    /// RFC 3339 UTC (milliseconds) of a process started `starttime` ticks after boot.
    pub fn start_time(&self, starttime: u64) -> Option<String> {
        let boot = self.boot_secs?;
        let hz = self.ticks_per_sec.max(1);
        let ms = boot
            .checked_mul(1000)?
            .checked_add(starttime.checked_mul(1000)? / hz)?;
        let t = UNIX_EPOCH.checked_add(Duration::from_millis(ms))?;
        Some(humantime::format_rfc3339_millis(t).to_string())
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value; no pointers are involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

/// Reads a process's details. `stat` is its already-read stat (identity and ppid/comm).
/// Unreadable parts (another user's `exe`/`cwd` without CAP_SYS_PTRACE, a zombie's cmdline)
/// are left empty.
pub(super) fn read_process(root: &Path, stat: &Stat, clock: &Clock) -> ProcessInfo {
    let dir = root.join(stat.pid.to_string());
    let args = fs::read(dir.join("cmdline"))
        .map(|b| parse::split_cmdline(&b))
        .unwrap_or_default();
    let link = |name: &str| {
        fs::read_link(dir.join(name))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let executable = link("exe");
    let working_directory = link("cwd");
    ProcessInfo {
        pid: stat.pid,
        ppid: stat.ppid,
        name: parse::process_name(&stat.comm, &executable, &args),
        args,
        executable,
        working_directory,
        start: clock.start_time(stat.starttime),
    }
}

/// The addresses of this network namespace's interfaces (`getifaddrs`), IPv4-mapped ones
/// canonicalized to IPv4.
pub(super) fn local_addrs() -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs stores the head of a list it allocates into `head`; the list is
    // released below with freeifaddrs and not used afterwards.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list returned by getifaddrs, valid until
        // freeifaddrs.
        let ifa = unsafe { &*cur };
        let addr = ifa.ifa_addr;
        if !addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr at least as large as its family's
            // sockaddr type; the family is read first and decides the type read.
            let family = i32::from(unsafe { (*addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: as above, the family is AF_INET so this is a sockaddr_in.
                let sin = unsafe { &*addr.cast::<libc::sockaddr_in>() };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))));
            } else if family == libc::AF_INET6 {
                // SAFETY: as above, the family is AF_INET6 so this is a sockaddr_in6.
                let sin6 = unsafe { &*addr.cast::<libc::sockaddr_in6>() };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)).to_canonical());
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}
