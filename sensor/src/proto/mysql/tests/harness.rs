//! A small model of the pipeline for dissector tests (shared by the SQL dissectors): feeds a
//! scripted connection whole, in 1-byte pieces and in random pieces (fixed seeds), keeps the
//! unconsumed tail like the reassembler, and checks every split gives identical events.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::config::CommonConfig;
use crate::proto::{
    CloseReason, ConnMeta, Cx, Direction, Dissector, Progress, ProtoStats, Txn, L4,
};
use crate::time::Ts;

/// Client → server.
pub const C: Direction = Direction::ToServer;
/// Server → client.
pub const S: Direction = Direction::ToClient;

/// One event of a scripted connection.
#[derive(Clone, Debug)]
pub enum Ev {
    /// Bytes of one direction at a time (ms).
    Data(Direction, u64, Vec<u8>),
    /// Lost bytes.
    Gap(Direction, usize),
    /// FIN of one side.
    Fin(Direction),
    /// Timer tick at a time (ms).
    Timer(u64),
}

/// Bytes of `dir` at `ms`.
pub fn d(dir: Direction, ms: u64, bytes: &[u8]) -> Ev {
    Ev::Data(dir, ms, bytes.to_vec())
}

/// How data events are cut.
#[derive(Clone, Copy, Debug)]
pub enum Split {
    /// One call per event.
    Whole,
    /// One call per byte.
    Bytes1,
    /// Random pieces of 1..=max bytes.
    Random(u64, usize),
}

/// The connection of every test.
pub fn meta(port: u16) -> ConnMeta {
    ConnMeta {
        client: "198.18.10.20:40000".parse().unwrap(),
        server: format!("198.18.10.10:{port}").parse().unwrap(),
        l4: L4::Tcp,
        vlan: vec![],
    }
}

/// Capture time of `ms`.
pub fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
}

/// Run a script once; returns the events and stats.
pub fn run_split<D: Dissector>(
    cfg: &D::Config,
    common: &CommonConfig,
    port: u16,
    script: &[Ev],
    split: Split,
) -> (Vec<Txn>, ProtoStats) {
    let meta = meta(port);
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut h = D::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut dead = [false, false];
    let mut rng = match split {
        Split::Random(seed, _) => Some(SmallRng::seed_from_u64(seed)),
        _ => None,
    };
    let mut now = ts(0);
    macro_rules! cx {
        () => {
            Cx {
                ts: now,
                meta: &meta,
                common,
                stats: &mut stats,
                out: &mut out,
            }
        };
    }
    for ev in script {
        match ev {
            Ev::Data(dir, ms, bytes) => {
                now = ts(*ms);
                let mut pieces: Vec<&[u8]> = Vec::new();
                match split {
                    Split::Whole => pieces.push(bytes),
                    Split::Bytes1 => pieces.extend(bytes.chunks(1)),
                    Split::Random(_, max) => {
                        let r = rng.as_mut().unwrap();
                        let mut rest: &[u8] = bytes;
                        while !rest.is_empty() {
                            let n = r.random_range(1..=rest.len().min(max));
                            let (a, b) = rest.split_at(n);
                            pieces.push(a);
                            rest = b;
                        }
                    }
                }
                for p in pieces {
                    let i = dir.index();
                    if dead[i] {
                        continue;
                    }
                    bufs[i].extend_from_slice(p);
                    let mut cx = cx!();
                    match h.parse(&mut cx, *dir, &bufs[i]) {
                        Progress::Consumed => bufs[i].clear(),
                        Progress::NeedMore { consumed, .. } => {
                            assert!(consumed <= bufs[i].len());
                            bufs[i].drain(..consumed);
                        }
                        Progress::GiveUp(_) => {
                            dead[i] = true;
                            bufs[i].clear();
                        }
                    }
                }
            }
            Ev::Gap(dir, len) => {
                bufs[dir.index()].clear();
                let mut cx = cx!();
                h.on_gap(&mut cx, *dir, *len);
            }
            Ev::Fin(dir) => {
                let mut cx = cx!();
                h.on_fin(&mut cx, *dir);
            }
            Ev::Timer(ms) => {
                now = ts(*ms);
                let mut cx = cx!();
                h.on_timer(&mut cx);
            }
        }
    }
    let mut cx = cx!();
    h.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

/// Run whole, 1-byte and random splits; assert identical events; return them.
pub fn run_all<D: Dissector>(
    cfg: &D::Config,
    common: &CommonConfig,
    port: u16,
    script: &[Ev],
) -> Vec<Txn> {
    let (whole, st) = run_split::<D>(cfg, common, port, script, Split::Whole);
    let (ones, st1) = run_split::<D>(cfg, common, port, script, Split::Bytes1);
    assert_eq!(whole, ones, "1-byte split differs");
    assert_eq!(st, st1, "1-byte split stats differ");
    for seed in 1..=4 {
        let (r, _) = run_split::<D>(cfg, common, port, script, Split::Random(seed, 64));
        assert_eq!(whole, r, "random split (seed {seed}) differs");
    }
    whole
}

/// A field of `t.fields` by dotted path (Null when absent).
pub fn f<'a>(t: &'a Txn, path: &str) -> &'a Value {
    let mut parts = path.split('.');
    let mut v = t.fields.get(parts.next().unwrap()).unwrap_or(&Value::Null);
    for k in parts {
        v = v.get(k).unwrap_or(&Value::Null);
    }
    v
}

/// Feed random bytes, truncations and byte flips of `valid` (a script's data in order);
/// nothing may panic.
pub fn robustness<D: Dissector>(cfg: &D::Config, port: u16, valid: &[Ev]) {
    let common = CommonConfig::default();
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..200 {
        let script: Vec<Ev> = (0..6)
            .map(|i| {
                let n = rng.random_range(0..300);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                Ev::Data(if i % 2 == 0 { C } else { S }, i, bytes)
            })
            .collect();
        run_split::<D>(cfg, &common, port, &script, Split::Random(1, 32));
    }
    for cut in 0..valid.len() {
        let mut s: Vec<Ev> = valid.iter().take(cut).cloned().collect();
        if let Some(Ev::Data(dir, ms, b)) = valid.get(cut) {
            s.push(Ev::Data(*dir, *ms, b[..b.len() / 2].to_vec()));
            s.push(Ev::Gap(*dir, 3));
        }
        run_split::<D>(cfg, &common, port, &s, Split::Whole);
    }
    for round in 0..300u64 {
        let mut s = valid.to_vec();
        for _ in 0..3 {
            let i = rng.random_range(0..s.len());
            if let Ev::Data(_, _, b) = &mut s[i] {
                if !b.is_empty() {
                    let j = rng.random_range(0..b.len());
                    b[j] = rng.random();
                }
            }
        }
        run_split::<D>(cfg, &common, port, &s, Split::Random(round, 48));
    }
}
