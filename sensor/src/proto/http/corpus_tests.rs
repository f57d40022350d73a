//! Runs the dissector over the shared corpus captures (when present) with a minimal in-test
//! TCP reassembly, and checks the transactions against the oracles. With `HTTP_EVENTS_DIR`
//! set, it also writes NDJSON events (through the shared encoder) for `score --events-dir`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{CloseReason, ConnMeta, Cx, Direction, ProtoStats, Txn, L4};
use crate::time::Ts;

const CORPUS: &str = "/work/shared/corpus";

struct Conn {
    meta: ConnMeta,
    http: Http,
    next_seq: [Option<u32>; 2],
    buf: [Vec<u8>; 2],
    dead: [bool; 2],
    closed: bool,
}

/// How payloads are handed to the dissector.
#[derive(Clone, Copy)]
enum Feed {
    /// One call per segment.
    Whole,
    /// One call per byte.
    Bytes1,
    /// Random pieces (fixed seed).
    Random(u64),
}

fn run_pcap(path: &Path) -> Vec<Txn> {
    run_pcap_with(path, Feed::Whole, None)
}

/// Run a capture; `drop_frame` (0-based) is treated as lost: its payload becomes a gap.
fn run_pcap_with(path: &Path, feed: Feed, drop_frame: Option<usize>) -> Vec<Txn> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(match feed {
        Feed::Random(s) => s,
        _ => 0,
    });
    let bytes = std::fs::read(path).unwrap();
    let (_, cap) = pcap_parser::parse_pcap(&bytes).unwrap();
    let cfg = Config::default();
    let common = CommonConfig::default();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut conns: HashMap<(SocketAddr, SocketAddr), Conn> = HashMap::new();
    let mut last = Ts(0);
    for (frame, b) in cap.blocks.iter().enumerate() {
        let now = Ts::from_micros(u64::from(b.ts_sec), u64::from(b.ts_usec));
        last = now;
        let Ok(p) = etherparse::SlicedPacket::from_ethernet(b.data) else {
            continue;
        };
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(etherparse::NetSlice::Ipv4(s)) => (
                s.header().source_addr().into(),
                s.header().destination_addr().into(),
            ),
            Some(etherparse::NetSlice::Ipv6(s)) => (
                s.header().source_addr().into(),
                s.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(etherparse::TransportSlice::Tcp(tcp)) = &p.transport else {
            continue;
        };
        let a = SocketAddr::new(src, tcp.source_port());
        let bb = SocketAddr::new(dst, tcp.destination_port());
        let (client, server, dir) = if Http::DEFAULT_PORTS.contains(&bb.port()) {
            (a, bb, Direction::ToServer)
        } else if Http::DEFAULT_PORTS.contains(&a.port()) {
            (bb, a, Direction::ToClient)
        } else {
            continue;
        };
        let key = (client, server);
        if tcp.syn() && dir == Direction::ToServer {
            if let Some(mut old) = conns.remove(&key) {
                close(&mut old, &cfg, &common, &mut stats, &mut out, now);
            }
        }
        let c = conns.entry(key).or_insert_with(|| Conn {
            meta: ConnMeta {
                client,
                server,
                l4: L4::Tcp,
                vlan: vec![],
            },
            http: Http::new(&cfg),
            next_seq: [None, None],
            buf: [Vec::new(), Vec::new()],
            dead: [false, false],
            closed: false,
        });
        if c.closed {
            continue;
        }
        let i = dir.index();
        let seq = tcp.sequence_number();
        if tcp.syn() {
            c.next_seq[i] = Some(seq.wrapping_add(1));
        }
        let payload = tcp.payload();
        let mut cx = Cx {
            ts: now,
            meta: &c.meta,
            common: &common,
            stats: &mut stats,
            out: &mut out,
        };
        if !payload.is_empty() {
            let expected = c.next_seq[i].unwrap_or(seq);
            let off = expected.wrapping_sub(seq) as usize;
            if off < payload.len() {
                let new = &payload[off..];
                c.next_seq[i] = Some(expected.wrapping_add(new.len() as u32));
                if drop_frame == Some(frame) {
                    c.buf[i].clear();
                    c.http.on_gap(&mut cx, dir, new.len());
                } else if !c.dead[i] {
                    let mut pieces: Vec<&[u8]> = Vec::new();
                    match feed {
                        Feed::Whole => pieces.push(new),
                        Feed::Bytes1 => pieces.extend(new.chunks(1)),
                        Feed::Random(_) => {
                            let mut rest = new;
                            while !rest.is_empty() {
                                let n = rng.random_range(1..=rest.len().min(700));
                                let (a, b) = rest.split_at(n);
                                pieces.push(a);
                                rest = b;
                            }
                        }
                    }
                    for piece in pieces {
                        if c.dead[i] {
                            break;
                        }
                        c.buf[i].extend_from_slice(piece);
                        match c.http.parse(&mut cx, dir, &c.buf[i]) {
                            Progress::Consumed => c.buf[i].clear(),
                            Progress::NeedMore { consumed, .. } => {
                                c.buf[i].drain(..consumed);
                            }
                            Progress::GiveUp(_) => {
                                c.dead[i] = true;
                                c.buf[i].clear();
                            }
                        }
                    }
                }
            }
        }
        if tcp.fin() {
            c.http.on_fin(&mut cx, dir);
        }
        if tcp.rst() {
            c.http.on_close(&mut cx, CloseReason::Rst);
            c.closed = true;
        }
    }
    for (_, mut c) in conns {
        close(&mut c, &cfg, &common, &mut stats, &mut out, last);
    }
    out.sort_by_key(|t| t.timestamp());
    out
}

fn close(
    c: &mut Conn,
    _cfg: &Config,
    common: &CommonConfig,
    stats: &mut ProtoStats,
    out: &mut Vec<Txn>,
    now: Ts,
) {
    if c.closed {
        return;
    }
    let mut cx = Cx {
        ts: now,
        meta: &c.meta,
        common,
        stats,
        out,
    };
    c.http.on_close(&mut cx, CloseReason::EndOfInput);
    c.closed = true;
}

fn oracle_files(folder: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(CORPUS).join(folder))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".expect.json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn check_folder(folder: &str) -> (usize, usize, Vec<String>) {
    let mut total = 0;
    let mut good = 0;
    let mut errs = Vec::new();
    let events_dir = std::env::var("HTTP_EVENTS_DIR").ok();
    for exp in oracle_files(folder) {
        let name = exp.to_string_lossy().replace(".expect.json", "");
        let pcap = PathBuf::from(format!("{name}.pcap"));
        let oracle: Value = serde_json::from_slice(&std::fs::read(&exp).unwrap()).unwrap();
        let got = run_pcap(&pcap);
        if let Some(dir) = &events_dir {
            let stem = pcap.file_stem().unwrap().to_string_lossy().into_owned();
            let d = Path::new(dir).join(folder);
            std::fs::create_dir_all(&d).unwrap();
            let enc = crate::ecs::Encoder::default();
            let mut s = String::new();
            for t in &got {
                s.push_str(
                    &serde_json::to_string(&enc.txn_value(t, &CommonConfig::default())).unwrap(),
                );
                s.push('\n');
            }
            std::fs::write(d.join(format!("{stem}.ndjson")), s).unwrap();
        }
        let want: Vec<&Value> = oracle["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] == "http")
            .collect();
        let mut used = vec![false; got.len()];
        for w in &want {
            total += 1;
            let res = w["resource"].as_str().unwrap_or_default();
            let (path, query) = res.split_once('?').unwrap_or((res, ""));
            let req_ts = (w["request_ts"].as_f64().unwrap() * 1e6).round() as i64;
            let found = got.iter().enumerate().find(|(i, t)| {
                !used[*i]
                    && t.request_ts
                        .is_some_and(|ts| ((ts.0 / 1000) as i64 - req_ts).abs() <= 1000)
            });
            let Some((i, t)) = found else {
                errs.push(format!("{}: missing {res}", pcap.display()));
                continue;
            };
            used[i] = true;
            let mut bad = Vec::new();
            if !t
                .method
                .as_deref()
                .unwrap_or_default()
                .eq_ignore_ascii_case(w["method"].as_str().unwrap())
            {
                bad.push(format!("method {:?}", t.method));
            }
            if t.path.as_deref() != Some(path) {
                bad.push(format!("path {:?}", t.path));
            }
            let q = t.fields["url"]
                .get("query")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if q != query {
                bad.push(format!("query {q:?}"));
            }
            if t.request_bytes != w["request_bytes"].as_u64() {
                bad.push(format!(
                    "req bytes {:?} != {}",
                    t.request_bytes, w["request_bytes"]
                ));
            }
            if t.response_bytes != w["response_bytes"].as_u64() {
                bad.push(format!(
                    "resp bytes {:?} != {}",
                    t.response_bytes, w["response_bytes"]
                ));
            }
            let code = t.fields["http"]
                .get("response")
                .and_then(|r| r.get("status_code"))
                .and_then(Value::as_u64);
            let want_code = w["response"].get("code").and_then(Value::as_u64);
            if code != want_code {
                bad.push(format!("code {code:?} != {want_code:?}"));
            }
            let st = w["status"].as_str().unwrap();
            let ok = t.status == crate::proto::Status::Ok;
            if (st == "ok") != ok {
                bad.push(format!("status {:?} != {st}", t.status));
            }
            if bad.is_empty() {
                good += 1;
            } else {
                errs.push(format!("{} {res}: {}", pcap.display(), bad.join("; ")));
            }
        }
        for (i, t) in got.iter().enumerate() {
            if !used[i] {
                errs.push(format!(
                    "{}: extra {:?} {:?}",
                    pcap.display(),
                    t.path,
                    t.notes
                ));
            }
        }
    }
    (total, good, errs)
}

#[test]
fn corpus_http_and_mixed() {
    if !Path::new(CORPUS).exists() {
        return;
    }
    let mut all_errs = Vec::new();
    for folder in ["http", "mixed", "tls"] {
        let (total, good, errs) = check_folder(folder);
        eprintln!("{folder}: {good}/{total} transactions correct");
        all_errs.extend(errs);
    }
    assert!(all_errs.is_empty(), "{}", all_errs.join("\n"));
}

#[test]
fn corpus_resplit_identical() {
    if !Path::new(CORPUS).exists() {
        return;
    }
    for folder in ["http", "mixed"] {
        for exp in oracle_files(folder) {
            let pcap = PathBuf::from(exp.to_string_lossy().replace(".expect.json", ".pcap"));
            let whole = run_pcap_with(&pcap, Feed::Whole, None);
            assert_eq!(
                whole,
                run_pcap_with(&pcap, Feed::Bytes1, None),
                "{}",
                pcap.display()
            );
            for seed in 1..=3 {
                let r = run_pcap_with(&pcap, Feed::Random(seed), None);
                assert_eq!(whole, r, "{} seed {seed}", pcap.display());
            }
        }
    }
}

#[test]
fn corpus_lost_body_segment() {
    let pcap = Path::new(CORPUS).join("http/large_response.pcap");
    let exp = Path::new(CORPUS).join("http/large_response.expect.json");
    if !pcap.exists() {
        return;
    }
    let oracle: Value = serde_json::from_slice(&std::fs::read(&exp).unwrap()).unwrap();
    let want = oracle["transactions"][0]["response_bytes"].as_u64();
    let first = oracle["transactions"][0]["response_frame"]
        .as_u64()
        .unwrap() as usize;
    // Frames are 1-based in the oracle; drop a data segment well inside the body.
    let t = run_pcap_with(&pcap, Feed::Whole, Some(first + 20));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, want);
    assert_eq!(
        t[0].notes,
        vec!["Packet loss while capturing the response".to_owned()]
    );
}
