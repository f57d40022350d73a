//! Replay throughput of the whole pipeline (decode → flows → reassembly → dissectors → ECS →
//! output to a sink) on frames held in memory, so the file system is not measured.
//!
//! Input: `SENSOR_BENCH_PCAP` if set, else `bench-out/mixed.pcap` at the repository root (build it
//! with `python3 ../shared/bench/make-bench-pcap --out bench-out/mixed.pcap --packets 1000000`),
//! else the bundled samples. At most `SENSOR_BENCH_FRAMES` frames (default 300000) are used.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up")]

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sensor::capture::pcap;
use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::output::Output;
use sensor::pipeline::Pipeline;
use sensor::time::Ts;

struct Frame {
    link: LinkType,
    ts: Ts,
    data: Vec<u8>,
    wire: u32,
}

fn input() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Some(p) = std::env::var_os("SENSOR_BENCH_PCAP") {
        return vec![PathBuf::from(p)];
    }
    let big = root.join("bench-out/mixed.pcap");
    if big.exists() {
        return vec![big];
    }
    vec![
        root.join("tests/data/http_keepalive.pcap"),
        root.join("tests/data/dns_record_types.pcap"),
    ]
}

fn load() -> Vec<Frame> {
    let max: usize = std::env::var("SENSOR_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let mut frames = Vec::new();
    for p in input() {
        let _ = pcap::read_file(&p, &mut |link, ts, data, wire| {
            if frames.len() < max {
                frames.push(Frame {
                    link,
                    ts,
                    data: data.to_vec(),
                    wire,
                });
            }
        });
    }
    frames
}

fn replay(c: &mut Criterion) {
    let frames = load();
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.sample_size(10);
    g.bench_function("pipeline_all_parsers", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(
                Config::default(),
                Output::from_writer(Box::new(std::io::sink())),
            );
            for f in &frames {
                p.frame(f.link, f.ts, &f.data, f.wire);
            }
            p.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
