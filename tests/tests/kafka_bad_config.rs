//! Bad Kafka configurations: a clear error at start-up, or a counted, logged failure — never a
//! hang. And the spool written while the broker was unreachable is replayed on the next start.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

mod common_kafka;

use std::time::{Duration, Instant};

use common_kafka::{compare, consume_all, create_topics, free_port, temp_dir, Broker};
use sensor::cli::{replay, Common};
use sensor::config::Config;
use sensor::output::{Output, OutputTarget};
use sensor::pipeline::Pipeline;
use sensor_tests::{corpus, read_frames, run_frames};

fn open(yaml: &str) -> anyhow::Result<Output> {
    let cfg = Config::from_yaml(yaml)?;
    Output::open_configured(
        &OutputTarget::Kafka { hosts: Vec::new() },
        cfg.output.kafka.as_ref(),
    )
}

fn err(yaml: &str) -> String {
    match open(yaml) {
        Ok(_) => panic!("expected an error for {yaml}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn unknown_options_are_start_up_errors() {
    let e = err("output.kafka: {hosts: ['127.0.0.1:9092'], topik: x}");
    assert!(e.contains("unknown field `topik`"), "{e}");
    let e = err("output.kafka: {partition: {sticky: {}}}");
    assert!(e.contains("unknown field `sticky`"), "{e}");
    // An unknown librdkafka property is refused by librdkafka at start-up.
    let e = err("output.kafka: {hosts: ['127.0.0.1:9092'], librdkafka: {no.such.property: 1}, spool.enabled: false}");
    assert!(e.contains("no.such.property"), "{e}");
    let e = err("output.kafka: {ssl: {verification_mode: sometimes}}");
    assert!(e.contains("verification_mode"), "{e}");
    let e = err("output.kafka: {topics: [{when: {regexp: {a: b}}, topic: x}]}");
    assert!(e.contains("regexp"), "{e}");
}

/// Unreachable broker: start-up warns, the replay finishes in bounded time with every event
/// spooled; the next start (broker up) replays the spool first, then the new events.
#[test]
fn unreachable_broker_spools_then_next_start_replays() {
    let port = free_port();
    let dir = temp_dir("kafka-unreach");
    let spool = dir.join("spool");
    let yaml = format!(
        "output.kafka:\n  hosts: ['127.0.0.1:{port}']\n  topic: spooled\n  timeout: 2s\n  flush_timeout: 3s\n  spool.path: {}\n",
        spool.display()
    );
    let cfg_file = dir.join("sensor.yml");
    std::fs::write(&cfg_file, &yaml).unwrap();
    let file = corpus().join("dns/udp_record_types.pcap");
    let frames = read_frames(&file).0;
    let expected_once = run_frames(Config::default(), &frames).0;

    let t = Instant::now();
    let out = open(&yaml).unwrap();
    let mut p = Pipeline::new(Config::default(), out);
    for f in &frames {
        p.frame(f.link, f.ts, &f.data, f.wire_len);
    }
    let s = p.finish();
    drop(p);
    let took = t.elapsed();
    eprintln!("{}", s.render().lines().last().unwrap_or_default());
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(s.output.events as usize, expected_once.len());
    assert_eq!(s.output.acked, 0);
    assert_eq!(s.output.dropped, 0);
    assert_eq!(
        s.output.spool_events as usize,
        expected_once.len(),
        "{:?}",
        s.output
    );
    assert!(s.output.errors > 0, "connection failures are counted");

    // The broker appears on that port; the same replay again (through the CLI) first sends the
    // spooled events, then its own.
    let broker = Broker::start_on("unreach", port);
    create_topics(&broker.addr(), &["spooled".to_owned()], 1);
    let common = Common {
        config: Some(cfg_file),
        output: None,
        summary: true,
        set: Vec::new(),
    };
    replay(std::slice::from_ref(&file), &common).unwrap();
    let got = consume_all(
        &broker.addr(),
        &["spooled".to_owned()],
        2 * expected_once.len(),
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    let mut expected = expected_once.clone();
    expected.extend(expected_once.iter().cloned());
    assert_eq!(compare(&expected, &got), (0, 0, 0));
    // One partition: the order is the spool's (the first run) followed by the second run.
    let payloads: Vec<&str> = got.iter().map(|c| c.payload.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        payloads, want,
        "spooled events replayed in order, before new ones"
    );
    assert!(
        std::fs::read_dir(&spool).map_or(true, |mut d| d.next().is_none()),
        "spool emptied"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SASL credentials against a broker that does not do SASL (tansu): an error at start-up or a
/// counted failure, within bounded time.
#[test]
fn wrong_sasl_is_an_error_not_a_hang() {
    let broker = Broker::start("sasl");
    let dir = temp_dir("kafka-sasl");
    std::env::set_var("SENSOR_TEST_SASL_PASSWORD", "wrong-password");
    let yaml = format!(
        "output.kafka:\n  hosts: ['{}']\n  topic: t\n  username: sensor\n  password: '${{SENSOR_TEST_SASL_PASSWORD}}'\n  sasl.mechanism: SCRAM-SHA-256\n  timeout: 3s\n  flush_timeout: 3s\n  spool.path: {}\n",
        broker.addr(),
        dir.join("spool").display()
    );
    let t = Instant::now();
    match open(&yaml) {
        Err(e) => {
            let e = format!("{e:#}");
            eprintln!("start-up error: {e}");
            assert!(!e.contains("wrong-password"), "secret leaked: {e}");
        }
        Ok(out) => {
            let file = corpus().join("http/get_200.pcap");
            let frames = read_frames(&file).0;
            let mut p = Pipeline::new(Config::default(), out);
            for f in &frames {
                p.frame(f.link, f.ts, &f.data, f.wire_len);
            }
            let s = p.finish();
            eprintln!("{}", s.render().lines().last().unwrap_or_default());
            assert_eq!(s.output.acked, 0, "nothing can be delivered");
            assert!(s.output.errors > 0, "the failure is counted");
            assert_eq!(s.output.dropped, 0, "kept in the spool");
        }
    }
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "took {:?}",
        t.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
