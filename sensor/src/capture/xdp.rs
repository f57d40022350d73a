//! Loader of the kernel data plane: loads the XDP program (`sensor-ebpf`), sets its load-time
//! globals, fills the PORTS map, attaches it to an interface with a **bpf_link** (so the program
//! goes away with the process, even after SIGKILL), and gives user space its maps: AF_XDP
//! sockets per RX queue, the per-flow counters, the bypass set and the verdict counters.
//!
//! The object is embedded at build time from `SENSOR_EBPF_OBJECT` (see `sensor/build.rs`;
//! `cargo xtask build|run|test` sets it) or read from a file at run time
//! ([`DataPlane::load_file`]).
//!
//! Kernel timestamps are CLOCK_BOOTTIME nanoseconds (`bpf_ktime_get_boot_ns`); [`BootClock`]
//! converts them to wall-clock time.

use std::ffi::CString;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{HashMap, MapData, MapError, PerCpuArray, PerCpuHashMap, XskMap};
use aya::programs::tc::{SchedClassifierLink, TcAttachOptions, TcAttachType};
use aya::programs::{LinkOrder, SchedClassifier, Xdp};
use aya::{Ebpf, EbpfLoader};
pub use sensor_common::FlowKey;
use sensor_common::{
    globals, maps, side, stat, FlowCounters, PortRule, EGRESS_PROGRAM_NAME, MAX_PORTS, MAX_QUEUES,
    PORT_TCP, PORT_UDP, PROGRAM_NAME,
};

/// The message for a sensor built without the object.
const NO_OBJECT: &str = "this sensor was built without the XDP object: build it with \
                         `cargo xtask build` (or set SENSOR_EBPF_OBJECT)";

/// The object embedded by `build.rs` (empty when it was not built).
fn embedded_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor.bpf.o"))
}

/// Whether this build embeds the XDP object.
pub fn has_embedded_object() -> bool {
    !embedded_object().is_empty()
}

/// How to attach the program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) mode, falling back to SKB (generic) mode when the driver refuses.
    #[default]
    Auto,
    /// Driver mode only.
    Native,
    /// Generic mode (after the kernel builds the skb): works on every interface, slower.
    Skb,
}

/// What to load and where.
#[derive(Clone, Debug, Default)]
pub struct XdpOptions {
    /// Interface to attach to (in the calling thread's network namespace).
    pub iface: String,
    /// Attach mode.
    pub mode: AttachMode,
    /// Span-port mode: unmatched packets are dropped instead of passed to the host.
    pub span: bool,
    /// TCP ports whose packets are redirected (either direction).
    pub tcp_ports: Vec<u16>,
    /// UDP ports whose packets are redirected.
    pub udp_ports: Vec<u16>,
    /// Redirect ICMP and ICMPv6.
    pub icmp: bool,
}

/// One direction's counters of a kernel flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCount {
    /// Packets.
    pub packets: u64,
    /// Bytes of whole frames (Ethernet header included, FCS excluded).
    pub bytes: u64,
}

/// An endpoint of a [`FlowKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `addr_lo`/`port_lo`.
    Lo,
    /// `addr_hi`/`port_hi`.
    Hi,
}

/// A kernel flow with its per-CPU values merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelFlow {
    /// Sent by the key's `lo` endpoint.
    pub lo: DirCount,
    /// Sent by the key's `hi` endpoint.
    pub hi: DirCount,
    /// The endpoint that initiated the flow: the sender of a SYN without ACK when one was seen,
    /// otherwise the sender of the earliest packet.
    pub initiator: Endpoint,
    /// `initiator` comes from a SYN (not only from packet order).
    pub initiator_by_syn: bool,
    /// First packet, CLOCK_BOOTTIME ns (see [`BootClock`]).
    pub first_seen_ns: u64,
    /// Last packet, CLOCK_BOOTTIME ns.
    pub last_seen_ns: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u8,
}

impl KernelFlow {
    /// Merge the per-CPU values of one entry; `None` when every CPU's value is empty.
    pub fn merge(values: &[FlowCounters]) -> Option<KernelFlow> {
        let mut out = KernelFlow {
            lo: DirCount::default(),
            hi: DirCount::default(),
            initiator: Endpoint::Lo,
            initiator_by_syn: false,
            first_seen_ns: u64::MAX,
            last_seen_ns: 0,
            tcp_flags: 0,
        };
        let mut syn_seen_at = u64::MAX;
        for v in values.iter().filter(|v| v.first_seen_ns != 0) {
            out.lo.packets += v.packets_lo;
            out.lo.bytes += v.bytes_lo;
            out.hi.packets += v.packets_hi;
            out.hi.bytes += v.bytes_hi;
            out.tcp_flags |= v.tcp_flags;
            out.last_seen_ns = out.last_seen_ns.max(v.last_seen_ns);
            let who = if v.initiator == side::HI {
                Endpoint::Hi
            } else {
                Endpoint::Lo
            };
            if v.initiator_by_syn != 0 {
                // A SYN beats packet order; among SYNs the CPU that saw traffic first wins.
                if v.first_seen_ns < syn_seen_at {
                    syn_seen_at = v.first_seen_ns;
                    out.initiator = who;
                    out.initiator_by_syn = true;
                }
            } else if !out.initiator_by_syn && v.first_seen_ns < out.first_seen_ns {
                out.initiator = who;
            }
            out.first_seen_ns = out.first_seen_ns.min(v.first_seen_ns);
        }
        (out.first_seen_ns != u64::MAX).then_some(out)
    }

    /// Counters of the packets sent by the initiator.
    pub fn from_initiator(&self) -> DirCount {
        match self.initiator {
            Endpoint::Lo => self.lo,
            Endpoint::Hi => self.hi,
        }
    }

    /// Counters of the packets sent by the other side.
    pub fn from_responder(&self) -> DirCount {
        match self.initiator {
            Endpoint::Lo => self.hi,
            Endpoint::Hi => self.lo,
        }
    }

    /// (source, destination) = (initiator, responder) as socket addresses (ports 0 for ICMP).
    pub fn endpoints(&self, key: &FlowKey) -> (SocketAddr, SocketAddr) {
        let v4 = key.ip_version == 4;
        let lo = SocketAddr::new(addr(key.addr_lo, v4), key.port_lo);
        let hi = SocketAddr::new(addr(key.addr_hi, v4), key.port_hi);
        match self.initiator {
            Endpoint::Lo => (lo, hi),
            Endpoint::Hi => (hi, lo),
        }
    }
}

fn addr(b: [u8; 16], v4: bool) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match (v4, v6.to_ipv4_mapped()) {
        (true, Some(a)) => IpAddr::V4(a),
        _ => IpAddr::V6(v6),
    }
}

/// Converts kernel CLOCK_BOOTTIME nanoseconds to wall-clock time. Take one per report cycle: it
/// samples both clocks once, so conversions within a cycle are consistent.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    /// Unix-epoch ns minus boot ns at the moment of sampling.
    offset_ns: i128,
}

impl BootClock {
    /// Sample CLOCK_BOOTTIME and the realtime clock now.
    pub fn now() -> BootClock {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let boot = boot_ns();
        BootClock {
            offset_ns: i128::try_from(real).unwrap_or(i128::MAX) - i128::from(boot),
        }
    }

    /// Unix-epoch nanoseconds of a kernel timestamp (the value of `sensor::time::Ts`).
    pub fn unix_ns(&self, boot_ns: u64) -> u64 {
        let ns = self.offset_ns.saturating_add(i128::from(boot_ns));
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
    }

    /// Wall-clock time of a kernel timestamp.
    pub fn system_time(&self, boot_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_ns(boot_ns))
    }
}

/// CLOCK_BOOTTIME now, in ns (the kernel's `bpf_ktime_get_boot_ns`).
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// The program's verdict and parse counters, summed over CPUs (names as in
/// `sensor_common::stat::NAMES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Every packet seen.
    pub packets: u64,
    /// IP packets parsed and counted in the flow map.
    pub parsed: u64,
    /// Not IPv4/IPv6.
    pub non_ip: u64,
    /// Truncated or inconsistent headers (passed).
    pub malformed: u64,
    /// Redirected to an AF_XDP socket.
    pub redirected: u64,
    /// Matched but no socket for the RX queue (passed).
    pub redirect_failed: u64,
    /// `XDP_PASS` verdicts.
    pub passed: u64,
    /// `XDP_DROP` verdicts.
    pub dropped: u64,
    /// Matched packets of bypassed flows.
    pub bypassed: u64,
    /// Fragments (first and later).
    pub fragments: u64,
    /// Later fragments whose first fragment was not seen.
    pub frag_orphans: u64,
    /// Failed flow map insertions.
    pub flow_insert_failed: u64,
    /// 802.1Q/802.1ad tagged packets.
    pub vlan_tagged: u64,
    /// IPv6 packets with too many extension headers.
    pub ipv6_ext_limit: u64,
    /// Packets matched by the port filter or the ICMP setting.
    pub matched: u64,
    /// Packets seen by the egress counter.
    pub egress_packets: u64,
    /// Egress packets whose headers could not be read.
    pub egress_malformed: u64,
}

impl XdpStats {
    fn from_counters(c: &[u64; stat::COUNT as usize]) -> XdpStats {
        let g = |i: u32| c.get(i as usize).copied().unwrap_or(0);
        XdpStats {
            packets: g(stat::PACKETS),
            parsed: g(stat::PARSED),
            non_ip: g(stat::NON_IP),
            malformed: g(stat::MALFORMED),
            redirected: g(stat::REDIRECTED),
            redirect_failed: g(stat::REDIRECT_FAILED),
            passed: g(stat::PASSED),
            dropped: g(stat::DROPPED),
            bypassed: g(stat::BYPASSED),
            fragments: g(stat::FRAGMENTS),
            frag_orphans: g(stat::FRAG_ORPHANS),
            flow_insert_failed: g(stat::FLOW_INSERT_FAILED),
            vlan_tagged: g(stat::VLAN_TAGGED),
            ipv6_ext_limit: g(stat::IPV6_EXT_LIMIT),
            matched: g(stat::MATCHED),
            egress_packets: g(stat::EGRESS_PACKETS),
            egress_malformed: g(stat::EGRESS_MALFORMED),
        }
    }

    /// (name, value) pairs for telemetry, in `stat` index order.
    pub fn named(&self) -> [(&'static str, u64); stat::COUNT as usize] {
        let v = [
            self.packets,
            self.parsed,
            self.non_ip,
            self.malformed,
            self.redirected,
            self.redirect_failed,
            self.passed,
            self.dropped,
            self.bypassed,
            self.fragments,
            self.frag_orphans,
            self.flow_insert_failed,
            self.vlan_tagged,
            self.ipv6_ext_limit,
            self.matched,
            self.egress_packets,
            self.egress_malformed,
        ];
        let mut out = [("", 0u64); stat::COUNT as usize];
        for ((o, name), value) in out.iter_mut().zip(stat::NAMES).zip(v) {
            *o = (name, value);
        }
        out
    }
}

/// The loaded and attached XDP program with its maps. Dropping it detaches the program.
pub struct DataPlane {
    /// The XDP bpf_link; closing it detaches. Declared first: dropped before the program.
    link: Option<OwnedFd>,
    /// The TCX egress link (host mode); dropping it detaches.
    egress: Option<SchedClassifierLink>,
    /// Why egress counting is off in host mode (kernel without TCX), for the operator.
    egress_error: Option<String>,
    ebpf: Ebpf,
    iface: String,
    mode: AttachMode,
}

impl std::fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPlane")
            .field("iface", &self.iface)
            .field("mode", &self.mode)
            .field("attached", &self.link.is_some())
            .field("egress", &self.egress.is_some())
            .finish()
    }
}

impl DataPlane {
    /// Load the embedded object, set the globals, fill PORTS and attach to `opts.iface`.
    pub fn load(opts: &XdpOptions) -> Result<DataPlane> {
        Self::load_object(opts, embedded_object())
    }

    /// As [`DataPlane::load`], with the object read from `path` at run time.
    pub fn load_file(opts: &XdpOptions, path: &Path) -> Result<DataPlane> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the XDP object {}", path.display()))?;
        Self::load_object(opts, &bytes)
    }

    /// As [`DataPlane::load`], with the object's bytes.
    pub fn load_object(opts: &XdpOptions, object: &[u8]) -> Result<DataPlane> {
        if object.is_empty() {
            bail!("{NO_OBJECT}");
        }
        check_privileges()?;
        let ifindex = ifindex(&opts.iface)?;
        let span = u8::from(opts.span);
        let icmp = u8::from(opts.icmp);
        let ebpf = EbpfLoader::new()
            .override_global(globals::SPAN_MODE, &span, true)
            .override_global(globals::ICMP_ENABLED, &icmp, true)
            .load(object)
            .context("loading the XDP object (maps and globals)")?;
        let mut dp = DataPlane {
            link: None,
            egress: None,
            egress_error: None,
            ebpf,
            iface: opts.iface.clone(),
            mode: opts.mode,
        };
        dp.set_ports(&opts.tcp_ports, &opts.udp_ports)?;
        let prog = dp.program()?;
        prog.load()
            .context("the kernel verifier rejected the XDP program")?;
        let prog_fd = prog.fd().context("XDP program fd")?.as_fd().as_raw_fd();
        let (link, mode) = match opts.mode {
            AttachMode::Native => (
                link_create(prog_fd, ifindex, XDP_FLAGS_DRV_MODE),
                AttachMode::Native,
            ),
            AttachMode::Skb => (
                link_create(prog_fd, ifindex, XDP_FLAGS_SKB_MODE),
                AttachMode::Skb,
            ),
            AttachMode::Auto => match link_create(prog_fd, ifindex, XDP_FLAGS_DRV_MODE) {
                Ok(l) => (Ok(l), AttachMode::Native),
                Err(_) => (
                    link_create(prog_fd, ifindex, XDP_FLAGS_SKB_MODE),
                    AttachMode::Skb,
                ),
            },
        };
        let link = link.with_context(|| {
            format!(
                "attaching the XDP program to {} in {mode:?} mode",
                opts.iface
            )
        })?;
        dp.link = Some(link);
        dp.mode = mode;
        if !opts.span {
            // A span port only receives; in host mode the host's replies leave through the
            // interface and only an egress hook sees them.
            if let Err(e) = dp.attach_egress() {
                dp.egress_error = Some(format!("{e:#}"));
            }
        }
        Ok(dp)
    }

    /// Load the egress counter and attach it with a TCX bpf_link (Linux 6.6+), which, like the
    /// XDP link, goes away with the process. Never the netlink/clsact path: that attachment
    /// would outlive a crashed sensor.
    fn attach_egress(&mut self) -> Result<()> {
        let iface = self.iface.clone();
        let p: &mut SchedClassifier = self
            .ebpf
            .program_mut(EGRESS_PROGRAM_NAME)
            .ok_or_else(|| anyhow!("the XDP object has no program `{EGRESS_PROGRAM_NAME}`"))?
            .try_into()
            .with_context(|| format!("`{EGRESS_PROGRAM_NAME}` is not a TC program"))?;
        p.load()
            .context("the kernel verifier rejected the egress program")?;
        let id = p
            .attach_with_options(
                &iface,
                TcAttachType::Egress,
                TcAttachOptions::TcxOrder(LinkOrder::default()),
            )
            .with_context(|| format!("attaching the egress counter to {iface} (TCX)"))?;
        self.egress = Some(p.take_link(id).context("egress link")?);
        Ok(())
    }

    /// Whether packets leaving the interface are counted too (host mode with TCX); when not,
    /// [`DataPlane::egress_error`] says why, and flows only count what the interface receives.
    pub fn counts_egress(&self) -> bool {
        self.egress.is_some()
    }

    /// Why egress counting could not be attached in host mode.
    pub fn egress_error(&self) -> Option<&str> {
        self.egress_error.as_deref()
    }

    fn program(&mut self) -> Result<&mut Xdp> {
        let p = self
            .ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| anyhow!("the XDP object has no program `{PROGRAM_NAME}`"))?;
        p.try_into()
            .with_context(|| format!("`{PROGRAM_NAME}` is not an XDP program"))
    }

    /// The interface the program is attached to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The mode the program was attached in (`Native` or `Skb` after `Auto`).
    pub fn attach_mode(&self) -> AttachMode {
        self.mode
    }

    /// Number of RX queues of `iface` (one AF_XDP socket and worker per queue): sysfs
    /// `queues/rx-*`, or `ethtool -l` when the interface is not in sysfs' namespace.
    pub fn queue_count(iface: &str) -> Result<u32> {
        let dir = Path::new("/sys/class/net").join(iface).join("queues");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let n = rd
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count();
            if n > 0 {
                return u32::try_from(n).context("queue count");
            }
        }
        ethtool_queues(iface)
    }

    /// Put the AF_XDP socket `fd` bound to RX queue `queue` into the XSKMAP.
    pub fn register_xsk(&mut self, queue: u32, fd: RawFd) -> Result<()> {
        if queue >= MAX_QUEUES {
            bail!("RX queue {queue} is beyond the XSKMAP's {MAX_QUEUES} entries");
        }
        let mut m: XskMap<&mut MapData> = self.map_mut(maps::XSKS)?;
        m.set(queue, fd, 0)
            .with_context(|| format!("XSKMAP[{queue}] = fd {fd}"))
    }

    /// Remove the socket of RX queue `queue` from the XSKMAP (its packets are passed).
    pub fn unregister_xsk(&mut self, queue: u32) -> Result<()> {
        let mut m: XskMap<&mut MapData> = self.map_mut(maps::XSKS)?;
        m.unset(queue)
            .with_context(|| format!("clearing XSKMAP[{queue}]"))
    }

    /// Replace the port rules (PORTS map) with these TCP and UDP ports.
    pub fn set_ports(&mut self, tcp: &[u16], udp: &[u16]) -> Result<()> {
        let mut rules: std::collections::BTreeMap<u16, u8> = std::collections::BTreeMap::new();
        for &p in tcp {
            *rules.entry(p).or_default() |= PORT_TCP;
        }
        for &p in udp {
            *rules.entry(p).or_default() |= PORT_UDP;
        }
        if rules.len() > MAX_PORTS as usize {
            bail!(
                "{} distinct ports configured, the XDP filter holds {MAX_PORTS}",
                rules.len()
            );
        }
        let mut m: HashMap<&mut MapData, u16, PortRule> = self.map_mut(maps::PORTS)?;
        let old: Vec<u16> = m.keys().filter_map(|k| k.ok()).collect();
        for k in old.iter().filter(|k| !rules.contains_key(k)) {
            ignore_missing(m.remove(k)).context("PORTS remove")?;
        }
        for (port, transports) in rules {
            let rule = PortRule {
                transports,
                _pad: [0; 3],
            };
            m.insert(port, rule, 0)
                .with_context(|| format!("PORTS[{port}]"))?;
        }
        Ok(())
    }

    /// Every flow in the kernel map with its per-CPU values merged. Entries evicted while
    /// iterating are skipped.
    pub fn flows(&self) -> Result<Vec<(FlowKey, KernelFlow)>> {
        let m: PerCpuHashMap<&MapData, FlowKey, FlowCounters> = self.map(maps::FLOWS)?;
        let mut out = Vec::new();
        for item in m.iter() {
            match item {
                Ok((k, v)) => {
                    if let Some(f) = KernelFlow::merge(&v) {
                        out.push((k, f));
                    }
                }
                Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(e).context("reading the FLOWS map"),
            }
        }
        Ok(out)
    }

    /// One flow's merged counters, `None` when absent.
    pub fn flow(&self, key: &FlowKey) -> Result<Option<KernelFlow>> {
        let m: PerCpuHashMap<&MapData, FlowKey, FlowCounters> = self.map(maps::FLOWS)?;
        match m.get(key, 0) {
            Ok(v) => Ok(KernelFlow::merge(&v)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e).context("reading the FLOWS map"),
        }
    }

    /// Delete a flow (after its final report) and its bypass mark. Absent keys are fine.
    pub fn remove_flow(&mut self, key: &FlowKey) -> Result<()> {
        let mut m: PerCpuHashMap<&mut MapData, FlowKey, FlowCounters> =
            self.map_mut(maps::FLOWS)?;
        ignore_missing(m.remove(key)).context("FLOWS remove")?;
        self.unbypass(key)
    }

    /// Stop redirecting a flow: its packets keep being counted, then get the unmatched verdict.
    pub fn bypass(&mut self, key: &FlowKey) -> Result<()> {
        let mut m: HashMap<&mut MapData, FlowKey, u8> = self.map_mut(maps::BYPASS)?;
        m.insert(key, 1, 0).context("BYPASS insert")
    }

    /// Redirect a bypassed flow again.
    pub fn unbypass(&mut self, key: &FlowKey) -> Result<()> {
        let mut m: HashMap<&mut MapData, FlowKey, u8> = self.map_mut(maps::BYPASS)?;
        ignore_missing(m.remove(key)).context("BYPASS remove")
    }

    /// The verdict counters summed over CPUs.
    pub fn stats(&self) -> Result<XdpStats> {
        let m: PerCpuArray<&MapData, u64> = self.map(maps::STATS)?;
        let mut c = [0u64; stat::COUNT as usize];
        for (i, slot) in (0u32..).zip(c.iter_mut()) {
            let v = m.get(&i, 0).context("reading the STATS map")?;
            *slot = v.iter().sum();
        }
        Ok(XdpStats::from_counters(&c))
    }

    /// Run the program once on `frame` (BPF_PROG_TEST_RUN) and return its verdict; maps are
    /// updated as for a received packet (RX queue 0). For tests of crafted frames.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<u32> {
        let fd = self
            .program()?
            .fd()
            .context("XDP program fd")?
            .as_fd()
            .as_raw_fd();
        prog_test_run(fd, frame)
    }

    /// Detach now (dropping the `DataPlane` does the same, ignoring errors).
    pub fn detach(mut self) -> Result<()> {
        // Closing our only fd of the bpf_link releases it, which detaches the program.
        drop(self.link.take());
        drop(self.egress.take());
        Ok(())
    }

    fn map<'a, T>(&'a self, name: &str) -> Result<T>
    where
        T: TryFrom<&'a aya::maps::Map, Error = MapError>,
    {
        let m = self
            .ebpf
            .map(name)
            .ok_or_else(|| anyhow!("the XDP object has no map {name}"))?;
        T::try_from(m).with_context(|| format!("map {name} has an unexpected type"))
    }

    fn map_mut<'a, T>(&'a mut self, name: &str) -> Result<T>
    where
        T: TryFrom<&'a mut aya::maps::Map, Error = MapError>,
    {
        let m = self
            .ebpf
            .map_mut(name)
            .ok_or_else(|| anyhow!("the XDP object has no map {name}"))?;
        T::try_from(m).with_context(|| format!("map {name} has an unexpected type"))
    }
}

fn ignore_missing(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// Capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Refuse early, with a message saying what is missing, when we cannot load or attach.
fn check_privileges() -> Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| anyhow!("no CapEff line in /proc/self/status"))?;
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    if !has(CAP_NET_ADMIN) || !(has(CAP_BPF) || has(CAP_SYS_ADMIN)) {
        bail!(
            "live capture needs root, or the capabilities CAP_BPF (or CAP_SYS_ADMIN) and \
             CAP_NET_ADMIN (effective set is {eff:#x}): run the sensor as root, e.g. with \
             `cargo xtask run`, or `setcap cap_bpf,cap_net_admin,cap_perfmon+ep` on the binary"
        );
    }
    Ok(())
}

/// Interface index in the calling thread's network namespace.
fn ifindex(iface: &str) -> Result<u32> {
    let name = CString::new(iface).with_context(|| format!("interface name {iface:?}"))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        bail!(
            "no network interface {iface:?} (in this network namespace): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(idx)
}

fn ethtool_queues(iface: &str) -> Result<u32> {
    let out = std::process::Command::new("ethtool")
        .args(["-l", iface])
        .output()
        .with_context(|| format!("no /sys/class/net/{iface}/queues; running `ethtool -l`"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The second block is "Current hardware settings"; RX + Combined are the RX queues.
    let current = text
        .split("Current hardware settings:")
        .nth(1)
        .ok_or_else(|| anyhow!("cannot read the RX queues of {iface}: {text}"))?;
    let field = |name: &str| -> u32 {
        current
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok((field("RX:") + field("Combined:")).max(1))
}

/// `bpf(2)` commands and attach constants (linux/bpf.h, linux/if_link.h).
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// Room for the rest of `union bpf_attr`, which the kernel requires to be zero.
const ATTR_TAIL_WORDS: usize = 12;

/// `bpf_attr` for BPF_LINK_CREATE (the fields we use, zero tail).
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    tail: [u64; ATTR_TAIL_WORDS],
}

/// Attach with a bpf_link only (never the netlink fallback): the attachment then lives exactly
/// as long as the returned fd, so a crashed sensor leaves nothing on the interface.
fn link_create(prog_fd: RawFd, ifindex: u32, flags: u32) -> Result<OwnedFd> {
    let attr = LinkCreateAttr {
        prog_fd: u32::try_from(prog_fd).context("program fd")?,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
        tail: [0; ATTR_TAIL_WORDS],
    };
    let size = std::mem::size_of::<LinkCreateAttr>();
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix of `size` bytes for the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_LINK_CREATE, &attr as *const _, size) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        let hint = match e.raw_os_error() {
            Some(libc::EBUSY) => " (another XDP program is attached to this interface)",
            Some(libc::EOPNOTSUPP) => " (the driver has no native XDP: use skb or auto mode)",
            Some(libc::EINVAL) => " (kernel without XDP bpf_link, 5.9+, or bad flags)",
            _ => "",
        };
        bail!("bpf_link_create: {e}{hint}");
    }
    let fd = RawFd::try_from(rc).context("link fd")?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `bpf_attr` for BPF_PROG_TEST_RUN.
#[repr(C)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    tail: [u64; ATTR_TAIL_WORDS],
}

fn prog_test_run(prog_fd: RawFd, frame: &[u8]) -> Result<u32> {
    let mut attr = TestRunAttr {
        prog_fd: u32::try_from(prog_fd).context("program fd")?,
        retval: 0,
        data_size_in: u32::try_from(frame.len()).context("frame too long")?,
        data_size_out: 0,
        data_in: frame.as_ptr() as u64,
        data_out: 0,
        repeat: 1,
        duration: 0,
        tail: [0; ATTR_TAIL_WORDS],
    };
    let size = std::mem::size_of::<TestRunAttr>();
    // SAFETY: `attr` is a valid bpf_attr prefix; `data_in` points to `frame`, alive for the call;
    // no output buffer is given (data_out = 0), so the kernel writes only into `attr`.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_TEST_RUN, &mut attr as *mut _, size) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("BPF_PROG_TEST_RUN");
    }
    Ok(attr.retval)
}
