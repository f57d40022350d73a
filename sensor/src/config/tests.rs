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
