//! The live view of every counter: workers, the output thread and the capture loop publish
//! snapshots here (about once a second); the metrics endpoint and the periodic stats event read
//! them as one list of [`Sample`]s, so both always show the same numbers under the same names.
//!
//! Naming convention (README, "Metrics"): `sensor_<stage>_<thing>_<unit>`, counters end in
//! `_total` (Prometheus), gauges do not; the stage is one of `capture`, `afxdp`, `handoff`, `xdp`,
//! `decode`, `defrag`, `flow`, `reassembly`, `session`, `protocol`, `processors`, `output`,
//! `config`, `process`. Label
//! values name the instance (`queue`, `protocol`) or the kind (`verdict`, `result`, `kind`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::capture::afxdp::XskStats;
use crate::capture::pcap::FileStats;
use crate::capture::xdp::XdpStats;
use crate::output::OutputStats;

use super::Summary;

/// Counter (monotonic) or gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One time series value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: &'static str,
    /// One-line description.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// At most one label (name, value).
    pub label: Option<(&'static str, String)>,
    /// Value.
    pub value: f64,
}

/// What one worker last published.
#[derive(Clone, Debug, Default)]
pub struct WorkerView {
    /// RX queue (live capture).
    pub queue: Option<u32>,
    /// Pipeline counters.
    pub summary: Summary,
    /// AF_XDP socket statistics (live capture).
    pub xsk: Option<XskStats>,
    /// Frames received by this worker.
    pub frames: u64,
    /// Hand-off between workers (asymmetric RSS).
    pub handoff: crate::pipeline::handoff::HandoffStats,
}

/// Kernel flow map reporter counters (live capture).
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelFlowView {
    /// Entries in the map at the last poll.
    pub active: u64,
    /// Final reports published.
    pub finals: u64,
    /// Entries evicted by the LRU before their final report.
    pub evicted: u64,
    /// Failed reads of the map.
    pub read_errors: u64,
    /// Connections put in the bypass map (their dissector gave up).
    pub bypassed: u64,
}

#[derive(Default)]
struct State {
    workers: Vec<WorkerView>,
    output: OutputStats,
    files: FileStats,
    xdp: Option<XdpStats>,
    kernel: Option<KernelFlowView>,
    stats_events: u64,
    reloads_ok: u64,
    reloads_failed: u64,
}

/// Shared between the threads of one sensor process.
pub struct Telemetry {
    started: Instant,
    started_unix: f64,
    ready: AtomicBool,
    healthy: AtomicBool,
    problem: Mutex<Option<String>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .field("healthy", &self.healthy.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A registry with `workers` worker slots; not ready, healthy.
    pub fn new(workers: usize) -> Arc<Telemetry> {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Arc::new(Telemetry {
            started: Instant::now(),
            started_unix,
            ready: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            problem: Mutex::new(None),
            state: Mutex::new(State {
                workers: vec![WorkerView::default(); workers.max(1)],
                ..State::default()
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking publisher cannot leave the plain-data state inconsistent: keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Capture is running (XDP attached and sockets open, or the replay started).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// True between start-up and shutdown.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.is_healthy()
    }

    /// Mark the process unhealthy (a worker died, the output thread stopped): `/healthz` fails.
    pub fn set_unhealthy(&self, why: String) {
        self.healthy.store(false, Ordering::SeqCst);
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// True unless [`Telemetry::set_unhealthy`] was called.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Why the process is unhealthy.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Publish worker `i`'s counters.
    pub fn set_worker(&self, i: usize, v: WorkerView) {
        let mut s = self.state();
        if s.workers.len() <= i {
            s.workers.resize(i + 1, WorkerView::default());
        }
        if let Some(slot) = s.workers.get_mut(i) {
            *slot = v;
        }
    }

    /// Publish the output counters.
    pub fn set_output(&self, o: &OutputStats) {
        self.state().output = o.clone();
    }

    /// Publish the capture-file counters (replay).
    pub fn set_files(&self, f: &FileStats) {
        self.state().files = f.clone();
    }

    /// Publish the XDP program's counters (live capture).
    pub fn set_xdp(&self, x: XdpStats) {
        self.state().xdp = Some(x);
    }

    /// Publish the kernel flow reporter's counters (live capture).
    pub fn set_kernel_flows(&self, k: KernelFlowView) {
        self.state().kernel = Some(k);
    }

    /// Count a configuration reload (SIGHUP).
    pub fn count_reload(&self, ok: bool) {
        let mut s = self.state();
        if ok {
            s.reloads_ok += 1;
        } else {
            s.reloads_failed += 1;
        }
    }

    /// Count one published stats event.
    pub fn count_stats_event(&self) {
        self.state().stats_events += 1;
    }

    /// Every metric now, in a stable order (label variants of one metric adjacent).
    pub fn samples(&self) -> Vec<Sample> {
        let s = self.state();
        let mut out = Samples::default();
        samples_workers(&mut out, &s);
        samples_xdp(&mut out, &s);
        samples_output(&mut out, &s.output);
        out.counter(
            "sensor_output_stats_events_total",
            "Periodic stats events published",
            None,
            s.stats_events,
        );
        out.kinds(
            "sensor_config_reloads_total",
            "Configuration reloads (SIGHUP) by result",
            "result",
            &[("ok", s.reloads_ok), ("failed", s.reloads_failed)],
        );
        drop(s);
        samples_process(&mut out, self);
        out.merged()
    }
}

/// Builder: adds samples and sums repeated (name, label) pairs (one per worker).
#[derive(Default)]
struct Samples {
    v: Vec<Sample>,
}

impl Samples {
    fn push(&mut self, s: Sample) {
        if let Some(e) = self
            .v
            .iter_mut()
            .find(|e| e.name == s.name && e.label == s.label)
        {
            e.value += s.value;
        } else {
            self.v.push(s);
        }
    }

    fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        label: Option<(&'static str, String)>,
        v: u64,
    ) {
        self.push(Sample {
            name,
            help,
            kind: Kind::Counter,
            label,
            value: v as f64,
        });
    }

    fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        label: Option<(&'static str, String)>,
        v: f64,
    ) {
        self.push(Sample {
            name,
            help,
            kind: Kind::Gauge,
            label,
            value: v,
        });
    }

    fn kinds(
        &mut self,
        name: &'static str,
        help: &'static str,
        key: &'static str,
        v: &[(&str, u64)],
    ) {
        for (k, n) in v {
            self.counter(name, help, Some((key, (*k).to_owned())), *n);
        }
    }

    /// Group label variants of a metric together (first appearance order).
    fn merged(self) -> Vec<Sample> {
        let mut order: Vec<&'static str> = Vec::new();
        for s in &self.v {
            if !order.contains(&s.name) {
                order.push(s.name);
            }
        }
        let mut out = Vec::with_capacity(self.v.len());
        for name in order {
            out.extend(self.v.iter().filter(|s| s.name == name).cloned());
        }
        out
    }
}

fn samples_workers(out: &mut Samples, s: &State) {
    out.counter(
        "sensor_capture_frames_total",
        "Frames read from capture files (replay)",
        None,
        s.files.frames,
    );
    out.counter(
        "sensor_capture_unsupported_link_frames_total",
        "Frames skipped: link type not decoded",
        None,
        s.files.unsupported_link,
    );
    for w in &s.workers {
        let q = w.queue.map(|q| ("queue", q.to_string()));
        if let Some(x) = &w.xsk {
            out.counter(
                "sensor_afxdp_rx_frames_total",
                "Frames received on the AF_XDP socket",
                q.clone(),
                w.frames,
            );
            out.counter(
                "sensor_afxdp_rx_dropped_frames_total",
                "Frames the kernel dropped for the socket (other than full rings)",
                q.clone(),
                x.rx_dropped,
            );
            out.counter(
                "sensor_afxdp_rx_ring_full_frames_total",
                "Frames dropped because the RX ring was full (worker too slow)",
                q.clone(),
                x.rx_ring_full,
            );
            out.counter(
                "sensor_afxdp_fill_ring_empty_frames_total",
                "Frames dropped because the fill ring was empty",
                q.clone(),
                x.rx_fill_ring_empty,
            );
            out.counter(
                "sensor_afxdp_rx_invalid_descs_total",
                "Invalid RX descriptors",
                q.clone(),
                x.rx_invalid_descs,
            );
            out.counter(
                "sensor_handoff_sent_frames_total",
                "Frames copied to the worker owning their connection",
                q.clone(),
                w.handoff.sent,
            );
            out.counter(
                "sensor_handoff_received_frames_total",
                "Frames received from other workers",
                q.clone(),
                w.handoff.received,
            );
            out.counter(
                "sensor_handoff_dropped_frames_total",
                "Frames lost because the owning worker's inbox was full",
                q.clone(),
                w.handoff.dropped,
            );
        }
        let sm = &w.summary;
        let d = &sm.decode;
        out.kinds(
            "sensor_decode_frames_total",
            "Frames decoded, by result",
            "result",
            &[
                ("ip", d.ip_packets),
                ("not_ip", d.not_ip),
                ("malformed", d.malformed),
                ("too_many_vlans", d.too_many_vlans),
            ],
        );
        let f = &sm.defrag;
        out.kinds(
            "sensor_defrag_fragments_total",
            "IP fragments and what became of their datagrams",
            "result",
            &[
                ("received", f.fragments),
                ("reassembled", f.reassembled),
                ("duplicate", f.duplicates),
                ("timeout", f.timeouts),
                ("cap_drop", f.cap_drops),
                ("malformed", f.malformed),
            ],
        );
        let p = &sm.pipeline;
        out.counter(
            "sensor_flow_created_flows_total",
            "Flows created in the worker flow tables",
            None,
            p.flows_created,
        );
        out.gauge(
            "sensor_flow_active_flows",
            "Flows in the worker flow tables",
            None,
            p.flows_active as f64,
        );
        out.counter(
            "sensor_flow_timed_out_flows_total",
            "Flows ended by the idle timeout",
            None,
            p.flows_timed_out,
        );
        out.counter(
            "sensor_flow_reports_events_total",
            "Flow events published by the workers (replay)",
            None,
            p.flow_reports,
        );
        out.counter(
            "sensor_flow_unclaimed_packets_total",
            "TCP/UDP packets on no enabled protocol's port (flows only)",
            None,
            p.unclaimed_packets,
        );
        out.counter(
            "sensor_processors_dropped_events_total",
            "Events dropped by processors (drop_event)",
            None,
            p.dropped_by_processors,
        );
        out.counter(
            "sensor_processors_ignored_outgoing_events_total",
            "Transactions dropped by ignore_outgoing",
            None,
            p.ignored_outgoing,
        );
        out.counter(
            "sensor_session_started_sessions_total",
            "Dissector sessions started",
            None,
            p.sessions,
        );
        out.counter(
            "sensor_session_pending_overflows_total",
            "Sessions given up because held bytes exceeded the cap",
            None,
            p.pending_overflows,
        );
        let r = &sm.reassembly;
        out.kinds(
            "sensor_reassembly_segments_total",
            "TCP segments needing reassembly work, by kind",
            "kind",
            &[
                ("out_of_order", r.out_of_order),
                ("retransmission", r.retransmissions),
                ("overlap", r.overlaps),
                ("out_of_window", r.out_of_window),
            ],
        );
        out.counter(
            "sensor_reassembly_gaps_total",
            "Gaps reported to dissectors",
            None,
            r.gaps,
        );
        out.counter(
            "sensor_reassembly_gap_bytes_total",
            "Bytes missing in gaps",
            None,
            r.gap_bytes,
        );
        out.counter(
            "sensor_reassembly_cap_drops_total",
            "Holes released as gaps because a buffer cap was hit",
            None,
            r.cap_drops,
        );
        out.counter(
            "sensor_reassembly_resyncs_total",
            "Streams resynchronised after out-of-window segments",
            None,
            r.resyncs,
        );
        for (id, ps) in &sm.protocols {
            let l = || Some(("protocol", id.name().to_owned()));
            out.counter(
                "sensor_protocol_transactions_total",
                "Transactions and messages published",
                l(),
                ps.transactions,
            );
            out.counter(
                "sensor_protocol_unmatched_requests_total",
                "Requests published without a response",
                l(),
                ps.unmatched_requests,
            );
            out.counter(
                "sensor_protocol_unmatched_responses_total",
                "Responses published without a request",
                l(),
                ps.unmatched_responses,
            );
            out.counter(
                "sensor_protocol_anomalies_total",
                "Malformed or unexpected protocol input",
                l(),
                ps.anomalies,
            );
            out.counter(
                "sensor_protocol_gaps_total",
                "Reassembly gaps seen by the dissector",
                l(),
                ps.gaps,
            );
            out.counter(
                "sensor_protocol_gave_up_sessions_total",
                "Sessions or directions the dissector gave up on",
                l(),
                ps.gave_up,
            );
        }
    }
}

fn samples_xdp(out: &mut Samples, s: &State) {
    if let Some(x) = &s.xdp {
        const VERDICTS: [&str; 5] = [
            "redirected",
            "redirect_failed",
            "passed",
            "dropped",
            "bypassed",
        ];
        for (name, v) in x.named() {
            if VERDICTS.contains(&name) {
                out.counter(
                    "sensor_xdp_verdict_packets_total",
                    "Packets by XDP verdict",
                    Some(("verdict", name.to_owned())),
                    v,
                );
            } else {
                out.counter(
                    "sensor_xdp_packets_total",
                    "Packets seen by the XDP/TC programs, by parse result",
                    Some(("kind", name.to_owned())),
                    v,
                );
            }
        }
    }
    if let Some(k) = &s.kernel {
        out.gauge(
            "sensor_flow_kernel_active_flows",
            "Entries in the kernel flow map",
            None,
            k.active as f64,
        );
        out.counter(
            "sensor_flow_kernel_final_reports_total",
            "Final flow reports from the kernel map",
            None,
            k.finals,
        );
        out.counter(
            "sensor_flow_kernel_evicted_flows_total",
            "Kernel flow entries evicted by the LRU before their final report",
            None,
            k.evicted,
        );
        out.counter(
            "sensor_flow_bypassed_flows_total",
            "Connections the kernel stopped redirecting (dissector gave up; still counted)",
            None,
            k.bypassed,
        );
        out.counter(
            "sensor_flow_kernel_read_errors_total",
            "Failed reads of the kernel flow map",
            None,
            k.read_errors,
        );
    }
}

fn samples_output(out: &mut Samples, o: &OutputStats) {
    out.counter(
        "sensor_output_events_total",
        "Events accepted by the output",
        None,
        o.events,
    );
    out.counter(
        "sensor_output_failed_events_total",
        "Events the output could not write or deliver",
        None,
        o.failed,
    );
    if !o.kafka {
        return;
    }
    out.kinds(
        "sensor_output_kafka_events_total",
        "Kafka records by stage",
        "stage",
        &[
            ("produced", o.produced),
            ("acked", o.acked),
            ("retried", o.retried),
            ("resent", o.resent),
            ("spooled", o.spooled),
            ("replayed", o.replayed),
            ("dropped", o.dropped),
        ],
    );
    out.gauge(
        "sensor_output_kafka_queue_events",
        "Records in the producer queue",
        None,
        o.queue_depth as f64,
    );
    out.gauge(
        "sensor_output_kafka_spool_events",
        "Records in the disk spool",
        None,
        o.spool_events as f64,
    );
    out.gauge(
        "sensor_output_kafka_spool_bytes",
        "Bytes in the disk spool",
        None,
        o.spool_bytes as f64,
    );
    out.gauge(
        "sensor_output_kafka_rtt_seconds",
        "Mean broker round-trip time",
        None,
        o.rtt_us as f64 / 1e6,
    );
    out.counter(
        "sensor_output_kafka_errors_total",
        "Client errors reported by librdkafka",
        None,
        o.errors,
    );
}

/// Resident set size of this process in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).unwrap_or(4096))
}

/// User + system CPU seconds of this process (`/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((utime + stime) / hz.max(1) as f64)
}

fn samples_process(out: &mut Samples, t: &Telemetry) {
    if let Some(r) = rss_bytes() {
        out.gauge(
            "sensor_process_resident_memory_bytes",
            "Resident set size",
            None,
            r as f64,
        );
    }
    if let Some(c) = cpu_seconds() {
        out.counter_f(
            "sensor_process_cpu_seconds_total",
            "User and system CPU time",
            c,
        );
    }
    out.gauge(
        "sensor_process_start_time_seconds",
        "Start time, seconds since the Unix epoch",
        None,
        t.started_unix,
    );
    out.gauge(
        "sensor_process_uptime_seconds",
        "Seconds since start",
        None,
        t.started.elapsed().as_secs_f64(),
    );
    out.gauge(
        "sensor_process_ready_state",
        "1 while capturing (what /readyz reports)",
        None,
        if t.is_ready() { 1.0 } else { 0.0 },
    );
}

impl Samples {
    fn counter_f(&mut self, name: &'static str, help: &'static str, v: f64) {
        self.push(Sample {
            name,
            help,
            kind: Kind::Counter,
            label: None,
            value: v,
        });
    }
}
