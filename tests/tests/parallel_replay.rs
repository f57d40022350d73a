//! Parallel replay (reader + N workers by symmetric IP-pair hash) publishes exactly the events
//! of a single-threaded replay — same lines, only their order across connections differs — for
//! every capture of the corpus and the peers' captures, and for the whole corpus as one stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sensor::config::{Config, MetricsConfig};
use sensor::output::Output;
use sensor::telemetry::registry::Telemetry;
use sensor::telemetry::Ticker;
use sensor_tests::{corpus, pcaps, read_frames, run_frames, Shared};

fn parallel(files: &[PathBuf], n: usize) -> Vec<String> {
    let buf = Shared::default();
    let tel = Telemetry::new(n);
    let mut ticker = Ticker::new(&MetricsConfig {
        enabled: false,
        ..MetricsConfig::default()
    });
    let o = sensor::replay::parallel(
        files,
        &Config::default(),
        Output::from_writer(Box::new(buf.clone())),
        n,
        &tel,
        &mut ticker,
        &Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let mut v: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(
        o.output.stats.events as usize,
        v.len(),
        "every event counted once"
    );
    v.sort();
    v
}

fn single(files: &[PathBuf]) -> Vec<String> {
    let mut frames = Vec::new();
    for f in files {
        frames.extend(read_frames(f).0);
    }
    let mut v = run_frames(Config::default(), &frames).0;
    v.sort();
    v
}

#[test]
fn every_capture_gives_the_same_events_with_several_workers() {
    let mut files = pcaps(&corpus());
    files.extend(pcaps(&corpus().join("public")));
    assert!(
        files.len() > 20,
        "corpus not found at {}",
        corpus().display()
    );
    let mut checked = 0;
    for f in &files {
        let want = single(std::slice::from_ref(f));
        for n in [2, 3] {
            assert_eq!(
                parallel(std::slice::from_ref(f), n),
                want,
                "{} with {n} workers",
                f.display()
            );
        }
        checked += 1;
    }
    eprintln!("parallel replay: {checked} captures identical with 2 and 3 workers");
}

#[test]
fn the_whole_corpus_as_one_stream() {
    let files = pcaps(&corpus());
    assert_eq!(parallel(&files, 4), single(&files));
}
