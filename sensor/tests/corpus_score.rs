//! The corpus oracles, scored by ../shared/tools/score with the real binary: transactions of
//! DNS, HTTP and ICMP and flows over the whole corpus must reach the thresholds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn score(target: &str, min_tx: Option<f64>, min_flow: Option<f64>) {
    let tool = shared().join("tools/score");
    assert!(
        tool.exists(),
        "{} is missing: ../shared must be beside the repository",
        tool.display()
    );
    let sensor = env!("CARGO_BIN_EXE_sensor");
    let mut cmd = Command::new("python3");
    cmd.arg(&tool)
        .arg("--sensor")
        .arg(format!("{sensor} replay {{pcap}}"));
    if let Some(t) = min_tx {
        cmd.arg("--min-tx-score").arg(t.to_string());
    }
    if let Some(f) = min_flow {
        cmd.arg("--min-flow-score").arg(f.to_string());
    }
    cmd.arg(shared().join("corpus").join(target));
    let out = cmd.output().expect("python3 runs the scorer");
    let text = String::from_utf8_lossy(&out.stdout);
    let totals: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("TOTAL") || l.starts_with("THRESHOLD"))
        .collect();
    eprintln!("score {target}:\n{}", totals.join("\n"));
    assert!(
        out.status.success(),
        "score {target} failed ({}):\n{}\n{}",
        out.status,
        text.lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dns_transactions() {
    score("dns", Some(0.97), None);
}

#[test]
fn http_transactions() {
    score("http", Some(0.97), None);
}

#[test]
fn icmp_transactions() {
    score("icmp", Some(0.97), None);
}

#[test]
fn flows_over_the_whole_corpus() {
    score("", None, Some(0.97));
}
