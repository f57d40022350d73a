//! Loading `packetbeat.yml`-shaped files: dotted keys expanded as Beats does (`packetbeat.flows:`
//! = `packetbeat: {flows: ...}`), unknown keys and ports claimed twice are errors naming the key.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml_ng::{Mapping, Value};

use super::{CommonConfig, Config, HttpConfig, InterfacesConfig, MetricsConfig, OutputConfig};
use crate::flow::FlowsConfig;
use crate::processors::conditions::parse_net;
use crate::processors::Processors;
use crate::proto::{ProtoId, Transport};

/// Keys of a protocol entry that belong to [`CommonConfig`] (the rest is protocol-specific).
const COMMON_KEYS: &[&str] = &[
    "enabled",
    "ports",
    "send_request",
    "send_response",
    "transaction_timeout",
    "tags",
    "fields",
    "fields_under_root",
    "keep_null",
    "map_to_ecs",
    "monitor_processes",
    "index",
];

fn key_str(k: &Value) -> Result<String> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => bail!("unsupported mapping key {other:?}"),
    }
}

/// Expand `a.b: v` into `a: {b: v}` in every mapping, merging with existing keys.
pub fn expand_dotted(v: Value) -> Result<Value> {
    match v {
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                let k = key_str(&k)?;
                let v = expand_dotted(v)?;
                let mut parts = k.split('.').rev();
                let last = parts.next().unwrap_or_default().to_owned();
                let mut val = v;
                let mut name = last;
                for p in parts {
                    let mut inner = Mapping::new();
                    inner.insert(Value::String(name), val);
                    val = Value::Mapping(inner);
                    name = p.to_owned();
                }
                insert_merge(&mut out, name, val)?;
            }
            Ok(Value::Mapping(out))
        }
        Value::Sequence(s) => Ok(Value::Sequence(
            s.into_iter().map(expand_dotted).collect::<Result<_>>()?,
        )),
        other => Ok(other),
    }
}

fn insert_merge(m: &mut Mapping, k: String, v: Value) -> Result<()> {
    let key = Value::String(k.clone());
    match (m.get_mut(&key), v) {
        (Some(Value::Mapping(existing)), Value::Mapping(new)) => {
            for (k2, v2) in new {
                insert_merge(existing, key_str(&k2)?, v2)?;
            }
            Ok(())
        }
        (Some(_), _) => bail!("key {k:?} is given twice"),
        (None, v) => {
            m.insert(key, v);
            Ok(())
        }
    }
}

/// Merge `v` into `m` under `k`; mappings merge, anything else replaces (overrides win).
fn override_merge(m: &mut Mapping, k: String, v: Value) -> Result<()> {
    let key = Value::String(k);
    match (m.get_mut(&key), v) {
        (Some(Value::Mapping(existing)), Value::Mapping(new)) => {
            for (k2, v2) in new {
                override_merge(existing, key_str(&k2)?, v2)?;
            }
        }
        (_, v) => {
            m.insert(key, v);
        }
    }
    Ok(())
}

/// Apply Beats-style `-E key=value` settings (dotted key, YAML value) over a config tree.
pub fn apply_overrides(root: Value, overrides: &[String]) -> Result<Value> {
    let mut root = take_map(expand_dotted(root)?, "the config")?;
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else {
            bail!("-E {o:?}: write KEY=VALUE, e.g. -E http.enabled=true");
        };
        let v: Value = if v.is_empty() {
            Value::Null
        } else {
            serde_yaml_ng::from_str(v).with_context(|| format!("-E {o:?}: value is not YAML"))?
        };
        let mut one = Mapping::new();
        one.insert(Value::String(k.trim().to_owned()), v);
        let one = take_map(expand_dotted(Value::Mapping(one))?, "-E")?;
        for (k, v) in one {
            override_merge(&mut root, key_str(&k)?, v)?;
        }
    }
    Ok(Value::Mapping(root))
}

fn take_map(v: Value, path: &str) -> Result<Mapping> {
    match v {
        Value::Mapping(m) => Ok(m),
        Value::Null => Ok(Mapping::new()),
        other => bail!("{path} must be a mapping, found {}", kind(&other)),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn check_keys(m: &Mapping, allowed: &[&str], path: &str) -> Result<()> {
    for k in m.keys() {
        let k = key_str(k)?;
        if !allowed.contains(&k.as_str()) {
            bail!(
                "unknown option `{path}.{k}` (allowed here: {})",
                allowed.join(", ")
            );
        }
    }
    Ok(())
}

fn get(m: &mut Mapping, k: &str) -> Option<Value> {
    m.remove(Value::String(k.to_owned()))
}

impl Config {
    /// Load a config file.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with(Some(path), &[])
    }

    /// Load a config file (none: the defaults) with `-E key=value` overrides on top.
    pub fn load_with(path: Option<&Path>, overrides: &[String]) -> Result<Config> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?,
            None => String::new(),
        };
        let r = Config::from_yaml_with(&text, overrides);
        match path {
            Some(p) => r.with_context(|| format!("in config file {}", p.display())),
            None => r,
        }
    }

    /// Parse config text.
    pub fn from_yaml(text: &str) -> Result<Config> {
        Config::from_yaml_with(text, &[])
    }

    /// Parse config text with `-E key=value` overrides on top.
    pub fn from_yaml_with(text: &str, overrides: &[String]) -> Result<Config> {
        let raw: Value = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml_ng::from_str(text).context("not valid YAML")?
        };
        let mut root = take_map(apply_overrides(raw, overrides)?, "the config")?;
        check_keys(
            &root,
            &[
                "packetbeat",
                "output",
                "tags",
                "fields",
                "fields_under_root",
                "name",
                "http",
                "logging",
                "processors",
            ],
            "",
        )
        .map_err(|e| anyhow!(e.to_string().replace("`.", "`")))?;
        let mut cfg = Config::default();
        if let Some(v) = get(&mut root, "tags") {
            cfg.global.tags =
                serde_yaml_ng::from_value(v).context("`tags` must be a list of strings")?;
        }
        if let Some(v) = get(&mut root, "fields") {
            cfg.global.fields =
                serde_yaml_ng::from_value(v).context("`fields` must be a mapping")?;
        }
        if let Some(v) = get(&mut root, "fields_under_root") {
            cfg.global.fields_under_root = serde_yaml_ng::from_value(v)
                .context("`fields_under_root` must be true or false")?;
        }
        if let Some(v) = get(&mut root, "name") {
            cfg.name = serde_yaml_ng::from_value(v).context("`name` must be a string")?;
        }
        if let Some(v) = get(&mut root, "processors") {
            cfg.processors = Processors::from_yaml(&v, &crate::hostinfo::shared())?;
        }
        if let Some(v) = get(&mut root, "http") {
            cfg.http =
                serde_yaml_ng::from_value::<HttpConfig>(v).map_err(|e| anyhow!("http: {e}"))?;
        }
        if let Some(v) = get(&mut root, "logging") {
            let mut lg = take_map(v, "logging")?;
            // Beats' log options other than `metrics` are accepted: the sensor logs to stderr.
            check_keys(
                &lg,
                &[
                    "metrics",
                    "level",
                    "to_stderr",
                    "to_files",
                    "selectors",
                    "json",
                ],
                "logging",
            )?;
            if let Some(m) = get(&mut lg, "metrics") {
                cfg.metrics = serde_yaml_ng::from_value::<MetricsConfig>(m)
                    .map_err(|e| anyhow!("logging.metrics: {e}"))?;
                if cfg.metrics.enabled && cfg.metrics.period.as_secs() < 1 {
                    bail!("logging.metrics.period must be at least 1s");
                }
            }
        }
        if let Some(v) = get(&mut root, "output") {
            cfg.output = OutputConfig::from_value(take_map(v, "output")?)?;
        }
        let mut pb = take_map(
            get(&mut root, "packetbeat").unwrap_or(Value::Null),
            "packetbeat",
        )?;
        check_keys(
            &pb,
            &[
                "protocols",
                "flows",
                "interfaces",
                "ignore_outgoing",
                "shutdown_timeout",
            ],
            "packetbeat",
        )?;
        if let Some(v) = get(&mut pb, "flows") {
            cfg.flows = serde_yaml_ng::from_value::<FlowsConfig>(v)
                .map_err(|e| anyhow!("packetbeat.flows: {e}"))?;
            if cfg.flows.timeout.as_secs() < 1 {
                bail!("packetbeat.flows.timeout must be at least 1s");
            }
            if cfg.flows.period.is_some_and(|p| p.as_secs() < 1) {
                bail!("packetbeat.flows.period must be -1 (final reports only) or at least 1s");
            }
            cfg.flow_processors = Processors::from_yaml(
                &Value::Sequence(cfg.flows.processors.clone()),
                &crate::hostinfo::shared(),
            )
            .context("packetbeat.flows")?;
        }
        if let Some(v) = get(&mut pb, "interfaces") {
            // Packetbeat accepts a single mapping or a list; the sensor captures one interface.
            let v = match v {
                Value::Sequence(mut s) if s.len() == 1 => s.pop().unwrap_or(Value::Null),
                Value::Sequence(_) => {
                    bail!("packetbeat.interfaces: give one interface (a mapping)")
                }
                other => other,
            };
            cfg.interfaces = serde_yaml_ng::from_value::<InterfacesConfig>(v)
                .map_err(|e| anyhow!("packetbeat.interfaces: {e}"))?;
            cfg.internal_networks = cfg
                .interfaces
                .internal_networks
                .iter()
                .map(|n| parse_net(n, "packetbeat.interfaces", "internal_networks"))
                .collect::<std::result::Result<_, String>>()
                .map_err(|e| anyhow!(e))?;
        }
        if let Some(v) = get(&mut pb, "ignore_outgoing") {
            cfg.ignore_outgoing =
                serde_yaml_ng::from_value(v).context("packetbeat.ignore_outgoing")?;
        }
        if let Some(v) = get(&mut pb, "protocols") {
            cfg.load_protocols(v)?;
        }
        cfg.check_ports()?;
        Ok(cfg)
    }

    fn load_protocols(&mut self, v: Value) -> Result<()> {
        // List form (`- type: dns`) or the older map form (`dns: {...}`).
        let entries: Vec<(String, Mapping)> = match v {
            Value::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let mut m = take_map(item, &format!("packetbeat.protocols[{i}]"))?;
                    let t = match get(&mut m, "type") {
                        Some(Value::String(t)) => t,
                        _ => bail!("packetbeat.protocols[{i}] needs `type: <protocol>`"),
                    };
                    Ok((t, m))
                })
                .collect::<Result<_>>()?,
            Value::Mapping(m) => m
                .into_iter()
                .map(|(k, v)| Ok((key_str(&k)?, take_map(v, "packetbeat.protocols entry")?)))
                .collect::<Result<_>>()?,
            Value::Null => Vec::new(),
            other => bail!(
                "packetbeat.protocols must be a list, found {}",
                kind(&other)
            ),
        };
        for (name, mut m) in entries {
            let path = format!("packetbeat.protocols[type={name}]");
            let Some(id) = ProtoId::from_name(&name) else {
                let known: Vec<&str> = ProtoId::ALL.iter().map(|p| p.name()).collect();
                bail!(
                    "{path}: unknown protocol {name:?} (known: {})",
                    known.join(", ")
                );
            };
            if let Some(p) = get(&mut m, "processors") {
                let compiled = Processors::from_yaml(&p, &crate::hostinfo::shared())
                    .with_context(|| path.clone())?;
                if let Some(slot) = self.protocols.processors.get_mut(id as usize) {
                    *slot = compiled;
                }
            }
            let mut common = Mapping::new();
            let mut specific = Mapping::new();
            for (k, v) in m {
                if COMMON_KEYS.contains(&key_str(&k)?.as_str()) {
                    common.insert(k, v);
                } else {
                    specific.insert(k, v);
                }
            }
            let given = |k: &str| common.contains_key(Value::String(k.to_owned()));
            let (req_given, resp_given) = (given("send_request"), given("send_response"));
            let mut c: CommonConfig = serde_yaml_ng::from_value(Value::Mapping(common))
                .map_err(|e| anyhow!("{path}: {e}"))?;
            let d = CommonConfig::defaults_for(id);
            if !req_given {
                c.send_request = d.send_request;
            }
            if !resp_given {
                c.send_response = d.send_response;
            }
            if id.transport() == Transport::Icmp && !c.ports.is_empty() {
                bail!("{path}.ports: icmp takes no ports (only `enabled`)");
            }
            if let Some(slot) = self.protocols.common.get_mut(id as usize) {
                *slot = c;
            }
            self.protocols
                .specific
                .set_from_yaml(id, Value::Mapping(specific))
                .map_err(|e| anyhow!("{path}: {e}"))?;
        }
        Ok(())
    }

    fn check_ports(&self) -> Result<()> {
        let mut owner: std::collections::HashMap<u16, ProtoId> = std::collections::HashMap::new();
        for &id in ProtoId::ALL {
            let c = self.protocols.get(id);
            if !c.enabled {
                continue;
            }
            for &port in self.protocols.ports(id) {
                if let Some(prev) = owner.insert(port, id) {
                    if prev != id {
                        bail!(
                            "port {port} is claimed by both {} and {}: remove it from one of their `ports`",
                            prev.name(),
                            id.name()
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
