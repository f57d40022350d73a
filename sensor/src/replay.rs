//! Replaying capture files: [`sequential`] (one pipeline, events in capture order) and
//! [`parallel`].
//!
//! Parallel replay: one reader thread, `N` pipeline workers, one output thread. The reader gives
//! each frame to the worker owning its IP address pair (the symmetric hash live capture uses
//! for hand-off), so every packet of a connection — both directions, all fragments, a DNS
//! UDP→TCP fallback — is parsed by one worker, in capture order. Frames go in batches over
//! bounded channels (backpressure, no loss). The reader keeps the timer schedule a single
//! pipeline would ([`Clock`]) and puts its events (start, ticks, the final time) in every
//! worker's stream at their place between the frames, so flow timeouts, periodic reports and
//! transaction timeouts fire at the same packet times in every worker. The events are exactly
//! those of a single-threaded replay; only their order across connections differs (EVENTS.md:
//! order is free).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::capture::pcap::{self, CaptureError, FileStats};
use crate::config::Config;
use crate::decode::LinkType;
use crate::output::Output;
use crate::pipeline::handoff::{route_link, Batch, Part, Route};
use crate::pipeline::worker::{self, ChannelWriter};
use crate::pipeline::{Clock, ClockEvent, Pipeline};
use crate::telemetry::registry::{Telemetry, WorkerView};
use crate::telemetry::{self, Summary, Ticker, PUBLISH_EVERY};
use crate::time::Ts;

/// Frames per batch sent to a worker.
const BATCH: usize = 256;
/// Batches queued per worker before the reader waits.
const QUEUE: usize = 32;
fn run_worker(i: usize, rx: Receiver<Batch>, mut p: Pipeline, tel: Arc<Telemetry>) -> Summary {
    let mut next = Instant::now() + PUBLISH_EVERY;
    p.set_external_clock();
    for batch in rx {
        let mut now = false;
        batch.for_each_frame(&mut |link, ts, data, wl, part| match part {
            Part::ClockStart => p.clock_start(ts),
            Part::ClockTick => p.clock_tick(ts),
            Part::ClockSet => p.clock_set(ts),
            Part::Publish => now = true,
            Part::All | Part::Flow | Part::App => p.frame_part(link, ts, data, wl, part),
        });
        if now || Instant::now() >= next {
            // Events reach the output at least this often (a replay of a FIFO is a live view).
            p.flush_output();
            next = Instant::now() + PUBLISH_EVERY;
            tel.set_worker(
                i,
                WorkerView {
                    summary: p.summary(),
                    ..WorkerView::default()
                },
            );
        }
    }
    let s = p.finish();
    tel.set_worker(
        i,
        WorkerView {
            summary: s.clone(),
            ..WorkerView::default()
        },
    );
    s
}

/// Add a finished file's counters, or keep its error (reported once, the first one returned).
fn account(
    r: Result<FileStats, CaptureError>,
    files: &mut FileStats,
    first_error: &mut Option<CaptureError>,
) {
    match r {
        Ok(s) => {
            files.frames += s.frames;
            files.unsupported_link += s.unsupported_link;
        }
        Err(e) => {
            eprintln!("sensor: error: {e}");
            first_error.get_or_insert(e);
        }
    }
}

/// Replay `files` through one pipeline in this thread.
pub fn sequential(
    files: &[PathBuf],
    cfg: Config,
    out: Output,
    tel: &Telemetry,
    ticker: &mut Ticker,
    stop: &AtomicBool,
) -> Outcome {
    let mut p = Pipeline::new(cfg, out);
    let mut files_stats = FileStats::default();
    let mut first_error = None;
    let mut frames = 0u64;
    for f in files {
        let r = pcap::read_file(f, &mut |link, ts, data, wire_len| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            p.frame(link, ts, data, wire_len);
            frames += 1;
            // The clock is read once per 256 frames.
            if frames.is_multiple_of(256) {
                let seen = FileStats {
                    frames: files_stats.frames + frames,
                    ..files_stats.clone()
                };
                publish_one(tel, ticker, &mut p, &seen, false);
            }
        });
        frames = 0;
        account(r, &mut files_stats, &mut first_error);
        // Each finished file is published at once (a live view when files come from FIFOs).
        publish_one(tel, ticker, &mut p, &files_stats, true);
        if p.output().broken() || stop.load(Ordering::Relaxed) {
            break;
        }
    }
    let mut summary = p.finish();
    summary.files = files_stats.clone();
    tel.set_files(&files_stats);
    tel.set_output(&p.output().stats);
    tel.set_worker(
        0,
        WorkerView {
            summary: summary.clone(),
            frames: files_stats.frames,
            ..WorkerView::default()
        },
    );
    Outcome {
        summary,
        first_error,
        stopped: stop.load(Ordering::Relaxed),
        output: p.into_output(),
    }
}

/// One pipeline: publish the counters and, when due, the stats event through its output.
fn publish_one(
    tel: &Telemetry,
    ticker: &mut Ticker,
    p: &mut Pipeline,
    files: &FileStats,
    force: bool,
) {
    let (counters, stats) = ticker.due();
    if !counters && !force {
        return;
    }
    tel.set_files(files);
    tel.set_output(&p.output().stats);
    tel.set_worker(
        0,
        WorkerView {
            summary: p.summary(),
            frames: files.frames,
            ..WorkerView::default()
        },
    );
    if stats {
        let ev = telemetry::stats_event(tel, ticker.period_ms());
        p.emit_value(&ev);
    }
}

/// The reader's share of the telemetry: the file counters, and the stats event when due.
fn due(
    tel: &Telemetry,
    ticker: &mut Ticker,
    w: &mut ChannelWriter,
    enc: &mut crate::ecs::Encoder,
    files: &FileStats,
) {
    let (counters, stats) = ticker.due();
    if counters {
        tel.set_files(files);
    }
    if stats {
        let ev = telemetry::stats_event(tel, ticker.period_ms());
        let _ = std::io::Write::write_all(w, enc.value(&ev));
        let _ = std::io::Write::write_all(w, b"\n");
        let _ = std::io::Write::flush(w);
    }
}

/// The outcome of a parallel replay.
pub struct Outcome {
    /// Every worker's counters added, plus the files'.
    pub summary: Summary,
    /// The first capture-file error.
    pub first_error: Option<CaptureError>,
    /// Stopped by a signal.
    pub stopped: bool,
    /// The output (flushed).
    pub output: Output,
}

/// Replay `files` with `n` workers.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces cli::replay already built"
)]
pub fn parallel(
    files: &[PathBuf],
    cfg: &Config,
    mut out: Output,
    n: usize,
    tel: &Arc<Telemetry>,
    ticker: &mut Ticker,
    stop: &Arc<AtomicBool>,
) -> Result<Outcome> {
    let (otx, orx) = worker::output_channel();
    let out_tel = tel.clone();
    let out_thread = std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            worker::drain_batches(orx, &mut out, &out_tel);
            out
        })?;
    let mut senders: Vec<SyncSender<Batch>> = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = sync_channel::<Batch>(QUEUE);
        senders.push(tx);
        let p = Pipeline::new(
            cfg.clone(),
            Output::from_writer(Box::new(ChannelWriter::new(otx.clone()))),
        );
        let tel = tel.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("replay-{i}"))
                .spawn(move || run_worker(i, rx, p, tel))?,
        );
    }
    let mut stats_writer = ChannelWriter::new(otx.clone());
    let mut enc = crate::ecs::Encoder::new(Default::default());
    drop(otx);

    let mut pending: Vec<Batch> = (0..n).map(|_| Batch::default()).collect();
    let mut files_stats = FileStats::default();
    let mut first_error = None;
    let mut clock = Clock::default();
    let mut frames = 0u64;
    let mut dead = false;
    let send = |senders: &[SyncSender<Batch>], o: usize, batch: Batch| -> bool {
        senders.get(o).is_some_and(|s| s.send(batch).is_ok())
    };
    // Queue an entry for worker `o`; a full batch is sent.
    let push = |pending: &mut Vec<Batch>,
                o: usize,
                link: LinkType,
                ts: Ts,
                data: &[u8],
                wire_len: u32,
                part: Part|
     -> bool {
        let Some(b) = pending.get_mut(o) else {
            return true;
        };
        b.push(link, ts, data, wire_len, part);
        if b.len() < BATCH {
            return true;
        }
        send(&senders, o, std::mem::take(b))
    };
    for f in files {
        let r = pcap::read_file(f, &mut |link, ts, data, wire_len| {
            if dead || stop.load(Ordering::Relaxed) {
                return;
            }
            let marker = match clock.packet(ts) {
                Some(ClockEvent::Start(t)) => Some((t, Part::ClockStart)),
                Some(ClockEvent::Tick(t)) => Some((t, Part::ClockTick)),
                None => None,
            };
            if let Some((t, part)) = marker {
                for w in 0..n {
                    dead |= !push(&mut pending, w, link, t, &[], 0, part);
                }
            }
            match route_link(link, data, n, 0) {
                Route::One(o) => {
                    dead |= !push(&mut pending, o, link, ts, data, wire_len, Part::All)
                }
                Route::Split { flow, app } => {
                    dead |= !push(&mut pending, flow, link, ts, data, wire_len, Part::Flow);
                    dead |= !push(&mut pending, app, link, ts, data, wire_len, Part::App);
                }
            }
            frames += 1;
            if frames.is_multiple_of(256) {
                let seen = FileStats {
                    frames: files_stats.frames + frames,
                    ..files_stats.clone()
                };
                due(tel, ticker, &mut stats_writer, &mut enc, &seen);
                dead |= !tel.is_healthy();
            }
        });
        frames = 0;
        account(r, &mut files_stats, &mut first_error);
        tel.set_files(&files_stats);
        due(tel, ticker, &mut stats_writer, &mut enc, &files_stats);
        // Each finished file is published at once (a live view when files come from FIFOs).
        for (w, b) in pending.iter_mut().enumerate() {
            b.push(LinkType::Ethernet, clock.now(), &[], 0, Part::Publish);
            dead |= !send(&senders, w, std::mem::take(b));
        }
        if dead || stop.load(Ordering::Relaxed) {
            break;
        }
    }
    // Every worker ends at the stream's last time, as a single pipeline would.
    for w in 0..n {
        push(
            &mut pending,
            w,
            LinkType::Ethernet,
            clock.now(),
            &[],
            0,
            Part::ClockSet,
        );
    }
    for (o, b) in pending.into_iter().enumerate() {
        send(&senders, o, b);
    }
    drop(senders);
    drop(stats_writer);
    let mut summary = Summary::default();
    for h in handles {
        let s = h.join().map_err(|_| anyhow!("a replay worker panicked"))?;
        summary.add(&s);
    }
    summary.files = files_stats;
    let mut output = out_thread
        .join()
        .map_err(|_| anyhow!("the output thread panicked"))?;
    let _ = output.flush();
    summary.output = output.stats.clone();
    Ok(Outcome {
        summary,
        first_error,
        stopped: stop.load(Ordering::Relaxed),
        output,
    })
}
