//! No-panic robustness: random bytes, truncations and byte flips of valid conversations.

use super::*;

fn valid() -> Vec<Ev> {
    let mut v = vec![
        d(C, 0, &cmd(&["SET", "k", "v"])),
        d(S, 1, b"+OK\r\n"),
        d(C, 2, &cmd(&["HGETALL", "h"])),
        d(S, 3, b"%1\r\n$1\r\na\r\n*2\r\n:1\r\n_\r\n"),
        d(C, 4, &cmd(&["SUBSCRIBE", "a", "b"])),
        d(S, 5, b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"),
        d(S, 5, b">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"),
        d(S, 6, b"|1\r\n+k\r\n+v\r\n$?\r\n;1\r\nx\r\n;0\r\n"),
    ];
    v.push(d(C, 7, b"PING\r\n"));
    v.push(d(S, 8, b"+PONG\r\n"));
    v
}

fn all_splits(script: &[Ev]) {
    let common = CommonConfig::default();
    for split in [Split::Whole, Split::Bytes1, Split::Random(7)] {
        let _ = run_split(&Config::default(), &common, script, split);
    }
}

#[test]
fn random_bytes_do_not_panic() {
    let mut rng = SmallRng::seed_from_u64(42);
    for _ in 0..200 {
        let mut script = Vec::new();
        for i in 0..6 {
            let n = rng.random_range(0..200);
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.5) {
                        let alphabet = b"*$:+-_,#!=(%~>|;.\r\n0123456789?";
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
    let script = valid();
    let flat: Vec<(Direction, Vec<u8>)> = script
        .iter()
        .filter_map(|e| match e {
            Ev::Data(dir, _, b) => Some((*dir, b.clone())),
            _ => None,
        })
        .collect();
    let mut rng = SmallRng::seed_from_u64(9);
    for cut in 0..flat.len() {
        for keep in [0usize, 1, 3, 7] {
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

#[test]
fn deep_nesting_is_malformed_not_a_crash() {
    let deep = "*1\r\n".repeat(state::MAX_DEPTH + 10);
    let (t, st) = run_split(
        &Config::default(),
        &CommonConfig::default(),
        &[d(C, 0, &cmd(&["X"])), d(S, 1, deep.as_bytes())],
        Split::Whole,
    );
    assert_eq!(t.len(), 1);
    assert!(t[0].response_bytes.is_none());
    assert!(st.anomalies >= 1);
}
