//! Processors and conditions, configured from YAML as a user writes it in `packetbeat.yml`.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::conditions::{parse_cidr, Condition, Net};
use super::config::yaml_to_json;
use super::fields;
use super::Processors;
use crate::hostinfo::{HostInfo, OsInfo};

fn host() -> Arc<HostInfo> {
    Arc::new(HostInfo {
        hostname: "sensor-01".into(),
        name: "sensor-01".into(),
        id: Some("0123456789abcdef0123456789abcdef".into()),
        architecture: "x86_64".into(),
        os: OsInfo {
            os_type: "linux".into(),
            family: "debian".into(),
            name: "Debian GNU/Linux".into(),
            kernel: "6.1.0-18-amd64".into(),
            version: "12 (bookworm)".into(),
            platform: "debian".into(),
            codename: Some("bookworm".into()),
            build: None,
        },
        ips: vec![
            "192.0.2.2".parse().unwrap(),
            "fd00::2".parse().unwrap(),
            "fe80::fc:ff:fe00:1".parse().unwrap(),
        ],
        macs: vec!["02-FC-00-00-00-01".into(), "4A-CB-D9-64-D8-AB".into()],
    })
}

/// Parse the `processors:` key of a YAML document.
fn parse(yaml: &str) -> anyhow::Result<Processors> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let v = doc
        .get("processors")
        .cloned()
        .unwrap_or(serde_yaml_ng::Value::Null);
    Processors::from_yaml(&v, &host())
}

fn procs(yaml: &str) -> Processors {
    match parse(yaml) {
        Ok(p) => p,
        Err(e) => panic!("config rejected: {e:#}\n{yaml}"),
    }
}

fn err(yaml: &str) -> String {
    match parse(yaml) {
        Ok(p) => panic!("config accepted: {p:?}\n{yaml}"),
        Err(e) => format!("{e:#}"),
    }
}

fn ev(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// A Packetbeat HTTP event.
fn http_event() -> Map<String, Value> {
    ev(json!({
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "type": "http",
        "event": {"category": ["network", "web"], "dataset": "http", "duration": 1500000},
        "source": {"ip": "198.18.0.1", "port": 40000, "bytes": 120},
        "destination": {"ip": "10.1.2.3", "port": 80, "bytes": 2048},
        "client": {"ip": "198.18.0.1"},
        "network": {"transport": "tcp", "protocol": "http"},
        "http": {
            "request": {"method": "GET", "bytes": 120},
            "response": {"status_code": 200, "bytes": 2048, "status_phrase": "OK"}
        },
        "url": {"path": "/index.html", "full": "http://example.com/index.html"},
        "status": "OK",
        "tags": ["edge"]
    }))
}

/// Run and return (kept, event).
fn apply(p: &Processors, mut e: Map<String, Value>) -> (bool, Map<String, Value>) {
    let kept = p.run(&mut e);
    (kept, e)
}

fn cond(yaml: &str) -> Condition {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    match Condition::parse(&yaml_to_json(&v).unwrap(), "when") {
        Ok(c) => c,
        Err(e) => panic!("condition rejected: {e}\n{yaml}"),
    }
}

fn cond_err(yaml: &str) -> String {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    match Condition::parse(&yaml_to_json(&v).unwrap(), "when") {
        Ok(c) => panic!("condition accepted: {c:?}\n{yaml}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// Field access

#[test]
fn get_walks_nested_objects_and_literal_dotted_keys() {
    let e = ev(json!({
        "a": {"b": {"c": 1}},
        "dns.question.name": "example.com",
        "x": {"y.z": {"w": true}, "y": {"q": 2}},
        "m.n": {"o": "lit-then-nested"}
    }));
    assert_eq!(fields::get(&e, "a.b.c"), Some(&json!(1)));
    assert_eq!(fields::get(&e, "a.b"), Some(&json!({"c": 1})));
    assert_eq!(
        fields::get(&e, "dns.question.name"),
        Some(&json!("example.com"))
    );
    assert_eq!(fields::get(&e, "x.y.z.w"), Some(&json!(true)));
    assert_eq!(fields::get(&e, "x.y.q"), Some(&json!(2)));
    assert_eq!(fields::get(&e, "m.n.o"), Some(&json!("lit-then-nested")));
    assert_eq!(fields::get(&e, "a.b.c.d"), None);
    assert_eq!(fields::get(&e, "a.x"), None);
    assert_eq!(fields::get(&e, ""), None);
    assert_eq!(fields::get(&e, "dns"), None);
    assert!(fields::has(&e, "x.y.z"));
    assert!(!fields::has(&e, "nope"));
}

#[test]
fn null_values_count_as_present() {
    let e = ev(json!({"a": {"b": null}}));
    assert!(fields::has(&e, "a.b"));
}

#[test]
fn put_creates_objects_and_respects_existing_keys() {
    let mut e = ev(json!({"a": {"x": 1}, "lit.key": 1, "s": "str"}));
    fields::put(&mut e, "a.b.c", json!(2)).unwrap();
    fields::put(&mut e, "new.path", json!("v")).unwrap();
    fields::put(&mut e, "lit.key", json!(5)).unwrap();
    fields::put(&mut e, "top", json!([1])).unwrap();
    assert_eq!(
        Value::Object(e.clone()),
        json!({"a": {"x": 1, "b": {"c": 2}}, "lit.key": 5, "s": "str", "new": {"path": "v"}, "top": [1]})
    );
    let before = e.clone();
    let r = fields::put(&mut e, "s.t", json!(1));
    assert!(r.unwrap_err().contains("`s`"));
    assert_eq!(e, before);
}

#[test]
fn delete_removes_nested_and_literal_keys() {
    let mut e = ev(json!({"a": {"b": 1, "c": 2}, "dns.question.name": "x", "k": {"l.m": 3}}));
    assert_eq!(fields::delete(&mut e, "a.b"), Some(json!(1)));
    assert_eq!(
        fields::delete(&mut e, "dns.question.name"),
        Some(json!("x"))
    );
    assert_eq!(fields::delete(&mut e, "k.l.m"), Some(json!(3)));
    assert_eq!(fields::delete(&mut e, "a.zz"), None);
    assert_eq!(fields::delete(&mut e, "zz"), None);
    assert_eq!(Value::Object(e), json!({"a": {"c": 2}, "k": {}}));
}

#[test]
fn flatten_keys_lists_objects_and_leaves() {
    let e = ev(json!({"a": {"b": {"c": 1}}, "d": 2}));
    let mut keys = fields::flatten_keys(&e);
    keys.sort();
    assert_eq!(keys, vec!["a", "a.b", "a.b.c", "d"]);
}

#[test]
fn yaml_dotted_keys_expand_and_merge() {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("a.b: 1\na: {c: 2}\nx.y.z: [1, 2]\n'n': 1.5\n").unwrap();
    assert_eq!(
        yaml_to_json(&v).unwrap(),
        json!({"a": {"b": 1, "c": 2}, "x": {"y": {"z": [1, 2]}}, "n": 1.5})
    );
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str("a.b: 1\na: {b: 2}\n").unwrap();
    assert!(yaml_to_json(&v).unwrap_err().contains("given twice"));
}

// ---------------------------------------------------------------------------------------------
// The list itself

#[test]
fn empty_and_missing_lists_are_no_ops() {
    for yaml in ["processors:\n", "processors: []\n", "other: 1\n"] {
        let p = procs(yaml);
        assert!(p.is_empty());
        assert_eq!(p.len(), 0);
        let (kept, e) = apply(&p, http_event());
        assert!(kept);
        assert_eq!(e, http_event());
    }
    let p = Processors::default();
    assert!(p.is_empty());
    let mut e = http_event();
    assert!(p.run(&mut e));
}

#[test]
fn processors_type_is_shareable() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug + Default>() {}
    assert_traits::<Processors>();
}

#[test]
fn the_list_must_be_a_sequence_of_single_processor_mappings() {
    assert!(err("processors: {drop_event: {}}\n").contains("must be a list of processors"));
    assert!(err("processors: 3\n").contains("must be a list"));
    let e = err("processors:\n  - drop_event\n");
    assert!(
        e.contains("processors[0]") && e.contains("needs a colon"),
        "{e}"
    );
    let e = err("processors:\n  - 42\n");
    assert!(
        e.contains("processors[0]") && e.contains("found a number"),
        "{e}"
    );
    let e = err("processors:\n  - {}\n");
    assert!(e.contains("empty processor"), "{e}");
    let e = err("processors:\n  - add_tags:\n      tags: [a]\n    drop_event:\n");
    assert!(
        e.contains("processors[0]") && e.contains("exactly one processor"),
        "{e}"
    );
}

#[test]
fn unknown_processor_lists_the_supported_ones() {
    let e = err("processors:\n  - add_tags: {tags: [x]}\n  - add_feilds:\n      fields: {a: 1}\n");
    assert!(e.contains("processors[1]"), "{e}");
    assert!(e.contains("unknown processor `add_feilds`"), "{e}");
    for name in [
        "add_fields",
        "add_host_metadata",
        "add_observer_metadata",
        "add_tags",
        "drop_event",
        "drop_fields",
        "include_fields",
        "rename",
    ] {
        assert!(e.contains(name), "{name} missing from: {e}");
    }
}

#[test]
fn unknown_options_name_the_processor_and_option() {
    let e = err(
        "processors:\n  - drop_event: {}\n  - add_fields:\n      targt: x\n      fields: {a: 1}\n",
    );
    assert!(e.starts_with("processors[1] (add_fields):"), "{e}");
    assert!(e.contains("unknown option `targt`"), "{e}");
    assert!(e.contains("fields, target, when"), "{e}");
    let e = err("processors:\n  - drop_event:\n      fields: [a]\n");
    assert!(
        e.contains("processors[0] (drop_event)") && e.contains("unknown option `fields`"),
        "{e}"
    );
}

#[test]
fn options_must_be_a_mapping() {
    let e = err("processors:\n  - drop_fields: [a, b]\n");
    assert!(
        e.contains("processors[0] (drop_fields)") && e.contains("options must be a mapping"),
        "{e}"
    );
}

#[test]
fn dotted_option_key_conflicts_are_reported_with_the_index() {
    let e = err("processors:\n  - add_host_metadata:\n      netinfo.enabled: false\n      netinfo: {enabled: true}\n");
    assert!(
        e.contains("processors[0]") && e.contains("given twice"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// add_fields

#[test]
fn add_fields_defaults_to_the_fields_target() {
    let p = procs(
        r#"
processors:
  - add_fields:
      fields:
        name: myproject
        id: '574734885120952459'
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert_eq!(
        e["fields"],
        json!({"name": "myproject", "id": "574734885120952459"})
    );
}

#[test]
fn add_fields_with_a_target_and_at_the_root() {
    let p = procs(
        r#"
processors:
  - add_fields:
      target: project
      fields:
        name: myproject
        team.lead: alice
  - add_fields:
      target: ""
      fields:
        labels.env: prod
        status: REPLACED
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(
        e["project"],
        json!({"name": "myproject", "team": {"lead": "alice"}})
    );
    assert_eq!(e["labels"], json!({"env": "prod"}));
    assert_eq!(e["status"], json!("REPLACED"));
}

#[test]
fn add_fields_overwrites_leaves_and_merges_objects() {
    let p = procs(
        r#"
processors:
  - add_fields:
      target: http.response
      fields: {status_code: 299, extra: {a: 1}}
  - add_fields:
      target: source
      fields:
        geo: {name: dc1}
  - add_fields:
      target: status
      fields: {now: object}
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(
        e["http"]["response"],
        json!({"status_code": 299, "bytes": 2048, "status_phrase": "OK", "extra": {"a": 1}})
    );
    assert_eq!(e["http"]["request"]["method"], json!("GET"));
    assert_eq!(e["source"]["geo"], json!({"name": "dc1"}));
    assert_eq!(e["source"]["port"], json!(40000));
    assert_eq!(
        e["status"],
        json!({"now": "object"}),
        "a non-object is replaced"
    );
}

#[test]
fn add_fields_in_flow_style_with_when() {
    let p = procs(
        "processors:\n  - add_fields: {target: alert, fields: {level: high}, when: {range: {http.response.status_code.gte: 500}}}\n",
    );
    let (_, e) = apply(&p, http_event());
    assert!(!e.contains_key("alert"));
    let mut failing = http_event();
    fields::put(&mut failing, "http.response.status_code", json!(503)).unwrap();
    let (_, e) = apply(&p, failing);
    assert_eq!(e["alert"], json!({"level": "high"}));
}

#[test]
fn add_fields_config_errors() {
    let e = err("processors:\n  - add_fields:\n      target: x\n");
    assert!(
        e.contains("processors[0] (add_fields)") && e.contains("missing required option `fields`"),
        "{e}"
    );
    let e = err("processors:\n  - add_fields:\n      fields: [a, b]\n");
    assert!(e.contains("option `fields` must be a mapping"), "{e}");
    let e = err("processors:\n  - add_fields:\n      target:\n      fields: {a: 1}\n");
    assert!(e.contains("option `target` is empty"), "{e}");
    let e = err("processors:\n  - add_fields:\n      target: [a]\n      fields: {a: 1}\n");
    assert!(e.contains("option `target` must be a string"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// drop_fields

#[test]
fn drop_fields_removes_listed_fields() {
    let p = procs(
        r#"
processors:
  - drop_fields:
      fields: ["http.request", "url.full", "client", "event.duration"]
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert!(!fields::has(&e, "http.request"));
    assert!(!fields::has(&e, "url.full"));
    assert!(!e.contains_key("client"));
    assert!(!fields::has(&e, "event.duration"));
    assert_eq!(e["url"], json!({"path": "/index.html"}));
    assert_eq!(e["http"]["response"]["status_code"], json!(200));
}

#[test]
fn drop_fields_never_drops_timestamp_and_type() {
    let p = procs(
        r#"
processors:
  - drop_fields:
      fields: ["@timestamp", "type", "status", "/^t/", "/^@/"]
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(e["@timestamp"], json!("2024-05-01T10:00:00.000Z"));
    assert_eq!(e["type"], json!("http"));
    assert!(!e.contains_key("status"));
    assert!(!e.contains_key("tags"), "/^t/ matches tags");
}

#[test]
fn drop_fields_with_regular_expressions() {
    let p = procs(
        r#"
processors:
  - drop_fields:
      fields: ['/^http\.response\.status_/', '/bytes$/']
      ignore_missing: true
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(e["http"]["response"], json!({}));
    assert_eq!(e["http"]["request"], json!({"method": "GET"}));
    assert_eq!(e["source"], json!({"ip": "198.18.0.1", "port": 40000}));
    assert_eq!(e["destination"], json!({"ip": "10.1.2.3", "port": 80}));
}

#[test]
fn drop_fields_regex_removes_whole_objects() {
    let p = procs("processors:\n  - drop_fields:\n      fields: ['/^(http|url)$/']\n");
    let (_, e) = apply(&p, http_event());
    assert!(!e.contains_key("http") && !e.contains_key("url"));
    assert!(e.contains_key("source"));
}

#[test]
fn drop_fields_missing_fields_do_not_stop_the_rest() {
    for yaml in [
        "processors:\n  - drop_fields:\n      fields: [nope.nothing, status]\n",
        "processors:\n  - drop_fields:\n      fields: [nope.nothing, status]\n      ignore_missing: true\n",
    ] {
        let p = procs(yaml);
        let (kept, e) = apply(&p, http_event());
        assert!(kept);
        assert!(!e.contains_key("status"));
    }
}

#[test]
fn drop_fields_honours_literal_dotted_keys() {
    let p = procs(
        "processors:\n  - drop_fields:\n      fields: [dns.question.name, '/^dns\\.answers/']\n",
    );
    let e = ev(
        json!({"type": "dns", "dns.question.name": "example.com", "dns.answers_count": 1, "dns.id": 7}),
    );
    let (_, e) = apply(&p, e);
    assert_eq!(Value::Object(e), json!({"type": "dns", "dns.id": 7}));
}

#[test]
fn drop_fields_config_errors() {
    let e = err("processors:\n  - drop_fields:\n      ignore_missing: true\n");
    assert!(
        e.contains("processors[0] (drop_fields): missing required option `fields`"),
        "{e}"
    );
    let e = err("processors:\n  - drop_fields:\n      fields: ['/(unclosed/']\n");
    assert!(e.contains("invalid regular expression"), "{e}");
    let e = err("processors:\n  - drop_fields:\n      fields: [a]\n      ignore_missing: maybe\n");
    assert!(
        e.contains("option `ignore_missing` must be true or false"),
        "{e}"
    );
    let e = err("processors:\n  - drop_fields:\n      fields: [a, {b: 1}]\n");
    assert!(e.contains("option `fields`[1] must be a string"), "{e}");
}

#[test]
fn drop_fields_empty_list_drops_nothing() {
    let p = procs("processors:\n  - drop_fields:\n      fields: []\n");
    let (_, e) = apply(&p, http_event());
    assert_eq!(e, http_event());
}

// ---------------------------------------------------------------------------------------------
// include_fields

#[test]
fn include_fields_keeps_only_listed_fields_and_mandatory_ones() {
    let p = procs(
        r#"
processors:
  - include_fields:
      fields: ["http.response.status_code", "source", "missing.field"]
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert_eq!(
        Value::Object(e),
        json!({
            "@timestamp": "2024-05-01T10:00:00.000Z",
            "type": "http",
            "http": {"response": {"status_code": 200}},
            "source": {"ip": "198.18.0.1", "port": 40000, "bytes": 120}
        })
    );
}

#[test]
fn include_fields_preserves_literal_dotted_keys() {
    let p = procs("processors:\n  - include_fields:\n      fields: [dns.question.name]\n");
    let e = ev(json!({"type": "dns", "dns.question.name": "example.com", "dns.id": 7}));
    let (_, e) = apply(&p, e);
    assert_eq!(
        Value::Object(e),
        json!({"type": "dns", "dns.question.name": "example.com"})
    );
}

#[test]
fn include_fields_requires_fields() {
    let e = err("processors:\n  - include_fields: {}\n");
    assert!(
        e.contains("processors[0] (include_fields): missing required option `fields`"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// drop_event

#[test]
fn drop_event_without_condition_drops_everything() {
    for yaml in [
        "processors:\n  - drop_event:\n",
        "processors:\n  - drop_event: {}\n",
        "processors:\n  - drop_event: ~\n",
    ] {
        let p = procs(yaml);
        let (kept, _) = apply(&p, http_event());
        assert!(!kept, "{yaml}");
    }
}

#[test]
fn drop_event_with_when_and_later_processors_skipped() {
    let p = procs(
        r#"
processors:
  - drop_event:
      when:
        equals:
          http.response.status_code: 200
  - add_tags:
      tags: [kept]
"#,
    );
    let (kept, _) = apply(&p, http_event());
    assert!(!kept);
    let mut other = http_event();
    fields::put(&mut other, "http.response.status_code", json!(404)).unwrap();
    let (kept, e) = apply(&p, other);
    assert!(kept);
    assert_eq!(e["tags"], json!(["edge", "kept"]));
}

#[test]
fn drop_event_when_condition_errors_name_the_processor() {
    let e =
        err("processors:\n  - drop_event:\n      when:\n        equal:\n          type: http\n");
    assert!(e.contains("processors[0] (drop_event)"), "{e}");
    assert!(e.contains("unknown condition `equal`"), "{e}");
    assert!(
        e.contains("equals, contains, regexp, range, network, has_fields, or, and, not"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// rename

#[test]
fn rename_moves_fields() {
    let p = procs(
        r#"
processors:
  - rename:
      fields:
        - from: "status"
          to: "event.outcome_text"
        - from: "url.path"
          to: "path"
        - from: "client"
          to: "client.details"
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert!(!e.contains_key("status"));
    assert_eq!(e["event"]["outcome_text"], json!("OK"));
    assert_eq!(e["path"], json!("/index.html"));
    assert_eq!(e["url"], json!({"full": "http://example.com/index.html"}));
    assert_eq!(e["client"], json!({"details": {"ip": "198.18.0.1"}}));
    assert!(!e.contains_key("error"));
}

#[test]
fn rename_to_an_existing_field_fails_and_restores_the_event() {
    let p = procs(
        r#"
processors:
  - rename:
      fields:
        - {from: status, to: renamed}
        - {from: url.path, to: source.ip}
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    let mut expected = http_event();
    expected.insert(
        "error".into(),
        json!({"message": "Failed to rename fields in processor: target field source.ip already exists, drop or rename this field first"}),
    );
    assert_eq!(e, expected, "the first rename is undone too");
}

#[test]
fn rename_missing_source_is_an_error_unless_ignored() {
    let p = procs("processors:\n  - rename:\n      fields:\n        - {from: nope, to: other}\n");
    let (_, e) = apply(&p, http_event());
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "Failed to rename fields in processor: could not fetch value for key: nope"
        ),
        "{msg}"
    );
    assert!(!e.contains_key("other"));

    let p = procs(
        "processors:\n  - rename:\n      ignore_missing: true\n      fields:\n        - {from: nope, to: other}\n        - {from: status, to: st}\n",
    );
    let (_, e) = apply(&p, http_event());
    assert!(!e.contains_key("error"));
    assert_eq!(e["st"], json!("OK"));
}

#[test]
fn rename_without_fail_on_error_continues() {
    let p = procs(
        r#"
processors:
  - rename:
      fail_on_error: false
      fields:
        - {from: nope, to: other}
        - {from: status, to: source.ip}
        - {from: status, to: st}
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert!(!e.contains_key("error"));
    assert_eq!(e["source"]["ip"], json!("198.18.0.1"));
    assert_eq!(e["st"], json!("OK"));
}

#[test]
fn rename_honours_literal_dotted_keys() {
    let p = procs(
        "processors:\n  - rename:\n      fields:\n        - {from: dns.question.name, to: query}\n",
    );
    let (_, e) = apply(&p, ev(json!({"dns.question.name": "example.com"})));
    assert_eq!(Value::Object(e), json!({"query": "example.com"}));
}

#[test]
fn rename_config_errors() {
    let e = err("processors:\n  - rename:\n      fields:\n        - {from: a}\n");
    assert!(
        e.contains("processors[0] (rename): fields[0]: missing required option `to`"),
        "{e}"
    );
    let e = err("processors:\n  - rename:\n      fields:\n        - {from: a, to: b, into: c}\n");
    assert!(e.contains("fields[0]: unknown option `into`"), "{e}");
    let e = err("processors:\n  - rename:\n      fields: {from: a, to: b}\n");
    assert!(e.contains("option `fields` must be a list"), "{e}");
    let e = err("processors:\n  - rename: {}\n");
    assert!(e.contains("missing required option `fields`"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// add_tags

#[test]
fn add_tags_appends_to_tags() {
    let p = procs(
        r#"
processors:
  - add_tags:
      tags: [web, production]
  - add_tags:
      tags: single
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(e["tags"], json!(["edge", "web", "production", "single"]));
    let (_, e) = apply(&p, ev(json!({"type": "dns"})));
    assert_eq!(e["tags"], json!(["web", "production", "single"]));
}

#[test]
fn add_tags_with_a_target() {
    let p = procs(
        r#"
processors:
  - add_tags:
      tags: [a, b]
      target: labels.list
  - add_tags:
      tags: [c]
      target: labels.list
  - add_tags:
      tags: [x]
      target: status
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(e["labels"]["list"], json!(["a", "b", "c"]));
    assert_eq!(e["status"], json!("OK"), "a non-list target is left alone");
    assert_eq!(e["tags"], json!(["edge"]));
}

#[test]
fn add_tags_requires_tags() {
    let e = err("processors:\n  - add_tags:\n      target: x\n");
    assert!(
        e.contains("processors[0] (add_tags): missing required option `tags`"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// add_host_metadata / add_observer_metadata

#[test]
fn add_host_metadata_writes_host_fields_with_netinfo_by_default() {
    let p = procs("processors:\n  - add_host_metadata:\n");
    let (_, e) = apply(&p, http_event());
    assert_eq!(
        e["host"],
        json!({
            "hostname": "sensor-01",
            "name": "sensor-01",
            "id": "0123456789abcdef0123456789abcdef",
            "architecture": "x86_64",
            "os": {
                "type": "linux",
                "family": "debian",
                "name": "Debian GNU/Linux",
                "kernel": "6.1.0-18-amd64",
                "version": "12 (bookworm)",
                "platform": "debian",
                "codename": "bookworm"
            },
            "ip": ["192.0.2.2", "fd00::2", "fe80::fc:ff:fe00:1"],
            "mac": ["02-FC-00-00-00-01", "4A-CB-D9-64-D8-AB"]
        })
    );
}

#[test]
fn add_host_metadata_netinfo_disabled_in_both_spellings() {
    for yaml in [
        "processors:\n  - add_host_metadata:\n      netinfo.enabled: false\n",
        "processors:\n  - add_host_metadata:\n      netinfo:\n        enabled: false\n      cache.ttl: 5m\n",
    ] {
        let p = procs(yaml);
        let (_, e) = apply(&p, http_event());
        assert!(e["host"].get("ip").is_none(), "{yaml}");
        assert!(e["host"].get("mac").is_none(), "{yaml}");
        assert_eq!(e["host"]["hostname"], json!("sensor-01"));
    }
}

#[test]
fn add_host_metadata_replace_fields() {
    let with_host = || {
        let mut e = http_event();
        e.insert(
            "host".into(),
            json!({"hostname": "original", "containerized": true}),
        );
        e
    };
    // Default: replace (deep merge; unrelated host fields stay).
    let p = procs("processors:\n  - add_host_metadata: {netinfo.enabled: false}\n");
    let (_, e) = apply(&p, with_host());
    assert_eq!(e["host"]["hostname"], json!("sensor-01"));
    assert_eq!(e["host"]["containerized"], json!(true));

    // replace_fields: false leaves events with host fields alone...
    let p = procs("processors:\n  - add_host_metadata:\n      replace_fields: false\n");
    let (_, e) = apply(&p, with_host());
    assert_eq!(
        e["host"],
        json!({"hostname": "original", "containerized": true})
    );
    // ...but host.name alone does not count.
    let mut only_name = http_event();
    only_name.insert("host".into(), json!({"name": "beat-name"}));
    let (_, e) = apply(&p, only_name);
    assert_eq!(e["host"]["name"], json!("sensor-01"));
    assert_eq!(e["host"]["os"]["platform"], json!("debian"));
}

#[test]
fn add_host_metadata_name_and_geo() {
    let p = procs(
        r#"
processors:
  - add_host_metadata:
      name: custom-name
      geo:
        name: nyc-dc1-rack1
        location: 40.7128, -74.0060
        continent_name: North America
        country_iso_code: US
        region_name: New York
        region_iso_code: NY
        city_name: "  "
"#,
    );
    let (_, e) = apply(&p, http_event());
    assert_eq!(e["host"]["name"], json!("custom-name"));
    assert_eq!(e["host"]["hostname"], json!("sensor-01"));
    assert_eq!(
        e["host"]["geo"],
        json!({
            "name": "nyc-dc1-rack1",
            "location": "40.7128, -74.0060",
            "continent_name": "North America",
            "country_iso_code": "US",
            "region_name": "New York",
            "region_iso_code": "NY"
        })
    );
    let e = err("processors:\n  - add_host_metadata:\n      geo:\n        location: somewhere\n");
    assert!(
        e.contains("processors[0] (add_host_metadata): in `geo`: invalid `location`"),
        "{e}"
    );
    let e = err("processors:\n  - add_host_metadata:\n      geo:\n        planet: mars\n");
    assert!(e.contains("in `geo`: unknown option `planet`"), "{e}");
    let e = err("processors:\n  - add_host_metadata:\n      netinfo.enable: false\n");
    assert!(e.contains("in `netinfo`: unknown option `enable`"), "{e}");
}

#[test]
fn add_observer_metadata_writes_observer_fields() {
    let p = procs("processors:\n  - add_observer_metadata:\n");
    let (_, e) = apply(&p, http_event());
    assert_eq!(
        e["observer"],
        json!({
            "hostname": "sensor-01",
            "ip": ["192.0.2.2", "fd00::2", "fe80::fc:ff:fe00:1"],
            "mac": ["02-FC-00-00-00-01", "4A-CB-D9-64-D8-AB"]
        })
    );
    let p = procs("processors:\n  - add_observer_metadata:\n      netinfo.enabled: false\n      geo: {name: rack1}\n");
    let (_, e) = apply(&p, http_event());
    assert_eq!(
        e["observer"],
        json!({"hostname": "sensor-01", "geo": {"name": "rack1"}})
    );
}

#[test]
fn add_observer_metadata_overwrite() {
    let with_observer = || {
        let mut e = http_event();
        e.insert(
            "observer".into(),
            json!({"vendor": "elastic", "hostname": "old"}),
        );
        e
    };
    let p = procs("processors:\n  - add_observer_metadata:\n");
    let (_, e) = apply(&p, with_observer());
    assert_eq!(
        e["observer"],
        json!({"vendor": "elastic", "hostname": "old"})
    );
    let p = procs("processors:\n  - add_observer_metadata:\n      overwrite: true\n      netinfo.enabled: false\n");
    let (_, e) = apply(&p, with_observer());
    assert_eq!(e["observer"], json!({"hostname": "sensor-01"}));
}

// ---------------------------------------------------------------------------------------------
// Conditions

#[test]
fn equals_strings_numbers_and_booleans() {
    let e = ev(json!({
        "type": "http",
        "http": {"response": {"status_code": 200}},
        "event": {"duration": 1.5},
        "flag": true,
        "neg": -3,
        "big": 18446744073709551615u64
    }));
    assert!(cond("equals: {type: http}").check(&e));
    assert!(!cond("equals: {type: dns}").check(&e));
    assert!(cond("equals: {http.response.status_code: 200}").check(&e));
    assert!(!cond("equals: {http.response.status_code: 201}").check(&e));
    assert!(
        !cond("equals: {http.response.status_code: '200'}").check(&e),
        "types must match"
    );
    assert!(!cond("equals: {type: 200}").check(&e));
    assert!(cond("equals: {event.duration: 1.5}").check(&e));
    assert!(cond("equals: {http.response.status_code: 200.0}").check(&e));
    assert!(cond("equals: {flag: true}").check(&e));
    assert!(!cond("equals: {flag: false}").check(&e));
    assert!(!cond("equals: {flag: 'true'}").check(&e));
    assert!(cond("equals: {neg: -3}").check(&e));
    assert!(cond("equals: {big: 18446744073709551615}").check(&e));
    assert!(!cond("equals: {big: -1}").check(&e));
    assert!(!cond("equals: {missing: 1}").check(&e));
}

#[test]
fn equals_with_several_fields_needs_all_of_them() {
    let e = http_event();
    assert!(cond("equals: {type: http, http.request.method: GET}").check(&e));
    assert!(!cond("equals: {type: http, http.request.method: POST}").check(&e));
    assert!(cond(
        "equals:\n  http:\n    request:\n      method: GET\n    response.status_code: 200\n"
    )
    .check(&e));
}

#[test]
fn equals_config_errors() {
    let e = cond_err("equals: {type: [a, b]}");
    assert_eq!(
        e,
        "when.equals.type: expected a string, number or boolean, found a list"
    );
    assert!(cond_err("equals: {}").contains("no fields given"));
    assert!(cond_err("equals: [type]").contains("expected a mapping of field names"));
}

#[test]
fn contains_substrings_and_string_lists() {
    let e = http_event();
    assert!(cond("contains: {url.full: example.com}").check(&e));
    assert!(!cond("contains: {url.full: example.org}").check(&e));
    assert!(
        cond("contains: {event.category: web}").check(&e),
        "any element of a list"
    );
    assert!(
        cond("contains: {event.category: wor}").check(&e),
        "substring of an element"
    );
    assert!(!cond("contains: {event.category: file}").check(&e));
    assert!(
        !cond("contains: {http.response.status_code: '20'}").check(&e),
        "numbers never match"
    );
    assert!(cond("contains: {status: OK, url.path: index}").check(&e));
    assert!(!cond("contains: {status: OK, url.path: about}").check(&e));
    assert!(cond("contains: {url.path: ''}").check(&e));
    assert!(cond_err("contains: {status: 200}").contains("expected a string, found a number"));
}

#[test]
fn regexp_conditions() {
    let e = http_event();
    assert!(cond(r"regexp: {url.path: '^/index\.html$'}").check(&e));
    assert!(
        cond("regexp: {url.full: 'example\\.(com|org)'}").check(&e),
        "unanchored"
    );
    assert!(!cond("regexp: {url.path: '^/about'}").check(&e));
    assert!(
        cond("regexp: {event.category: '^we'}").check(&e),
        "any element of a list"
    );
    assert!(
        !cond("regexp: {http.response.status_code: '.*'}").check(&e),
        "numbers never match"
    );
    assert!(!cond("regexp: {missing: '.*'}").check(&e));
    let e = cond_err("regexp: {url.path: '(unclosed'}");
    assert!(
        e.starts_with("when.regexp.url.path: invalid regular expression"),
        "{e}"
    );
}

#[test]
fn range_conditions() {
    let e = http_event();
    assert!(cond("range: {http.response.status_code.gte: 200}").check(&e));
    assert!(!cond("range: {http.response.status_code.gt: 200}").check(&e));
    assert!(cond("range: {http.response.status_code.lte: 200}").check(&e));
    assert!(!cond("range: {http.response.status_code.lt: 200}").check(&e));
    assert!(
        cond("range: {http.response.status_code.gte: 200, http.response.status_code.lt: 300}")
            .check(&e)
    );
    assert!(!cond(
        "range: {http.response.status_code.gte: 400, http.response.status_code.lt: 500}"
    )
    .check(&e));
    assert!(cond("range:\n  http.response.status_code:\n    gte: 100\n    lt: 299.5\n  event.duration.gt: 1000\n").check(&e));
    assert!(
        cond("range: {event.duration.lt: '2e6'}").check(&e),
        "numeric strings in the config"
    );
    assert!(
        !cond("range: {status.gte: 0}").check(&e),
        "strings in the event never match"
    );
    assert!(!cond("range: {missing.gte: 0}").check(&e));
    let f = ev(json!({"rtt": 0.25}));
    assert!(cond("range: {rtt.gt: 0.2, rtt.lte: 0.25}").check(&f));
}

#[test]
fn range_config_errors() {
    let e = cond_err("range: {http.response.status_code: 200}");
    assert!(e.contains("unknown range operator `status_code`"), "{e}");
    let e = cond_err("range: {status.gte: high}");
    assert!(
        e.contains("when.range.status.gte: expected a number, found a string"),
        "{e}"
    );
    let e = cond_err("range: {code: 1}");
    assert!(e.contains("expected `<field>.<op>`"), "{e}");
}

#[test]
fn network_cidrs_and_lists() {
    let e = http_event();
    assert!(cond("network: {destination.ip: '10.0.0.0/8'}").check(&e));
    assert!(!cond("network: {destination.ip: '192.168.0.0/16'}").check(&e));
    assert!(cond("network: {destination.ip: ['192.168.0.0/16', '10.1.2.0/24']}").check(&e));
    assert!(cond("network: {destination.ip: private, source.ip: '198.18.0.0/15'}").check(&e));
    assert!(!cond("network: {destination.ip: private, source.ip: private}").check(&e));
    assert!(cond("network: {destination.ip: '10.1.2.3/32'}").check(&e));
    assert!(
        cond("network: {destination.ip: '10.1.2.99/8'}").check(&e),
        "host bits are cleared"
    );
    assert!(
        !cond("network: {destination.ip: '::/0'}").check(&e),
        "families do not mix"
    );
    assert!(!cond("network: {status: private}").check(&e), "not an IP");
    assert!(!cond("network: {missing: private}").check(&e));
    let v6 = ev(
        json!({"ip": "2001:db8::1", "mapped": "::ffff:10.0.0.1", "ips": ["8.8.8.8", "junk", "192.168.1.1"]}),
    );
    assert!(cond("network: {ip: '2001:db8::/32'}").check(&v6));
    assert!(
        cond("network: {mapped: '10.0.0.0/8'}").check(&v6),
        "IPv4-mapped is IPv4"
    );
    assert!(
        cond("network: {ips: private}").check(&v6),
        "any address of a list"
    );
    assert!(!cond("network: {ips: loopback}").check(&v6));
}

#[test]
fn network_named_ranges() {
    let check = |name: &str, ip: &str| {
        let e = ev(json!({"ip": ip}));
        cond(&format!("network: {{ip: {name}}}")).check(&e)
    };
    let cases: &[(&str, &str, bool)] = &[
        ("loopback", "127.0.0.1", true),
        ("loopback", "127.8.9.1", true),
        ("loopback", "::1", true),
        ("loopback", "10.0.0.1", false),
        ("private", "10.0.0.1", true),
        ("private", "172.16.5.4", true),
        ("private", "172.32.0.1", false),
        ("private", "192.168.1.1", true),
        ("private", "fd12::1", true),
        ("private", "fc00::1", false),
        ("private", "8.8.8.8", false),
        ("public", "8.8.8.8", true),
        ("public", "2001:4860::8888", true),
        ("public", "10.0.0.1", false),
        ("public", "127.0.0.1", false),
        ("public", "169.254.1.1", false),
        ("public", "255.255.255.255", false),
        ("public", "0.0.0.0", false),
        ("public", "224.0.0.251", false),
        ("public", "239.1.1.1", true),
        ("public", "ff02::1", false),
        ("public", "ff01::1", false),
        ("public", "fe80::1", false),
        ("link_local_unicast", "169.254.3.3", true),
        ("link_local_unicast", "fe80::1", true),
        ("link_local_unicast", "fec0::1", false),
        ("link_local_multicast", "224.0.0.251", true),
        ("link_local_multicast", "224.0.1.1", false),
        ("link_local_multicast", "ff02::fb", true),
        ("interface_local_multicast", "ff01::1", true),
        ("interface_local_multicast", "ff02::1", false),
        ("multicast", "239.255.255.250", true),
        ("multicast", "ff05::2", true),
        ("multicast", "10.0.0.1", false),
        ("unspecified", "0.0.0.0", true),
        ("unspecified", "::", true),
        ("unspecified", "::1", false),
        ("global_unicast", "8.8.8.8", true),
        ("global_unicast", "10.0.0.1", true),
        ("global_unicast", "255.255.255.255", false),
        ("global_unicast", "fe80::1", false),
        ("global_unicast", "ff02::1", false),
        ("unicast", "2001:db8::1", true),
        ("unicast", "127.0.0.1", false),
    ];
    for (name, ip, want) in cases {
        assert_eq!(check(name, ip), *want, "{ip} in {name}");
    }
}

#[test]
fn network_config_errors() {
    let e = cond_err("network: {source.ip: '10.0.0.0/33'}");
    assert!(
        e.contains("when.network.source.ip: `10.0.0.0/33` is neither a CIDR"),
        "{e}"
    );
    assert!(e.contains("loopback, global_unicast"), "{e}");
    let e = cond_err("network: {source.ip: Private}");
    assert!(e.contains("`Private` is neither"), "{e}");
    let e = cond_err("network: {source.ip: 10.0.0.1}");
    assert!(
        e.contains("is neither"),
        "a bare address is not a CIDR: {e}"
    );
    let e = cond_err("network: {source.ip: [private, 3]}");
    assert!(
        e.contains("expected network names or CIDRs, found a number"),
        "{e}"
    );
    assert_eq!(
        parse_cidr("2001:db8::1/32"),
        Some(Net::Cidr("2001:db8::".parse::<IpAddr>().unwrap(), 32))
    );
    assert_eq!(
        parse_cidr("0.0.0.0/0"),
        Some(Net::Cidr("0.0.0.0".parse::<IpAddr>().unwrap(), 0))
    );
    assert_eq!(parse_cidr("10.0.0.0/+8"), None);
    assert_eq!(parse_cidr("10.0.0.0/"), None);
    assert_eq!(parse_cidr("::/129"), None);
}

#[test]
fn has_fields_condition() {
    let e = http_event();
    assert!(cond("has_fields: ['http.response.status_code', 'source.ip']").check(&e));
    assert!(!cond("has_fields: ['http.response.status_code', 'dns.id']").check(&e));
    assert!(cond("has_fields: http.request").check(&e));
    let d = ev(json!({"dns.question.name": "x"}));
    assert!(cond("has_fields: [dns.question.name]").check(&d));
    assert!(cond_err("has_fields: []").contains("empty"));
    assert!(cond_err("has_fields: {a: 1}").contains("expected a list of field names"));
}

#[test]
fn or_and_not_nest() {
    let e = http_event();
    let c = cond(
        r#"
or:
  - equals: {http.response.status_code: 404}
  - and:
      - equals: {type: http}
      - not:
          network: {source.ip: private}
      - or:
          - contains: {url.path: admin}
          - range: {destination.bytes.gt: 1024}
"#,
    );
    assert!(c.check(&e));
    let mut small = e.clone();
    fields::put(&mut small, "destination.bytes", json!(10)).unwrap();
    assert!(!c.check(&small));
    fields::put(&mut small, "http.response.status_code", json!(404)).unwrap();
    assert!(c.check(&small));

    assert!(cond("not: {equals: {type: dns}}").check(&e));
    assert!(!cond("not: {not: {equals: {type: dns}}}").check(&e));
    assert!(cond("and: [{has_fields: [type]}, {equals: {type: http}}]").check(&e));
    assert!(!cond("or: [{has_fields: [nope]}, {equals: {type: dns}}]").check(&e));
}

#[test]
fn boolean_condition_errors_carry_the_path() {
    let e = cond_err("or:\n  - equals: {type: http}\n  - and:\n      - contains: {url.path: 3}\n");
    assert_eq!(
        e,
        "when.or[1].and[0].contains.url.path: expected a string, found a number"
    );
    assert!(cond_err("or: []")
        .contains("when.or: expected a non-empty list of conditions, found an empty list"));
    assert!(cond_err("and: {equals: {a: 1}}").contains("expected a non-empty list"));
    assert!(cond_err("not: [a]").contains("when.not: a condition must be a mapping"));
    assert!(cond_err("{}").contains("empty condition"));
}

#[test]
fn a_condition_takes_a_single_kind() {
    let e = cond_err("equals: {type: http}\ncontains: {url.path: x}\n");
    assert!(
        e.contains("exactly one of") && e.contains("contains, equals"),
        "{e}"
    );
    assert!(e.contains("combine several with `and`"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// when on processors, if/then/else, whole pipelines

#[test]
fn when_gates_every_processor_kind() {
    let p = procs(
        r#"
processors:
  - add_fields:
      when.equals.type: dns
      fields: {a: 1}
  - add_tags:
      when: {equals: {type: dns}}
      tags: [dns]
  - drop_fields:
      when: {equals: {type: dns}}
      fields: [status]
  - include_fields:
      when: {equals: {type: dns}}
      fields: [type]
  - rename:
      when: {equals: {type: dns}}
      fields: [{from: url, to: link}]
  - add_host_metadata:
      when: {equals: {type: dns}}
  - add_observer_metadata:
      when: {equals: {type: dns}}
  - drop_event:
      when: {equals: {type: dns}}
"#,
    );
    assert_eq!(p.len(), 8);
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert_eq!(e, http_event(), "no condition matched");

    let mut dns = http_event();
    dns.insert("type".into(), json!("dns"));
    let (kept, _) = apply(&p, dns);
    assert!(!kept);
}

#[test]
fn processors_run_in_order_and_see_earlier_changes() {
    let p = procs(
        r#"
processors:
  - rename:
      fields: [{from: http.response.status_code, to: code}]
  - add_tags:
      tags: [renamed]
      when:
        has_fields: [code]
  - drop_event:
      when:
        has_fields: [http.response.status_code]
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert_eq!(e["code"], json!(200));
    assert_eq!(e["tags"], json!(["edge", "renamed"]));
}

#[test]
fn if_then_else() {
    let p = procs(
        r#"
processors:
  - if:
      equals: {type: http}
    then:
      - add_tags: {tags: [web]}
      - add_fields: {target: "", fields: {kind: web}}
    else:
      add_tags: {tags: [other]}
  - if:
      equals: {type: icmp}
    then:
      - drop_event:
"#,
    );
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert_eq!(e["tags"], json!(["edge", "web"]));
    assert_eq!(e["kind"], json!("web"));
    let (kept, e) = apply(&p, ev(json!({"type": "dns"})));
    assert!(kept);
    assert_eq!(e["tags"], json!(["other"]));
    let (kept, _) = apply(&p, ev(json!({"type": "icmp"})));
    assert!(!kept);

    let e = err("processors:\n  - if: {equals: {type: http}}\n    then:\n      - bogus: {}\n");
    assert!(
        e.contains("processors[0].then[0]: unknown processor `bogus`"),
        "{e}"
    );
    let e = err("processors:\n  - if: {equals: {type: http}}\n");
    assert!(e.contains("processors[0] (if): missing `then`"), "{e}");
    let e = err("processors:\n  - if: {equals: {type: http}}\n    then: []\n    when: {}\n");
    assert!(e.contains("unknown key `when`"), "{e}");
}

#[test]
fn a_packetbeat_style_config() {
    let p = procs(
        r#"
packetbeat.interfaces.device: any
processors:
  # Drop health checks.
  - drop_event.when.and:
      - equals.url.path: /healthz
      - network.source.ip: private
  - add_host_metadata:
      netinfo.enabled: false
  - add_fields:
      target: ''
      fields:
        labels.site: paris
  - drop_fields:
      fields: ["event.duration", "/^client/"]
      ignore_missing: true
  - add_tags:
      when.network.destination.ip: [private, loopback]
      tags: [internal]
"#,
    );
    assert_eq!(p.len(), 5);
    let (kept, e) = apply(&p, http_event());
    assert!(kept);
    assert_eq!(e["host"]["hostname"], json!("sensor-01"));
    assert_eq!(e["labels"], json!({"site": "paris"}));
    assert!(!e.contains_key("client"));
    assert!(!fields::has(&e, "event.duration"));
    assert_eq!(e["tags"], json!(["edge", "internal"]));

    let mut health = http_event();
    fields::put(&mut health, "url.path", json!("/healthz")).unwrap();
    let (kept, _) = apply(&p, health.clone());
    assert!(kept, "source 198.18.0.1 is not private");
    fields::put(&mut health, "source.ip", json!("10.9.9.9")).unwrap();
    let (kept, _) = apply(&p, health);
    assert!(!kept);
}

#[test]
fn configs_already_expanded_by_the_config_loader_work_the_same() {
    // The packetbeat.yml loader expands dotted keys of the whole file before handing the list
    // over; condition field maps are flattened again, so the result is the same.
    let yaml = r#"
processors:
  - drop_event:
      when:
        range:
          http.response.status_code.gte: 400
  - add_fields:
      fields:
        a.b: 1
"#;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let expanded = crate::config::expand_dotted(doc.clone()).unwrap();
    let a = Processors::from_yaml(doc.get("processors").unwrap(), &host()).unwrap();
    let b = Processors::from_yaml(expanded.get("processors").unwrap(), &host()).unwrap();
    for status in [200, 404] {
        let mut e = http_event();
        fields::put(&mut e, "http.response.status_code", json!(status)).unwrap();
        let (ka, ea) = apply(&a, e.clone());
        let (kb, eb) = apply(&b, e);
        assert_eq!((ka, &ea), (kb, &eb));
        assert_eq!(ka, status < 400);
        if ka {
            assert_eq!(ea["fields"], json!({"a": {"b": 1}}));
        }
    }
}

#[test]
fn processors_never_panic_on_odd_events() {
    let p = procs(
        r#"
processors:
  - rename: {fields: [{from: a.b, to: a.b.c}], ignore_missing: true}
  - drop_fields: {fields: ['/.*/', a], ignore_missing: true}
  - add_tags: {tags: [t], target: x.y}
  - add_fields: {target: x.y.z, fields: {k: v}}
  - include_fields: {fields: ['', '.', 'a..b', x]}
"#,
    );
    for e in [
        json!({}),
        json!({"a": null, "x": 1}),
        json!({"a": {"b": [1, {"c": 2}]}, "x": {"y": "str"}}),
        json!({"": {"": 1}, ".": 2, "a..b": 3, "x.": 4}),
    ] {
        let mut e = ev(e);
        p.run(&mut e);
    }
}
