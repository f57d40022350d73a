//! Unit tests: hand-built memcache streams, each fed whole, in 1-byte pieces and in random pieces
//! (fixed seed) through a small model of the pipeline; results must be identical.

mod binary;
mod robust;
mod text;
mod udp;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{CloseReason, ConnMeta, Cx, Direction, ProtoStats, Txn, L4};
use crate::time::Ts;

pub const C: Direction = Direction::ToServer;
pub const S: Direction = Direction::ToClient;

/// One event of a scripted connection.
#[derive(Clone, Debug)]
pub enum Ev {
    /// Bytes of one direction at a time (ms).
    Data(Direction, u64, Vec<u8>),
    Gap(Direction, usize),
    Timer(u64),
}

pub fn d(dir: Direction, ms: u64, bytes: &[u8]) -> Ev {
    Ev::Data(dir, ms, bytes.to_vec())
}

#[derive(Clone, Copy, Debug)]
pub enum Split {
    Whole,
    Bytes1,
    Random(u64),
}

pub fn meta() -> ConnMeta {
    ConnMeta {
        client: "198.18.10.20:40000".parse().unwrap(),
        server: "198.18.10.10:11211".parse().unwrap(),
        l4: L4::Tcp,
        vlan: vec![],
    }
}

pub fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
}

/// Run a script through a model of the pipeline.
pub fn run_split(
    cfg: &Config,
    common: &CommonConfig,
    script: &[Ev],
    split: Split,
) -> (Vec<Txn>, ProtoStats) {
    let meta = meta();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut h = Memcache::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut rng = match split {
        Split::Random(seed) => Some(SmallRng::seed_from_u64(seed)),
        _ => None,
    };
    let mut now = ts(0);
    for ev in script {
        let mut cx = Cx {
            ts: now,
            meta: &meta,
            common,
            stats: &mut stats,
            out: &mut out,
        };
        match ev {
            Ev::Data(dir, ms, bytes) => {
                now = ts(*ms);
                cx.ts = now;
                let mut pieces: Vec<&[u8]> = Vec::new();
                match split {
                    Split::Whole => pieces.push(bytes),
                    Split::Bytes1 => pieces.extend(bytes.chunks(1)),
                    Split::Random(_) => {
                        let r = rng.as_mut().unwrap();
                        let mut rest: &[u8] = bytes;
                        while !rest.is_empty() {
                            let n = r.random_range(1..=rest.len().min(64));
                            let (a, b) = rest.split_at(n);
                            pieces.push(a);
                            rest = b;
                        }
                    }
                }
                for p in pieces {
                    let i = dir.index();
                    bufs[i].extend_from_slice(p);
                    match h.parse(&mut cx, *dir, &bufs[i]) {
                        Progress::Consumed | Progress::GiveUp(_) => bufs[i].clear(),
                        Progress::NeedMore { consumed, .. } => {
                            bufs[i].drain(..consumed);
                        }
                    }
                }
            }
            Ev::Gap(dir, len) => {
                bufs[dir.index()].clear();
                h.on_gap(&mut cx, *dir, *len);
            }
            Ev::Timer(ms) => {
                now = ts(*ms);
                cx.ts = now;
                h.on_timer(&mut cx);
            }
        }
    }
    let mut cx = Cx {
        ts: now,
        meta: &meta,
        common,
        stats: &mut stats,
        out: &mut out,
    };
    h.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

/// Run whole, 1-byte and random splits; assert identical events; return them.
pub fn run_with(cfg: &Config, script: &[Ev]) -> Vec<Txn> {
    let common = CommonConfig::default();
    let (whole, st) = run_split(cfg, &common, script, Split::Whole);
    let (ones, st1) = run_split(cfg, &common, script, Split::Bytes1);
    assert_eq!(whole, ones, "1-byte split differs");
    assert_eq!(st, st1, "1-byte split stats differ");
    for seed in 1..=5 {
        let (r, _) = run_split(cfg, &common, script, Split::Random(seed));
        assert_eq!(whole, r, "random split (seed {seed}) differs");
    }
    whole
}

pub fn run(script: &[Ev]) -> Vec<Txn> {
    run_with(&Config::default(), script)
}

/// A field of the event's `memcache` object, by dotted path.
pub fn f<'a>(t: &'a Txn, path: &str) -> &'a Value {
    let mut v = t.fields.get("memcache").unwrap_or(&Value::Null);
    for k in path.split('.') {
        v = v.get(k).unwrap_or(&Value::Null);
    }
    v
}

/// A binary message.
pub fn bin(
    magic: u8,
    opcode: u8,
    status: u16,
    opaque: u32,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut v = vec![magic, opcode];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.push(0);
    v.extend_from_slice(&status.to_be_bytes());
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&opaque.to_be_bytes());
    v.extend_from_slice(&0u64.to_be_bytes());
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}
