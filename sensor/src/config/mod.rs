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
