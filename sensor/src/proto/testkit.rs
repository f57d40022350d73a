//! A test kit for dissectors: scripted connections fed whole, byte by byte and in random
//! pieces through a model of the pipeline's stream handling, with identical results required.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{CloseReason, ConnMeta, Cx, Direction, Dissector, Progress, ProtoStats, Txn};
use crate::config::CommonConfig;
use crate::time::Ts;

/// One step of a scripted connection.
#[derive(Clone, Debug)]
pub enum Ev {
    Data(Direction, u64, Vec<u8>),
    Gap(Direction, usize),
    Timer(u64),
}

/// Bytes sent in `dir` at `ms` milliseconds.
pub fn d(dir: Direction, ms: u64, b: Vec<u8>) -> Ev {
    Ev::Data(dir, ms, b)
}

/// How a script's data is cut before it reaches the dissector.
#[derive(Clone, Copy, Debug)]
pub enum Split {
    Whole,
    Bytes1,
    Random(u64),
}

/// The script's clock: `ms` milliseconds after a fixed start.
pub fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
}

/// Feed `script` to a new `D` session cut as `split`, keeping unconsumed bytes like the pipeline
/// does (`NeedMore`), then close it. Returns the events and the counters.
pub fn run_split<D: Dissector>(
    cfg: &D::Config,
    common: &CommonConfig,
    meta: &ConnMeta,
    script: &[Ev],
    split: Split,
) -> (Vec<Txn>, ProtoStats) {
    let meta = meta.clone();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut m = D::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut dead = [false, false];
    let mut rng = SmallRng::seed_from_u64(match split {
        Split::Random(s) => s,
        _ => 0,
    });
    let mut now = ts(0);
    for ev in script {
        let cx = |now: Ts,
                  stats: &mut ProtoStats,
                  out: &mut Vec<Txn>,
                  f: &mut dyn FnMut(&mut Cx<'_>)| {
            let mut cx = Cx {
                ts: now,
                meta: &meta,
                common,
                stats,
                out,
            };
            f(&mut cx);
        };
        match ev {
            Ev::Data(dir, ms, bytes) => {
                now = ts(*ms);
                let pieces: Vec<Vec<u8>> = match split {
                    Split::Whole => vec![bytes.clone()],
                    Split::Bytes1 => bytes.chunks(1).map(<[u8]>::to_vec).collect(),
                    Split::Random(_) => {
                        let mut v = Vec::new();
                        let mut rest: &[u8] = bytes;
                        while !rest.is_empty() {
                            let n = rng.random_range(1..=rest.len().min(97));
                            v.push(rest[..n].to_vec());
                            rest = &rest[n..];
                        }
                        v
                    }
                };
                for p in pieces {
                    let i = dir.index();
                    if dead[i] {
                        continue;
                    }
                    bufs[i].extend_from_slice(&p);
                    let buf = std::mem::take(&mut bufs[i]);
                    let mut r = Progress::Consumed;
                    cx(now, &mut stats, &mut out, &mut |cx| {
                        r = m.parse(cx, *dir, &buf)
                    });
                    match r {
                        Progress::Consumed => {}
                        Progress::NeedMore { consumed, .. } => bufs[i] = buf[consumed..].to_vec(),
                        Progress::GiveUp(_) => dead[i] = true,
                    }
                }
            }
            Ev::Gap(dir, n) => {
                bufs[dir.index()].clear();
                cx(now, &mut stats, &mut out, &mut |cx| m.on_gap(cx, *dir, *n));
            }
            Ev::Timer(ms) => {
                now = ts(*ms);
                cx(now, &mut stats, &mut out, &mut |cx| m.on_timer(cx));
            }
        }
    }
    let meta2 = meta.clone();
    let mut cx = Cx {
        ts: now,
        meta: &meta2,
        common,
        stats: &mut stats,
        out: &mut out,
    };
    m.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

/// Run whole, byte by byte and in random pieces; all must agree (events and anomaly counts).
pub fn run_with<D: Dissector>(
    cfg: &D::Config,
    common: &CommonConfig,
    meta: &ConnMeta,
    script: &[Ev],
) -> (Vec<Txn>, ProtoStats) {
    let base = run_split::<D>(cfg, common, meta, script, Split::Whole);
    for split in [Split::Bytes1, Split::Random(7), Split::Random(1234)] {
        let other = run_split::<D>(cfg, common, meta, script, split);
        assert_eq!(base.0, other.0, "events differ with {split:?}");
        assert_eq!(
            base.1.anomalies, other.1.anomalies,
            "anomalies differ with {split:?}"
        );
    }
    base
}
