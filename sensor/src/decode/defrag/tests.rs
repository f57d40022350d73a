//! Fragment reassembly tests: orders, duplicates, overlaps, timeouts, caps, buffer reuse.

use std::net::{Ipv4Addr, Ipv6Addr};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::*;

const SEC: u64 = 1_000_000_000;

fn key4(id: u32) -> FragKey {
    FragKey {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        id,
        proto: 17,
    }
}

fn key6(id: u32) -> FragKey {
    FragKey {
        src: IpAddr::V6(Ipv6Addr::LOCALHOST),
        dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        id,
        proto: 17,
    }
}

/// One fragment: offset, more, bytes.
type Frag = (u32, bool, Vec<u8>);

/// Split `data` into fragments of `size` bytes (a multiple of 8).
fn fragments(data: &[u8], size: usize) -> Vec<Frag> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let end = (off + size).min(data.len());
        v.push((off as u32, end < data.len(), data[off..end].to_vec()));
        off = end;
    }
    v
}

fn datagram(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Feed fragments; returns the completed datagram (payload, frames, wire bytes, first ts).
fn feed(d: &mut Defrag, key: FragKey, frags: &[Frag], t0: u64) -> Option<(Vec<u8>, u32, u64, Ts)> {
    let mut done = None;
    for (n, (off, more, bytes)) in frags.iter().enumerate() {
        let ts = Ts(t0 + n as u64);
        let wire = bytes.len() as u32 + 34;
        if let Some(r) = d.add(ts, key, *off, *more, bytes, wire) {
            assert!(done.is_none(), "completed twice");
            done = Some((r.payload.to_vec(), r.frames, r.wire_bytes, r.first_ts));
        }
    }
    done
}

#[test]
fn in_order() {
    let mut d = Defrag::new();
    let data = datagram(3000, 1);
    let frags = fragments(&data, 1480);
    let (p, frames, wire, first) = feed(&mut d, key4(7), &frags, 100).unwrap();
    assert_eq!(p, data);
    assert_eq!(frames, 3);
    assert_eq!(wire, 3000 + 3 * 34);
    assert_eq!(first, Ts(100));
    assert_eq!(d.stats.reassembled, 1);
    assert_eq!(d.stats.fragments, 3);
    assert_eq!(d.pending(), 0);
    assert_eq!(d.held_bytes(), 0);
}

#[test]
fn reversed() {
    let mut d = Defrag::new();
    let data = datagram(5000, 2);
    let mut frags = fragments(&data, 1232);
    frags.reverse();
    let (p, frames, _, first) = feed(&mut d, key6(0xdead_beef), &frags, 50).unwrap();
    assert_eq!(p, data);
    assert_eq!(frames, 5);
    assert_eq!(first, Ts(50), "time of the first fragment received");
}

#[test]
fn shuffled_interleaved_with_duplicates() {
    for seed in 0..200u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut d = Defrag::new();
        let n = rng.random_range(1..20);
        let mut all: Vec<(u32, Frag)> = Vec::new();
        let mut want = Vec::new();
        for id in 0..n {
            let len = rng.random_range(1..20_000);
            let size = 8 * rng.random_range(1..200);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let frags = fragments(&data, size);
            if frags.len() > MAX_FRAGMENTS as usize / 2 {
                continue;
            }
            for f in &frags {
                all.push((id, f.clone()));
                if rng.random_bool(0.2) {
                    all.push((id, f.clone()));
                }
            }
            // Sometimes an agreeing overlap with other boundaries.
            if rng.random_bool(0.3) && len > 16 {
                let a = 8 * rng.random_range(0..len / 8);
                let b = (a + 8 * rng.random_range(1..10)).min(len);
                let more = b < len;
                let b = if more { a + (b - a) / 8 * 8 } else { b };
                if b > a {
                    all.push((id, (a as u32, more, data[a..b].to_vec())));
                }
            }
            want.push((id, data));
        }
        all.shuffle(&mut rng);
        let mut got = std::collections::BTreeMap::new();
        for (i, (id, (off, more, bytes))) in all.iter().enumerate() {
            let key = if id % 2 == 0 {
                key4(*id)
            } else {
                key6(*id | 0x8000_0000)
            };
            if let Some(r) = d.add(Ts(i as u64), key, *off, *more, bytes, 0) {
                // A duplicate of a one-fragment datagram completes it again, identically.
                let prev = got.insert(*id, r.payload.to_vec());
                assert!(prev.is_none_or(|p| p == r.payload), "seed {seed}");
            }
        }
        let got: Vec<_> = got.into_iter().collect();
        assert!(got == want, "seed {seed}");
        assert_eq!(d.stats.malformed, 0, "seed {seed}");
        assert_eq!(d.stats.cap_drops, 0, "seed {seed}");
        // Duplicates arriving after completion start datagrams that only time out.
        d.expire(Ts(all.len() as u64 + DEFRAG_TIMEOUT_NS + 1));
        assert_eq!(d.held_bytes(), 0);
        assert_eq!(d.pending(), 0);
    }
}

#[test]
fn duplicates_are_counted_and_accepted() {
    let mut d = Defrag::new();
    let data = datagram(100, 3);
    let k = key4(1);
    assert!(d.add(Ts(1), k, 0, true, &data[..64], 100).is_none());
    assert!(d.add(Ts(2), k, 0, true, &data[..64], 100).is_none());
    let r = d.add(Ts(3), k, 64, false, &data[64..], 50).unwrap();
    assert_eq!(r.payload, &data[..]);
    assert_eq!(r.frames, 3);
    assert_eq!(r.wire_bytes, 250);
    assert_eq!(d.stats.duplicates, 1);
    // A duplicate of a completed datagram's fragment starts a new (incomplete) one.
    assert!(d.add(Ts(4), k, 64, false, &data[64..], 50).is_none());
    assert_eq!(d.pending(), 1);
}

#[test]
fn disagreeing_overlap_drops_datagram() {
    let mut d = Defrag::new();
    let data = datagram(64, 4);
    let k = key4(2);
    assert!(d.add(Ts(1), k, 0, true, &data[..32], 0).is_none());
    let mut evil = data[16..48].to_vec();
    evil[0] ^= 1;
    assert!(d.add(Ts(2), k, 16, true, &evil, 0).is_none());
    assert_eq!(d.stats.malformed, 1);
    assert_eq!(d.pending(), 0);
    assert_eq!(d.held_bytes(), 0);
    // Agreeing overlap is fine.
    assert!(d.add(Ts(3), k, 0, true, &data[..32], 0).is_none());
    assert!(d.add(Ts(4), k, 16, true, &data[16..48], 0).is_none());
    let r = d.add(Ts(5), k, 40, false, &data[40..], 0).unwrap();
    assert_eq!(r.payload, &data[..]);
    assert_eq!(d.stats.duplicates, 0);
}

#[test]
fn malformed_fragments() {
    let mut d = Defrag::new();
    let k = key4(3);
    // Beyond 65535 bytes.
    assert!(d.add(Ts(1), k, 65_528, false, &[0; 16], 0).is_none());
    // Non-last fragment not a multiple of 8.
    assert!(d.add(Ts(1), k, 0, true, &[0; 13], 0).is_none());
    // Empty non-last fragment.
    assert!(d.add(Ts(1), k, 8, true, &[], 0).is_none());
    // Offset not a multiple of 8.
    assert!(d.add(Ts(1), k, 3, false, &[0; 4], 0).is_none());
    assert_eq!(d.stats.malformed, 4);
    assert_eq!(d.pending(), 0);
    // Two different ends.
    assert!(d.add(Ts(2), k, 16, false, &[0; 8], 0).is_none());
    assert!(d.add(Ts(2), k, 32, false, &[0; 8], 0).is_none());
    assert_eq!(d.stats.malformed, 5);
    assert_eq!(d.pending(), 0);
    // Data past the end.
    assert!(d.add(Ts(3), k, 16, true, &[0; 16], 0).is_none());
    assert!(d.add(Ts(3), k, 0, false, &[0; 8], 0).is_none());
    assert_eq!(d.stats.malformed, 6);
    assert!(d.add(Ts(4), k, 0, false, &[0; 8], 0).is_some());
    assert!(d.add(Ts(4), k, 0, true, &[0; 8], 0).is_none());
    assert!(d.add(Ts(4), k, 24, true, &[0; 8], 0).is_none());
    assert!(d.add(Ts(4), k, 8, false, &[0; 8], 0).is_none());
    assert_eq!(d.stats.malformed, 7);
    // A maximum-size datagram is fine.
    let data = datagram(65_535, 5);
    let frags = fragments(&data, 1480);
    let (p, ..) = feed(&mut d, key4(4), &frags, 10).unwrap();
    assert_eq!(p, data);
}

#[test]
fn timeout() {
    let mut d = Defrag::new();
    let data = datagram(48, 6);
    let k = key4(5);
    assert!(d.add(Ts(SEC), k, 0, true, &data[..16], 0).is_none());
    d.expire(Ts(SEC + DEFRAG_TIMEOUT_NS));
    assert_eq!(d.pending(), 1, "not yet");
    d.expire(Ts(SEC + DEFRAG_TIMEOUT_NS + 1));
    assert_eq!(d.pending(), 0);
    assert_eq!(d.stats.timeouts, 1);
    // A late fragment of an expired datagram (not yet swept) starts over.
    assert!(d.add(Ts(100 * SEC), k, 0, true, &data[..16], 0).is_none());
    assert!(d.add(Ts(200 * SEC), k, 16, false, &data[16..], 0).is_none());
    assert_eq!(d.stats.timeouts, 2);
    assert_eq!(d.pending(), 1);
    // Slow but within the hold time: completes.
    let k = key4(6);
    assert!(d.add(Ts(300 * SEC), k, 0, true, &data[..16], 0).is_none());
    let r = d.add(Ts(329 * SEC), k, 16, false, &data[16..], 0).unwrap();
    assert_eq!(r.payload, &data[..]);
    assert_eq!(r.first_ts, Ts(300 * SEC));
}

#[test]
fn too_many_datagrams_evicts_oldest() {
    let limits = DefragLimits {
        max_datagrams: 4,
        ..DefragLimits::default()
    };
    let mut d = Defrag::with_limits(limits);
    for id in 0..6 {
        assert!(d
            .add(Ts(u64::from(id)), key4(id), 0, true, &[0; 8], 0)
            .is_none());
    }
    assert_eq!(d.pending(), 4);
    assert_eq!(d.stats.cap_drops, 2);
    // 0 and 1 were evicted; 5 is still there.
    assert!(d.add(Ts(9), key4(1), 8, false, &[0; 8], 0).is_none());
    assert!(d.add(Ts(9), key4(5), 8, false, &[0; 8], 0).is_some());
}

#[test]
fn too_many_fragments() {
    let mut d = Defrag::new();
    let k = key6(u32::MAX);
    for i in 0..MAX_FRAGMENTS {
        assert!(d.add(Ts(1), k, 8 * i, true, &[0; 8], 0).is_none());
    }
    assert_eq!(d.stats.cap_drops, 0);
    assert!(d
        .add(Ts(1), k, 8 * MAX_FRAGMENTS, false, &[0; 8], 0)
        .is_none());
    assert_eq!(d.stats.cap_drops, 1);
    assert_eq!(d.pending(), 0);
    // Duplicates count too.
    for _ in 0..=MAX_FRAGMENTS {
        assert!(d.add(Ts(2), k, 0, true, &[0; 8], 0).is_none());
    }
    assert_eq!(d.stats.cap_drops, 2);
}

#[test]
fn held_bytes_cap_evicts_oldest() {
    let limits = DefragLimits {
        max_held_bytes: 100_000,
        ..DefragLimits::default()
    };
    let mut d = Defrag::with_limits(limits);
    // Last fragments first: each holds ~60 KB.
    assert!(d.add(Ts(1), key4(1), 60_000, false, &[1; 8], 0).is_none());
    assert_eq!(d.held_bytes(), 60_008);
    assert!(d.add(Ts(2), key4(2), 60_000, false, &[2; 8], 0).is_none());
    assert_eq!(d.stats.cap_drops, 1);
    assert_eq!(d.pending(), 1);
    assert!(d.held_bytes() <= 100_000);
    // One datagram alone over the cap is given up.
    let limits = DefragLimits {
        max_held_bytes: 1000,
        ..DefragLimits::default()
    };
    let mut d = Defrag::with_limits(limits);
    assert!(d.add(Ts(1), key4(1), 2000, false, &[1; 8], 0).is_none());
    assert_eq!(d.stats.cap_drops, 1);
    assert_eq!(d.pending(), 0);
}

#[test]
fn ipv6_ids_do_not_collide() {
    let mut d = Defrag::new();
    let a = datagram(32, 7);
    let b = datagram(32, 8);
    assert!(d
        .add(Ts(1), key6(0x0001_0005), 0, true, &a[..16], 0)
        .is_none());
    assert!(d
        .add(Ts(1), key6(0x0002_0005), 0, true, &b[..16], 0)
        .is_none());
    // Same id, other protocol: another datagram.
    let other = FragKey {
        proto: 6,
        ..key6(0x0001_0005)
    };
    assert!(d.add(Ts(1), other, 16, false, &b[16..], 0).is_none());
    let r = d
        .add(Ts(2), key6(0x0001_0005), 16, false, &a[16..], 0)
        .unwrap();
    assert_eq!(r.payload, &a[..]);
    let r = d
        .add(Ts(2), key6(0x0002_0005), 16, false, &b[16..], 0)
        .unwrap();
    assert_eq!(r.payload, &b[..]);
    assert_eq!(d.pending(), 1);
}

#[test]
fn steady_traffic_reuses_buffers() {
    let mut d = Defrag::new();
    let data = datagram(9000, 9);
    let frags = fragments(&data, 1480);
    for round in 0..10 {
        feed(&mut d, key4(round), &frags, u64::from(round)).unwrap();
    }
    let slots = d.slots.len();
    let cap = d.slots[0].buf.capacity();
    let ptr = d.slots[0].buf.as_ptr();
    for round in 10..1000 {
        let (p, ..) = feed(&mut d, key4(round), &frags, u64::from(round)).unwrap();
        assert_eq!(p.len(), data.len());
    }
    assert_eq!(d.slots.len(), slots);
    assert_eq!(d.slots[0].buf.capacity(), cap);
    assert_eq!(d.slots[0].buf.as_ptr(), ptr);
    assert!(d.retained <= MAX_RETAINED_BYTES);
}

#[test]
fn flood_does_not_pin_memory() {
    let mut d = Defrag::new();
    for id in 0..MAX_DATAGRAMS as u32 {
        assert!(d.add(Ts(1), key4(id), 65_000, false, &[0; 8], 0).is_none());
    }
    assert!(d.held_bytes() <= MAX_HELD_BYTES);
    assert!(d.stats.cap_drops > 0);
    d.expire(Ts(1 + DEFRAG_TIMEOUT_NS + 1));
    assert_eq!(d.pending(), 0);
    assert_eq!(d.held_bytes(), 0);
    let kept: usize = d.slots.iter().map(|s| s.buf.capacity()).sum();
    assert!(kept <= MAX_RETAINED_BYTES, "{kept}");
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = SmallRng::seed_from_u64(42);
    let limits = DefragLimits {
        max_datagrams: 8,
        max_held_bytes: 200_000,
        ..DefragLimits::default()
    };
    let mut d = Defrag::with_limits(limits);
    let buf = vec![0xabu8; 70_000];
    for i in 0..20_000u64 {
        let off = if rng.random_bool(0.5) {
            8 * rng.random_range(0..8200)
        } else {
            rng.random()
        };
        let len = rng.random_range(0..3000);
        let key = key4(rng.random_range(0..12));
        let _ = d.add(
            Ts(i * 1000),
            key,
            off,
            rng.random(),
            &buf[..len],
            rng.random(),
        );
        if i % 100 == 0 {
            d.expire(Ts(i * 1000));
        }
        assert!(d.pending() <= 8);
        assert!(d.held_bytes() <= 200_000);
    }
    let s = &d.stats;
    assert_eq!(s.fragments, 20_000, "every fragment counted ({s:?})");
}
