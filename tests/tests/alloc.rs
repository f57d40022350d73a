//! No allocation per packet in steady state: a counting global allocator watches the pipeline
//! while established connections stream data (an unclaimed port, and an HTTP response body larger
//! than `max_message_size`, in order and with reordered segment pairs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::output::Output;
use sensor::pipeline::Pipeline;
use sensor::time::Ts;
use sensor_tests::tcp_frame;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only bumps a thread-local counter besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, COUNT.with(Cell::get))
}

const C: [u8; 4] = [198, 18, 0, 1];
const S: [u8; 4] = [198, 18, 0, 2];
const ACK: u8 = 0x10;
const SYN: u8 = 0x02;

/// Frames of a connection: handshake, `head` from the client, then `n` server segments of
/// `seg` bytes; `swap` reorders every second pair of server segments.
fn connection(
    port: u16,
    head: &[u8],
    resp_head: &[u8],
    n: usize,
    seg: usize,
    swap: bool,
) -> Vec<Vec<u8>> {
    let (cisn, sisn) = (1000u32, 5000u32);
    let mut v = vec![
        tcp_frame(C, S, 40000, port, cisn, 0, SYN, &[]),
        tcp_frame(S, C, port, 40000, sisn, cisn + 1, SYN | ACK, &[]),
        tcp_frame(C, S, 40000, port, cisn + 1, sisn + 1, ACK, head),
    ];
    let cnext = cisn + 1 + head.len() as u32;
    let mut sseq = sisn + 1;
    v.push(tcp_frame(S, C, port, 40000, sseq, cnext, ACK, resp_head));
    sseq += resp_head.len() as u32;
    let body = vec![b'x'; seg];
    let mut segs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            tcp_frame(
                S,
                C,
                port,
                40000,
                sseq + (i * seg) as u32,
                cnext,
                ACK,
                &body,
            )
        })
        .collect();
    if swap {
        for pair in segs.chunks_mut(2).step_by(2) {
            pair.swap(0, pair.len() - 1);
        }
    }
    v.extend(segs);
    v
}

fn steady_allocs(
    cfg_yaml: &str,
    frames: &[Vec<u8>],
    warm: usize,
) -> (u64, sensor::telemetry::Summary) {
    let cfg = Config::from_yaml(cfg_yaml).unwrap();
    let mut p = Pipeline::new(cfg, Output::from_writer(Box::new(std::io::sink())));
    let ts = |i: usize| Ts(1_800_000_000_000_000_000 + i as u64 * 10_000); // 10 µs apart: no timer tick
    for (i, f) in frames[..warm].iter().enumerate() {
        p.frame(LinkType::Ethernet, ts(i), f, f.len() as u32);
    }
    let (_, n) = count(|| {
        for (i, f) in frames[warm..].iter().enumerate() {
            p.frame(LinkType::Ethernet, ts(warm + i), f, f.len() as u32);
        }
    });
    let summary = p.finish();
    (n, summary)
}

#[test]
fn the_counter_counts() {
    let (v, n) = count(|| Vec::<u8>::with_capacity(10));
    drop(v);
    assert_eq!(n, 1);
}

#[test]
fn unclaimed_connection_allocates_nothing_per_packet() {
    let frames = connection(9999, b"hello", b"world", 20_000, 1400, false);
    let (n, s) = steady_allocs("", &frames, 200);
    assert_eq!(n, 0);
    assert_eq!(s.pipeline.unclaimed_packets, frames.len() as u64);
}

#[test]
fn http_body_streaming_allocates_nothing_per_packet() {
    let req = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\nContent-Type: application/octet-stream\r\n\r\n";
    let cfg = "packetbeat.protocols:\n- type: http\n  ports: [80]\n  max_message_size: 4096\n";
    let frames = connection(80, req, resp, 20_000, 1400, false);
    let (n, s) = steady_allocs(cfg, &frames, 200);
    assert_eq!(n, 0);
    assert_eq!(s.pipeline.sessions, 1);
    // The request is published at the end, unanswered (the body never completes).
    assert_eq!(
        s.protocols
            .iter()
            .find(|(id, _)| id.name() == "http")
            .unwrap()
            .1
            .transactions,
        1
    );
}

#[test]
fn reordered_segments_reuse_pooled_buffers() {
    let req = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n";
    let cfg = "packetbeat.protocols:\n- type: http\n  ports: [80]\n  max_message_size: 4096\n";
    let frames = connection(80, req, resp, 20_000, 1400, true);
    let (n, s) = steady_allocs(cfg, &frames, 400);
    assert_eq!(n, 0);
    assert!(s.reassembly.out_of_order >= 4_000, "{:?}", s.reassembly);
    assert_eq!(s.reassembly.gaps, 0);
}
