//! Flow records with Packetbeat's semantics on synthetic traffic: periodic reports with running
//! totals, the idle timeout ending a flow with its final report, `period: -1`, `enabled: false`,
//! orientation (source = first sender) and the VLAN in the key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::time::Ts;
use sensor_tests::{run_frames, tcp_frame, Frame};
use serde_json::Value;

const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_800_000_000 * SEC;

fn frame(at_s: f64, data: Vec<u8>) -> Frame {
    let wire = data.len() as u32;
    Frame {
        link: LinkType::Ethernet,
        ts: Ts(T0 + (at_s * SEC as f64) as u64),
        data,
        wire_len: wire,
    }
}

fn flows(cfg: &str, frames: &[Frame]) -> Vec<Value> {
    let cfg = Config::from_yaml(cfg).unwrap();
    let (lines, _) = run_frames(cfg, frames);
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "flow")
        .collect()
}

/// One packet per second for `n` seconds on 198.18.0.1:40000 → 198.18.0.2:9999 (and replies).
fn chatter(n: usize, start: f64) -> Vec<Frame> {
    let (a, b) = ([198, 18, 0, 1], [198, 18, 0, 2]);
    (0..n)
        .map(|i| {
            let t = start + i as f64;
            if i % 2 == 0 {
                frame(
                    t,
                    tcp_frame(a, b, 40000, 9999, 1 + i as u32, 1, 0x18, b"ping"),
                )
            } else {
                frame(
                    t,
                    tcp_frame(b, a, 9999, 40000, 1, 1 + i as u32, 0x18, b"pong!"),
                )
            }
        })
        .collect()
}

#[test]
fn periodic_reports_carry_running_totals_and_the_last_is_final() {
    let f = flows(
        "packetbeat.flows: {period: 10s, timeout: 30s}",
        &chatter(25, 0.0),
    );
    assert!(f.len() >= 3, "{f:#?}");
    let last = f.last().unwrap();
    assert_eq!(last["flow"]["final"], true);
    assert_eq!(last["source"]["ip"], "198.18.0.1");
    assert_eq!(last["source"]["port"], 40000);
    assert_eq!(last["source"]["packets"], 13);
    assert_eq!(last["destination"]["packets"], 12);
    assert_eq!(last["network"]["packets"], 25);
    let first = &f[0];
    assert_eq!(first["flow"]["final"], false);
    assert!(first["network"]["packets"].as_u64().unwrap() < 25);
    let ids: std::collections::HashSet<_> = f.iter().map(|v| v["flow"]["id"].clone()).collect();
    assert_eq!(ids.len(), 1, "flow.id is stable");
    assert!(f
        .iter()
        .all(|v| v["network"]["community_id"] == last["network"]["community_id"]));
}

#[test]
fn idle_timeout_ends_the_flow_and_a_new_one_starts() {
    let mut frames = chatter(3, 0.0);
    // 40 s of silence on this flow while other traffic keeps the clock moving.
    for i in 0..45 {
        frames.push(frame(
            3.0 + i as f64,
            tcp_frame([198, 18, 0, 7], [198, 18, 0, 8], 1, 2, 1, 1, 0x10, &[]),
        ));
    }
    frames.extend(chatter(2, 50.0));
    let f = flows("packetbeat.flows: {period: -1, timeout: 30s}", &frames);
    let ours: Vec<&Value> = f
        .iter()
        .filter(|v| v["destination"]["port"] == 9999)
        .collect();
    assert_eq!(ours.len(), 2, "{ours:#?}");
    assert!(ours.iter().all(|v| v["flow"]["final"] == true));
    assert_eq!(ours[0]["network"]["packets"], 3);
    assert_eq!(ours[1]["network"]["packets"], 2);
    assert_ne!(ours[0]["flow"]["id"], ours[1]["flow"]["id"]);
}

#[test]
fn disabled_flows_emit_nothing() {
    assert!(flows("packetbeat.flows.enabled: false", &chatter(5, 0.0)).is_empty());
}

#[test]
fn vlan_is_part_of_the_key_and_reported() {
    let mut frames = Vec::new();
    for vid in [10u16, 20] {
        let mut d = tcp_frame(
            [198, 18, 0, 1],
            [198, 18, 0, 2],
            40000,
            9999,
            1,
            1,
            0x18,
            b"x",
        );
        // Insert an 802.1Q tag after the MAC addresses.
        let mut tag = 0x8100u16.to_be_bytes().to_vec();
        tag.extend_from_slice(&vid.to_be_bytes());
        d.splice(12..12, tag);
        frames.push(frame(0.0, d));
    }
    let f = flows("", &frames);
    assert_eq!(f.len(), 2);
    let vlans: Vec<Value> = f.iter().map(|v| v["flow"]["vlan"].clone()).collect();
    assert!(
        vlans.contains(&serde_json::json!([10])) && vlans.contains(&serde_json::json!([20])),
        "{vlans:?}"
    );
    assert_eq!(f[0]["source"]["bytes"], 4 + 14 + 20 + 20 + 1);
}
