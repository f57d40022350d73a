//! Every capture under ../shared/corpus/public (peers' test suites, some deliberately broken)
//! replays without a panic; broken ones end in a clear error or counted anomalies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use sensor::config::Config;
use sensor_tests::{corpus, pcaps, read_frames, run_frames};

#[test]
fn public_captures_never_panic() {
    let files = pcaps(&corpus().join("public"));
    assert!(
        files.len() > 50,
        "expected the public captures, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let (mut errors, mut frames_total, mut events) = (0, 0usize, 0usize);
    for f in &files {
        let r = std::panic::catch_unwind(|| {
            let (frames, err) = read_frames(f);
            let n = frames.len();
            let (lines, summary) = run_frames(Config::default(), &frames);
            for l in &lines {
                serde_json::from_str::<serde_json::Value>(l).expect("every event is JSON");
            }
            (n, lines.len(), err, summary)
        });
        match r {
            Ok((n, e, err, _summary)) => {
                frames_total += n;
                events += e;
                if err.is_some() {
                    errors += 1;
                }
            }
            Err(_) => failures.push(f.display().to_string()),
        }
    }
    eprintln!(
        "public captures: {} files, {frames_total} frames, {events} events, {errors} read errors",
        files.len()
    );
    assert!(failures.is_empty(), "panicked on: {failures:#?}");
    assert!(events > 0);
}
