//! Live workers: one thread per NIC RX queue, pinned to a core, each with its own AF_XDP socket and
//! its own shared-nothing [`Pipeline`]. Encoded events go in batches over a bounded channel to
//! the single output thread (backpressure: a full channel blocks the worker, and the kernel then
//! counts ring drops — visible in the AF_XDP statistics).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::afxdp::{XskQueue, XskStats};
use crate::config::Config;
use crate::decode::LinkType;
use crate::output::Output;
use crate::pipeline::handoff::{Handoff, HandoffStats};
use crate::pipeline::Pipeline;
use crate::telemetry::registry::{Telemetry, WorkerView};
use crate::telemetry::{Summary, PUBLISH_EVERY};
use crate::time::Ts;

/// Event bytes a worker collects before handing a batch to the output thread.
const BATCH_BYTES: usize = 256 << 10;

/// Batches in flight per worker before the worker blocks: bounds memory at
/// `workers × OUTPUT_QUEUE × BATCH_BYTES`.
pub const OUTPUT_QUEUE: usize = 64;

/// Longest time an event waits in a worker's batch.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Poll timeout of the RX ring: how often an idle worker looks at the clock and the stop flag.
const POLL_MS: i32 = 100;
/// Poll timeout with several workers: frames handed over by the others wait at most this long.
const POLL_MS_HANDOFF: i32 = 5;

/// A `Write` that sends whole batches of NDJSON lines to the output thread.
pub struct ChannelWriter {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
}

impl ChannelWriter {
    /// A writer feeding `tx`.
    pub fn new(tx: SyncSender<Vec<u8>>) -> Self {
        ChannelWriter {
            buf: Vec::with_capacity(BATCH_BYTES),
            tx,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH_BYTES));
        self.tx
            .send(batch)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the output thread has stopped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BATCH_BYTES && data.last() == Some(&b'\n') {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The output thread: writes every line of every batch to `out` until all senders are gone,
/// publishing the output counters to `tel` about once a second.
pub fn drain_batches(rx: Receiver<Vec<u8>>, out: &mut Output, tel: &Telemetry) {
    let mut next = Instant::now();
    loop {
        match rx.recv_timeout(PUBLISH_EVERY) {
            Ok(batch) => {
                for line in batch.split(|b| *b == b'\n') {
                    if !line.is_empty() {
                        out.write(line);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next {
            tel.set_output(&out.stats);
            next = Instant::now() + PUBLISH_EVERY;
            if out.broken() && tel.is_healthy() {
                tel.set_unhealthy("writing events failed".into());
            }
        }
    }
    let _ = out.flush();
    tel.set_output(&out.stats);
}

/// A live worker's connections to the rest of the sensor.
pub struct WorkerLinks {
    /// Set on SIGINT/SIGTERM (and by a worker whose socket failed).
    pub stop: Arc<AtomicBool>,
    /// Where counters are published.
    pub tel: Arc<Telemetry>,
    /// This worker's index (its queue's).
    pub index: usize,
    /// Reloaded configurations (SIGHUP).
    pub reconfig: Receiver<Config>,
    /// Frames for and from the other workers.
    pub handoff: Handoff,
    /// Connections for the kernel's bypass map.
    pub bypass: std::sync::mpsc::Sender<sensor_common::FlowKey>,
}

/// What a worker reports when it stops.
#[derive(Debug, Default)]
pub struct WorkerReport {
    /// RX queue.
    pub queue: u32,
    /// Pipeline counters.
    pub summary: Summary,
    /// AF_XDP socket statistics.
    pub xsk: XskStats,
    /// Frames received.
    pub frames: u64,
    /// Hand-off between workers.
    pub handoff: HandoffStats,
}

/// Pin the calling thread to `core` (best effort; counted in the report when it fails).
pub fn pin_to_core(core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it; pid 0 = this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Run one worker until `stop` is set: receive batches from `xsk`, feed `pipeline`, flush events
/// at least every [`FLUSH_EVERY`]. At the end every pending transaction is published.
pub fn run_worker(mut xsk: XskQueue, mut pipeline: Pipeline, links: WorkerLinks) -> WorkerReport {
    let WorkerLinks {
        stop,
        tel,
        index,
        reconfig,
        mut handoff,
        bypass,
    } = links;
    let mut last_flush = Instant::now();
    let mut next_publish = Instant::now();
    let queue = xsk.queue;
    let many = handoff.workers() > 1;
    let poll_ms = if many { POLL_MS_HANDOFF } else { POLL_MS };
    let publish =
        |xsk: &XskQueue, pipeline: &Pipeline, h: HandoffStats, summary: Option<Summary>| {
            tel.set_worker(
                index,
                WorkerView {
                    queue: Some(queue),
                    summary: summary.unwrap_or_else(|| pipeline.summary()),
                    xsk: Some(xsk.stats().unwrap_or_default()),
                    frames: xsk.frames,
                    handoff: h,
                },
            );
        };
    let mut batch_ts: Option<Ts> = None;
    while !stop.load(Ordering::Relaxed) {
        let r = xsk.recv_batch(poll_ms, &mut |frame| {
            // One clock read per batch (the first frame's), frames handed over first: they were
            // received by another worker before this batch (a request before its response).
            if many && batch_ts.is_none() {
                handoff.drain(&mut |ts, f, len| pipeline.frame(LinkType::Ethernet, ts, f, len));
            }
            let now = *batch_ts.get_or_insert_with(Ts::now);
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            if !many || handoff.route(now, frame, len) {
                pipeline.frame(LinkType::Ethernet, now, frame, len);
            }
        });
        batch_ts = None;
        for k in pipeline.take_bypass() {
            let _ = bypass.send(k);
        }
        if many {
            handoff.flush();
            handoff.drain(&mut |ts, frame, len| pipeline.frame(LinkType::Ethernet, ts, frame, len));
        }
        match r {
            Ok(0) => pipeline.idle(Ts::now()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("sensor: queue {queue}: receive failed: {e}; stopping the sensor");
                tel.set_unhealthy(format!("queue {queue}: receive failed: {e}"));
                stop.store(true, Ordering::SeqCst);
                break;
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            pipeline.flush_output();
            last_flush = Instant::now();
            while let Ok(c) = reconfig.try_recv() {
                pipeline.reconfigure(c);
            }
            if last_flush >= next_publish {
                publish(&xsk, &pipeline, handoff.stats, None);
                next_publish = last_flush + PUBLISH_EVERY;
            }
        }
    }
    // Frames the other workers still hold for this one arrive before the final flush.
    handoff.finish(&mut |ts, frame, len| pipeline.frame(LinkType::Ethernet, ts, frame, len));
    let summary = pipeline.finish();
    publish(&xsk, &pipeline, handoff.stats, Some(summary.clone()));
    WorkerReport {
        queue,
        summary,
        xsk: xsk.stats().unwrap_or_default(),
        frames: xsk.frames,
        handoff: handoff.stats,
    }
}

/// A pipeline for a live worker: its own flow reports off (the kernel map is the source of
/// truth for flow records in live mode), events into a channel writer.
pub fn worker_pipeline(cfg: &Config, tx: SyncSender<Vec<u8>>) -> Pipeline {
    let mut p = Pipeline::new(
        worker_config(cfg),
        Output::from_writer(Box::new(ChannelWriter::new(tx))),
    );
    p.collect_bypass();
    p
}

/// A live worker's configuration: `cfg` without flow reports (the kernel map reports flows).
pub fn worker_config(cfg: &Config) -> Config {
    let mut cfg = cfg.clone();
    cfg.flows.enabled = false;
    cfg
}

/// The bounded channel every worker sends its event batches into (clone the sender per worker).
pub fn output_channel() -> (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) {
    sync_channel(OUTPUT_QUEUE)
}
