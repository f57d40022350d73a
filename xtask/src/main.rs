//! `cargo xtask`: the project's build and test tasks.
//!
//! * `setup` — install the toolchain pieces (apt packages, nightly rust-src, bpf-linker), idempotent.
//! * `bench-live` — live-capture benchmark on a veth pair (xtask/bench-live.sh).
//! * `build-ebpf` — build the XDP object with nightly into `target/ebpf` (fixed dir, so it is not
//!   rebuilt when the user-space crate changes).
//! * `build` — the eBPF object, then the sensor in release mode.
//! * `run -- ARGS` — `build`, then run `target/release/sensor ARGS` (as root for live capture).
//! * `test` — the eBPF object, then every test of the workspace.
//! * `bless` — regenerate the golden NDJSON files of the integration tests (read the diff!).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Build, run and test tasks of the sensor")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the build and tests need (idempotent).
    Setup,
    /// Build the XDP program with nightly into target/ebpf.
    BuildEbpf,
    /// Build the XDP program and the sensor (release).
    Build,
    /// Build, then run the sensor with the given arguments.
    Run {
        /// Arguments for the sensor, after `--`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the XDP program, then run every test.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Regenerate the golden files of the integration tests.
    Bless,
    /// Benchmark live capture on a veth pair (root): the sensor beside an XDP_DROP-only run
    /// and tcpdump on the same replayed traffic (xtask/bench-live.sh; env DUR, REPS, PCAP).
    BenchLive {
        /// Where the per-run logs and the summary go.
        #[arg(default_value = "bench-out/live-sensor")]
        out: String,
    },
    /// Run the libFuzzer targets of sensor/fuzz (cargo-fuzz, nightly): one target, or all in turn.
    Fuzz {
        /// Target (e.g. `dns`, `decode`, `pcap`); all targets when omitted.
        #[arg(long)]
        target: Option<String>,
        /// Seconds per target (`-max_total_time`).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Path of the built XDP object.
fn ebpf_object() -> PathBuf {
    root().join("target/ebpf/bpfel-unknown-none/release/sensor")
}

fn build_ebpf() -> Result<()> {
    let root = root();
    run(Command::new("cargo")
        .current_dir(&root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .args(["+nightly", "build", "--package", "sensor-ebpf", "--release"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(root.join("target/ebpf")))?;
    let obj = ebpf_object();
    if !obj.exists() {
        bail!("the eBPF build succeeded but {} is missing", obj.display());
    }
    eprintln!("xtask: XDP object at {}", obj.display());
    Ok(())
}

fn build() -> Result<()> {
    build_ebpf()?;
    run(Command::new("cargo")
        .current_dir(root())
        .args(["build", "--release", "--package", "sensor"])
        .env("SENSOR_EBPF_OBJECT", ebpf_object()))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Setup => run(Command::new("bash").arg(root().join("xtask/setup.sh"))),
        Cmd::BuildEbpf => build_ebpf(),
        Cmd::Build => build(),
        Cmd::Run { args } => {
            build()?;
            run(Command::new(root().join("target/release/sensor")).args(args))
        }
        Cmd::Test { args } => {
            build_ebpf()?;
            run(Command::new("cargo")
                .current_dir(root())
                .args(["test", "--profile", "ci"])
                .args(args)
                .env("SENSOR_EBPF_OBJECT", ebpf_object()))
        }
        Cmd::BenchLive { out } => {
            build()?;
            run(Command::new("bash")
                .current_dir(root())
                .arg(root().join("xtask/bench-live.sh"))
                .arg(root().join("target/release/sensor"))
                .arg(out))
        }
        Cmd::Bless => run(Command::new("cargo")
            .current_dir(root())
            .args([
                "test",
                "--profile",
                "ci",
                "--package",
                "sensor-tests",
                "--test",
                "golden",
            ])
            .env("SENSOR_BLESS", "1")),
        Cmd::Fuzz { target, seconds } => {
            // No sanitizer: the targets look for panics, and the sensor's bundled C libraries
            // (librdkafka, zstd) do not build with ASan (see sensor/fuzz/smoke.sh).
            let fuzz = |args: &[&str]| {
                let mut c = Command::new("cargo");
                c.current_dir(root())
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .env_remove("RUSTC")
                    .env_remove("RUSTC_WORKSPACE_WRAPPER")
                    .args(["+nightly", "fuzz"])
                    .args(args)
                    .args(["--fuzz-dir", "sensor/fuzz"]);
                c
            };
            let targets = match target {
                Some(t) => vec![t],
                None => {
                    let out = fuzz(&["list"]).output().context("cargo fuzz list")?;
                    if !out.status.success() {
                        bail!(
                            "cargo +nightly fuzz list failed (cargo install cargo-fuzz --locked)"
                        );
                    }
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(str::to_owned)
                        .collect()
                }
            };
            for t in targets {
                run(fuzz(&["run", "-s", "none"])
                    .arg(&t)
                    .arg("--")
                    .arg(format!("-max_total_time={seconds}")))?;
            }
            Ok(())
        }
    }
}
