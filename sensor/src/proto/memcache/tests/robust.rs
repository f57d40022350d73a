//! No-panic robustness: random bytes, truncations and byte flips of valid conversations.

use super::*;

fn valid() -> Vec<(Direction, Vec<u8>)> {
    vec![
        (C, b"set k 0 0 3\r\nabc\r\n".to_vec()),
        (S, b"STORED\r\n".to_vec()),
        (C, b"get k j\r\n".to_vec()),
        (S, b"VALUE k 0 3\r\nabc\r\nEND\r\n".to_vec()),
        (C, b"stats\r\n".to_vec()),
        (S, b"STAT pid 1\r\nEND\r\n".to_vec()),
        (C, bin(0x80, 0x0d, 0, 1, &[], b"a", b"")),
        (C, bin(0x80, 0x10, 0, 2, &[], b"", b"")),
        (S, bin(0x81, 0x10, 0, 2, &[], b"pid", b"1")),
        (S, bin(0x81, 0x10, 0, 2, &[], b"", b"")),
        (C, b"mg k v q\r\nmn\r\n".to_vec()),
        (S, b"MN\r\n".to_vec()),
    ]
}

fn all_splits(script: &[Ev]) {
    let common = CommonConfig::default();
    let cfg = Config {
        maxvalues: -1,
        ..Config::default()
    };
    for split in [Split::Whole, Split::Bytes1, Split::Random(3)] {
        let _ = run_split(&cfg, &common, script, split);
    }
}

#[test]
fn valid_conversation_is_split_invariant() {
    let s: Vec<Ev> = valid()
        .into_iter()
        .enumerate()
        .map(|(i, (dir, b))| Ev::Data(dir, i as u64, b))
        .collect();
    let t = run_with(&Config::default(), &s);
    // set, get, stats, the unanswered quiet getkq, binary stat, quiet mg, mn.
    assert_eq!(t.len(), 7);
}

#[test]
fn random_bytes_do_not_panic() {
    let mut rng = SmallRng::seed_from_u64(1);
    for _ in 0..200 {
        let mut script = Vec::new();
        for i in 0..6 {
            let n = rng.random_range(0..120);
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    let alphabet = b"\x80\x81 \r\n0123456789getsVALUEND";
                    if rng.random_bool(0.6) {
                        alphabet[rng.random_range(0..alphabet.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect();
            let dir = if rng.random_bool(0.5) { C } else { S };
            script.push(d(dir, i, &bytes));
            if rng.random_bool(0.1) {
                script.push(Ev::Gap(dir, rng.random_range(1..100)));
            }
        }
        all_splits(&script);
    }
}

#[test]
fn truncations_and_flips_do_not_panic() {
    let flat = valid();
    let mut rng = SmallRng::seed_from_u64(5);
    for cut in 0..flat.len() {
        for keep in [0usize, 1, 5, 23, 25] {
            let mut s: Vec<Ev> = flat
                .iter()
                .take(cut)
                .map(|(dir, b)| Ev::Data(*dir, 0, b.clone()))
                .collect();
            let (dir, b) = &flat[cut];
            s.push(Ev::Data(*dir, 0, b[..keep.min(b.len())].to_vec()));
            all_splits(&s);
        }
    }
    for _ in 0..300 {
        let s: Vec<Ev> = flat
            .iter()
            .map(|(dir, b)| {
                let mut b = b.clone();
                if rng.random_bool(0.3) && !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                Ev::Data(*dir, 0, b)
            })
            .collect();
        all_splits(&s);
    }
}
