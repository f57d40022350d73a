use super::*;

#[test]
fn packetbeat_yml_block_loads() {
    let c = Config::from_yaml(
        r#"
packetbeat.interfaces.device: any
packetbeat.flows:
  timeout: 30s
  period: -1
packetbeat.protocols:
- type: icmp
  enabled: true
- type: dns
  ports: [53, 5353]
  include_authorities: true
- type: http
  ports: [80, 8080]
  send_headers: ["User-Agent"]
  transaction_timeout: 5s
- type: mysql
  ports: [3306]
output.console:
  pretty: false
"#,
    );
    let c = match c {
        Ok(c) => c,
        Err(e) => panic!("{e:#}"),
    };
    assert_eq!(c.flows.period, None);
    assert_eq!(c.protocols.ports(ProtoId::Dns), &[53, 5353]);
    assert_eq!(
        c.protocols.get(ProtoId::Http).transaction_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(c.interfaces.device.as_deref(), Some("any"));
}

#[test]
fn unknown_keys_are_named() {
    let e = Config::from_yaml("packetbeat.flows:\n  timout: 30s\n").unwrap_err();
    assert!(format!("{e:#}").contains("timout"), "{e:#}");
    let e = Config::from_yaml("packetbeat.protocols:\n- type: dns\n  portz: [53]\n").unwrap_err();
    assert!(format!("{e:#}").contains("portz"), "{e:#}");
    let e = Config::from_yaml("packetbeat.protocolz: []\n").unwrap_err();
    assert!(format!("{e:#}").contains("protocolz"), "{e:#}");
}

#[test]
fn a_port_claimed_twice_is_an_error() {
    let e = Config::from_yaml(
        "packetbeat.protocols:\n- type: dns\n  ports: [8080]\n- type: http\n  ports: [8080]\n",
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("8080"), "{e:#}");
}

#[test]
fn the_example_config_loads() {
    let text = include_str!("../../../deploy/config/sensor.yml");
    if let Err(e) = Config::from_yaml(text) {
        panic!("deploy/config/sensor.yml: {e:#}");
    }
}

#[test]
fn overrides_and_monitoring_options() {
    let c = Config::from_yaml_with(
        "http:\n  port: 6000\npacketbeat.flows:\n  period: 10s\n",
        &[
            "http.enabled=true".into(),
            "http.host=0.0.0.0".into(),
            "packetbeat.flows.period=-1".into(),
            "logging.metrics.period=5s".into(),
        ],
    )
    .unwrap();
    assert_eq!(
        c.http,
        HttpConfig {
            enabled: true,
            host: "0.0.0.0".into(),
            port: 6000
        }
    );
    assert_eq!(c.flows.period, None);
    assert_eq!(c.metrics.period, std::time::Duration::from_secs(5));
    assert!(c.metrics.enabled);
    let e = Config::from_yaml_with("", &["http.enabled".into()]).unwrap_err();
    assert!(format!("{e:#}").contains("KEY=VALUE"), "{e:#}");
    let e = Config::from_yaml_with("", &["http.nope=1".into()]).unwrap_err();
    assert!(format!("{e:#}").contains("nope"), "{e:#}");
    let e = Config::from_yaml("logging.metrics.period: 0s").unwrap_err();
    assert!(format!("{e:#}").contains("at least 1s"), "{e:#}");
}

#[test]
fn cassandra_sends_request_and_response_by_default() {
    let id = ProtoId::Cassandra;
    let d = Config::default();
    assert!(d.protocols.get(id).send_request && d.protocols.get(id).send_response);
    assert!(!d.protocols.get(ProtoId::Mysql).send_request);
    let c = Config::from_yaml(
        "packetbeat.protocols:\n- type: cassandra\n  send_request: false\n- type: mysql\n",
    )
    .unwrap();
    assert!(!c.protocols.get(id).send_request, "given: kept");
    assert!(
        c.protocols.get(id).send_response,
        "not given: cassandra's default"
    );
    assert!(!c.protocols.get(ProtoId::Mysql).send_response);
}
