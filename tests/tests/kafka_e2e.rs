//! End-to-end: replay the whole corpus with `sensor replay` to a real Kafka-protocol broker
//! (tansu), consume every topic, and compare with the same replay to an NDJSON writer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

mod common_kafka;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common_kafka::{community_id, compare, consume_all, create_topics, dataset, temp_dir, Broker};
use sensor::cli::{replay, replay_with, Common};
use sensor::output::OutputTarget;
use sensor_tests::{corpus, pcaps, read_frames, run_frames};

/// Partitions per topic: more than one, so "one flow, one partition" is actually checked.
const PARTITIONS: i32 = 3;

fn expected_lines(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut frames = Vec::new();
    for f in files {
        frames.extend(read_frames(f).0);
    }
    run_frames(sensor::config::Config::default(), &frames).0
}

#[test]
fn corpus_to_kafka_matches_stdout_exactly_once() {
    let files = pcaps(&corpus());
    assert!(
        files.len() > 20,
        "corpus not found at {}",
        corpus().display()
    );
    let expected = expected_lines(&files);
    assert!(expected.len() > 100);
    let broker = Broker::start("e2e");
    let topics: BTreeSet<String> = expected
        .iter()
        .map(|l| format!("sensor-{}", dataset(l)))
        .collect();
    let topics: Vec<String> = topics.into_iter().collect();
    create_topics(&broker.addr(), &topics, PARTITIONS);

    let dir = temp_dir("kafka-e2e");
    let cfg = dir.join("sensor.yml");
    std::fs::write(
        &cfg,
        format!(
            "output.kafka:\n  hosts: [\"{}\"]\n  topic: 'sensor-%{{[event.dataset]}}'\n  compression: lz4\n  spool.path: {}\n",
            broker.addr(),
            dir.join("spool").display()
        ),
    )
    .unwrap();
    // `sensor replay --workers 3 --summary -c sensor.yml FILES...` (the parallel path the CLI
    // takes by default: workers -> output thread -> Kafka).
    let common = Common {
        config: Some(cfg.clone()),
        output: None,
        summary: true,
        set: Vec::new(),
    };
    let t = Instant::now();
    // Some public captures have link types the sensor does not read: replay reports the first
    // such file after emitting everything else (the same happens with stdout).
    if let Err(e) = replay_with(&files, &common, 3) {
        assert!(e.to_string().contains("link type"), "{e:#}");
    }
    eprintln!(
        "replayed {} events to kafka in {:?}",
        expected.len(),
        t.elapsed()
    );
    assert!(
        !dir.join("spool").exists(),
        "nothing should have been spooled"
    );

    let got = consume_all(
        &broker.addr(),
        &topics,
        expected.len(),
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let (missing, dups, unexpected) = compare(&expected, &got);
    assert_eq!(
        (missing, dups, unexpected),
        (0, 0, 0),
        "{} expected, {} consumed",
        expected.len(),
        got.len()
    );
    // Topic routing and keys: the topic is the dataset; the key is the Community ID; one key
    // (one flow) lives in one partition.
    let mut part_of_key: BTreeMap<(String, String), i32> = BTreeMap::new();
    for c in &got {
        assert_eq!(c.topic, format!("sensor-{}", dataset(&c.payload)));
        assert_eq!(c.key, community_id(&c.payload), "key of {}", c.payload);
        if let Some(k) = &c.key {
            let p = *part_of_key
                .entry((c.topic.clone(), k.clone()))
                .or_insert(c.partition);
            assert_eq!(p, c.partition, "flow {k} split across partitions");
        }
    }
    let used: BTreeSet<i32> = got.iter().map(|c| c.partition).collect();
    assert!(used.len() > 1, "keys should spread over partitions");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--output kafka:HOST:PORT` overrides the configured brokers; a custom key and one topic.
#[test]
fn output_flag_overrides_hosts_and_custom_key() {
    let broker = Broker::start("flag");
    let topic = "one-topic".to_owned();
    create_topics(&broker.addr(), std::slice::from_ref(&topic), 2);
    let file = corpus().join("http/get_200.pcap");
    let expected = expected_lines(std::slice::from_ref(&file));
    let dir = temp_dir("kafka-flag");
    let cfg = dir.join("sensor.yml");
    std::fs::write(
        &cfg,
        format!(
            "output.kafka:\n  enabled: false\n  hosts: [\"127.0.0.1:1\"]\n  topic: one-topic\n  key: '%{{[source.ip]}}:%{{[source.port]:none}}'\n  partition.round_robin: {{}}\n  spool.path: {}\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    // `sensor replay -c sensor.yml --output kafka:HOST:PORT FILE`
    let common = Common {
        config: Some(cfg.clone()),
        output: Some(
            format!("kafka:{}", broker.addr())
                .parse::<OutputTarget>()
                .unwrap(),
        ),
        summary: false,
        set: Vec::new(),
    };
    replay(std::slice::from_ref(&file), &common).unwrap();
    let got = consume_all(
        &broker.addr(),
        std::slice::from_ref(&topic),
        expected.len(),
        Duration::from_secs(1),
        Duration::from_secs(30),
    );
    assert_eq!(compare(&expected, &got), (0, 0, 0));
    for c in &got {
        let v: serde_json::Value = serde_json::from_str(&c.payload).unwrap();
        let port = v["source"]["port"]
            .as_u64()
            .map_or("none".to_owned(), |p| p.to_string());
        assert_eq!(
            c.key.as_deref(),
            Some(format!("{}:{port}", v["source"]["ip"].as_str().unwrap()).as_str())
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
