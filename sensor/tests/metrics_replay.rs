//! The monitoring endpoint during a replay: the capture comes from two FIFOs; after the first
//! one is written and closed, `/metrics` must show exactly the counters of a library pipeline
//! fed the same file (frames, decoded packets, transactions per protocol, active flows, output
//! events), `/readyz` must be 200, and the stats event must appear in the output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sensor::capture::pcap;
use sensor::config::Config;
use sensor::output::Output;
use sensor::pipeline::Pipeline;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn corpus_file(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(dir)
        .join(name)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let code = r[9..12].parse().unwrap();
    (code, r.split_once("\r\n\r\n").unwrap().1.to_owned())
}

/// `name{label="value"}` or `name` → value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn metrics_during_replay_match_the_pipeline() {
    let first = corpus_file("mixed", "concurrent_protocols.pcap");
    let second = corpus_file("dns", "nxdomain.pcap");
    assert!(first.exists(), "corpus missing: {}", first.display());

    // What a library pipeline has after the first file (nothing flushed: the stream goes on).
    let mut p = Pipeline::new(
        Config::default(),
        Output::from_writer(Box::new(std::io::sink())),
    );
    let fs = pcap::read_file(&first, &mut |link, ts, data, wl| {
        p.frame(link, ts, data, wl)
    })
    .unwrap();
    let exp = p.summary();
    let exp_events = p.output().stats.events;

    let dir = std::env::temp_dir().join(format!("sensor-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (f1, f2) = (dir.join("one.pcap"), dir.join("two.pcap"));
    for f in [&f1, &f2] {
        assert!(Command::new("mkfifo").arg(f).status().unwrap().success());
    }
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_sensor"))
            .args([
                "replay",
                "-E",
                "http.enabled=true",
                "-E",
                "http.host=127.0.0.1",
            ])
            .args(["-E", "http.port=0", "-E", "logging.metrics.period=1s"])
            .arg(&f1)
            .arg(&f2)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.strip_suffix("/metrics\n"))
        .unwrap_or_else(|| panic!("no endpoint line: {line:?}"))
        .to_owned();
    // Drain stdout meanwhile (the stats event must show up in it).
    let mut out = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });

    std::fs::write(&f1, std::fs::read(&first).unwrap()).unwrap();
    let want_frames = fs.frames as f64;
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let (code, body) = get(&addr, "/metrics");
        assert_eq!(code, 200);
        let m = parse_metrics(&body);
        // Frames are published by the reader, pipeline counters by each worker, output
        // counters by the output thread (about once a second): wait for all three.
        let ip = m.get("sensor_decode_frames_total{result=\"ip\"}");
        let events = m.get("sensor_output_events_total").copied().unwrap_or(0.0);
        if m.get("sensor_capture_frames_total") == Some(&want_frames)
            && ip == Some(&(exp.decode.ip_packets as f64))
            && events >= exp_events as f64
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "frames never reached {want_frames}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(get(&addr, "/readyz").0, 200);
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(
        m["sensor_decode_frames_total{result=\"ip\"}"],
        exp.decode.ip_packets as f64
    );
    let mut any = 0.0;
    for (id, ps) in &exp.protocols {
        let k = format!(
            "sensor_protocol_transactions_total{{protocol=\"{}\"}}",
            id.name()
        );
        assert_eq!(m[&k], ps.transactions as f64, "{k}");
        any += m[&k];
    }
    assert!(any > 0.0, "the first capture has transactions");
    assert_eq!(
        m["sensor_flow_active_flows"],
        exp.pipeline.flows_active as f64
    );
    assert!(exp.pipeline.flows_active > 0);
    assert!(m["sensor_output_events_total"] >= exp_events as f64);
    assert!(m["sensor_process_resident_memory_bytes"] > 1e6);

    // Wait for a stats event (period 1 s, due at the next 256 frames or file end): feed the
    // second file after the period passed.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&f2, std::fs::read(&second).unwrap()).unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success());
    let stdout = reader.join().unwrap();
    let stats: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"]["dataset"] == "sensor.stats")
        .collect();
    assert!(!stats.is_empty(), "no stats event in the output");
    let last = &stats[stats.len() - 1];
    assert_eq!(last["event"]["kind"], "metric");
    assert!(
        last["sensor"]["metrics"]["sensor_capture_frames_total"]
            .as_u64()
            .unwrap()
            >= fs.frames
    );
    let _ = std::fs::remove_dir_all(&dir);
}
