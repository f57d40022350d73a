//! Live capture (`sensor run`): the XDP program filters and counts in the kernel, AF_XDP sockets
//! deliver the matched packets to one pinned worker per RX queue, the kernel flow map is the
//! source of flow records, and SIGINT/SIGTERM end everything cleanly (pending transactions
//! published, final flow reports, output drained, XDP detached).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::capture::afxdp::{XskOptions, XskQueue, XskStats};
use crate::capture::xdp::{AttachMode, BootClock, DataPlane, KernelFlow, XdpOptions};
use crate::config::Config;
use crate::decode::Vlans;
use crate::ecs::Encoder;
use crate::flow::kernel::KernelFlows;
use crate::flow::{DirCounters, Flow};
use crate::output::Output;
use crate::pipeline::worker::{self, ChannelWriter, WorkerReport};
use crate::proto::{ProtoId, Transport};
use crate::telemetry::{self, registry::KernelFlowView, registry::Telemetry};
use crate::time::Ts;

/// How often the kernel flow map is read (periodic reports and timeouts have this resolution).
const FLOW_POLL: Duration = Duration::from_secs(1);

/// Options of `sensor run`.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface to capture on.
    pub iface: String,
    /// XDP attach mode.
    pub mode: AttachMode,
    /// Span-port mode: drop unmatched packets in XDP (the interface carries only mirrored traffic).
    pub span: bool,
    /// Number of RX queues to serve (default: every queue of the device).
    pub queues: Option<u32>,
    /// AF_XDP socket sizes.
    pub xsk: XskOptions,
    /// Print counters at the end.
    pub summary: bool,
    /// CPUs to pin the workers to (worker i → `cpus[i % len]`); default every CPU from 0.
    pub cpus: Option<Vec<usize>>,
    /// The configuration file, read again on SIGHUP.
    pub config_path: Option<std::path::PathBuf>,
    /// `-E` settings, applied again on SIGHUP.
    pub overrides: Vec<String>,
}

/// The TCP and UDP ports of the enabled protocols, and whether ICMP is on.
pub fn filter_ports(cfg: &Config) -> (Vec<u16>, Vec<u16>, bool) {
    let (mut tcp, mut udp, mut icmp) = (Vec::new(), Vec::new(), false);
    for &id in ProtoId::ALL {
        if !cfg.protocols.get(id).enabled {
            continue;
        }
        let ports = cfg.protocols.ports(id);
        match id.transport() {
            Transport::Tcp => tcp.extend_from_slice(ports),
            Transport::Udp => udp.extend_from_slice(ports),
            Transport::TcpUdp => {
                tcp.extend_from_slice(ports);
                udp.extend_from_slice(ports);
            }
            Transport::Icmp => icmp = true,
        }
    }
    for v in [&mut tcp, &mut udp] {
        v.sort_unstable();
        v.dedup();
    }
    (tcp, udp, icmp)
}

/// A flow record from a kernel map entry.
pub fn kernel_to_flow(key: &sensor_common::FlowKey, kf: &KernelFlow, clock: &BootClock) -> Flow {
    let (src, dst) = kf.endpoints(key);
    let vlans = Vlans::from_ids(key.vlan_outer, key.vlan_inner);
    let mut f = Flow::new(
        0,
        *key,
        src,
        dst,
        vlans,
        Ts(clock.unix_ns(kf.first_seen_ns)),
    );
    f.last_ts = Ts(clock.unix_ns(kf.last_seen_ns));
    let (a, b) = (kf.from_initiator(), kf.from_responder());
    f.src = DirCounters {
        packets: a.packets,
        bytes: a.bytes,
    };
    f.dst = DirCounters {
        packets: b.packets,
        bytes: b.bytes,
    };
    f
}

/// Set `stop` on SIGINT or SIGTERM; SIGHUP sets `reload` (without one — replay — it is logged
/// and ignored). The handlers are installed before this returns.
pub fn stop_on_signals(stop: Arc<AtomicBool>, reload: Option<Arc<AtomicBool>>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut term, mut int, mut hup) = {
        let _guard = rt.enter();
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
            signal(SignalKind::hangup())?,
        )
    };
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        rt.block_on(async {
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    // SIGHUP never ends the sensor (systemd's ExecReload sends it).
                    _ = hup.recv() => match &reload {
                        Some(r) => r.store(true, Ordering::SeqCst),
                        None => eprintln!("sensor: SIGHUP: nothing to reload while replaying; ignored"),
                    },
                }
            }
        });
        stop.store(true, Ordering::SeqCst);
    })?;
    Ok(())
}

fn snapshot(dp: &DataPlane) -> Result<Vec<(sensor_common::FlowKey, Flow)>> {
    let clock = BootClock::now();
    Ok(dp
        .flows()?
        .iter()
        .map(|(k, f)| (*k, kernel_to_flow(k, f, &clock)))
        .collect())
}

fn report_flows(
    kf: &mut KernelFlows,
    enc: &mut Encoder,
    w: &mut ChannelWriter,
    cfg: &Config,
    snap: Vec<(sensor_common::FlowKey, Flow)>,
    now: Ts,
    last: bool,
) -> Vec<sensor_common::FlowKey> {
    let mut emit = |f: &Flow, fin: bool| {
        let line = enc.flow(f, fin, now, &cfg.flows);
        let _ = w.write_all(line);
        let _ = w.write_all(b"\n");
    };
    let ended = if last {
        kf.finish(snap, &mut emit);
        Vec::new()
    } else {
        kf.tick(now, snap, &cfg.flows, &mut emit)
    };
    let _ = w.flush();
    ended
}

/// Read the configuration again (SIGHUP). Protocol, flow, tag/field and stats options apply;
/// what needs a restart (interface, output, monitoring endpoint, ICMP on/off, which is compiled
/// into the XDP program) keeps its running value, with a warning.
fn reloaded(old: &Config, opts: &LiveOptions) -> Result<Config> {
    let mut new = Config::load_with(opts.config_path.as_deref(), &opts.overrides)?;
    let mut kept = Vec::new();
    if new.interfaces != old.interfaces {
        kept.push("packetbeat.interfaces");
        new.interfaces = old.interfaces.clone();
    }
    if new.output != old.output {
        kept.push("output");
        new.output = old.output.clone();
    }
    if new.http != old.http {
        kept.push("http");
        new.http = old.http.clone();
    }
    let icmp = |c: &Config| c.protocols.get(ProtoId::Icmp).enabled;
    if icmp(&new) != icmp(old) {
        kept.push("icmp.enabled");
        let was = old.protocols.get(ProtoId::Icmp).clone();
        if let Some(slot) = new.protocols.common.get_mut(ProtoId::Icmp as usize) {
            slot.enabled = was.enabled;
        }
    }
    if !kept.is_empty() {
        eprintln!(
            "sensor: reload: {} changed; that needs a restart, the running value is kept",
            kept.join(", ")
        );
    }
    Ok(new)
}

/// The AF_XDP sizes that fit the locked-memory limit: the UMEM is charged to RLIMIT_MEMLOCK
/// unless the process has CAP_IPC_LOCK. The limit is raised when allowed; otherwise fewer
/// frames per queue are used (a warning says so), down to 512; below that start-up fails with
/// the fixes named.
fn fit_memlock(queues: u32, mut xsk: XskOptions) -> Result<XskOptions> {
    let per_frame = u64::from(queues) * u64::from(xsk.frame_size);
    let need = per_frame * u64::from(xsk.frames);
    let ipc_lock = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_IPC_LOCK,
    )
    .unwrap_or(false);
    let Some(limit) = crate::capture::afxdp::raise_memlock(need) else {
        return Ok(xsk);
    };
    if limit >= need || ipc_lock {
        return Ok(xsk);
    }
    // Leave a quarter of the limit for the BPF maps and rings charged to it too.
    let fit = (limit * 3 / 4) / per_frame.max(1);
    let frames = if fit >= 512 {
        1u64 << (63 - fit.leading_zeros())
    } else {
        0
    };
    if frames < 512 {
        bail!(
            "RLIMIT_MEMLOCK is {} KiB: too small for {queues} AF_XDP queue(s) even with 512 frames \
             each; raise it (systemd LimitMEMLOCK=infinity, `ulimit -l`, the container runtime's \
             default), grant CAP_IPC_LOCK, or serve fewer --queues",
            limit >> 10
        );
    }
    eprintln!(
        "sensor: warning: RLIMIT_MEMLOCK is {} KiB: using {frames} AF_XDP frames per queue instead \
         of {} (raise the limit or grant CAP_IPC_LOCK for the full rings)",
        limit >> 10,
        xsk.frames
    );
    xsk.frames = u32::try_from(frames).unwrap_or(512);
    xsk.fill_ring = xsk.frames;
    xsk.rx_ring = xsk.rx_ring.min(xsk.frames);
    Ok(xsk)
}

/// Run live capture until SIGINT/SIGTERM. The output is opened (`open_output`) after the
/// privileged start-up, when capabilities are gone.
pub fn run(
    cfg: Config,
    opts: LiveOptions,
    open_output: impl FnOnce() -> Result<Output>,
) -> Result<()> {
    crate::privs::check_live()?;
    let stop = Arc::new(AtomicBool::new(false));
    let tel = Telemetry::new(opts.queues.unwrap_or(1) as usize);
    let http = telemetry::bind_if_enabled(&cfg)?;
    let mut ticker = telemetry::Ticker::new(&cfg.metrics);
    let (tcp_ports, udp_ports, icmp) = filter_ports(&cfg);
    let xo = XdpOptions {
        iface: opts.iface.clone(),
        mode: opts.mode,
        span: opts.span,
        tcp_ports,
        udp_ports,
        icmp,
    };
    let mut dp = DataPlane::load(&xo)?;
    let queues = match opts.queues {
        Some(q) => q,
        None => DataPlane::queue_count(&opts.iface)?,
    }
    .max(1);
    // Span ports carry frames addressed to other hosts: the NIC must accept them.
    let _promisc = if opts.span || cfg.interfaces.auto_promisc_mode {
        Some(crate::capture::iface::Promisc::enable(dp.ifindex()?)?)
    } else {
        None
    };
    let xsk = fit_memlock(queues, opts.xsk)?;
    let mut socks = Vec::new();
    for q in 0..queues {
        let s = XskQueue::open(&opts.iface, q, &xsk)?;
        dp.register_xsk(q, s.fd())?;
        socks.push(s);
    }
    // Everything privileged is done: drop capabilities while this is the only thread.
    let keep_ptrace = ProtoId::ALL
        .iter()
        .any(|&id| cfg.protocols.get(id).monitor_processes);
    let kept = crate::privs::drop_after_startup(keep_ptrace, &mut || dp.flows().is_ok())
        .context("dropping capabilities")?;
    eprintln!(
        "sensor: capabilities dropped; kept: [{}]{}",
        kept.caps.join(", "),
        if kept.bounding_kept {
            " (bounding set unchanged: no CAP_SETPCAP; no_new_privs set)"
        } else {
            ""
        }
    );
    let reload = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone(), Some(reload.clone())).context("installing signal handlers")?;
    let _http = telemetry::spawn_http(http, &tel)?;
    let mut out = open_output()?;
    let (tx, rx) = worker::output_channel();
    let out_tel = tel.clone();
    let out_thread = std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            worker::drain_batches(rx, &mut out, &out_tel);
            out
        })?;
    let cpus: Vec<usize> = opts
        .cpus
        .clone()
        .unwrap_or_else(|| (0..worker::cpu_count()).collect());
    let mut workers = Vec::new();
    let mut reconfig = Vec::new();
    let (bypass_tx, bypass_rx) = std::sync::mpsc::channel::<sensor_common::FlowKey>();
    let mut handoffs = crate::pipeline::handoff::group(socks.len()).into_iter();
    for (i, s) in socks.into_iter().enumerate() {
        let Some(h) = handoffs.next() else {
            bail!("internal error: no hand-off end for worker {i}");
        };
        let p = worker::worker_pipeline(&cfg, tx.clone());
        let stop = stop.clone();
        let tel = tel.clone();
        let (ctx, crx) = std::sync::mpsc::channel();
        reconfig.push(ctx);
        let btx = bypass_tx.clone();
        let core = cpus.get(i % cpus.len().max(1)).copied().unwrap_or(0);
        workers.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    if let Err(e) = worker::pin_to_core(core) {
                        eprintln!("sensor: worker {i}: cannot pin to core {core}: {e}");
                    }
                    worker::run_worker(
                        s,
                        p,
                        worker::WorkerLinks {
                            stop,
                            tel,
                            index: i,
                            reconfig: crx,
                            handoff: h,
                            bypass: btx,
                        },
                    )
                })?,
        );
    }
    eprintln!(
        "sensor: capturing on {}: {queues} queue(s), XDP {:?} mode, {} mode",
        opts.iface,
        dp.attach_mode(),
        if opts.span {
            "span (unmatched dropped)"
        } else {
            "host (unmatched passed)"
        }
    );
    let mut cfg = cfg;
    let mut kf = KernelFlows::new();
    let mut enc = Encoder::for_config(&cfg);
    let mut w = ChannelWriter::new(tx.clone());
    let mut next_poll = Instant::now() + FLOW_POLL;
    let mut flow_errors = 0u64;
    let mut active = 0u64;
    let (mut bypassed, mut bypass_errors) = (0u64, 0u64);
    tel.set_ready(true);
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(i) = workers.iter().position(|h| h.is_finished()) {
            tel.set_unhealthy(format!("worker {i} stopped"));
            eprintln!("sensor: a worker stopped; shutting down");
            break;
        }
        if out_thread.is_finished() {
            tel.set_unhealthy("the output thread stopped".into());
            eprintln!("sensor: the output thread stopped; shutting down");
            break;
        }
        // Connections whose dissector gave up: the kernel stops redirecting them (still counted).
        while let Ok(k) = bypass_rx.try_recv() {
            match dp.bypass(&k) {
                Ok(()) => bypassed += 1,
                Err(e) => {
                    if bypass_errors == 0 {
                        eprintln!("sensor: writing the bypass map failed: {e:#}");
                    }
                    bypass_errors += 1;
                }
            }
        }
        if reload.swap(false, Ordering::SeqCst) {
            match reloaded(&cfg, &opts) {
                Ok(new) => {
                    let (tcp, udp, _) = filter_ports(&new);
                    match dp.set_ports(&tcp, &udp) {
                        Ok(()) => {
                            for c in &reconfig {
                                let _ = c.send(worker::worker_config(&new));
                            }
                            if new.metrics != cfg.metrics {
                                ticker = telemetry::Ticker::new(&new.metrics);
                            }
                            enc.reconfigure(&new);
                            cfg = new;
                            tel.count_reload(true);
                            eprintln!(
                                "sensor: configuration reloaded (XDP ports tcp={tcp:?} udp={udp:?})"
                            );
                        }
                        Err(e) => {
                            tel.count_reload(false);
                            eprintln!("sensor: reload failed: updating the XDP port filter: {e:#}; keeping the running configuration");
                        }
                    }
                }
                Err(e) => {
                    tel.count_reload(false);
                    eprintln!("sensor: reload failed: {e:#}; keeping the running configuration");
                }
            }
        }
        let (counters, stats) = ticker.due();
        if counters {
            if let Ok(x) = dp.stats() {
                tel.set_xdp(x);
            }
            tel.set_kernel_flows(KernelFlowView {
                active,
                finals: kf.finals,
                evicted: kf.evicted,
                read_errors: flow_errors,
                bypassed,
            });
        }
        if stats {
            let ev = telemetry::stats_event(&tel, ticker.period_ms());
            let _ = w.write_all(enc.value(&ev));
            let _ = w.write_all(b"\n");
            let _ = w.flush();
        }
        if Instant::now() < next_poll || !cfg.flows.enabled {
            continue;
        }
        next_poll = Instant::now() + FLOW_POLL;
        match snapshot(&dp) {
            Ok(snap) => {
                active = snap.len() as u64;
                for k in report_flows(&mut kf, &mut enc, &mut w, &cfg, snap, Ts::now(), false) {
                    let _ = dp.remove_flow(&k);
                    // A later connection on the same 5-tuple is parsed again.
                    let _ = dp.unbypass(&k);
                }
            }
            Err(e) => {
                flow_errors += 1;
                if flow_errors == 1 {
                    eprintln!("sensor: reading the kernel flow map failed: {e:#}");
                }
            }
        }
    }
    tel.set_ready(false);
    stop.store(true, Ordering::SeqCst);
    let mut reports: Vec<WorkerReport> = Vec::new();
    for h in workers {
        match h.join() {
            Ok(r) => reports.push(r),
            Err(_) => eprintln!("sensor: a worker panicked"),
        }
    }
    if cfg.flows.enabled {
        if let Ok(snap) = snapshot(&dp) {
            report_flows(&mut kf, &mut enc, &mut w, &cfg, snap, Ts::now(), true);
        }
    }
    let xdp = dp.stats().ok();
    dp.detach().context("detaching the XDP program")?;
    drop(w);
    drop(tx);
    let mut out = out_thread
        .join()
        .map_err(|_| anyhow!("the output thread panicked"))?;
    let _ = out.flush();
    if opts.summary {
        let mut xsk = XskStats::default();
        for r in &reports {
            xsk.add(&r.xsk);
            eprintln!(
                "sensor: queue {}: frames={} rx_dropped={} rx_ring_full={} fill_ring_empty={} handoff_sent={} handoff_received={} handoff_dropped={}",
                r.queue,
                r.frames,
                r.xsk.rx_dropped,
                r.xsk.rx_ring_full,
                r.xsk.rx_fill_ring_empty,
                r.handoff.sent,
                r.handoff.received,
                r.handoff.dropped
            );
        }
        if let Some(x) = xdp {
            let named: Vec<String> = x.named().iter().map(|(n, v)| format!("{n}={v}")).collect();
            eprintln!("sensor: xdp {}", named.join(" "));
        }
        eprintln!(
            "sensor: kernel flows final_reports={} evicted_without_report={}",
            kf.finals, kf.evicted
        );
        for r in &reports {
            eprint!("{}", r.summary.render());
        }
        eprintln!(
            "sensor: output events={} failed={}",
            out.stats.events, out.stats.failed
        );
    }
    if reports.is_empty() {
        bail!("no worker finished cleanly");
    }
    Ok(())
}
