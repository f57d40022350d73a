//! Configuration in Packetbeat's shape (`packetbeat.protocols`, `packetbeat.flows`,
//! `packetbeat.interfaces`, `output.*`), typed and strict.

mod duration;

pub use duration::{de_duration, de_period};

use std::time::Duration;

use serde::Deserialize;

/// Options every protocol takes (PROTOCOLS.md §1.3).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CommonConfig {
    /// Parse this protocol at all.
    pub enabled: bool,
    /// Ports the protocol is detected on (empty = the protocol's defaults).
    pub ports: Vec<u16>,
    /// Put the raw request text into `request`.
    pub send_request: bool,
    /// Put the raw response text into `response`.
    pub send_response: bool,
    /// Requests unanswered for this long are published as unmatched.
    #[serde(deserialize_with = "de_duration")]
    pub transaction_timeout: Duration,
    /// Added to `tags` of every event of this protocol.
    pub tags: Vec<String>,
    /// Custom fields added under `fields` (or at the root with `fields_under_root`).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Put `fields` at the event root.
    pub fields_under_root: bool,
    /// Publish null values instead of leaving the keys out.
    pub keep_null: bool,
    /// Move non-ECS fields under `network_traffic.*` (the integration's `map_to_ecs`).
    pub map_to_ecs: bool,
    /// Enrich with local process information (needs /proc; live capture only).
    pub monitor_processes: bool,
    /// Elasticsearch index name (accepted for compatibility; unused by this sensor's outputs).
    pub index: Option<String>,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            enabled: true,
            ports: Vec::new(),
            send_request: false,
            send_response: false,
            transaction_timeout: Duration::from_secs(10),
            tags: Vec::new(),
            fields: serde_json::Map::new(),
            fields_under_root: false,
            keep_null: false,
            map_to_ecs: false,
            monitor_processes: false,
            index: None,
        }
    }
}

mod load;

pub use load::expand_dotted;

use crate::ecs::GlobalFields;
use crate::flow::FlowsConfig;
use crate::output::OutputTarget;
use crate::proto::{ProtoConfigs, ProtoId};

/// Per-protocol settings: the common options of each protocol plus their specific configs.
#[derive(Clone, Debug)]
pub struct Protocols {
    /// Indexed by `ProtoId as usize`.
    pub common: Vec<CommonConfig>,
    /// Protocol-specific options.
    pub specific: ProtoConfigs,
    /// Each protocol's `processors`, indexed by `ProtoId as usize`.
    pub processors: Vec<crate::processors::Processors>,
}

impl CommonConfig {
    /// The defaults of protocol `id`: Packetbeat's cassandra sends its request and response
    /// objects unless told otherwise (`send_request`/`send_response` default true).
    pub fn defaults_for(id: ProtoId) -> CommonConfig {
        let on = id == ProtoId::Cassandra;
        CommonConfig {
            send_request: on,
            send_response: on,
            ..CommonConfig::default()
        }
    }
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols {
            common: ProtoId::ALL
                .iter()
                .map(|&id| CommonConfig::defaults_for(id))
                .collect(),
            specific: ProtoConfigs::default(),
            processors: ProtoId::ALL
                .iter()
                .map(|_| crate::processors::Processors::default())
                .collect(),
        }
    }
}

impl Protocols {
    /// Common options of `id`.
    pub fn get(&self, id: ProtoId) -> &CommonConfig {
        // `common` always has one entry per protocol (built from ProtoId::ALL).
        self.common.get(id as usize).unwrap_or(&DEFAULT_COMMON)
    }

    /// Ports of `id`: configured, else the defaults.
    pub fn ports(&self, id: ProtoId) -> &[u16] {
        let c = self.get(id);
        if c.ports.is_empty() {
            id.default_ports()
        } else {
            &c.ports
        }
    }
}

static DEFAULT_COMMON: std::sync::LazyLock<CommonConfig> =
    std::sync::LazyLock::new(CommonConfig::default);

/// `packetbeat.interfaces` (used by live capture).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InterfacesConfig {
    /// Interface name (or `default_route`).
    pub device: Option<String>,
    /// Capture type (`af_xdp` for this sensor; `pcap`/`af_packet` accepted for compatibility).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Bytes captured per frame.
    pub snaplen: u32,
    /// Ring buffer size (MiB).
    pub buffer_size_mb: u32,
    /// Capture VLAN-tagged traffic too.
    pub with_vlans: bool,
    /// Custom BPF filter (not used by the XDP data plane, which filters by protocol ports).
    pub bpf_filter: Option<String>,
    /// Put the interface in promiscuous mode.
    pub auto_promisc_mode: bool,
    /// AF_PACKET fanout group (accepted for compatibility).
    pub fanout_group: Option<u16>,
    /// Socket statistics interval.
    pub metrics_interval: Option<String>,
    /// Networks considered internal for `network.direction`.
    pub internal_networks: Vec<String>,
}

impl Default for InterfacesConfig {
    fn default() -> Self {
        InterfacesConfig {
            device: None,
            kind: None,
            snaplen: 65535,
            buffer_size_mb: 30,
            with_vlans: false,
            bpf_filter: None,
            auto_promisc_mode: false,
            fanout_group: None,
            metrics_interval: None,
            internal_networks: vec!["private".into()],
        }
    }
}

/// `output.*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputConfig {
    /// The configured target, if any (`--output` overrides it).
    pub target: Option<OutputTarget>,
    /// `output.kafka` (also used by `--output kafka` when present, even if not enabled).
    pub kafka: Option<crate::output::kafka_config::KafkaConfig>,
}

impl OutputConfig {
    fn from_value(mut m: serde_yaml_ng::Mapping) -> anyhow::Result<OutputConfig> {
        let mut out = OutputConfig::default();
        let mut enabled = Vec::new();
        for (k, v) in std::mem::take(&mut m) {
            let name = k.as_str().unwrap_or_default().to_owned();
            let vm = match v {
                serde_yaml_ng::Value::Mapping(vm) => vm,
                serde_yaml_ng::Value::Null => serde_yaml_ng::Mapping::new(),
                _ => anyhow::bail!("output.{name} must be a mapping"),
            };
            let on = vm.get("enabled").and_then(|e| e.as_bool()).unwrap_or(true);
            if !on && name != "kafka" {
                continue;
            }
            match name.as_str() {
                "console" => enabled.push(OutputTarget::Stdout),
                "file" => {
                    let dir = vm.get("path").and_then(|p| p.as_str()).unwrap_or(".");
                    let file = vm
                        .get("filename")
                        .and_then(|p| p.as_str())
                        .unwrap_or("sensor.ndjson");
                    enabled.push(OutputTarget::File(std::path::Path::new(dir).join(file)));
                }
                "kafka" => {
                    let mut vm = vm;
                    vm.remove("enabled");
                    out.kafka = Some(crate::output::kafka_config::KafkaConfig::from_value(vm)?);
                    if on {
                        enabled.push(OutputTarget::Kafka { hosts: Vec::new() });
                    }
                    continue;
                }
                other => {
                    anyhow::bail!("unknown output `output.{other}` (known: console, file, kafka)")
                }
            }
        }
        if enabled.len() > 1 {
            anyhow::bail!("only one output may be enabled");
        }
        out.target = enabled.pop();
        Ok(out)
    }
}

/// `http.*`: the monitoring endpoint (Beats' names and defaults: off, localhost:5066).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve `/metrics`, `/healthz` and `/readyz`.
    pub enabled: bool,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on.
    pub port: u16,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: false,
            host: "localhost".into(),
            port: 5066,
        }
    }
}

/// `logging.metrics.*`: the periodic stats event (Beats logs its metrics every 30 s; the
/// sensor publishes them as an event into the output, `event.dataset: sensor.stats`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Publish the stats event.
    pub enabled: bool,
    /// How often (wall clock).
    #[serde(deserialize_with = "de_duration")]
    pub period: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            period: Duration::from_secs(30),
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `packetbeat.protocols`.
    pub protocols: Protocols,
    /// `packetbeat.flows`.
    pub flows: FlowsConfig,
    /// `packetbeat.interfaces`.
    pub interfaces: InterfacesConfig,
    /// `output.*`.
    pub output: OutputConfig,
    /// Global tags and fields.
    pub global: GlobalFields,
    /// `packetbeat.ignore_outgoing`.
    pub ignore_outgoing: bool,
    /// `name` (shipper name).
    pub name: Option<String>,
    /// `http.*`.
    pub http: HttpConfig,
    /// `logging.metrics.*`.
    pub metrics: MetricsConfig,
    /// `packetbeat.interfaces.internal_networks`, compiled (perimeter `network.direction`).
    pub internal_networks: Vec<crate::processors::conditions::Net>,
    /// Global `processors` (run after the protocol's or the flows' own).
    pub processors: crate::processors::Processors,
    /// `packetbeat.flows.processors`, compiled.
    pub flow_processors: crate::processors::Processors,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocols: Protocols::default(),
            flows: FlowsConfig::default(),
            interfaces: InterfacesConfig::default(),
            output: OutputConfig::default(),
            global: GlobalFields::default(),
            ignore_outgoing: false,
            name: None,
            http: HttpConfig::default(),
            metrics: MetricsConfig::default(),
            internal_networks: vec![crate::processors::conditions::Net::Named("private")],
            processors: crate::processors::Processors::default(),
            flow_processors: crate::processors::Processors::default(),
        }
    }
}

#[cfg(test)]
mod tests;
