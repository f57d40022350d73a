//! Golden tests: the events for every capture of ../shared/corpus (all protocol folders) are
//! compared with the NDJSON stored in tests/golden/<folder>/<name>.ndjson. Goldens change only
//! through `cargo xtask bless` (SENSOR_BLESS=1), and the diff is read before committing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use sensor::config::Config;
use sensor_tests::{corpus, pcaps, read_frames, repo, run_frames};

const FOLDERS: &[&str] = &[
    "amqp",
    "cassandra",
    "dhcp",
    "dns",
    "http",
    "icmp",
    "memcache",
    "mixed",
    "mongodb",
    "mysql",
    "nfs",
    "pgsql",
    "redis",
    "sip",
    "thrift",
    "tls",
];

#[test]
fn golden_events() {
    let bless = std::env::var_os("SENSOR_BLESS").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    for folder in FOLDERS {
        for pcap in pcaps(&corpus().join(folder)) {
            let (frames, err) = read_frames(&pcap);
            assert!(err.is_none(), "{}: {err:?}", pcap.display());
            let (lines, _) = run_frames(Config::default(), &frames);
            let mut text = lines.join("\n");
            text.push('\n');
            let stem = pcap.file_stem().unwrap().to_string_lossy().to_string();
            let golden = repo()
                .join("tests/golden")
                .join(folder)
                .join(format!("{stem}.ndjson"));
            if bless {
                std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
                std::fs::write(&golden, &text).unwrap();
                continue;
            }
            checked += 1;
            match std::fs::read_to_string(&golden) {
                Ok(want) if want == text => {}
                Ok(want) => {
                    let (w, g): (Vec<&str>, Vec<&str>) =
                        (want.lines().collect(), text.lines().collect());
                    let i = w
                        .iter()
                        .zip(&g)
                        .position(|(a, b)| a != b)
                        .unwrap_or(w.len().min(g.len()));
                    failures.push(format!(
                        "{}: line {} differs\n  want: {:?}\n   got: {:?}",
                        golden.display(),
                        i + 1,
                        w.get(i),
                        g.get(i)
                    ));
                }
                Err(e) => failures.push(format!(
                    "{}: {e} (run `cargo xtask bless`)",
                    golden.display()
                )),
            }
        }
    }
    assert!(
        bless || checked > 90,
        "only {checked} captures checked: is ../shared/corpus there?"
    );
    assert!(
        failures.is_empty(),
        "{} golden files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
