//! libbeat processors, `internal_networks`/`network.direction` and `ignore_outgoing` applied to a
//! real capture (the mixed corpus capture: DNS, HTTP, memcache, MySQL, PgSQL, Redis and flows),
//! configured as a user writes packetbeat.yml.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use sensor::config::Config;
use sensor_tests::{corpus, read_frames, run_frames};
use serde_json::Value;

fn events(yaml: &str) -> (Vec<Value>, sensor::telemetry::Summary) {
    let cfg = Config::from_yaml(yaml).unwrap_or_else(|e| panic!("{e:#}"));
    let (frames, err) = read_frames(&corpus().join("mixed/concurrent_protocols.pcap"));
    assert!(err.is_none());
    let (lines, s) = run_frames(cfg, &frames);
    (
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        s,
    )
}

fn of<'a>(ev: &'a [Value], t: &str) -> Vec<&'a Value> {
    ev.iter().filter(|e| e["type"] == t).collect()
}

#[test]
fn processors_global_per_protocol_and_flows() {
    let (base, _) = events("");
    let (ev, summary) = events(
        r#"
packetbeat.protocols:
- type: http
  processors:
  - add_tags: {tags: [web]}
  - drop_fields:
      fields: [http.request.headers, user_agent]
      ignore_missing: true
- type: memcache
  processors:
  - drop_event:
      when.not.equals.memcache.request.command: get
- type: mysql
- type: pgsql
- type: redis
- type: dns
packetbeat.flows:
  processors:
  - include_fields:
      fields: [flow, source.ip, destination.ip, network.transport]
processors:
- add_fields:
    target: lab
    fields: {site: rack-7}
    when.network.source.ip: 198.18.10.0/24
- rename:
    fields: [{from: status, to: legacy_status}]
    ignore_missing: true
- drop_event:
    when.or:
    - equals.type: redis
    - regexp.method: "^(SELECT|COM_)"
"#,
    );
    // Per protocol: tags and removed fields on HTTP only.
    let http = of(&ev, "http");
    assert_eq!(http.len(), of(&base, "http").len());
    for e in &http {
        assert_eq!(e["tags"], serde_json::json!(["web"]));
        assert!(e["http"]["request"].get("headers").is_none() && e.get("user_agent").is_none());
    }
    assert!(of(&base, "http")
        .iter()
        .any(|e| e.get("user_agent").is_some()));
    // memcache: only gets survive.
    let mc = of(&ev, "memcache");
    assert!(!mc.is_empty() && mc.len() < of(&base, "memcache").len());
    assert!(mc
        .iter()
        .all(|e| e["memcache"]["request"]["command"] == "get"));
    // Global: every event of the capture's /24 gets lab.site; status renamed; redis dropped;
    // INSERTs dropped.
    assert!(of(&ev, "redis").is_empty() && !of(&base, "redis").is_empty());
    let inserts = |v: &[Value]| {
        v.iter()
            .filter(|e| {
                e["method"]
                    .as_str()
                    .is_some_and(|m| m == "SELECT" || m.starts_with("COM_"))
            })
            .count()
    };
    assert!(inserts(&base) > 0);
    assert_eq!(inserts(&ev), 0);
    for e in ev.iter().filter(|e| e["type"] != "flow") {
        assert_eq!(e["lab"]["site"], "rack-7", "{e}");
        assert!(
            e.get("status").is_none() && e["legacy_status"].is_string(),
            "{e}"
        );
    }
    // Flows: only the included fields (plus @timestamp and type, which libbeat always keeps).
    let flows = of(&ev, "flow");
    assert_eq!(flows.len(), of(&base, "flow").len());
    for f in flows {
        let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "@timestamp",
                "destination",
                "flow",
                "lab",
                "network",
                "source",
                "type"
            ],
            "{f}"
        );
        assert_eq!(f["network"].as_object().unwrap().len(), 1);
    }
    // Every drop is counted.
    let dropped = base.len() - ev.len();
    assert_eq!(summary.pipeline.dropped_by_processors as usize, dropped);
}

#[test]
fn direction_from_internal_networks_and_ignore_outgoing() {
    let (ev, _) = events("packetbeat.interfaces.internal_networks: [198.18.10.0/24]\n");
    assert!(ev.iter().all(|e| e["network"]["direction"] == "internal"));
    let (ev, _) = events("packetbeat.interfaces.internal_networks: [198.18.10.10/32]\n");
    let http = of(&ev, "http");
    assert!(!http.is_empty());
    assert!(http.iter().all(|e| e["network"]["direction"] == "inbound"));
    let (ev, _) = events("packetbeat.interfaces.internal_networks: [private]\n");
    assert!(ev.iter().all(|e| e["network"]["direction"] == "external"));
    let e =
        Config::from_yaml("packetbeat.interfaces.internal_networks: [10.0.0.0/33]\n").unwrap_err();
    assert!(format!("{e:#}").contains("internal_networks"), "{e:#}");
    // The capture's clients are not this host: ignore_outgoing keeps everything.
    let (all, s) = events("packetbeat.ignore_outgoing: true\n");
    assert_eq!(all.len(), events("").0.len());
    assert_eq!(s.pipeline.ignored_outgoing, 0);
}

#[test]
fn processor_config_errors_name_the_place() {
    for (yaml, needle) in [
        (
            "processors:\n- add_fieldz: {fields: {a: 1}}\n",
            "add_fieldz",
        ),
        (
            "packetbeat.protocols:\n- type: http\n  processors:\n  - drop_event:\n      when.range.x.ge: 1\n",
            "packetbeat.protocols[type=http]",
        ),
        (
            "packetbeat.flows:\n  processors:\n  - rename: {fields: 3}\n",
            "packetbeat.flows",
        ),
    ] {
        let e = Config::from_yaml(yaml).unwrap_err();
        assert!(format!("{e:#}").contains(needle), "{yaml}: {e:#}");
    }
}

#[test]
fn cassandra_send_request_and_send_response() {
    let run = |yaml: &str| {
        let cfg = Config::from_yaml(yaml).unwrap();
        let mut lines = Vec::new();
        for f in sensor_tests::pcaps(&corpus().join("cassandra")) {
            lines.extend(run_frames(cfg.clone(), &read_frames(&f).0).0);
        }
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["type"] == "cassandra")
            .collect::<Vec<_>>()
    };
    let all = run("");
    assert!(all.iter().any(|e| e["cassandra"].get("request").is_some()));
    assert!(all.iter().any(|e| e["cassandra"].get("response").is_some()));
    let none = run(
        "packetbeat.protocols:\n- type: cassandra\n  send_request: false\n  send_response: false\n",
    );
    assert_eq!(none.len(), all.len());
    assert!(none.iter().all(
        |e| e["cassandra"].get("request").is_none() && e["cassandra"].get("response").is_none()
    ));
}
