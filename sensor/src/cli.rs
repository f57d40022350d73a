//! The command line: `sensor replay FILE...` and `sensor run` (live capture).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::output::{Output, OutputTarget};
use crate::pipeline::worker;
use crate::telemetry::{self, registry::Telemetry};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Network sensor: protocol transactions and flow records as ECS JSON (Packetbeat 8.x shape).
#[derive(Parser, Debug)]
#[command(name = "sensor", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Command,
}

/// Options shared by every mode.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Configuration file in packetbeat.yml shape (default: every protocol on its default
    /// ports, flows on).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where events go: `stdout` (default) or `file:PATH`. Overrides the config's output.
    #[arg(long, short = 'o', value_name = "stdout|file:PATH")]
    pub output: Option<OutputTarget>,
    /// Print per-stage counters to stderr at the end.
    #[arg(long)]
    pub summary: bool,
    /// Override a configuration setting, as Beats' `-E`: `-E http.enabled=true`,
    /// `-E packetbeat.flows.period=-1` (repeatable; the value is YAML).
    #[arg(short = 'E', long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay pcap/pcapng files through the pipeline (capture timestamps are the clock).
    Replay {
        /// Capture files, processed in order as one stream.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Pipeline workers (connections spread by a symmetric hash of the IP pair; 1 = one
        /// thread, events in capture order). Default: the CPUs available, at most 8.
        #[arg(long, short = 'w')]
        workers: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// Live capture on an interface with the XDP/AF_XDP data plane (root or CAP_BPF+CAP_NET_ADMIN).
    Run {
        /// Interface to capture on (or packetbeat.interfaces.device).
        #[arg(long, short = 'i')]
        interface: Option<String>,
        /// XDP attach mode: auto (native, else generic/SKB), native or skb.
        #[arg(long, default_value = "auto", value_parser = ["auto", "native", "skb"])]
        xdp_mode: String,
        /// Span-port mode: the interface carries only mirrored traffic, unmatched packets are
        /// dropped in XDP (packetbeat.interfaces.type: span also selects it).
        #[arg(long)]
        span: bool,
        /// RX queues to serve (default: every queue of the device), one pinned worker each.
        #[arg(long)]
        queues: Option<u32>,
        /// UMEM frames per queue (power of two).
        #[arg(long, default_value_t = 8192)]
        xsk_frames: u32,
        /// RX ring entries per queue (power of two).
        #[arg(long, default_value_t = 4096)]
        xsk_ring: u32,
        /// CPUs the workers are pinned to, in queue order, e.g. `2,3` or `2-5` (default: every
        /// CPU from 0). Keep them off the CPUs handling the NIC's interrupts where possible.
        #[arg(long, value_name = "LIST")]
        cpus: Option<CpuList>,
        #[command(flatten)]
        common: Common,
    },
    /// Check a configuration file and print the effective protocol ports.
    CheckConfig {
        #[command(flatten)]
        common: Common,
    },
}

fn load_config(common: &Common) -> Result<Config> {
    Config::load_with(common.config.as_deref(), &common.set)
}

fn open_output(common: &Common, cfg: &Config) -> Result<Output> {
    let target = common
        .output
        .clone()
        .or_else(|| cfg.output.target.clone())
        .unwrap_or(OutputTarget::Stdout);
    Output::open_configured(&target, cfg.output.kafka.as_ref())
        .with_context(|| format!("cannot open output {target:?}"))
}

/// A CPU list as `taskset -c` writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

impl std::str::FromStr for CpuList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_cpu_list(s).map(CpuList)
    }
}

/// `2,3` / `2-5` / `0,4-7` → CPU numbers.
fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad CPU list {s:?}: write e.g. 2,3 or 2-5");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(format!("empty CPU list {s:?}"));
    }
    Ok(out)
}

/// Replay capture files in one thread; returns an error after emitting everything decoded
/// before a bad record.
pub fn replay(files: &[PathBuf], common: &Common) -> Result<()> {
    replay_with(files, common, 1)
}

/// [`replay`] with `workers` pipeline threads (see [`crate::replay`]).
pub fn replay_with(files: &[PathBuf], common: &Common, workers: usize) -> Result<()> {
    let cfg = load_config(common)?;
    let tel = Telemetry::new(workers);
    let _http = telemetry::serve_if_enabled(&cfg, &tel)?;
    let mut ticker = telemetry::Ticker::new(&cfg.metrics);
    let out = open_output(common, &cfg)?;
    // SIGINT/SIGTERM end the replay early but cleanly: what was read is flushed (pending
    // transactions, final flows, the output drained or spooled).
    let stop = Arc::new(AtomicBool::new(false));
    crate::live::stop_on_signals(stop.clone(), None)?;
    tel.set_ready(true);
    let o = if workers > 1 {
        crate::replay::parallel(files, &cfg, out, workers, &tel, &mut ticker, &stop)?
    } else {
        crate::replay::sequential(files, cfg, out, &tel, &mut ticker, &stop)
    };
    tel.set_ready(false);
    if o.stopped {
        eprintln!("sensor: stopped by a signal; flushing what was read");
    }
    if common.summary {
        eprint!("{}", o.summary.render());
    }
    if let Some(e) = o.output.error.as_ref() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            bail!("writing events failed: {e}");
        }
    }
    match o.first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Run the command line.
pub fn main_with(cli: Cli) -> Result<()> {
    match cli.cmd {
        Command::Replay {
            files,
            workers,
            common,
        } => {
            let n = workers.unwrap_or_else(|| worker::cpu_count().min(8)).max(1);
            replay_with(&files, &common, n)
        }
        Command::Run {
            interface,
            xdp_mode,
            span,
            queues,
            xsk_frames,
            xsk_ring,
            cpus,
            common,
        } => {
            let cfg = load_config(&common)?;
            let Some(mut iface) = interface.or(cfg.interfaces.device.clone()) else {
                bail!("no interface: give --interface IF or packetbeat.interfaces.device");
            };
            if iface == "default_route" {
                iface = crate::capture::iface::default_route()?;
                eprintln!("sensor: default_route is {iface}");
            }
            let mode = match xdp_mode.as_str() {
                "native" => crate::capture::xdp::AttachMode::Native,
                "skb" => crate::capture::xdp::AttachMode::Skb,
                _ => crate::capture::xdp::AttachMode::Auto,
            };
            let span = span || cfg.interfaces.kind.as_deref() == Some("span");
            let xsk = crate::capture::afxdp::XskOptions {
                frames: xsk_frames,
                fill_ring: xsk_frames,
                rx_ring: xsk_ring,
                ..Default::default()
            };
            let opts = crate::live::LiveOptions {
                iface,
                mode,
                span,
                queues,
                xsk,
                summary: common.summary,
                cpus: cpus.map(|c| c.0),
                config_path: common.config.clone(),
                overrides: common.set.clone(),
            };
            let target = cfg.clone();
            crate::live::run(cfg, opts, || open_output(&common, &target))
        }
        Command::CheckConfig { common } => {
            let cfg = load_config(&common)?;
            for &id in crate::proto::ProtoId::ALL {
                let c = cfg.protocols.get(id);
                println!(
                    "{:<10} enabled={} ports={:?}",
                    id.name(),
                    c.enabled,
                    cfg.protocols.ports(id)
                );
            }
            println!(
                "flows      enabled={} timeout={:?} period={:?}",
                cfg.flows.enabled, cfg.flows.timeout, cfg.flows.period
            );
            Ok(())
        }
    }
}
