//! DHCPv4 unit tests with hand-built messages.

use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{ConnMeta, ProtoStats, Txn, L4};
use crate::time::Ts;

fn msg(op: u8, xid: u32, yiaddr: [u8; 4], opts: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; parse::HEADER_LEN];
    b[0] = op;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    b[10] = 0x80;
    b[16..20].copy_from_slice(&yiaddr);
    b[28..34].copy_from_slice(&[0x02, 0xca, 0x11, 0, 0, 0x20]);
    b.extend_from_slice(&parse::MAGIC);
    b.extend_from_slice(opts);
    b
}

fn run(dir: Direction, data: &[u8]) -> (Vec<Txn>, ProtoStats) {
    let meta = ConnMeta {
        client: "0.0.0.0:68".parse().unwrap(),
        server: "255.255.255.255:67".parse().unwrap(),
        l4: L4::Udp,
        vlan: vec![],
    };
    let common = CommonConfig::default();
    let mut stats = ProtoStats::default();
    let mut out = Vec::new();
    let mut d = Dhcpv4::new(&Config::default());
    let mut cx = Cx {
        ts: Ts(1_000),
        meta: &meta,
        common: &common,
        stats: &mut stats,
        out: &mut out,
    };
    assert_eq!(d.parse(&mut cx, dir, data), Progress::Consumed);
    d.on_close(&mut cx, CloseReason::EndOfInput);
    (out, stats)
}

#[test]
fn discover_fields() {
    let opts = [
        53, 1, 1, 55, 3, 1, 3, 6, 12, 4, b'h', b'o', b's', b't', 61, 2, 1, 2, 255,
    ];
    let (out, _) = run(Direction::ToServer, &msg(1, 0x9633b41d, [0; 4], &opts));
    assert_eq!(out.len(), 1);
    let t = &out[0];
    assert_eq!(t.kind, TxnKind::Message { from_client: true });
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.method.as_deref(), Some("DISCOVER"));
    assert_eq!(t.request_bytes, Some(240 + opts.len() as u64));
    let d = &t.fields["dhcpv4"];
    assert_eq!(d["transaction_id"], "0x9633b41d");
    assert_eq!(d["client_mac"], "02:ca:11:00:00:20");
    assert_eq!(d["op_code"], "bootrequest");
    assert_eq!(d["flags"], "broadcast");
    assert_eq!(d["hardware_type"], "Ethernet");
    assert!(d.get("assigned_ip").is_none());
    assert_eq!(d["option"]["message_type"], "discover");
    assert_eq!(d["option"]["hostname"], "host");
    assert_eq!(
        d["option"]["parameter_request_list"],
        serde_json::json!(["Subnet Mask", "Router", "Domain Name Server"])
    );
    assert_eq!(t.fields["client"]["mac"], "02-CA-11-00-00-20");
    assert!(t.notes.is_empty());
}

#[test]
fn ack_and_nak() {
    let opts = [
        53, 1, 5, 54, 4, 10, 0, 0, 1, 51, 4, 0, 0, 14, 16, 1, 4, 255, 255, 255, 0, 3, 8, 10, 0, 0,
        1, 10, 0, 0, 2, 6, 4, 10, 0, 0, 1, 2, 4, 0xff, 0xff, 0xff, 0xf0, 82, 6, 1, 2, 0xab, 0xcd,
        2, 0, 255,
    ];
    let (out, _) = run(Direction::ToClient, &msg(2, 7, [10, 0, 0, 9], &opts));
    let t = &out[0];
    assert_eq!(t.kind, TxnKind::Message { from_client: false });
    // The client of a reply is its receiver.
    assert_eq!(t.client, "0.0.0.0:68".parse().unwrap());
    let d = &t.fields["dhcpv4"];
    assert_eq!(d["assigned_ip"], "10.0.0.9");
    let o = &d["option"];
    assert_eq!(o["message_type"], "ack");
    assert_eq!(o["server_identifier"], "10.0.0.1");
    assert_eq!(o["ip_address_lease_time_sec"], 3600);
    assert_eq!(o["subnet_mask"], "255.255.255.0");
    assert_eq!(o["router"], serde_json::json!(["10.0.0.1", "10.0.0.2"]));
    assert_eq!(o["dns_servers"], serde_json::json!(["10.0.0.1"]));
    assert_eq!(o["utc_time_offset_sec"], -16);
    assert_eq!(o["relay_agent_info"]["circuit_id"], "abcd");
    assert_eq!(o["relay_agent_info"]["remote_id"], "");

    let nak = [53, 1, 6, 56, 3, b'b', b'a', b'd', 255];
    let (out, _) = run(Direction::ToClient, &msg(2, 7, [0; 4], &nak));
    assert_eq!(out[0].status, Status::Error);
    assert_eq!(out[0].fields["dhcpv4"]["option"]["message"], "bad");
}

#[test]
fn overload_and_split_options() {
    // Option 52 = 3: options continue in `file` then `sname`; option 12 split (RFC 3396).
    let mut b = msg(1, 1, [0; 4], &[52, 1, 3, 12, 2, b'a', b'b', 255]);
    b[108..114].copy_from_slice(&[12, 2, b'c', b'd', 53, 1]);
    b[114..116].copy_from_slice(&[3, 255]);
    b[44..48].copy_from_slice(&[15, 2, b'x', b'y']);
    b[48] = 255;
    let (out, _) = run(Direction::ToServer, &b);
    let d = &out[0].fields["dhcpv4"];
    assert_eq!(d["option"]["hostname"], "abcd");
    assert_eq!(d["option"]["message_type"], "request");
    assert_eq!(d["option"]["domain_name"], "xy");
    assert!(d.get("server_name").is_none());
    assert!(d.get("boot_file_name").is_none());

    let mut b = msg(2, 1, [0; 4], &[53, 1, 2, 255]);
    b[44..48].copy_from_slice(b"srv\0");
    b[108..113].copy_from_slice(b"boot\0");
    let (out, _) = run(Direction::ToClient, &b);
    assert_eq!(out[0].fields["dhcpv4"]["server_name"], "srv");
    assert_eq!(out[0].fields["dhcpv4"]["boot_file_name"], "boot");
}

#[test]
fn malformed() {
    // Not DHCP: no event, an anomaly.
    let (out, st) = run(Direction::ToServer, &[1, 2, 3]);
    assert!(out.is_empty());
    assert_eq!(st.anomalies, 1);
    let mut b = msg(1, 1, [0; 4], &[53, 1, 1, 255]);
    b[237] = 0;
    let (out, _) = run(Direction::ToServer, &b);
    assert!(out.is_empty());
    // Truncated option: event with a note.
    let (out, st) = run(
        Direction::ToServer,
        &msg(1, 1, [0; 4], &[53, 1, 1, 12, 9, b'a']),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notes, vec![NOTE_TRUNCATED.to_owned()]);
    assert_eq!(st.anomalies, 1);
    let (out, _) = run(Direction::ToServer, &msg(1, 1, [0; 4], &[53, 1, 1]));
    assert_eq!(out[0].notes, vec![NOTE_NO_END.to_owned()]);
    assert_eq!(
        out[0].fields["dhcpv4"]["option"]["message_type"],
        "discover"
    );
}

#[test]
fn probe() {
    let b = msg(1, 1, [0; 4], &[255]);
    assert_eq!(Dhcpv4::probe(Direction::ToServer, &b), Probe::Match);
    assert_eq!(Dhcpv4::probe(Direction::ToServer, &b[..100]), Probe::Unsure);
    assert_eq!(
        Dhcpv4::probe(Direction::ToServer, &[0; 300]),
        Probe::NotMine
    );
}

#[test]
fn robustness() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let base = msg(
        2,
        5,
        [1, 2, 3, 4],
        &[
            53, 1, 5, 55, 2, 1, 3, 82, 4, 1, 2, 3, 4, 124, 7, 0, 0, 0, 9, 2, 1, 2, 255,
        ],
    );
    for _ in 0..3000 {
        let mut b = base.clone();
        for _ in 0..rng.random_range(1..8) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        let cut = rng.random_range(0..=b.len());
        let _ = run(Direction::ToClient, &b[..cut]);
        let _ = run(Direction::ToServer, &b);
        let noise: Vec<u8> = (0..rng.random_range(0..400))
            .map(|_| rng.random())
            .collect();
        let _ = run(Direction::ToServer, &noise);
    }
    let v: Value = run(Direction::ToClient, &base).0[0].fields["dhcpv4"]["option"]
        ["vendor_identifying_options"]
        .clone();
    assert_eq!(v, serde_json::json!([{"id": 9, "data": "0102"}]));
}
