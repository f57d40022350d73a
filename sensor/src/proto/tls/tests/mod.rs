//! Unit tests: hand-built TLS streams fed whole, in 1-byte pieces and in random pieces (fixed
//! seeds) through a small model of the pipeline (pending tail on `NeedMore`, dead direction
//! on `GiveUp`); the results must be identical.

mod corpus;
mod fingerprints;
mod options;
mod robust;
mod scenarios;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{CloseReason, ConnMeta, Cx, Direction, ProtoStats, Txn, L4};
use crate::time::Ts;

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

/// The EC leaf certificate (CN=test.example, SANs, P-256) used by the tests.
const EC_LEAF: &[u8] = include_bytes!("data/ec_leaf.der");
/// A self-signed RSA-2048 certificate with an escaped organisation name.
const RSA_ROOT: &[u8] = include_bytes!("data/rsa_root.der");

/// One event of a scripted connection.
#[derive(Clone, Debug)]
enum Ev {
    /// Bytes of one direction at a time (ms).
    Data(Direction, u64, Vec<u8>),
    /// Capture loss.
    Gap(Direction, usize),
}

fn d(dir: Direction, ms: u64, bytes: Vec<u8>) -> Ev {
    Ev::Data(dir, ms, bytes)
}

#[derive(Clone, Copy, Debug)]
enum Split {
    Whole,
    Bytes1,
    Random(u64),
}

fn meta() -> ConnMeta {
    ConnMeta {
        client: "198.18.10.20:40000".parse().unwrap(),
        server: "198.18.10.10:443".parse().unwrap(),
        l4: L4::Tcp,
        vlan: vec![],
    }
}

fn ts(ms: u64) -> Ts {
    Ts(1_795_802_859_000_000_000 + ms * 1_000_000)
}

/// Run a script through a model of the pipeline; returns the events and the stats.
fn run_split(cfg: &Config, script: &[Ev], split: Split) -> (Vec<Txn>, ProtoStats) {
    let meta = meta();
    let common = CommonConfig::default();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut t = Tls::new(cfg);
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut dead = [false, false];
    let mut rng = match split {
        Split::Random(seed) => Some(SmallRng::seed_from_u64(seed)),
        _ => None,
    };
    let mut now = ts(0);
    for ev in script {
        match ev {
            Ev::Data(dir, ms, bytes) => {
                now = ts(*ms);
                let mut pieces: Vec<&[u8]> = Vec::new();
                match split {
                    Split::Whole => pieces.push(bytes),
                    Split::Bytes1 => pieces.extend(bytes.chunks(1)),
                    Split::Random(_) => {
                        let r = rng.as_mut().unwrap();
                        let mut rest: &[u8] = bytes;
                        while !rest.is_empty() {
                            let n = r.random_range(1..=rest.len().min(40));
                            let (a, b) = rest.split_at(n);
                            pieces.push(a);
                            rest = b;
                        }
                    }
                }
                let i = dir.index();
                for p in pieces {
                    if dead[i] {
                        break;
                    }
                    let mut cx = Cx {
                        ts: now,
                        meta: &meta,
                        common: &common,
                        stats: &mut stats,
                        out: &mut out,
                    };
                    bufs[i].extend_from_slice(p);
                    let input = std::mem::take(&mut bufs[i]);
                    match t.parse(&mut cx, *dir, &input) {
                        Progress::Consumed => {}
                        Progress::NeedMore { consumed, .. } => {
                            bufs[i] = input[consumed..].to_vec();
                        }
                        Progress::GiveUp(_) => dead[i] = true,
                    }
                }
            }
            Ev::Gap(dir, n) => {
                bufs[dir.index()].clear();
                let mut cx = Cx {
                    ts: now,
                    meta: &meta,
                    common: &common,
                    stats: &mut stats,
                    out: &mut out,
                };
                t.on_gap(&mut cx, *dir, *n);
            }
        }
    }
    let mut cx = Cx {
        ts: now,
        meta: &meta,
        common: &common,
        stats: &mut stats,
        out: &mut out,
    };
    t.on_close(&mut cx, CloseReason::Fin);
    t.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

/// Run with every split; all must agree. Returns the events.
fn run_cfg(cfg: &Config, script: &[Ev]) -> Vec<Txn> {
    let (whole, st) = run_split(cfg, script, Split::Whole);
    let (bytes1, st1) = run_split(cfg, script, Split::Bytes1);
    assert_eq!(whole, bytes1, "1-byte split differs");
    assert_eq!(st, st1);
    for seed in [1, 7, 42, 1234] {
        let (r, _) = run_split(cfg, script, Split::Random(seed));
        assert_eq!(whole, r, "random split (seed {seed}) differs");
    }
    whole
}

fn run(script: &[Ev]) -> Vec<Txn> {
    run_cfg(&Config::default(), script)
}

/// The single event of a script.
fn one(script: &[Ev]) -> Txn {
    let out = run(script);
    assert_eq!(out.len(), 1, "{out:#?}");
    out.into_iter().next().unwrap()
}

/// A field of the event by dotted path.
fn get<'a>(t: &'a Txn, path: &str) -> &'a Value {
    let mut v = t
        .fields
        .get(path.split('.').next().unwrap())
        .unwrap_or(&Value::Null);
    for k in path.split('.').skip(1) {
        v = v.get(k).unwrap_or(&Value::Null);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Message builders
// ---------------------------------------------------------------------------------------------

fn be16(v: usize) -> [u8; 2] {
    u16::try_from(v).unwrap().to_be_bytes()
}

fn be24(v: usize) -> [u8; 3] {
    let b = u32::try_from(v).unwrap().to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A record with version 3.3.
fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ctype, 3, 3];
    v.extend_from_slice(&be16(body.len()));
    v.extend_from_slice(body);
    v
}

/// A handshake message.
fn hsm(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&be24(body.len()));
    v.extend_from_slice(body);
    v
}

/// Handshake record(s) holding `msgs` (concatenated), split into records of at most `max`.
fn hs_records(msgs: &[Vec<u8>], max: usize) -> Vec<u8> {
    let all: Vec<u8> = msgs.concat();
    all.chunks(max).flat_map(|c| record(22, c)).collect()
}

fn ccs() -> Vec<u8> {
    record(20, &[1])
}

fn alert(level: u8, code: u8) -> Vec<u8> {
    record(21, &[level, code])
}

fn appdata(n: usize) -> Vec<u8> {
    record(23, &vec![0xa5; n])
}

fn ext(code: u16, body: &[u8]) -> (u16, Vec<u8>) {
    (code, body.to_vec())
}

fn vec16(items: &[u8]) -> Vec<u8> {
    let mut v = be16(items.len()).to_vec();
    v.extend_from_slice(items);
    v
}

fn u16s_bytes(vals: &[u16]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn ext_sni(name: &str) -> (u16, Vec<u8>) {
    let mut entry = vec![0u8];
    entry.extend_from_slice(&vec16(name.as_bytes()));
    ext(0, &vec16(&entry))
}

fn ext_alpn(protos: &[&str]) -> (u16, Vec<u8>) {
    let mut list = Vec::new();
    for p in protos {
        list.push(u8::try_from(p.len()).unwrap());
        list.extend_from_slice(p.as_bytes());
    }
    ext(16, &vec16(&list))
}

fn ext_groups(g: &[u16]) -> (u16, Vec<u8>) {
    ext(10, &vec16(&u16s_bytes(g)))
}

fn ext_points(p: &[u8]) -> (u16, Vec<u8>) {
    let mut v = vec![u8::try_from(p.len()).unwrap()];
    v.extend_from_slice(p);
    ext(11, &v)
}

fn ext_sigalgs(s: &[u16]) -> (u16, Vec<u8>) {
    ext(13, &vec16(&u16s_bytes(s)))
}

fn ext_versions(v: &[u16]) -> (u16, Vec<u8>) {
    let list = u16s_bytes(v);
    let mut b = vec![u8::try_from(list.len()).unwrap()];
    b.extend_from_slice(&list);
    ext(43, &b)
}

fn exts_block(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (t, body) in exts {
        b.extend_from_slice(&t.to_be_bytes());
        b.extend_from_slice(&vec16(body));
    }
    vec16(&b)
}

/// A ClientHello handshake message.
fn client_hello(version: u16, sid: &[u8], ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x11; 32]);
    b.push(u8::try_from(sid.len()).unwrap());
    b.extend_from_slice(sid);
    b.extend_from_slice(&vec16(&u16s_bytes(ciphers)));
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&exts_block(exts));
    hsm(1, &b)
}

/// A ServerHello handshake message.
fn server_hello(version: u16, sid: &[u8], cipher: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    server_hello_random(version, &[0x22; 32], sid, cipher, exts)
}

fn server_hello_random(
    version: u16,
    random: &[u8],
    sid: &[u8],
    cipher: u16,
    exts: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(random);
    b.push(u8::try_from(sid.len()).unwrap());
    b.extend_from_slice(sid);
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    b.extend_from_slice(&exts_block(exts));
    hsm(2, &b)
}

/// A TLS ≤ 1.2 Certificate message.
fn certificate(ders: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for d in ders {
        list.extend_from_slice(&be24(d.len()));
        list.extend_from_slice(d);
    }
    let mut b = be24(list.len()).to_vec();
    b.extend_from_slice(&list);
    hsm(11, &b)
}

/// A typical modern ClientHello (SNI, ALPN, groups, points, sigalgs, ticket).
fn ch12(sni: &str) -> Vec<u8> {
    client_hello(
        0x0303,
        &[],
        &[0x0a0a, 0xc02f, 0xc030, 0x009c, 0x00ff],
        &[
            ext(0x1a1a, &[]),
            ext_sni(sni),
            ext_points(&[0]),
            ext_groups(&[0x2a2a, 29, 23]),
            ext(35, &[]),
            ext_alpn(&["h2", "http/1.1"]),
            ext_sigalgs(&[0x0403, 0x0804]),
        ],
    )
}

/// A TLS 1.3 ClientHello (compat session id, supported_versions with GREASE).
fn ch13(sni: &str, extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut exts = vec![
        ext_sni(sni),
        ext_groups(&[29, 23]),
        ext_alpn(&["h2"]),
        ext_sigalgs(&[0x0403, 0x0804, 0x0401]),
        ext_versions(&[0x3a3a, 0x0304, 0x0303]),
        ext(51, &[0, 0]),
    ];
    exts.extend_from_slice(extra);
    client_hello(0x0303, &[0x33; 32], &[0x1301, 0x1302, 0x1303], &exts)
}

/// A TLS 1.3 ServerHello.
fn sh13(extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut exts = vec![ext(43, &[3, 4]), ext(51, &[0, 29, 0, 0])];
    exts.extend_from_slice(extra);
    server_hello(0x0303, &[0x33; 32], 0x1301, &exts)
}
