//! Runs the dissector over the shared corpus TLS captures (when present) with a minimal in-order
//! TCP model, whole and in random pieces, and checks each event against its oracle: status,
//! SNI, version, resumption, JA3, JA3S, ALPN, bytes and the leaf certificate's subject.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use super::*;

const CORPUS: &str = "/work/shared/corpus/tls";

struct Conn {
    meta: ConnMeta,
    tls: Tls,
    next_seq: [Option<u32>; 2],
    buf: [Vec<u8>; 2],
    dead: [bool; 2],
}

fn run_pcap(path: &Path, seed: Option<u64>) -> Vec<Txn> {
    let mut rng = SmallRng::seed_from_u64(seed.unwrap_or(0));
    let bytes = std::fs::read(path).unwrap();
    let (_, cap) = pcap_parser::parse_pcap(&bytes).unwrap();
    let cfg = Config::default();
    let common = CommonConfig::default();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut conns: HashMap<(SocketAddr, SocketAddr), Conn> = HashMap::new();
    let mut last = Ts(0);
    for b in &cap.blocks {
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
        let (client, server, dir) = if Tls::DEFAULT_PORTS.contains(&bb.port()) {
            (a, bb, C)
        } else if Tls::DEFAULT_PORTS.contains(&a.port()) {
            (bb, a, S)
        } else {
            continue;
        };
        let c = conns.entry((client, server)).or_insert_with(|| Conn {
            meta: ConnMeta {
                client,
                server,
                l4: L4::Tcp,
                vlan: vec![],
            },
            tls: Tls::new(&cfg),
            next_seq: [None, None],
            buf: [Vec::new(), Vec::new()],
            dead: [false, false],
        });
        let i = dir.index();
        let seq = tcp.sequence_number();
        if tcp.syn() {
            c.next_seq[i] = Some(seq.wrapping_add(1));
        }
        let payload = tcp.payload();
        let expected = c.next_seq[i].unwrap_or(seq);
        let off = expected.wrapping_sub(seq) as usize;
        if payload.is_empty() || off >= payload.len() || c.dead[i] {
            continue;
        }
        let new = &payload[off..];
        c.next_seq[i] = Some(expected.wrapping_add(new.len() as u32));
        let mut pieces: Vec<&[u8]> = Vec::new();
        if seed.is_some() {
            let mut rest = new;
            while !rest.is_empty() {
                let n = rng.random_range(1..=rest.len().min(300));
                let (x, y) = rest.split_at(n);
                pieces.push(x);
                rest = y;
            }
        } else {
            pieces.push(new);
        }
        let mut cx = Cx {
            ts: now,
            meta: &c.meta,
            common: &common,
            stats: &mut stats,
            out: &mut out,
        };
        for piece in pieces {
            if c.dead[i] {
                break;
            }
            c.buf[i].extend_from_slice(piece);
            match c.tls.parse(&mut cx, dir, &c.buf[i]) {
                Progress::Consumed => c.buf[i].clear(),
                Progress::NeedMore { consumed, .. } => {
                    c.buf[i].drain(..consumed);
                }
                Progress::GiveUp(_) => c.dead[i] = true,
            }
        }
    }
    for (_, mut c) in conns {
        let mut cx = Cx {
            ts: last,
            meta: &c.meta,
            common: &common,
            stats: &mut stats,
            out: &mut out,
        };
        c.tls.on_close(&mut cx, CloseReason::EndOfInput);
    }
    out.sort_by_key(|t| t.timestamp());
    out
}

fn check_file(expect: &Path) {
    let oracle: Value = serde_json::from_str(&std::fs::read_to_string(expect).unwrap()).unwrap();
    let pcap = expect.with_file_name(
        expect
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace(".expect.json", ".pcap"),
    );
    let got = run_pcap(&pcap, None);
    let got_random = run_pcap(&pcap, Some(5));
    assert_eq!(got, got_random, "{}: random split differs", pcap.display());
    let want: Vec<&Value> = oracle["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "tls")
        .collect();
    assert_eq!(got.len(), want.len(), "{}", pcap.display());
    for (t, w) in got.iter().zip(want) {
        let name = format!("{} #{}", pcap.display(), w["id"]);
        let ok = w["status"] == "ok";
        assert_eq!(t.status == crate::proto::Status::Ok, ok, "{name}");
        assert_eq!(get(t, "tls.established"), ok, "{name}");
        assert_eq!(t.request_bytes, w["request_bytes"].as_u64(), "{name}");
        assert_eq!(t.response_bytes, w["response_bytes"].as_u64(), "{name}");
        let (rq, rs, tl) = (&w["request"], &w["response"], &w["tls"]);
        if let Some(sni) = rq["sni"].as_str() {
            assert_eq!(get(t, "tls.client.server_name"), sni, "{name}");
        }
        assert_eq!(get(t, "tls.client.ja3"), &rq["ja3"], "{name}");
        if let Some(j) = rs["ja3s"].as_str() {
            assert_eq!(get(t, "tls.server.ja3s"), j, "{name}");
        }
        if let Some(v) = tl["version"].as_str() {
            assert_eq!(
                get(t, "tls.version"),
                v.split(' ').next_back().unwrap(),
                "{name}"
            );
        }
        if let Some(r) = tl["resumed"].as_bool() {
            assert_eq!(get(t, "tls.resumed"), r, "{name}");
        }
        if let Some(a) = rs["alpn"].as_str() {
            assert_eq!(get(t, "tls.next_protocol"), a, "{name}");
        }
        if let Some(certs) = rs["certificates"].as_array() {
            // tshark prints the subject in DER order, Go (and we) most specific first.
            let want: Vec<&str> = certs[0]["subject"]
                .as_str()
                .unwrap()
                .split(',')
                .rev()
                .collect();
            assert_eq!(
                get(t, "tls.server.subject"),
                want.join(",").as_str(),
                "{name}"
            );
        }
    }
}

#[test]
fn corpus_tls() {
    let Ok(dir) = std::fs::read_dir(CORPUS) else {
        return;
    };
    let mut n = 0;
    for e in dir {
        let p = e.unwrap().path();
        if p.to_str().unwrap().ends_with(".expect.json") {
            check_file(&p);
            n += 1;
        }
    }
    assert!(n > 0);
}
