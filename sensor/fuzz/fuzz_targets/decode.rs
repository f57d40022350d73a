//! Fuzz the L2-L4 decoder (`sensor::decode::Decoder::decode`) with every link type, several
//! frames per input so IP fragment reassembly keeps state between them; and the worker routing
//! of parallel replay and live hand-off (`route_link`), which reads the same untrusted headers.
//!
//! Input: byte 0 picks the link type (`% 7`); then records `[u16 BE header][frame]`: header bits
//! 0..14 = frame length (clamped), bit 14 = advance the clock by 40 s before this frame (defrag
//! timeouts), bit 15 = the frame was truncated by the snap length (wire length + 1000).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::decode::{Decoded, Decoder, LinkType, Transport};
use sensor::pipeline::handoff::{route_link, Route};
use sensor::time::Ts;

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
];

fuzz_target!(|data: &[u8]| {
    let Some((&b0, mut rest)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(b0) % LINKS.len()];
    let mut dec = Decoder::new();
    let mut ts = Ts(1_700_000_000_000_000_000);
    while rest.len() >= 2 {
        let hdr = u16::from_be_bytes([rest[0], rest[1]]);
        rest = &rest[2..];
        let n = usize::from(hdr & 0x3fff).min(rest.len());
        let (frame, tail) = rest.split_at(n);
        rest = tail;
        ts.0 += if hdr & 0x4000 != 0 {
            40_000_000_000
        } else {
            1_000_000
        };
        let wire = n as u32 + if hdr & 0x8000 != 0 { 1000 } else { 0 };
        for workers in [2, 3] {
            match route_link(link, frame, workers, 0) {
                Route::One(o) => assert!(o < workers),
                Route::Split { flow, app } => {
                    assert!(flow < workers && app < workers && flow != app)
                }
            }
        }
        match dec.decode(link, ts, frame, wire) {
            Decoded::Packet(p) => {
                let n = match p.transport {
                    Transport::Tcp { payload, .. } | Transport::Udp { payload, .. } => {
                        payload.len()
                    }
                    Transport::Icmp { msg, .. } => msg.len(),
                    Transport::Other { proto } => usize::from(proto),
                };
                std::hint::black_box((n, p.vlans.as_slice().len(), p.src, p.dst));
            }
            other => {
                std::hint::black_box(other);
            }
        }
    }
});
