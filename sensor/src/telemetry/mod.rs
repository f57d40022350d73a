//! Counters per stage: printed by `--summary`, published live in the [`registry::Telemetry`]
//! that the monitoring endpoint ([`http`]) and the periodic stats event read.

pub mod expose;
pub mod http;
pub mod registry;

use std::fmt::Write as _;

use crate::capture::pcap::FileStats;
use crate::decode::defrag::DefragStats;
use crate::decode::DecodeStats;
use crate::output::OutputStats;
use crate::proto::{ProtoId, ProtoStats};
use crate::reassembly::ReassemblyStats;

/// Pipeline counters not owned by a sub-stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Flows created.
    pub flows_created: u64,
    /// Flow reports published (periodic + final).
    pub flow_reports: u64,
    /// Flows ended by the idle timeout.
    pub flows_timed_out: u64,
    /// Dissector sessions started.
    pub sessions: u64,
    /// Bytes held for dissectors above the pending cap (session given up).
    pub pending_overflows: u64,
    /// TCP/UDP packets on no enabled protocol's port (counted in flows only).
    pub unclaimed_packets: u64,
    /// Flows in the table (gauge, set when the summary is taken).
    pub flows_active: u64,
    /// Events dropped by processors (`drop_event`).
    pub dropped_by_processors: u64,
    /// Transactions dropped by `ignore_outgoing`.
    pub ignored_outgoing: u64,
}

/// Everything `--summary` prints.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Capture files.
    pub files: FileStats,
    /// Decoder.
    pub decode: DecodeStats,
    /// Fragments.
    pub defrag: DefragStats,
    /// Reassembly.
    pub reassembly: ReassemblyStats,
    /// Pipeline.
    pub pipeline: PipelineStats,
    /// Per protocol.
    pub protocols: Vec<(ProtoId, ProtoStats)>,
    /// Output.
    pub output: OutputStats,
}

macro_rules! add_fields {
    ($a:expr, $b:expr; $($f:ident),* $(,)?) => { $( $a.$f += $b.$f; )* };
}

impl Summary {
    /// Add another worker's counters (parallel replay, several queues).
    pub fn add(&mut self, o: &Summary) {
        add_fields!(self.files, o.files; frames, unsupported_link);
        add_fields!(self.decode, o.decode; frames, ip_packets, not_ip, malformed, too_many_vlans);
        add_fields!(self.defrag, o.defrag;
            fragments, reassembled, timeouts, cap_drops, malformed, duplicates);
        add_fields!(self.reassembly, o.reassembly; out_of_order, retransmissions, overlaps, gaps,
            gap_bytes, cap_drops, out_of_window, resyncs);
        add_fields!(self.pipeline, o.pipeline; flows_created, flow_reports, flows_timed_out,
            sessions, pending_overflows, unclaimed_packets, flows_active, dropped_by_processors,
            ignored_outgoing);
        for (id, p) in &o.protocols {
            match self.protocols.iter_mut().find(|(i, _)| i == id) {
                Some((_, mine)) => {
                    add_fields!(mine, p; transactions, unmatched_requests, unmatched_responses,
                        anomalies, gave_up, gaps);
                }
                None => self.protocols.push((*id, p.clone())),
            }
        }
    }

    /// Human-readable multi-line text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "sensor summary");
        let _ = writeln!(
            s,
            "  packets      frames={} ip={} not_ip={} malformed={} unsupported_link={}",
            self.files.frames,
            self.decode.ip_packets,
            self.decode.not_ip,
            self.decode.malformed,
            self.files.unsupported_link
        );
        let _ = writeln!(
            s,
            "  fragments    received={} reassembled={} duplicates={} timeouts={} cap_drops={} malformed={}",
            self.defrag.fragments,
            self.defrag.reassembled,
            self.defrag.duplicates,
            self.defrag.timeouts,
            self.defrag.cap_drops,
            self.defrag.malformed
        );
        let _ = writeln!(
            s,
            "  flows        created={} reports={} timed_out={} sessions={} unclaimed_packets={}",
            self.pipeline.flows_created,
            self.pipeline.flow_reports,
            self.pipeline.flows_timed_out,
            self.pipeline.sessions,
            self.pipeline.unclaimed_packets
        );
        let _ = writeln!(
            s,
            "  reassembly   out_of_order={} retransmissions={} overlaps={} gaps={} gap_bytes={} cap_gaps={} out_of_window={} resyncs={} pending_overflows={}",
            self.reassembly.out_of_order,
            self.reassembly.retransmissions,
            self.reassembly.overlaps,
            self.reassembly.gaps,
            self.reassembly.gap_bytes,
            self.reassembly.cap_drops,
            self.reassembly.out_of_window,
            self.reassembly.resyncs,
            self.pipeline.pending_overflows
        );
        for (id, p) in &self.protocols {
            let _ = writeln!(
                s,
                "  {:<12} transactions={} unmatched_requests={} unmatched_responses={} anomalies={} gaps={} gave_up={}",
                id.name(),
                p.transactions,
                p.unmatched_requests,
                p.unmatched_responses,
                p.anomalies,
                p.gaps,
                p.gave_up
            );
        }
        let o = &self.output;
        let _ = write!(s, "  output       events={} failed={}", o.events, o.failed);
        if o.kafka {
            let _ = write!(
                s,
                " kafka produced={} acked={} retried={} resent={} spooled={} replayed={} dropped={} queue_depth={} spool_events={} spool_bytes={} rtt_us={} errors={}",
                o.produced,
                o.acked,
                o.retried,
                o.resent,
                o.spooled,
                o.replayed,
                o.dropped,
                o.queue_depth,
                o.spool_events,
                o.spool_bytes,
                o.rtt_us,
                o.errors
            );
        }
        let _ = writeln!(s);
        s
    }
}

/// How often live counters are published to the [`registry::Telemetry`].
pub const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Wall-clock schedule of a publisher: counters every [`PUBLISH_EVERY`], the stats event every
/// `logging.metrics.period` (when enabled).
#[derive(Debug)]
pub struct Ticker {
    next_publish: std::time::Instant,
    next_stats: Option<std::time::Instant>,
    period: std::time::Duration,
}

impl Ticker {
    /// A schedule starting now.
    pub fn new(metrics: &crate::config::MetricsConfig) -> Ticker {
        let now = std::time::Instant::now();
        Ticker {
            next_publish: now + PUBLISH_EVERY,
            next_stats: metrics.enabled.then(|| now + metrics.period),
            period: metrics.period,
        }
    }

    /// (publish counters now, publish a stats event now).
    pub fn due(&mut self) -> (bool, bool) {
        let now = std::time::Instant::now();
        let publish = now >= self.next_publish;
        if publish {
            self.next_publish = now + PUBLISH_EVERY;
        }
        let stats = match self.next_stats {
            Some(t) if now >= t => {
                self.next_stats = Some(now + self.period);
                true
            }
            _ => false,
        };
        (publish || stats, stats)
    }

    /// The stats event period in milliseconds.
    pub fn period_ms(&self) -> u64 {
        u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX)
    }
}

/// The stats event now, from everything published to `t` (counts it).
pub fn stats_event(
    t: &registry::Telemetry,
    period_ms: u64,
) -> serde_json::Map<String, serde_json::Value> {
    t.count_stats_event();
    expose::stats_event(&t.samples(), crate::time::Ts::now(), period_ms)
}

/// Start the monitoring endpoint when `http.enabled`.
pub fn serve_if_enabled(
    cfg: &crate::config::Config,
    t: &std::sync::Arc<registry::Telemetry>,
) -> anyhow::Result<Option<http::Server>> {
    spawn_http(bind_if_enabled(cfg)?, t)
}

/// Bind the monitoring endpoint's socket when `http.enabled`.
pub fn bind_if_enabled(
    cfg: &crate::config::Config,
) -> anyhow::Result<Option<std::net::TcpListener>> {
    if !cfg.http.enabled {
        return Ok(None);
    }
    http::bind(&cfg.http.host, cfg.http.port).map(Some)
}

/// Serve a socket from [`bind_if_enabled`].
pub fn spawn_http(
    l: Option<std::net::TcpListener>,
    t: &std::sync::Arc<registry::Telemetry>,
) -> anyhow::Result<Option<http::Server>> {
    let Some(l) = l else {
        return Ok(None);
    };
    let s = http::spawn(l, t.clone())?;
    eprintln!("sensor: monitoring endpoint on http://{}/metrics", s.addr);
    Ok(Some(s))
}
