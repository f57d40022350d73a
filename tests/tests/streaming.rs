//! Streaming is a contract: every TCP capture of the corpus gives the same transaction events
//! when its payloads are re-split into 1-byte segments and into random segments (fixed seeds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use rand::{rngs::SmallRng, Rng, SeedableRng};
use sensor::config::Config;
use sensor_tests::{corpus, pcaps, read_frames, resplit, run_frames, transactions};

fn same(got: &[String], want: &[String], what: &str) {
    if got == want {
        return;
    }
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: {} events vs {} expected; first difference at #{i}:\n got: {:?}\nwant: {:?}",
        got.len(),
        want.len(),
        got.get(i),
        want.get(i)
    );
}

fn check_folder(folder: &str) {
    let dir = corpus().join(folder);
    let files = pcaps(&dir);
    assert!(
        !files.is_empty(),
        "no captures in {}: is ../shared/corpus there?",
        dir.display()
    );
    for (i, f) in files.iter().enumerate() {
        let (frames, err) = read_frames(f);
        assert!(err.is_none(), "{}: {err:?}", f.display());
        let (base, _) = run_frames(Config::default(), &frames);
        let base = transactions(&base);
        let ones = resplit(&frames, || 1);
        let (got, _) = run_frames(Config::default(), &ones);
        same(
            &transactions(&got),
            &base,
            &format!("{}: 1-byte segments", f.display()),
        );
        let mut rng = SmallRng::seed_from_u64(0x5eed + i as u64);
        let random = resplit(&frames, || rng.random_range(1..=700));
        let (got, _) = run_frames(Config::default(), &random);
        same(
            &transactions(&got),
            &base,
            &format!("{}: random segments", f.display()),
        );
    }
}

#[test]
fn http_resplit_identical() {
    check_folder("http");
}

#[test]
fn dns_resplit_identical() {
    check_folder("dns");
}

#[test]
fn mixed_resplit_identical() {
    check_folder("mixed");
}

#[test]
fn every_other_protocol_resplit_identical() {
    for folder in [
        "amqp",
        "cassandra",
        "memcache",
        "mongodb",
        "mysql",
        "nfs",
        "pgsql",
        "redis",
        "sip",
        "thrift",
        "tls",
    ] {
        check_folder(folder);
    }
}
