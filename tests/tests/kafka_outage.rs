//! Broker outage in the middle of a replay: the broker (sqlite storage) is stopped for 35 s while
//! events keep coming (throttled input), then restarted. Nothing may be lost; duplicates are
//! allowed only within the documented window (events purged or failed while in flight), which the
//! sink counts as `resent`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

mod common_kafka;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common_kafka::{compare, consume_all, create_topics, dataset, temp_dir, Broker};
use sensor::config::Config;
use sensor::output::{Output, OutputTarget};
use sensor::pipeline::Pipeline;
use sensor_tests::{corpus, pcaps, read_frames, run_frames, Frame};

/// How long the broker stays down.
const OUTAGE: Duration = Duration::from_secs(35);
/// Over how long the events of the outage phase are fed (slow input).
const FEED_DURING_OUTAGE: Duration = Duration::from_secs(10);

#[test]
fn broker_outage_loses_nothing() {
    let mut frames: Vec<Frame> = Vec::new();
    for f in pcaps(&corpus()) {
        frames.extend(read_frames(&f).0);
    }
    let expected = run_frames(Config::default(), &frames).0;
    let mut broker = Broker::start("outage");
    let topics: Vec<String> = expected
        .iter()
        .map(|l| format!("sensor-{}", dataset(l)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    create_topics(&broker.addr(), &topics, 2);

    let dir = temp_dir("kafka-outage");
    // A small producer queue so the outage overflows into the spool.
    let yaml = format!(
        "output.kafka:\n  hosts: [\"{}\"]\n  topic: 'sensor-%{{[event.dataset]}}'\n  queue.max_messages: 20\n  backoff: {{init: 200ms, max: 2s}}\n  flush_timeout: 60s\n  spool.path: {}\n",
        broker.addr(),
        dir.join("spool").display()
    );
    let kcfg = Config::from_yaml(&yaml).unwrap().output.kafka;
    let out =
        Output::open_configured(&OutputTarget::Kafka { hosts: Vec::new() }, kcfg.as_ref()).unwrap();

    let n = frames.len();
    let (a, b) = (n / 3, 2 * n / 3);
    let (to_main, from_feeder) = mpsc::channel::<&'static str>();
    let (to_feeder, from_main) = mpsc::channel::<()>();
    let feeder = std::thread::spawn(move || {
        let mut p = Pipeline::new(Config::default(), out);
        for f in &frames[..a] {
            p.frame(f.link, f.ts, &f.data, f.wire_len);
        }
        let after_a = p.output().stats.events;
        to_main.send("A").unwrap();
        from_main.recv().unwrap();
        let step = FEED_DURING_OUTAGE / u32::try_from(b - a).unwrap();
        for f in &frames[a..b] {
            p.frame(f.link, f.ts, &f.data, f.wire_len);
            std::thread::sleep(step);
        }
        let after_b = p.output().stats.events;
        to_main.send("B").unwrap();
        from_main.recv().unwrap();
        for f in &frames[b..] {
            p.frame(f.link, f.ts, &f.data, f.wire_len);
        }
        let s = p.finish();
        (s, after_a, after_b)
    });
    assert_eq!(from_feeder.recv().unwrap(), "A");
    std::thread::sleep(Duration::from_secs(1));
    broker.stop();
    let down = Instant::now();
    to_feeder.send(()).unwrap();
    assert_eq!(from_feeder.recv().unwrap(), "B");
    if let Some(rest) = OUTAGE.checked_sub(down.elapsed()) {
        std::thread::sleep(rest);
    }
    broker.restart();
    eprintln!("broker was down for {:?}", down.elapsed());
    to_feeder.send(()).unwrap();
    let (summary, after_a, after_b) = feeder.join().unwrap();
    let o = &summary.output;
    eprintln!("{}", summary.render().lines().last().unwrap_or_default());
    eprintln!(
        "events: {after_a} before the outage, {} during, {} after",
        after_b - after_a,
        o.events - after_b
    );
    assert_eq!(o.events as usize, expected.len());
    assert!(
        after_b - after_a > 20,
        "the outage phase must overflow the queue"
    );
    assert!(
        o.spooled > 0,
        "the outage should have used the spool: {o:?}"
    );
    assert_eq!(o.dropped, 0, "{o:?}");
    assert_eq!(o.spool_events, 0, "spool fully replayed: {o:?}");

    let got = consume_all(
        &broker.addr(),
        &topics,
        expected.len(),
        Duration::from_secs(3),
        Duration::from_secs(90),
    );
    let (missing, dups, unexpected) = compare(&expected, &got);
    eprintln!(
        "expected {} consumed {} missing {missing} duplicates {dups} resent {}",
        expected.len(),
        got.len(),
        o.resent
    );
    assert_eq!(missing, 0, "events lost");
    assert_eq!(unexpected, 0);
    assert!(
        dups as u64 <= o.resent,
        "duplicates ({dups}) outside the counted window (resent {})",
        o.resent
    );
    let _ = std::fs::remove_dir_all(&dir);
}
