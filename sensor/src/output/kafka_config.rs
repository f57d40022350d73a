//! `output.kafka` in Beats' shape: typed, strict (unknown keys are errors), secrets resolved from
//! the environment (`${VAR}`) or a file and never printed (`Debug` shows `<redacted>`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::config::ClientConfig;
use serde::Deserialize;

use crate::config::de_duration;

use super::route::{Route, TopicRule};

/// Default broker list when none is configured (Beats' default is `localhost:9092`; loopback
/// only, so a sensor never reaches out to an unintended network by default).
const DEFAULT_HOST: &str = "127.0.0.1:9092";
/// Default key: the flow's Community ID keeps one flow's events in one partition, in order.
const DEFAULT_KEY: &str = "%{[network.community_id]}";
/// Default topic when neither `topic` nor a matching `topics` rule applies (Beats requires a
/// topic; the beat name is the customary choice).
const DEFAULT_TOPIC: &str = "packetbeat";
/// Events librdkafka may hold in memory (queued + in flight) before `send` reports QueueFull:
/// the bounded in-memory queue; ~100 k events of ~1 KiB is ~100 MiB at most.
const DEFAULT_QUEUE_MESSAGES: u32 = 100_000;
/// Memory cap of the same queue (KiB): whichever of the two limits is hit first applies.
const DEFAULT_QUEUE_KBYTES: u32 = 128 * 1024;
/// Spool size cap: 1 GiB holds about a million events, minutes to hours of an outage.
const DEFAULT_SPOOL_BYTES: u64 = 1 << 30;
/// How long `flush` (shutdown) waits without any delivery progress before it spools what is
/// still queued: long enough for a broker round trip with retries, short enough not to hang.
const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Statistics interval: broker RTT and queue depth are at most this stale.
const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(1);

/// A secret string: never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// The secret value (only to hand to librdkafka).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `partition` strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Partitioning {
    /// By a hash of the key (murmur2, Java-client compatible); keyless events go to a random one.
    #[default]
    Hash,
    /// A random partition per event.
    Random,
    /// Partitions in turn (counts from librdkafka metadata; random until they are known).
    RoundRobin,
}

/// `compression`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (Beats' default).
    #[default]
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
    /// zstd.
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// What happens when the spool is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Keep what is spooled, drop the new event (counted).
    #[default]
    DropNewest,
    /// Delete the oldest spool segment (its events counted as dropped) to make room.
    DropOldest,
}

/// The on-disk spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Use a spool at all (without it, events that cannot be queued are dropped and counted).
    pub enabled: bool,
    /// Directory of the spool segments.
    pub path: PathBuf,
    /// Size cap in bytes.
    pub max_bytes: u64,
    /// Policy when the cap is reached.
    pub when_full: WhenFull,
}

/// The resolved Kafka output configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers.
    pub hosts: Vec<String>,
    /// Topic selection per event.
    pub route: Route,
    /// Partitioning.
    pub partition: Partitioning,
    /// Static headers put on every record.
    pub headers: Vec<(String, String)>,
    /// Spool.
    pub spool: SpoolConfig,
    /// Flush: maximum time without progress.
    pub flush_timeout: Duration,
    /// Probe the brokers at start-up (bounded by `timeout`) to report problems early.
    pub probe_timeout: Duration,
    /// Final librdkafka properties (secrets inside; never printed by `Debug` of this struct).
    props: Vec<(String, PropValue)>,
}

/// A librdkafka property value, secret or not.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PropValue {
    Plain(String),
    Secret(Secret),
}

impl KafkaConfig {
    /// The librdkafka client configuration.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in &self.props {
            match v {
                PropValue::Plain(s) => c.set(k, s),
                PropValue::Secret(s) => c.set(k, s.expose()),
            };
        }
        c
    }

    /// A librdkafka property as configured (secrets: `None`).
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| match v {
                PropValue::Plain(s) => Some(s.as_str()),
                PropValue::Secret(_) => None,
            })
    }

    /// Override the broker list (`--output kafka:HOST:PORT,...`).
    pub fn set_hosts(&mut self, hosts: Vec<String>) {
        let list = hosts.join(",");
        self.hosts = hosts;
        self.props.retain(|(k, _)| k != "bootstrap.servers");
        self.props
            .insert(0, ("bootstrap.servers".into(), PropValue::Plain(list)));
    }

    /// The configuration used by `--output kafka` without any `output.kafka` section.
    pub fn defaults() -> Result<KafkaConfig> {
        KafkaConfig::from_value(serde_yaml_ng::Mapping::new())
    }

    /// Parse `output.kafka` (dotted keys already expanded).
    pub fn from_value(m: serde_yaml_ng::Mapping) -> Result<KafkaConfig> {
        let raw: Raw = serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(m))
            .map_err(|e| anyhow!("output.kafka: {e}"))?;
        raw.resolve()
    }
}

/// Expand `${VAR}` and `${VAR:default}` from the environment.
pub fn expand_env(s: &str, what: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            bail!("{what}: unterminated `${{` in the value");
        };
        let inner = after.get(..end).unwrap_or_default();
        let (name, default) = match inner.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (std::env::var(name), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                bail!("{what}: environment variable {name} is not set (referenced as ${{{name}}})")
            }
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn secret_from(value: Option<String>, file: Option<PathBuf>, what: &str) -> Result<Option<Secret>> {
    match (value, file) {
        (Some(_), Some(_)) => bail!("output.kafka: give {what} or {what}_file, not both"),
        (Some(v), None) => Ok(Some(Secret(expand_env(
            &v,
            &format!("output.kafka.{what}"),
        )?))),
        (None, Some(p)) => {
            let text = std::fs::read_to_string(&p).with_context(|| {
                format!("output.kafka.{what}_file: cannot read {}", p.display())
            })?;
            Ok(Some(Secret(text.trim_end_matches(['\n', '\r']).to_owned())))
        }
        (None, None) => Ok(None),
    }
}

fn put(props: &mut Vec<(String, PropValue)>, k: &str, v: impl Into<String>) {
    props.push((k.to_owned(), PropValue::Plain(v.into())));
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

// ----- serde shapes -----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    enabled: Option<bool>,
    hosts: Vec<String>,
    topic: Option<String>,
    topics: Vec<TopicRule>,
    key: Option<String>,
    partition: Option<RawPartition>,
    client_id: Option<String>,
    version: Option<serde_yaml_ng::Value>,
    codec: Option<RawCodec>,
    required_acks: Option<i32>,
    compression: Option<Compression>,
    compression_level: Option<i32>,
    max_message_bytes: Option<u64>,
    bulk_max_size: Option<u64>,
    #[serde(deserialize_with = "opt_duration")]
    bulk_flush_frequency: Option<Duration>,
    #[serde(deserialize_with = "opt_duration")]
    linger: Option<Duration>,
    #[serde(deserialize_with = "opt_duration")]
    timeout: Option<Duration>,
    #[serde(deserialize_with = "opt_duration")]
    broker_timeout: Option<Duration>,
    #[serde(deserialize_with = "opt_duration")]
    keep_alive: Option<Duration>,
    backoff: RawBackoff,
    max_retries: Option<i64>,
    channel_buffer_size: Option<u64>,
    metadata: Option<RawMetadata>,
    headers: Vec<RawHeader>,
    username: Option<String>,
    username_file: Option<PathBuf>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    sasl: RawSasl,
    ssl: RawSsl,
    idempotent: Option<bool>,
    queue: RawQueue,
    spool: RawSpool,
    #[serde(deserialize_with = "opt_duration")]
    flush_timeout: Option<Duration>,
    #[serde(deserialize_with = "opt_duration")]
    statistics_interval: Option<Duration>,
    librdkafka: Option<serde_yaml_ng::Mapping>,
}

fn opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPartition {
    hash: Option<RawHash>,
    random: Option<RawRandom>,
    round_robin: Option<RawRandom>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHash {
    hash: Vec<String>,
    random: Option<bool>,
    reachable_only: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRandom {
    group_events: Option<u64>,
    reachable_only: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCodec {
    json: Option<RawJsonCodec>,
    format: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawJsonCodec {
    pretty: bool,
    escape_html: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawBackoff {
    #[serde(deserialize_with = "opt_duration")]
    init: Option<Duration>,
    #[serde(deserialize_with = "opt_duration")]
    max: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMetadata {
    #[serde(deserialize_with = "opt_duration")]
    refresh_frequency: Option<Duration>,
    full: Option<bool>,
    retry: Option<RawMetadataRetry>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMetadataRetry {
    max: Option<u64>,
    #[serde(deserialize_with = "opt_duration")]
    backoff: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    key: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSasl {
    mechanism: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSsl {
    enabled: Option<bool>,
    certificate_authorities: Vec<String>,
    certificate: Option<String>,
    key: Option<String>,
    key_passphrase: Option<String>,
    key_passphrase_file: Option<PathBuf>,
    verification_mode: Option<String>,
    supported_protocols: Vec<String>,
    cipher_suites: Vec<String>,
    curve_types: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawQueue {
    max_messages: Option<u32>,
    max_kbytes: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSpool {
    enabled: Option<bool>,
    path: Option<PathBuf>,
    max_bytes: Option<u64>,
    when_full: Option<WhenFull>,
}

/// Flatten `a: {b: 1}` (the loader expands dotted keys) back into `a.b = "1"`.
fn flatten(
    prefix: &str,
    m: &serde_yaml_ng::Mapping,
    out: &mut Vec<(String, String)>,
) -> Result<()> {
    for (k, v) in m {
        let k = match k {
            serde_yaml_ng::Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other)?.trim().to_owned(),
        };
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            serde_yaml_ng::Value::Mapping(inner) => flatten(&name, inner, out)?,
            serde_yaml_ng::Value::String(s) => out.push((name, s.clone())),
            serde_yaml_ng::Value::Bool(b) => out.push((name, b.to_string())),
            serde_yaml_ng::Value::Number(n) => out.push((name, n.to_string())),
            _ => bail!("output.kafka.librdkafka.{name}: give a string, number or boolean"),
        }
    }
    Ok(())
}

/// librdkafka properties this module sets itself: overriding them through `librdkafka:` would
/// break delivery accounting.
const RESERVED_PROPS: &[&str] = &[
    "enable.idempotence",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "statistics.interval.ms",
    "dr_msg_cb",
    "dr_cb",
];

impl Raw {
    fn resolve(self) -> Result<KafkaConfig> {
        let _ = self.enabled;
        let _ = self.version;
        let mut props: Vec<(String, PropValue)> = Vec::new();

        let hosts = if self.hosts.is_empty() {
            vec![DEFAULT_HOST.to_owned()]
        } else {
            self.hosts
                .iter()
                .map(|h| expand_env(h, "output.kafka.hosts"))
                .collect::<Result<Vec<_>>>()?
        };
        for h in &hosts {
            if h.is_empty() || h.contains(char::is_whitespace) {
                bail!("output.kafka.hosts: {h:?} is not HOST:PORT");
            }
        }
        put(&mut props, "bootstrap.servers", hosts.join(","));
        put(
            &mut props,
            "client.id",
            self.client_id.unwrap_or_else(|| "sensor".to_owned()),
        );

        if let Some(codec) = self.codec {
            if codec.format.is_some() {
                bail!("output.kafka.codec.format is not supported: events are always ECS JSON (codec.json)");
            }
            if let Some(j) = codec.json {
                if j.pretty {
                    bail!("output.kafka.codec.json.pretty is not supported: one event per record, compact JSON");
                }
                let _ = j.escape_html;
            }
        }

        // Delivery guarantees: idempotent producer, acks from all in-sync replicas.
        let idempotent = self.idempotent.unwrap_or(true);
        let acks = self.required_acks.unwrap_or(-1);
        if !matches!(acks, -1..=1) {
            bail!("output.kafka.required_acks: {acks} is not one of -1 (all replicas), 0 (none), 1 (leader)");
        }
        if idempotent && acks != -1 {
            bail!("output.kafka.required_acks: {acks} cannot be used with the idempotent producer; set required_acks: -1 or idempotent: false");
        }
        put(&mut props, "enable.idempotence", idempotent.to_string());
        put(&mut props, "acks", acks.to_string());
        // Never expire queued events: while the broker is away they wait (bounded by the queue
        // size), the overflow goes to the spool, and ordering is kept.
        put(&mut props, "message.timeout.ms", "0");
        if let Some(r) = self.max_retries {
            let r = if r < 0 { i64::from(i32::MAX) } else { r };
            put(&mut props, "message.send.max.retries", r.to_string());
        }

        let compression = self.compression.unwrap_or_default();
        put(&mut props, "compression.codec", compression.name());
        if let Some(l) = self.compression_level {
            put(&mut props, "compression.level", l.to_string());
        }
        let max_bytes = self.max_message_bytes.unwrap_or(1_000_000);
        put(&mut props, "message.max.bytes", max_bytes.to_string());
        if let Some(n) = self.bulk_max_size {
            if n == 0 {
                bail!("output.kafka.bulk_max_size must be at least 1");
            }
            put(&mut props, "batch.num.messages", n.to_string());
        }
        if self.bulk_flush_frequency.is_some() && self.linger.is_some() {
            bail!("output.kafka: give bulk_flush_frequency or linger, not both");
        }
        if let Some(l) = self.bulk_flush_frequency.or(self.linger) {
            put(&mut props, "linger.ms", ms(l));
        }
        let timeout = self.timeout.unwrap_or(Duration::from_secs(30));
        put(&mut props, "socket.timeout.ms", ms(timeout));
        put(
            &mut props,
            "request.timeout.ms",
            ms(self.broker_timeout.unwrap_or(Duration::from_secs(10))),
        );
        if let Some(k) = self.keep_alive {
            put(
                &mut props,
                "socket.keepalive.enable",
                (!k.is_zero()).to_string(),
            );
        }
        let init = self.backoff.init.unwrap_or(Duration::from_secs(1));
        let max = self.backoff.max.unwrap_or(Duration::from_secs(60));
        if init > max {
            bail!("output.kafka.backoff: init ({init:?}) is larger than max ({max:?})");
        }
        // librdkafka caps retry.backoff.max.ms and reconnect.backoff.max.ms differently;
        // reconnects are capped at 10 s so a returning broker is found quickly.
        let init_ms = init.as_millis().clamp(1, 300_000);
        put(&mut props, "retry.backoff.ms", init_ms.to_string());
        put(
            &mut props,
            "retry.backoff.max.ms",
            max.as_millis().clamp(init_ms, 300_000).to_string(),
        );
        put(
            &mut props,
            "reconnect.backoff.ms",
            init_ms.min(10_000).to_string(),
        );
        put(
            &mut props,
            "reconnect.backoff.max.ms",
            max.as_millis()
                .clamp(init_ms.min(10_000), 10_000)
                .to_string(),
        );
        let _ = self.channel_buffer_size;
        if let Some(md) = self.metadata {
            if let Some(f) = md.refresh_frequency {
                put(&mut props, "topic.metadata.refresh.interval.ms", ms(f));
            }
            let _ = md.full;
            // Metadata retries are librdkafka's own business (retry.backoff.ms applies).
            let _ = md.retry.map(|r| (r.max, r.backoff));
        }
        let qm = self.queue.max_messages.unwrap_or(DEFAULT_QUEUE_MESSAGES);
        let qk = self.queue.max_kbytes.unwrap_or(DEFAULT_QUEUE_KBYTES);
        if qm == 0 || qk == 0 {
            bail!("output.kafka.queue: max_messages and max_kbytes must be at least 1");
        }
        put(&mut props, "queue.buffering.max.messages", qm.to_string());
        put(&mut props, "queue.buffering.max.kbytes", qk.to_string());
        put(
            &mut props,
            "statistics.interval.ms",
            ms(self
                .statistics_interval
                .unwrap_or(DEFAULT_STATS_INTERVAL)
                .max(Duration::from_millis(100))),
        );

        // Partitioning.
        let partition = match self.partition {
            None => Partitioning::Hash,
            Some(p) => {
                let n = usize::from(p.hash.is_some())
                    + usize::from(p.random.is_some())
                    + usize::from(p.round_robin.is_some());
                if n > 1 {
                    bail!("output.kafka.partition: choose one of hash, random, round_robin");
                }
                if let Some(h) = p.hash {
                    if !h.hash.is_empty() {
                        bail!("output.kafka.partition.hash.hash (hashing other fields than the key) is not supported; set `key` to the fields instead, e.g. key: '%{{[source.ip]}}-%{{[destination.ip]}}'");
                    }
                    let _ = (h.random, h.reachable_only);
                    Partitioning::Hash
                } else if let Some(r) = p.random {
                    let _ = (r.group_events, r.reachable_only);
                    Partitioning::Random
                } else if let Some(r) = p.round_robin {
                    let _ = (r.group_events, r.reachable_only);
                    Partitioning::RoundRobin
                } else {
                    Partitioning::Hash
                }
            }
        };
        put(
            &mut props,
            "partitioner",
            match partition {
                Partitioning::Hash => "murmur2_random",
                Partitioning::Random | Partitioning::RoundRobin => "random",
            },
        );

        // Security.
        let username = secret_from(self.username, self.username_file, "username")?;
        let password = secret_from(self.password, self.password_file, "password")?;
        let ssl_on = self.ssl.enabled.unwrap_or(
            !self.ssl.certificate_authorities.is_empty() || self.ssl.certificate.is_some(),
        );
        let sasl_on = username.is_some() || self.sasl.mechanism.is_some();
        put(
            &mut props,
            "security.protocol",
            match (ssl_on, sasl_on) {
                (false, false) => "plaintext",
                (true, false) => "ssl",
                (false, true) => "sasl_plaintext",
                (true, true) => "sasl_ssl",
            },
        );
        if sasl_on {
            let mech = match self.sasl.mechanism.as_deref().unwrap_or("PLAIN").to_ascii_uppercase().as_str() {
                "PLAIN" => "PLAIN",
                "SCRAM-SHA-256" => "SCRAM-SHA-256",
                "SCRAM-SHA-512" => "SCRAM-SHA-512",
                other => bail!("output.kafka.sasl.mechanism: {other:?} is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
            };
            put(&mut props, "sasl.mechanism", mech);
            let (Some(u), Some(p)) = (username, password) else {
                bail!("output.kafka: SASL needs both username and password (or username_file/password_file)");
            };
            props.push(("sasl.username".into(), PropValue::Secret(u)));
            props.push(("sasl.password".into(), PropValue::Secret(p)));
        } else if password.is_some() {
            bail!("output.kafka: password given without username");
        }
        let ssl = self.ssl;
        let passphrase = secret_from(
            ssl.key_passphrase,
            ssl.key_passphrase_file,
            "ssl.key_passphrase",
        )?;
        // Checked even when TLS is off, so a typo is reported.
        let verify: [(&str, &str); 2] = match ssl.verification_mode.as_deref().unwrap_or("full") {
            "full" | "strict" => [
                ("enable.ssl.certificate.verification", "true"),
                ("ssl.endpoint.identification.algorithm", "https"),
            ],
            "certificate" => [
                ("enable.ssl.certificate.verification", "true"),
                ("ssl.endpoint.identification.algorithm", "none"),
            ],
            "none" => [
                ("enable.ssl.certificate.verification", "false"),
                ("ssl.endpoint.identification.algorithm", "none"),
            ],
            other => bail!("output.kafka.ssl.verification_mode: {other:?} is not one of full, strict, certificate, none"),
        };
        if ssl_on {
            for ca in &ssl.certificate_authorities {
                if ca.contains("-----BEGIN") {
                    put(&mut props, "ssl.ca.pem", ca.clone());
                } else {
                    put(&mut props, "ssl.ca.location", ca.clone());
                }
            }
            if ssl.certificate_authorities.len() > 1 {
                bail!("output.kafka.ssl.certificate_authorities: give one CA bundle file (concatenate several CAs into it)");
            }
            if let Some(c) = &ssl.certificate {
                if c.contains("-----BEGIN") {
                    put(&mut props, "ssl.certificate.pem", c.clone());
                } else {
                    put(&mut props, "ssl.certificate.location", c.clone());
                }
            }
            if let Some(k) = &ssl.key {
                if k.contains("-----BEGIN") {
                    put(&mut props, "ssl.key.pem", k.clone());
                } else {
                    put(&mut props, "ssl.key.location", k.clone());
                }
            }
            for (k, v) in verify {
                put(&mut props, k, v);
            }
            if !ssl.cipher_suites.is_empty() {
                put(&mut props, "ssl.cipher.suites", ssl.cipher_suites.join(":"));
            }
            if !ssl.curve_types.is_empty() {
                put(&mut props, "ssl.curves.list", ssl.curve_types.join(":"));
            }
            let _ = &ssl.supported_protocols;
            if let Some(p) = passphrase {
                props.push(("ssl.key.password".into(), PropValue::Secret(p)));
            }
        }

        // Raw passthrough last: it wins over everything above except the reserved properties.
        if let Some(m) = self.librdkafka {
            let mut raw = Vec::new();
            flatten("", &m, &mut raw)?;
            for (k, v) in raw {
                if RESERVED_PROPS.contains(&k.as_str()) {
                    bail!("output.kafka.librdkafka.{k}: set by the sensor itself (delivery accounting depends on it); use the output.kafka options instead");
                }
                let secret = k.contains("password") || k.contains("secret");
                let v = expand_env(&v, &format!("output.kafka.librdkafka.{k}"))?;
                props.push((
                    k,
                    if secret {
                        PropValue::Secret(Secret(v))
                    } else {
                        PropValue::Plain(v)
                    },
                ));
            }
        }

        let route = Route::new(
            self.topic.as_deref(),
            self.topics,
            self.key.as_deref().unwrap_or(DEFAULT_KEY),
            DEFAULT_TOPIC,
        )?;
        let headers = self.headers.into_iter().map(|h| (h.key, h.value)).collect();
        let spool = SpoolConfig {
            enabled: self.spool.enabled.unwrap_or(true),
            path: self
                .spool
                .path
                .unwrap_or_else(|| PathBuf::from("data/kafka-spool")),
            max_bytes: self.spool.max_bytes.unwrap_or(DEFAULT_SPOOL_BYTES),
            when_full: self.spool.when_full.unwrap_or_default(),
        };
        Ok(KafkaConfig {
            hosts,
            route,
            partition,
            headers,
            spool,
            flush_timeout: self.flush_timeout.unwrap_or(DEFAULT_FLUSH_TIMEOUT),
            probe_timeout: timeout.min(Duration::from_secs(5)),
            props,
        })
    }
}

/// Keys as `BTreeMap` for tests and diagnostics (secret values shown as `<redacted>`).
pub fn redacted_props(c: &KafkaConfig) -> BTreeMap<String, String> {
    c.props
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    PropValue::Plain(s) => s.clone(),
                    PropValue::Secret(_) => "<redacted>".into(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use crate::config::Config;

    fn kafka(yaml: &str) -> anyhow::Result<super::KafkaConfig> {
        let c = Config::from_yaml(yaml)?;
        c.output.kafka.ok_or_else(|| anyhow::anyhow!("no kafka"))
    }

    #[test]
    fn beats_options_map_to_librdkafka() {
        std::env::set_var("SENSOR_TEST_KAFKA_PW", "s3cret");
        let k = kafka(
            r#"
output.kafka:
  hosts: ["127.0.0.1:9092", "127.0.0.1:9093"]
  topic: "pb-%{[event.dataset]}"
  partition.round_robin: {reachable_only: true}
  required_acks: -1
  compression: zstd
  compression_level: 3
  max_message_bytes: 2000000
  client_id: s1
  bulk_max_size: 4096
  bulk_flush_frequency: 20ms
  timeout: 5s
  backoff: {init: 500ms, max: 20s}
  username: alice
  password: ${SENSOR_TEST_KAFKA_PW}
  sasl.mechanism: SCRAM-SHA-512
  librdkafka:
    socket.nagle.disable: true
  spool: {path: /tmp/x, max_bytes: 1000000, when_full: drop_oldest}
"#,
        )
        .unwrap();
        let p = super::redacted_props(&k);
        assert_eq!(p["bootstrap.servers"], "127.0.0.1:9092,127.0.0.1:9093");
        assert_eq!(p["compression.codec"], "zstd");
        assert_eq!(p["linger.ms"], "20");
        assert_eq!(p["batch.num.messages"], "4096");
        assert_eq!(p["security.protocol"], "sasl_plaintext");
        assert_eq!(p["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(p["sasl.password"], "<redacted>");
        assert_eq!(p["socket.nagle.disable"], "true");
        assert_eq!(p["enable.idempotence"], "true");
        assert_eq!(k.partition, super::Partitioning::RoundRobin);
        assert_eq!(k.spool.when_full, super::WhenFull::DropOldest);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        let cc = k.client_config();
        assert_eq!(cc.get("sasl.password"), Some("s3cret"));
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let e = |y: &str| format!("{:#}", kafka(y).unwrap_err());
        assert!(e("output.kafka: {hosts: [a:1], nope: 1}").contains("unknown field `nope`"));
        assert!(e("output.kafka: {compression: brotli}").contains("unknown variant"));
        assert!(e("output.kafka: {required_acks: 1}").contains("idempotent"));
        assert!(
            e("output.kafka: {username: u, password: p, sasl.mechanism: GSSAPI}")
                .contains("GSSAPI")
        );
        assert!(e("output.kafka: {password: '${SENSOR_TEST_UNSET_VAR}'}")
            .contains("SENSOR_TEST_UNSET_VAR"));
        assert!(e("output.kafka: {librdkafka: {enable.idempotence: false}}")
            .contains("set by the sensor"));
        assert!(e("output.kafka: {topic: '%{nofield}'}").contains("names no field"));
        // Disabled kafka is parsed (validated) but not selected.
        let c = Config::from_yaml("output.kafka: {enabled: false}\noutput.console: {}").unwrap();
        assert_eq!(c.output.target, Some(crate::output::OutputTarget::Stdout));
    }
}
