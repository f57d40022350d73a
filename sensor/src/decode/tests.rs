use super::*;

fn eth(ethertype: u16, vlans: &[u16], l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    for v in vlans {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
    ];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&1234u16.to_be_bytes());
    p.extend_from_slice(&53u16.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn ethernet_qinq_udp_with_padding() {
    let mut l3 = ipv4_udp(b"hi");
    l3.extend_from_slice(&[0; 10]); // Ethernet padding
    let f = eth(0x0800, &[100, 200], &l3);
    let mut d = Decoder::new();
    match d.decode(LinkType::Ethernet, Ts(1), &f, f.len() as u32) {
        Decoded::Packet(p) => {
            assert_eq!(p.vlans.as_slice(), &[100, 200]);
            assert_eq!(
                p.transport,
                Transport::Udp {
                    sport: 1234,
                    dport: 53,
                    payload: b"hi"
                }
            );
            assert_eq!(p.wire_bytes, f.len() as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn null_and_raw_links() {
    let l3 = ipv4_udp(b"x");
    let mut f = 2u32.to_le_bytes().to_vec();
    f.extend_from_slice(&l3);
    let mut d = Decoder::new();
    assert!(matches!(
        d.decode(LinkType::Null, Ts(1), &f, 0),
        Decoded::Packet(_)
    ));
    assert!(matches!(
        d.decode(LinkType::Raw, Ts(1), &l3, 0),
        Decoded::Packet(_)
    ));
}

#[test]
fn arp_is_not_ip_and_garbage_is_malformed() {
    let mut d = Decoder::new();
    let f = eth(0x0806, &[], &[0; 28]);
    assert_eq!(d.decode(LinkType::Ethernet, Ts(1), &f, 42), Decoded::NotIp);
    assert!(matches!(
        d.decode(LinkType::Ethernet, Ts(1), &[1, 2, 3], 3),
        Decoded::Malformed(_)
    ));
    let f = eth(0x0800, &[], &[0x45, 0, 0]);
    assert!(matches!(
        d.decode(LinkType::Ethernet, Ts(1), &f, 3),
        Decoded::Malformed(_)
    ));
    assert_eq!(d.stats.malformed, 2);
}

#[test]
fn random_frames_never_panic() {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    let mut rng = SmallRng::seed_from_u64(7);
    let mut d = Decoder::new();
    let base = eth(0x0800, &[5], &ipv4_udp(b"payload bytes"));
    for _ in 0..20_000 {
        let mut f = base.clone();
        let n = rng.random_range(0..6);
        for _ in 0..n {
            let i = rng.random_range(0..f.len());
            f[i] = rng.random();
        }
        f.truncate(rng.random_range(0..=f.len()));
        for link in [
            LinkType::Ethernet,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Null,
            LinkType::Raw,
        ] {
            let _ = d.decode(link, Ts(1), &f, f.len() as u32);
        }
    }
}
