//! NFS unit tests with hand-built RPC messages.

use rand::{Rng, SeedableRng};

use super::*;
use crate::config::CommonConfig;
use crate::proto::{ConnMeta, ProtoStats, Txn};

fn w(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn opaque(b: &mut Vec<u8>, d: &[u8]) {
    w(b, d.len() as u32);
    b.extend_from_slice(d);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

/// An RPC call (no record mark) with AUTH_SYS credentials.
fn call(xid: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [xid, 0, 2, 100_003, vers, proc_, 1] {
        w(&mut b, v);
    }
    let mut cred = Vec::new();
    w(&mut cred, 7);
    opaque(&mut cred, b"libnfs");
    for v in [1000, 100, 2, 10, 20] {
        w(&mut cred, v);
    }
    opaque(&mut b, &cred);
    w(&mut b, 0);
    w(&mut b, 0);
    b.extend_from_slice(args);
    b
}

/// An accepted reply with `results`.
fn reply(xid: u32, accept: u32, results: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [xid, 1, 0, 0, 0, accept] {
        w(&mut b, v);
    }
    b.extend_from_slice(results);
    b
}

/// One record mark + message.
fn rec(m: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    w(&mut b, 0x8000_0000 | m.len() as u32);
    b.extend_from_slice(m);
    b
}

struct H {
    d: Nfs,
    meta: ConnMeta,
    common: CommonConfig,
    stats: ProtoStats,
    out: Vec<Txn>,
    bufs: [Vec<u8>; 2],
}

impl H {
    fn new(l4: L4) -> H {
        H {
            d: Nfs::new(&Config::default()),
            meta: ConnMeta {
                client: "198.18.10.20:800".parse().unwrap(),
                server: "198.18.10.10:2049".parse().unwrap(),
                l4,
                vlan: vec![],
            },
            common: CommonConfig::default(),
            stats: ProtoStats::default(),
            out: Vec::new(),
            bufs: [Vec::new(), Vec::new()],
        }
    }

    fn call<R>(&mut self, ts: u64, f: impl FnOnce(&mut Nfs, &mut Cx<'_>) -> R) -> R {
        let mut cx = Cx {
            ts: Ts(ts),
            meta: &self.meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        f(&mut self.d, &mut cx)
    }

    /// Feed stream bytes as the pipeline does (unconsumed tail kept).
    fn feed(&mut self, ts: u64, dir: Direction, data: &[u8]) {
        let i = dir.index();
        let mut buf = std::mem::take(&mut self.bufs[i]);
        buf.extend_from_slice(data);
        match self.call(ts, |d, cx| d.parse(cx, dir, &buf)) {
            Progress::Consumed => buf.clear(),
            Progress::NeedMore { consumed, .. } => {
                buf.drain(..consumed);
            }
            Progress::GiveUp(r) => panic!("gave up {r:?}"),
        }
        self.bufs[i] = buf;
    }

    fn close(&mut self, ts: u64) {
        self.call(ts, |d, cx| d.on_close(cx, CloseReason::EndOfInput));
    }
}

fn getattr_v3(xid: u32) -> (Vec<u8>, Vec<u8>) {
    let mut args = Vec::new();
    opaque(&mut args, &[1; 8]);
    (
        call(xid, 3, 1, &args),
        reply(xid, 0, &[0, 0, 0, 0, 0, 0, 0, 1]),
    )
}

#[test]
fn v3_getattr_tcp() {
    let (c, r) = getattr_v3(77);
    let mut h = H::new(L4::Tcp);
    h.feed(1_000, Direction::ToServer, &rec(&c));
    h.feed(3_000, Direction::ToClient, &rec(&r));
    h.close(9_000);
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.network_protocol, Some("nfsv3"));
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.request_bytes, Some(c.len() as u64 + 4));
    assert_eq!(t.response_bytes, Some(r.len() as u64 + 4));
    assert_eq!(t.request_ts, Some(Ts(1_000)));
    assert_eq!(t.response_ts, Some(Ts(3_000)));
    let f = &t.fields;
    assert_eq!(f["rpc"]["xid"], 77);
    assert_eq!(f["rpc"]["status"], "success");
    assert_eq!(f["rpc"]["auth_flavor"], "unix");
    assert_eq!(f["rpc"]["cred"]["uid"], 1000);
    assert_eq!(f["rpc"]["cred"]["gid"], 100);
    assert_eq!(f["rpc"]["cred"]["gids"], serde_json::json!([10, 20]));
    assert_eq!(f["rpc"]["cred"]["machinename"], "libnfs");
    assert_eq!(f["rpc"]["cred"]["stamp"], 7);
    assert_eq!(f["rpc"]["time"], 2_000);
    assert_eq!(f["rpc"]["time_str"], "2µs");
    assert_eq!(f["nfs"]["version"], 3);
    assert_eq!(f["nfs"]["opcode"], "GETATTR");
    assert_eq!(f["nfs"]["status"], "NFS_OK");
}

/// COMPOUND args: tag, minor version, ops (opcode + raw args).
fn compound(minor: u32, ops: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    opaque(&mut b, b"t1");
    w(&mut b, minor);
    w(&mut b, ops.len() as u32);
    for (op, args) in ops {
        w(&mut b, *op);
        b.extend_from_slice(args);
    }
    b
}

fn fh() -> Vec<u8> {
    let mut b = Vec::new();
    opaque(&mut b, &[9; 12]);
    b
}

fn bitmap2() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [2, 0x10, 0x20] {
        w(&mut b, v);
    }
    b
}

fn name(n: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    opaque(&mut b, n);
    b
}

/// A COMPOUND's ops (opcode, arguments) and the expected main op.
type MainOpCase = (Vec<(u32, Vec<u8>)>, &'static str);

#[test]
fn v4_main_op() {
    let seq = [vec![7; 16], vec![0; 16]].concat();
    let cases: Vec<MainOpCase> = vec![
        (
            vec![
                (24, vec![]),
                (15, name(b"docs")),
                (9, bitmap2()),
                (10, vec![]),
            ],
            "LOOKUP",
        ),
        (
            vec![
                (22, fh()),
                (9, bitmap2()),
                (10, vec![]),
                (26, [vec![0; 24], bitmap2()].concat()),
            ],
            "READDIR",
        ),
        (vec![(22, fh()), (9, bitmap2())], "GETATTR"),
        (
            vec![(53, seq.clone()), (22, fh()), (9, bitmap2())],
            "GETATTR",
        ),
        (vec![(53, seq.clone())], "SEQUENCE"),
        (vec![(22, fh()), (10, vec![])], "GETFH"),
        (
            vec![(53, seq), (22, fh()), (25, vec![0; 28]), (9, bitmap2())],
            "READ",
        ),
        // ACCESS before OPEN: the significant op is OPEN.
        (
            vec![
                (22, fh()),
                (9, bitmap2()),
                (3, vec![0, 0, 0, 1]),
                (18, open_args()),
                (10, vec![]),
            ],
            "OPEN",
        ),
        (vec![(35, vec![])], "SETCLIENTID"),
        (vec![], "ILLEGAL"),
    ];
    for (ops, want) in cases {
        let args = compound(1, &ops);
        let mut x = xdr::Xdr::new(&args);
        let c = v4::compound(&mut x).unwrap();
        assert_eq!(c.main_op(), want, "{:?}", c.ops);
        assert_eq!(c.tag, "t1");
        assert_eq!(c.minor_version, 1);
    }
}

fn open_args() -> Vec<u8> {
    let mut b = vec![0; 12];
    b.extend_from_slice(&[0; 8]);
    opaque(&mut b, b"owner");
    w(&mut b, 1); // OPEN4_CREATE
    w(&mut b, 0); // UNCHECKED4
    b.extend_from_slice(&bitmap2());
    opaque(&mut b, &[0; 8]);
    w(&mut b, 0); // CLAIM_NULL
    opaque(&mut b, b"file");
    b
}

#[test]
fn v4_compound_event_and_error() {
    let args = compound(0, &[(22, fh()), (15, name(b"nope"))]);
    let c = call(5, 4, 1, &args);
    let mut res = Vec::new();
    w(&mut res, 2); // NFS4ERR_NOENT
    let r = reply(5, 0, &res);
    let mut h = H::new(L4::Tcp);
    h.feed(10, Direction::ToServer, &rec(&c));
    h.feed(20, Direction::ToClient, &rec(&r));
    let t = &h.out[0];
    assert_eq!(t.network_protocol, Some("nfsv4"));
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.fields["nfs"]["opcode"], "LOOKUP");
    assert_eq!(t.fields["nfs"]["tag"], "t1");
    assert_eq!(t.fields["nfs"]["minor_version"], 0);
    assert_eq!(t.fields["nfs"]["status"], "NFSERR_NOENT");
    // NULL: status NFS_OK without results.
    let mut h = H::new(L4::Tcp);
    h.feed(10, Direction::ToServer, &rec(&call(6, 4, 0, &[])));
    h.feed(20, Direction::ToClient, &rec(&reply(6, 0, &[])));
    assert_eq!(h.out[0].fields["nfs"]["opcode"], "NULL");
    assert_eq!(h.out[0].fields["nfs"]["status"], "NFS_OK");
    assert_eq!(h.out[0].status, Status::Ok);
}

#[test]
fn status_names() {
    assert_eq!(names::status_name(3, 10008), "NFSERR_JUKEBOX");
    assert_eq!(names::status_name(4, 10008), "NFSERR_DELAY");
    assert_eq!(names::status_name(4, 10086), "NFSERR_RETURNCONFLICT");
    assert_eq!(names::status_name(3, 70), "NFSERR_STALE");
    assert_eq!(names::status_name(3, 4242), "unknown (4242)");
    assert_eq!(ecs::go_duration(208_000), "208µs");
    assert_eq!(ecs::go_duration(1_500_000), "1.5ms");
    assert_eq!(ecs::go_duration(2_000_001_000), "2.000001s");
    assert_eq!(ecs::go_duration(61_000_000_000), "1m1s");
}

#[test]
fn rpc_failures_and_unmatched() {
    let (c, _) = getattr_v3(1);
    let mut h = H::new(L4::Tcp);
    h.feed(10, Direction::ToServer, &rec(&c));
    h.feed(20, Direction::ToClient, &rec(&reply(1, 3, &[])));
    assert_eq!(h.out[0].status, Status::Error);
    assert_eq!(h.out[0].fields["rpc"]["status"], "proc_unavail");
    assert!(h.out[0].fields["nfs"].get("status").is_none());
    // Denied.
    let mut denied = Vec::new();
    for v in [2, 1, 1, 1, 1] {
        w(&mut denied, v);
    }
    h.feed(30, Direction::ToServer, &rec(&getattr_v3(2).0));
    h.feed(40, Direction::ToClient, &rec(&denied));
    assert_eq!(h.out[1].fields["rpc"]["status"], "auth_error");
    // Unanswered: published at the timeout, then at close.
    h.feed(50, Direction::ToServer, &rec(&getattr_v3(3).0));
    h.feed(60, Direction::ToServer, &rec(&getattr_v3(4).0));
    let late = 50 + h.common.transaction_timeout.as_nanos() as u64;
    h.call(late, |d, cx| d.on_timer(cx));
    assert_eq!(h.out.len(), 3);
    assert_eq!(h.out[2].fields["rpc"]["xid"], 3);
    assert_eq!(h.out[2].notes, vec![NOTE_NO_REPLY.to_owned()]);
    assert!(h.out[2].response_bytes.is_none());
    h.close(late + 1);
    assert_eq!(h.out.len(), 4);
    // A reply without a call and a non-NFS program are ignored.
    let mut h = H::new(L4::Tcp);
    h.feed(10, Direction::ToClient, &rec(&reply(9, 0, &[0; 4])));
    let mut other = call(8, 3, 1, &[]);
    other[12..16].copy_from_slice(&100_227u32.to_be_bytes());
    h.feed(20, Direction::ToServer, &rec(&other));
    h.close(30);
    assert!(h.out.is_empty());
}

#[test]
fn multi_fragment_and_splits() {
    // A WRITE whose record is split in three fragments, plus a second call in the same
    // bytes, fed whole, byte by byte and in random chunks: identical events.
    let mut args = fh();
    args.extend_from_slice(&[0; 12]);
    opaque(&mut args, &vec![0xab; 5000]);
    let c1 = call(11, 3, 7, &args);
    let (c2, r2) = getattr_v3(12);
    let r1 = reply(11, 0, &[0; 4]);
    let mut up = Vec::new();
    let (a, rest) = c1.split_at(100);
    let (b, c) = rest.split_at(3000);
    for (part, last) in [(a, false), (b, false), (c, true)] {
        w(
            &mut up,
            part.len() as u32 | if last { 0x8000_0000 } else { 0 },
        );
        up.extend_from_slice(part);
    }
    up.extend_from_slice(&rec(&c2));
    let mut down = rec(&r1);
    down.extend_from_slice(&rec(&r2));
    let run = |chunks: &dyn Fn(&[u8]) -> Vec<Vec<u8>>| {
        let mut h = H::new(L4::Tcp);
        for ch in chunks(&up) {
            h.feed(10, Direction::ToServer, &ch);
        }
        for ch in chunks(&down) {
            h.feed(20, Direction::ToClient, &ch);
        }
        h.close(30);
        h.out
            .iter()
            .map(|t| (t.request_bytes, t.response_bytes, t.fields.clone()))
            .collect::<Vec<_>>()
    };
    let whole = run(&|b| vec![b.to_vec()]);
    assert_eq!(whole.len(), 2);
    assert_eq!(whole[0].0, Some(c1.len() as u64 + 12));
    assert_eq!(whole[0].2["nfs"]["opcode"], "WRITE");
    assert_eq!(whole[1].2["nfs"]["opcode"], "GETATTR");
    assert_eq!(run(&|b| b.chunks(1).map(<[u8]>::to_vec).collect()), whole);
    for seed in 0..20u64 {
        let cuts = |b: &[u8]| {
            let mut out = Vec::new();
            let mut i = 0;
            let mut r = rand::rngs::SmallRng::seed_from_u64(seed * 1000 + b.len() as u64);
            while i < b.len() {
                let n = r.random_range(1..200).min(b.len() - i);
                out.push(b[i..i + n].to_vec());
                i += n;
            }
            out
        };
        assert_eq!(run(&cuts), whole);
    }
}

#[test]
fn udp_and_gap_resync() {
    let (c, r) = getattr_v3(21);
    let mut h = H::new(L4::Udp);
    h.feed(10, Direction::ToServer, &c);
    h.feed(20, Direction::ToClient, &r);
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].request_bytes, Some(c.len() as u64));
    // TCP: half a record, a gap, then garbage and a new call: the new call is found.
    let mut h = H::new(L4::Tcp);
    let first = rec(&getattr_v3(30).0);
    h.feed(10, Direction::ToServer, &first[..30]);
    h.call(11, |d, cx| d.on_gap(cx, Direction::ToServer, 100));
    h.bufs[0].clear();
    let mut data = vec![0x55; 37];
    data.extend_from_slice(&rec(&c));
    h.feed(12, Direction::ToServer, &data);
    h.feed(13, Direction::ToClient, &rec(&r));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].fields["rpc"]["xid"], 21);
}

#[test]
fn probe() {
    let b = rec(&getattr_v3(1).0);
    assert_eq!(Nfs::probe(Direction::ToServer, &b), Probe::Match);
    assert_eq!(Nfs::probe(Direction::ToServer, &b[..10]), Probe::Unsure);
    assert_eq!(
        Nfs::probe(Direction::ToServer, b"GET / HTTP/1.1\r\nHost: x\r\n"),
        Probe::NotMine
    );
}

#[test]
fn robustness() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let args = compound(1, &[(22, fh()), (18, open_args()), (9, bitmap2())]);
    let msgs = [
        rec(&call(1, 4, 1, &args)),
        rec(&reply(1, 0, &[0; 16])),
        rec(&getattr_v3(2).0),
    ];
    for _ in 0..2000 {
        let mut h = H::new(if rng.random::<bool>() {
            L4::Tcp
        } else {
            L4::Udp
        });
        for m in &msgs {
            let mut b = m.clone();
            for _ in 0..rng.random_range(0..6) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            let cut = rng.random_range(0..=b.len());
            let dir = if rng.random::<bool>() {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            h.feed(1, dir, &b[..cut]);
        }
        let noise: Vec<u8> = (0..rng.random_range(0..300))
            .map(|_| rng.random())
            .collect();
        h.feed(2, Direction::ToClient, &noise);
        h.close(3);
    }
}
