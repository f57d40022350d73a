//! Process enrichment, as Packetbeat's `packetbeat.procs.enabled` (`monitor_processes`): for a
//! local endpoint seen in the traffic (TCP or UDP, local IP, local port), the process owning
//! that socket on this host — `pid`, `ppid`, `name`, `args`, `executable`, `working_directory`
//! and `start` — from `/proc`.
//!
//! How a socket is traced to its process (Linux only):
//! 1. `/proc/net/{tcp,tcp6,udp,udp6}` map local address:port to a socket inode. IPv4-mapped
//!    IPv6 addresses count as IPv4; a socket bound to `0.0.0.0`/`::` (listener, UDP) matches any
//!    *local* address, `::` also IPv4 (dual-stack). An exact binding wins over a wildcard one,
//!    and a connected socket over a listening/unconnected one with the same local endpoint.
//! 2. `/proc/<pid>/fd/*` links `socket:[inode]` map inodes to processes (the lowest pid when a
//!    socket is shared after `fork`).
//! 3. `/proc/<pid>/{stat,cmdline,exe,cwd}` give the details; `start` is `btime` (`/proc/stat`)
//!    plus `starttime` (stat field 22, clock ticks after boot), RFC 3339 UTC with milliseconds.
//!
//! An endpoint is *local* when it is a loopback address or an address of one of this network
//! namespace's interfaces (`getifaddrs`, refreshed at each rescan), as in Packetbeat; an
//! endpoint bound exactly (present in the tables with its own address) is local by
//! definition — this includes `0.0.0.0:68` of a DHCP client, which sends from the unspecified
//! address. Non-local endpoints never trigger a rescan.
//!
//! **Network namespaces.** `/proc/net/*` (a link to `/proc/self/net`) and `getifaddrs` show the
//! sockets and addresses of the network namespace of the *reader* (the sensor process). Sockets of other
//! namespaces (containers, pods with their own netns) are not found, even though their
//! processes appear under `/proc`. Run the sensor in the namespace whose traffic it captures
//! (`hostNetwork`), or the lookups for the other namespaces' endpoints return `None`.
//!
//! **Privileges.** Reading another user's `/proc/<pid>/fd` (and `exe`, `cwd`) requires
//! `CAP_SYS_PTRACE` (or root without a restricting LSM); without it only the sensor user's own
//! processes are found ([`ProcStats::denied`] counts the processes skipped). With `/proc`
//! mounted with `hidepid=`, other users' processes are not even listed.
//!
//! **Caching and rate limit** (Packetbeat rescans on every miss; here rescans are bounded):
//! - A rescan reads the four tables, walks every `/proc/<pid>/fd`, and *rebuilds* the
//!   socket → process map; a socket no longer listed stays for [`SOCKET_GRACE`] (10 s: events
//!   are published when a connection ends, often after the socket closed), then disappears. Process details are cached by pid and reused while the pid's `starttime` is unchanged
//!   (a recycled pid is detected) for [`PROCESS_INFO_TTL`] (Packetbeat's 30 s), then re-read.
//! - A lookup is a hash-map hit (plus at most two wildcard probes) returning an `Arc` clone; no
//!   allocation, no system call.
//! - A miss on a local endpoint rescans, and so does a hit on a map older than [`MAP_TTL`]
//!   (so entries of processes that exited expire after at most that long).
//! - Rescans are rate limited: after a rescan that took `d`, the next one waits
//!   `max(MIN_RESCAN_INTERVAL, RESCAN_COST_FACTOR × d)` (capped at [`MAX_RESCAN_INTERVAL`]):
//!   at most 20 rescans per second, and at most ~5 % of one core on hosts where a rescan is
//!   slow. Meanwhile misses return `None` ([`ProcStats::rate_limited`]) and hits on a stale
//!   map still answer from it. So a flood of unknown endpoints cannot burn CPU.
//!
//! Rescans run inline in [`ProcessWatcher::lookup`] (like Packetbeat's `updateMap`): the
//! calling thread pays their cost, which [`ProcStats::last_rescan_micros`] reports.
//!
//! Event shape ([`ProcessWatcher::enrich`]): `source.process`, `destination.process`,
//! `client.process`, `server.process`, and the root `process` = the destination's process, else
//! the source's (Packetbeat's `ComputeValues`). The object is [`ProcessInfo::to_ecs`]; it
//! carries `ppid` as Packetbeat writes it — the integration's `map_to_ecs` moves
//! `process.ppid` to `process.parent.pid`.

mod parse;
mod scan;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{Map, Value};

use parse::NetSocket;
use scan::Clock;

/// Minimum time between two rescans of `/proc`: short, so a process that opened its socket
/// just after a rescan is still found for its first event (the cost factor bounds the CPU).
pub const MIN_RESCAN_INTERVAL: Duration = Duration::from_millis(50);
/// After a rescan that took `d`, the next waits at least `RESCAN_COST_FACTOR × d`.
pub const RESCAN_COST_FACTOR: u32 = 20;
/// Upper bound of the adaptive rescan interval.
pub const MAX_RESCAN_INTERVAL: Duration = Duration::from_secs(60);
/// How long a socket that vanished from `/proc/net` is still answered (its events are often
/// published after the connection closed).
pub const SOCKET_GRACE: Duration = Duration::from_secs(10);
/// Age after which the socket map is refreshed on the next lookup (hit or miss).
pub const MAP_TTL: Duration = Duration::from_secs(5);
/// Age after which a live process's details (args, cwd, …) are re-read.
pub const PROCESS_INFO_TTL: Duration = Duration::from_secs(30);

/// A process owning a local socket.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessInfo {
    /// Process id (thread-group id).
    pub pid: u32,
    /// Parent process id (0 when none, e.g. in a container's pid 1).
    pub ppid: u32,
    /// `comm`, extended by the executable's base name when the kernel truncated it (15 bytes).
    pub name: String,
    /// The command line, split on NUL (empty for zombies / kernel threads).
    pub args: Vec<String>,
    /// Target of `/proc/<pid>/exe` (empty when unreadable).
    pub executable: String,
    /// Target of `/proc/<pid>/cwd` (empty when unreadable).
    pub working_directory: String,
    /// Process start time, RFC 3339 UTC with milliseconds (`None` when the boot time is
    /// unknown).
    pub start: Option<String>,
}

impl ProcessInfo {
    /// The ECS `process` object as Packetbeat writes it: `pid`, `ppid`, `name`, `args`,
    /// `executable`, `working_directory`, `start`; empty values (a zero `ppid`, empty strings
    /// and args, unknown start) are omitted, as Packetbeat omits zero values. `ppid` stays
    /// `ppid` here: the integration's `map_to_ecs` moves `process.ppid` to
    /// `process.parent.pid`.
    pub fn to_ecs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("pid".into(), self.pid.into());
        if self.ppid != 0 {
            m.insert("ppid".into(), self.ppid.into());
        }
        if !self.name.is_empty() {
            m.insert("name".into(), self.name.clone().into());
        }
        if !self.args.is_empty() {
            m.insert("args".into(), self.args.clone().into());
        }
        if !self.executable.is_empty() {
            m.insert("executable".into(), self.executable.clone().into());
        }
        if !self.working_directory.is_empty() {
            m.insert(
                "working_directory".into(),
                self.working_directory.clone().into(),
            );
        }
        if let Some(s) = &self.start {
            m.insert("start".into(), s.clone().into());
        }
        m
    }
}

/// Transport of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockProto {
    /// TCP (`/proc/net/tcp`, `tcp6`).
    Tcp,
    /// UDP (`/proc/net/udp`, `udp6`).
    Udp,
}

impl SockProto {
    /// From ECS `network.transport` (`tcp`, `udp`); `None` for other transports.
    pub fn from_transport(t: &str) -> Option<SockProto> {
        match t {
            "tcp" => Some(SockProto::Tcp),
            "udp" => Some(SockProto::Udp),
            _ => None,
        }
    }
}

/// Counters of a [`ProcessWatcher`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// Calls of [`ProcessWatcher::lookup`].
    pub lookups: u64,
    /// Lookups that returned a process.
    pub hits: u64,
    /// Lookups that returned `None` (including `not_local` and `rate_limited`).
    pub misses: u64,
    /// Misses for endpoints that are not local (no rescan attempted).
    pub not_local: u64,
    /// Misses that would have rescanned but were inside the rate limit.
    pub rate_limited: u64,
    /// Rescans of `/proc`.
    pub rescans: u64,
    /// Rescans that failed to read the socket tables or the process list (`/proc` unreadable or
    /// absent); lookups then return `None`.
    pub errors: u64,
    /// Processes whose `fd` directory was not readable (missing CAP_SYS_PTRACE), last rescan.
    pub denied: u64,
    /// Local socket endpoints with a known process, last rescan.
    pub sockets: u64,
    /// Distinct processes owning them, last rescan.
    pub processes: u64,
    /// Duration of the last rescan, µs.
    pub last_rescan_micros: u64,
}

/// A local endpoint of an event: (ip, port).
type Endpoint = (IpAddr, u16);
/// The result of a lookup.
type Found = Option<Arc<ProcessInfo>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SockKey {
    proto: SockProto,
    ip: IpAddr,
    port: u16,
}

#[derive(Clone, Debug)]
struct Slot {
    info: Arc<ProcessInfo>,
    passive: bool,
    /// Last rescan that saw the socket.
    seen: Instant,
}

#[derive(Clone, Debug)]
struct CachedProc {
    starttime: u64,
    loaded: Instant,
    info: Arc<ProcessInfo>,
}

/// Finds the process owning a local socket; see the [module documentation](self) for the
/// mechanism, the caching and the rate limit. Not thread-safe by itself (`&mut self`); one per
/// worker, or behind a lock.
pub struct ProcessWatcher {
    root: PathBuf,
    sockets: FxHashMap<SockKey, Slot>,
    procs: FxHashMap<u32, CachedProc>,
    local_ips: FxHashSet<IpAddr>,
    clock: Clock,
    /// When the socket map was last rebuilt (caller's clock).
    built: Option<Instant>,
    /// No rescan before this instant.
    next_rescan: Option<Instant>,
    client_server: bool,
    stats: ProcStats,
}

impl std::fmt::Debug for ProcessWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessWatcher")
            .field("root", &self.root)
            .field("local_ips", &self.local_ips.len())
            .field("client_server", &self.client_server)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Default for ProcessWatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessWatcher {
    /// A watcher reading `/proc`. Never panics and does no scan yet (the first lookup of a
    /// local endpoint does); if `/proc` is unreadable, lookups return `None` and
    /// [`ProcStats::errors`] counts the failed rescans.
    pub fn new() -> ProcessWatcher {
        Self::with_proc_root("/proc")
    }

    /// A watcher reading a `/proc` mounted elsewhere (e.g. the host's at `/host/proc`). The
    /// socket tables are read from `<root>/net/`, i.e. they show the network namespace of the
    /// reading thread as seen through that mount.
    pub fn with_proc_root(root: impl Into<PathBuf>) -> ProcessWatcher {
        let root = root.into();
        let clock = Clock::read(&root);
        let mut w = ProcessWatcher {
            root,
            sockets: FxHashMap::default(),
            procs: FxHashMap::default(),
            local_ips: FxHashSet::default(),
            clock,
            built: None,
            next_rescan: None,
            client_server: true,
            stats: ProcStats::default(),
        };
        w.refresh_local_ips();
        w
    }

    /// Whether [`enrich`](Self::enrich) also writes `client.process` and `server.process`
    /// (default `true`). Packetbeat documents these fields but its encoder copies `client`
    /// and `server` from `source` and `destination` without the process; `false` matches
    /// that output exactly.
    pub fn set_client_server(&mut self, on: bool) {
        self.client_server = on;
    }

    /// The process owning the local socket (proto, ip, port); `None` when the endpoint is not
    /// local or its owner is unknown (not found, another network namespace, no permission, or
    /// a rescan was due but rate limited). `now` is the caller's clock for the cache and the
    /// rate limit.
    pub fn lookup(
        &mut self,
        proto: SockProto,
        ip: IpAddr,
        port: u16,
        now: Instant,
    ) -> Option<Arc<ProcessInfo>> {
        self.stats.lookups += 1;
        let ip = ip.to_canonical();
        let fresh = self
            .built
            .is_some_and(|b| now.saturating_duration_since(b) < MAP_TTL);
        let allowed = self.next_rescan.is_none_or(|t| now >= t);
        match self.find(proto, ip, port) {
            Some(info) if fresh || !allowed => {
                self.stats.hits += 1;
                return Some(info);
            }
            Some(_) => {} // stale map: refresh, then answer from the new one
            None if !self.is_local(ip) => {
                self.stats.misses += 1;
                self.stats.not_local += 1;
                return None;
            }
            None if !allowed => {
                self.stats.misses += 1;
                self.stats.rate_limited += 1;
                return None;
            }
            None => {}
        }
        self.rescan(now);
        let found = self.find(proto, ip, port);
        if found.is_some() {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        found
    }

    /// Counters.
    pub fn stats(&self) -> ProcStats {
        self.stats
    }

    /// Adds `source.process`, `destination.process`, `client.process`, `server.process` and
    /// `process` to an event (nested serde_json Map, Packetbeat shape) for endpoints that are
    /// local, reading `source.ip/port`, `destination.ip/port`, `client.*`, `server.*` and
    /// `network.transport` from the event itself. The root `process` is the destination's
    /// process, else the source's. Events of other transports, endpoints without ip/port and
    /// unknown processes are left untouched.
    pub fn enrich(&mut self, ev: &mut Map<String, Value>, now: Instant) {
        let Some(proto) = ev
            .get("network")
            .and_then(|n| n.get("transport"))
            .and_then(Value::as_str)
            .and_then(SockProto::from_transport)
        else {
            return;
        };
        let sides: &[&str] = if self.client_server {
            &["source", "destination", "client", "server"]
        } else {
            &["source", "destination"]
        };
        // client/server usually repeat source/destination: look each endpoint up once.
        let mut seen: Vec<(Endpoint, Found)> = Vec::with_capacity(4);
        let mut root: [Found; 2] = [None, None]; // [source, destination]
        for &side in sides {
            let Some(ep) = endpoint_of(ev, side) else {
                continue;
            };
            let found = match seen.iter().find(|(e, _)| *e == ep) {
                Some((_, p)) => p.clone(),
                None => {
                    let p = self.lookup(proto, ep.0, ep.1, now);
                    seen.push((ep, p.clone()));
                    p
                }
            };
            let Some(p) = found else { continue };
            if let Some(Value::Object(obj)) = ev.get_mut(side) {
                obj.insert("process".into(), Value::Object(p.to_ecs()));
            }
            match side {
                "source" => root[0] = Some(p),
                "destination" => root[1] = Some(p),
                _ => {}
            }
        }
        let [src, dst] = root;
        if let Some(p) = dst.or(src) {
            ev.insert("process".into(), Value::Object(p.to_ecs()));
        }
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local_ips.contains(&ip)
    }

    /// The exact binding, else (for a local address) the wildcard one.
    fn find(&self, proto: SockProto, ip: IpAddr, port: u16) -> Option<Arc<ProcessInfo>> {
        if let Some(s) = self.sockets.get(&SockKey { proto, ip, port }) {
            return Some(s.info.clone());
        }
        if !self.is_local(ip) {
            return None;
        }
        let v4_any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let v6_any = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let wild: &[IpAddr] = if ip.is_ipv4() {
            &[v4_any, v6_any] // a dual-stack `::` socket also receives IPv4
        } else {
            &[v6_any]
        };
        wild.iter().find_map(|&w| {
            self.sockets
                .get(&SockKey { proto, ip: w, port })
                .map(|s| s.info.clone())
        })
    }

    fn refresh_local_ips(&mut self) {
        if let Ok(addrs) = scan::local_addrs() {
            self.local_ips = addrs.into_iter().collect();
        }
    }

    /// Rebuilds the socket map from `/proc` and schedules the next allowed rescan.
    fn rescan(&mut self, now: Instant) {
        let started = Instant::now();
        self.stats.rescans += 1;
        self.built = Some(now);
        self.refresh_local_ips();
        if self.clock.boot_secs.is_none() {
            self.clock = Clock::read(&self.root);
        }

        let mut failed = false;
        let mut rows: Vec<(SockProto, NetSocket)> = Vec::new();
        let mut buf = Vec::new();
        for (file, proto, optional) in scan::TABLES {
            buf.clear();
            let path = self.root.join("net").join(file);
            match scan::read_table(&path, optional, &mut buf) {
                Ok(_) => rows.extend(buf.iter().map(|s| (proto, *s))),
                Err(_) => failed = true,
            }
        }

        let mut owners: FxHashMap<u64, u32> =
            rows.iter().map(|(_, s)| (s.inode, u32::MAX)).collect();
        self.stats.denied = 0;
        if !rows.is_empty() {
            match scan::socket_owners(&self.root, &mut owners) {
                Ok(walk) => self.stats.denied = walk.denied,
                Err(_) => failed = true,
            }
        }
        if failed {
            self.stats.errors += 1;
        }

        let mut old_procs = std::mem::take(&mut self.procs);
        let mut procs: FxHashMap<u32, CachedProc> = FxHashMap::default();
        let mut sockets: FxHashMap<SockKey, (u32, Slot)> = FxHashMap::default();
        for (proto, s) in rows {
            let Some(&pid) = owners.get(&s.inode) else {
                continue;
            };
            if pid == u32::MAX {
                continue; // no visible owner (another pid namespace, no permission, just closed)
            }
            let info = match procs.get(&pid) {
                Some(c) => c.info.clone(),
                None => {
                    let Some(c) = self.load_process(pid, old_procs.remove(&pid), now) else {
                        continue; // exited meanwhile
                    };
                    let info = c.info.clone();
                    procs.insert(pid, c);
                    info
                }
            };
            let key = SockKey {
                proto,
                ip: s.ip,
                port: s.port,
            };
            let passive = s.passive();
            let better = match sockets.get(&key) {
                None => true,
                Some((old_pid, old)) => {
                    (old.passive && !passive) || (old.passive == passive && pid < *old_pid)
                }
            };
            if better {
                sockets.insert(
                    key,
                    (
                        pid,
                        Slot {
                            info,
                            passive,
                            seen: now,
                        },
                    ),
                );
            }
        }
        let mut new: FxHashMap<SockKey, Slot> =
            sockets.into_iter().map(|(k, (_, s))| (k, s)).collect();
        // Sockets closed since the last rescan stay answerable for SOCKET_GRACE: a transaction
        // is usually published after its connection's last packet, when the socket is gone.
        for (k, slot) in std::mem::take(&mut self.sockets) {
            if now.saturating_duration_since(slot.seen) < SOCKET_GRACE {
                new.entry(k).or_insert(slot);
            }
        }
        self.sockets = new;
        self.procs = procs;
        self.stats.sockets = self.sockets.len() as u64;
        self.stats.processes = self.procs.len() as u64;

        let took = started.elapsed();
        self.stats.last_rescan_micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let wait = took
            .saturating_mul(RESCAN_COST_FACTOR)
            .clamp(MIN_RESCAN_INTERVAL, MAX_RESCAN_INTERVAL);
        self.next_rescan = Some(now.checked_add(wait).unwrap_or(now));
    }

    /// A process's details: the cached ones if the pid still has the same start time and they
    /// are younger than [`PROCESS_INFO_TTL`], else read afresh. `None` when the process is gone.
    fn load_process(
        &self,
        pid: u32,
        cached: Option<CachedProc>,
        now: Instant,
    ) -> Option<CachedProc> {
        let stat = scan::read_stat(&self.root, pid)?;
        if let Some(c) = cached {
            if c.starttime == stat.starttime
                && now.saturating_duration_since(c.loaded) < PROCESS_INFO_TTL
            {
                return Some(c);
            }
        }
        Some(CachedProc {
            starttime: stat.starttime,
            loaded: now,
            info: Arc::new(scan::read_process(&self.root, &stat, &self.clock)),
        })
    }

    /// The `/proc` root this watcher reads.
    pub fn proc_root(&self) -> &Path {
        &self.root
    }
}

/// `(ip, port)` of `ev[side]`.
fn endpoint_of(ev: &Map<String, Value>, side: &str) -> Option<Endpoint> {
    let obj = ev.get(side)?;
    let ip = obj.get("ip")?.as_str()?.parse::<IpAddr>().ok()?;
    let port = u16::try_from(obj.get("port")?.as_u64()?).ok()?;
    Some((ip, port))
}
