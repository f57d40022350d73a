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

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{HashMap, MapData, MapError, PerCpuArray, PerCpuHashMap, XskMap};
use aya::programs::tc::{SchedClassifierLink, TcAttachOptions, TcAttachType};
use aya::programs::{LinkOrder, SchedClassifier, Xdp};
use aya::{Ebpf, EbpfLoader};
pub use sensor_common::FlowKey;

mod sys;
mod types;

use sensor_common::{
    globals, maps, stat, FlowCounters, PortRule, EGRESS_PROGRAM_NAME, MAX_PORTS, MAX_QUEUES,
    PORT_TCP, PORT_UDP, PROGRAM_NAME,
};
pub use sys::boot_ns;
use sys::{
    ethtool_queues, ifindex, link_create, prog_test_run, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE,
};
pub use types::{BootClock, DirCount, Endpoint, KernelFlow, XdpStats};

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

    /// Instructions the verifier processed for each loaded program (its complexity budget is
    /// one million per program).
    pub fn verified_instructions(&self) -> Vec<(&'static str, u32)> {
        [PROGRAM_NAME, EGRESS_PROGRAM_NAME]
            .into_iter()
            .filter_map(|name| {
                let info = self.ebpf.program(name)?.info().ok()?;
                Some((name, info.verified_instruction_count()?))
            })
            .collect()
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

    /// Index of the attached interface.
    pub fn ifindex(&self) -> Result<u32> {
        ifindex(&self.iface)
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

#[cfg(test)]
mod tests;
