//! No-panic robustness: random bytes, truncations and random byte flips of valid streams.

use super::*;

fn streams() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (
            hs_records(&[ch12("r.test")], 1000),
            hs_records(
                &[
                    server_hello(0x0303, &[1; 32], 0xc02f, &[ext_alpn(&["h2"])]),
                    certificate(&[EC_LEAF, RSA_ROOT]),
                    hsm(14, &[]),
                ],
                700,
            ),
        ),
        (
            hs_records(&[ch13("t.test", &[])], 1000),
            [hs_records(&[sh13(&[])], 1000), ccs(), appdata(100)].concat(),
        ),
    ]
}

fn feed(c: &[u8], s: &[u8], split: Split) {
    let script = vec![
        d(C, 0, c.to_vec()),
        d(S, 1, s.to_vec()),
        d(C, 2, appdata(53)),
    ];
    let _ = run_split(&Config::default(), &script, split);
}

#[test]
fn random_bytes() {
    let mut rng = SmallRng::seed_from_u64(99);
    for _ in 0..300 {
        let n = rng.random_range(0..600);
        let mut a: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        // Half of them start like a record to go deeper.
        if rng.random_bool(0.5) && a.len() > 5 {
            a[0] = 22;
            a[1] = 3;
            a[2] = 3;
        }
        let b: Vec<u8> = (0..rng.random_range(0..300))
            .map(|_| rng.random())
            .collect();
        feed(&a, &b, Split::Whole);
    }
}

#[test]
fn truncations() {
    for (c, s) in streams() {
        for cut in (0..c.len()).step_by(7) {
            feed(&c[..cut], &s, Split::Whole);
        }
        for cut in (0..s.len()).step_by(13) {
            feed(&c, &s[..cut], Split::Whole);
        }
    }
}

#[test]
fn byte_flips() {
    let mut rng = SmallRng::seed_from_u64(7);
    for (c, s) in streams() {
        for _ in 0..400 {
            let mut c2 = c.clone();
            let mut s2 = s.clone();
            for _ in 0..rng.random_range(1..4) {
                if rng.random_bool(0.5) {
                    let i = rng.random_range(0..c2.len());
                    c2[i] = rng.random();
                } else {
                    let i = rng.random_range(0..s2.len());
                    s2[i] = rng.random();
                }
            }
            feed(&c2, &s2, Split::Random(rng.random()));
        }
    }
}

#[test]
fn parsers_on_garbage() {
    let mut rng = SmallRng::seed_from_u64(3);
    for _ in 0..2000 {
        let b: Vec<u8> = (0..rng.random_range(0..200))
            .map(|_| rng.random())
            .collect();
        if let Some(ch) = parse::client_hello(&b) {
            let _ = fingerprint::ja3(&ch);
            let _ = fingerprint::ja4(&ch);
        }
        let _ = parse::server_hello(&b);
        let _ = parse::certificate_list(&b);
        let _ = parse::certificate_list_13(&b);
        let _ = parse::ocsp_status(&b);
        let _ = x509::digest(&b, x509::Hashes::default(), true);
    }
    // Flipped certificates.
    for _ in 0..300 {
        let mut c = EC_LEAF.to_vec();
        let i = rng.random_range(0..c.len());
        c[i] = rng.random();
        let _ = x509::digest(
            &c,
            x509::Hashes {
                md5: true,
                sha1: true,
                sha256: true,
            },
            true,
        );
    }
}

#[test]
fn dates_format() {
    assert_eq!(x509::rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        x509::rfc3339_millis(951_782_400),
        "2000-02-29T00:00:00.000Z"
    );
    assert_eq!(x509::rfc3339_millis(-1), "1969-12-31T23:59:59.000Z");
    assert_eq!(
        x509::rfc3339_millis(253_402_300_799),
        "9999-12-31T23:59:59.000Z"
    );
}
