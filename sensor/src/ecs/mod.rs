//! ECS encoding of transactions and flow records (shared/docs/EVENTS.md): the envelope is written
//! here from [`Txn`]/[`Flow`]; protocol fields come from [`Txn::fields`] and are merged deeply.

pub mod community_id;
pub mod enrich;

use serde_json::{json, Map, Value};

use crate::config::CommonConfig;
use crate::flow::{Flow, FlowsConfig};
use crate::proto::txn::{FlowTuple, Txn, TxnKind};
use crate::proto::{ProtoId, L4};
use crate::time::Ts;

/// ECS version the events follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Fields added to every event (observer/agent/global tags), set once at start-up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GlobalFields {
    /// Global `tags`.
    pub tags: Vec<String>,
    /// Global custom `fields`.
    pub fields: Map<String, Value>,
    /// Put global `fields` at the root.
    pub fields_under_root: bool,
}

/// Encodes events into a reused buffer.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    /// Global fields.
    pub global: GlobalFields,
    /// Direction, processes, ignore_outgoing, processors (absent: events as encoded).
    pub enrich: Option<enrich::Enrich>,
}

fn transport_name(proto: u8) -> String {
    match proto {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "ipv6-icmp".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// Deep-merge `src` into `dst` (objects merge; other values replace).
pub fn merge(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge(d, s),
            (_, v) => {
                dst.insert(k, v);
            }
        }
    }
}

fn strip_nulls(m: &mut Map<String, Value>) {
    m.retain(|_, v| !v.is_null());
    for v in m.values_mut() {
        if let Value::Object(o) = v {
            strip_nulls(o);
        }
    }
}

fn endpoint(ip: std::net::IpAddr, port: u16, with_port: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ip".into(), Value::String(ip.to_string()));
    if with_port {
        m.insert("port".into(), port.into());
    }
    m
}

fn add_tags_fields(
    ev: &mut Map<String, Value>,
    tags: &[String],
    fields: &Map<String, Value>,
    under_root: bool,
) {
    if !tags.is_empty() {
        let entry = ev.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            for t in tags {
                let t = Value::String(t.clone());
                if !a.contains(&t) {
                    a.push(t);
                }
            }
        }
    }
    if !fields.is_empty() {
        if under_root {
            merge(ev, fields.clone());
        } else {
            let mut m = Map::new();
            m.insert("fields".into(), Value::Object(fields.clone()));
            merge(ev, m);
        }
    }
}

/// The last steps before serialisation, after enrichment and processors (the integration's
/// ingest pipeline runs `map_to_ecs` after the Beat's processors).
fn finalize(ev: &mut Map<String, Value>, proto: &str, to_ecs: bool, keep_null: bool) {
    if to_ecs {
        map_to_ecs(ev, proto);
    }
    if !keep_null {
        strip_nulls(ev);
    }
}

/// Packetbeat's protocols whose protocol object is ECS (`dns`, `http`, `tls`) keep it in place
/// with `map_to_ecs`; every other one moves under `network_traffic`.
fn map_to_ecs(ev: &mut Map<String, Value>, proto: &str) {
    let mut nt = Map::new();
    if let Some(s) = ev.remove("status") {
        nt.insert("status".into(), s);
    }
    let mut p = match proto {
        "dns" | "http" | "tls" => Map::new(),
        _ => match ev.remove(proto) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        },
    };
    if proto == "dns" {
        if let Some(Value::Object(dns)) = ev.get_mut("dns") {
            for k in [
                "additionals_count",
                "answers_count",
                "authorities_count",
                "authorities",
                "flags",
            ] {
                if let Some(v) = dns.remove(k) {
                    p.insert(k.into(), v);
                }
            }
        }
    }
    for k in ["method", "query", "resource", "path"] {
        if let Some(v) = ev.remove(k) {
            if proto != "http" || k == "query" {
                p.insert(k.into(), v);
            }
        }
    }
    if !p.is_empty() {
        nt.insert(proto.into(), Value::Object(p));
    }
    ev.remove("type");
    if let Some(Value::Object(e)) = ev.get_mut("event") {
        e.remove("dataset");
    }
    if let Some(Value::Object(p)) = ev.get_mut("process") {
        if let Some(ppid) = p.remove("ppid") {
            p.insert("parent".into(), json!({ "pid": ppid }));
        }
    }
    if !nt.is_empty() {
        ev.insert("network_traffic".into(), Value::Object(nt));
    }
}

impl Encoder {
    /// An encoder with these global fields.
    pub fn new(global: GlobalFields) -> Self {
        Encoder {
            buf: Vec::with_capacity(4096),
            global,
            enrich: None,
        }
    }

    /// The encoder of a pipeline: global fields and the enrichment stage of `cfg`.
    pub fn for_config(cfg: &crate::config::Config) -> Self {
        Encoder {
            enrich: Some(enrich::Enrich::new(cfg)),
            ..Encoder::new(cfg.global.clone())
        }
    }

    /// Apply a reloaded configuration (global fields, enrichment, processors); counters carry.
    pub fn reconfigure(&mut self, cfg: &crate::config::Config) {
        let stats = self.enrich_stats();
        let mut e = enrich::Enrich::new(cfg);
        e.stats = stats;
        self.enrich = Some(e);
        self.global = cfg.global.clone();
    }

    /// Counters of the enrichment stage.
    pub fn enrich_stats(&self) -> enrich::EnrichStats {
        self.enrich
            .as_ref()
            .map(|e| e.stats.clone())
            .unwrap_or_default()
    }

    fn finish(&mut self, ev: &Map<String, Value>) -> &[u8] {
        self.buf.clear();
        // Serializing a map of plain JSON values cannot fail; keep an empty line out if it did.
        if serde_json::to_writer(&mut self.buf, ev).is_err() {
            self.buf.clear();
        }
        &self.buf
    }

    /// The JSON object of a transaction or message event (without enrichment).
    pub fn txn_value(&self, t: &Txn, common: &CommonConfig) -> Map<String, Value> {
        let mut ev = self.build_txn(t, t.fields.clone(), common);
        finalize(&mut ev, t.proto, common.map_to_ecs, common.keep_null);
        ev
    }

    /// Encode a finished transaction of protocol `id`, taking its protocol fields without
    /// copying them; empty when the enrichment stage drops it.
    pub fn txn_owned(&mut self, id: ProtoId, mut t: Txn, common: &CommonConfig) -> &[u8] {
        let fields = std::mem::take(&mut t.fields);
        let mut ev = self.build_txn(&t, fields, common);
        if let Some(e) = self.enrich.as_mut() {
            let (src, dst) = match t.kind {
                TxnKind::Message { from_client: false } => (t.server.ip(), t.client.ip()),
                _ => (t.client.ip(), t.server.ip()),
            };
            if !e.txn(&mut ev, id, src, dst, t.client.ip()) {
                self.buf.clear();
                return &self.buf;
            }
        }
        finalize(&mut ev, t.proto, common.map_to_ecs, common.keep_null);
        self.finish(&ev)
    }

    fn build_txn(
        &self,
        t: &Txn,
        fields: Map<String, Value>,
        common: &CommonConfig,
    ) -> Map<String, Value> {
        let with_port = matches!(t.l4, L4::Tcp | L4::Udp);
        let ts = t.timestamp().unwrap_or_default();
        let mut ev = Map::new();
        ev.insert("@timestamp".into(), ts.rfc3339().into());
        ev.insert("type".into(), t.proto.into());
        let etype: &[&str] = if t.proto == "icmp" {
            &["connection"]
        } else {
            &["connection", "protocol"]
        };
        let mut event = json!({
            "kind": "event",
            "category": ["network"],
            "type": etype,
            "dataset": t.proto,
            "start": ts.rfc3339(),
        });
        // Packetbeat leaves `event.end` (and the duration) out when there is no response.
        if let Some(e) = event.as_object_mut() {
            if let Some(end) = t.response_ts {
                e.insert("end".into(), end.rfc3339().into());
            }
            if let (Some(a), Some(b)) = (t.request_ts, t.response_ts) {
                e.insert("duration".into(), b.since(a).into());
            }
        }
        ev.insert("event".into(), event);

        let mut client = endpoint(t.client.ip(), t.client.port(), with_port);
        let mut server = endpoint(t.server.ip(), t.server.port(), with_port);
        // A message sent by the server: its bytes belong to the server side.
        let (client_bytes, server_bytes) = match t.kind {
            TxnKind::Message { from_client: false } => (t.response_bytes, t.request_bytes),
            _ => (t.request_bytes, t.response_bytes),
        };
        if let Some(b) = client_bytes {
            client.insert("bytes".into(), b.into());
        }
        if let Some(b) = server_bytes {
            server.insert("bytes".into(), b.into());
        }
        let (source, destination) = match t.kind {
            TxnKind::Message { from_client: false } => {
                let mut s = endpoint(t.server.ip(), t.server.port(), with_port);
                let mut d = endpoint(t.client.ip(), t.client.port(), with_port);
                if let Some(b) = t.request_bytes {
                    s.insert("bytes".into(), b.into());
                }
                if let Some(b) = t.response_bytes {
                    d.insert("bytes".into(), b.into());
                }
                (s, d)
            }
            _ => (client.clone(), server.clone()),
        };
        ev.insert("client".into(), Value::Object(client));
        ev.insert("server".into(), Value::Object(server));
        ev.insert("source".into(), Value::Object(source));
        ev.insert("destination".into(), Value::Object(destination));

        let tuple = t.community.unwrap_or(FlowTuple {
            src: t.client.ip(),
            dst: t.server.ip(),
            proto: t.l4.ipproto(),
            sport: t.client.port(),
            dport: t.server.port(),
        });
        let mut network = Map::new();
        network.insert(
            "protocol".into(),
            t.network_protocol.unwrap_or(t.proto).into(),
        );
        network.insert("transport".into(), t.l4.name().into());
        network.insert(
            "type".into(),
            if t.client.is_ipv4() { "ipv4" } else { "ipv6" }.into(),
        );
        network.insert(
            "community_id".into(),
            community_id::community_id(&tuple, 0).into(),
        );
        let total = t.request_bytes.unwrap_or(0) + t.response_bytes.unwrap_or(0);
        if t.request_bytes.is_some() || t.response_bytes.is_some() {
            network.insert("bytes".into(), total.into());
        }
        ev.insert("network".into(), Value::Object(network));
        ev.insert("status".into(), t.status.as_str().into());
        for (k, v) in [
            ("method", &t.method),
            ("resource", &t.resource),
            ("path", &t.path),
            ("query", &t.query),
        ] {
            if let Some(v) = v {
                ev.insert(k.into(), v.clone().into());
            }
        }
        match t.notes.as_slice() {
            [] => {}
            [one] => {
                ev.insert("error".into(), json!({ "message": one }));
            }
            many => {
                ev.insert("error".into(), json!({ "message": many }));
            }
        }
        if let Some(r) = &t.request_raw {
            ev.insert("request".into(), r.clone().into());
        }
        if let Some(r) = &t.response_raw {
            ev.insert("response".into(), r.clone().into());
        }
        let mut ips = vec![Value::String(t.client.ip().to_string())];
        if t.server.ip() != t.client.ip() {
            ips.push(Value::String(t.server.ip().to_string()));
        }
        ev.insert("related".into(), json!({ "ip": ips }));
        ev.insert("ecs".into(), json!({ "version": ECS_VERSION }));
        merge(&mut ev, fields);
        add_tags_fields(
            &mut ev,
            &common.tags,
            &common.fields,
            common.fields_under_root,
        );
        add_tags_fields(
            &mut ev,
            &self.global.tags,
            &self.global.fields,
            self.global.fields_under_root,
        );
        ev
    }

    /// Encode a transaction or message event as one JSON line (without the newline), without
    /// enrichment.
    pub fn txn(&mut self, t: &Txn, common: &CommonConfig) -> &[u8] {
        let ev = self.txn_value(t, common);
        self.finish(&ev)
    }

    /// The JSON object of a flow report at `now` (without enrichment).
    pub fn flow_value(
        &self,
        f: &Flow,
        final_: bool,
        now: Ts,
        cfg: &FlowsConfig,
    ) -> Map<String, Value> {
        let proto = f.key.proto;
        let with_port = matches!(proto, 6 | 17 | 132);
        let mut ev = Map::new();
        ev.insert("@timestamp".into(), now.max(f.last_ts).rfc3339().into());
        ev.insert("type".into(), "flow".into());
        let etype: &[&str] = if final_ {
            &["connection", "end"]
        } else {
            &["connection"]
        };
        ev.insert(
            "event".into(),
            json!({
                "kind": "event",
                "category": ["network"],
                "type": etype,
                "action": "network_flow",
                "dataset": "flow",
                "start": f.first_ts.rfc3339(),
                "end": f.last_ts.rfc3339(),
                "duration": f.last_ts.since(f.first_ts),
            }),
        );
        let mut flow = Map::new();
        flow.insert("id".into(), f.id().into());
        flow.insert("final".into(), final_.into());
        if !f.vlans.as_slice().is_empty() {
            flow.insert("vlan".into(), json!(f.vlans.as_slice()));
        }
        ev.insert("flow".into(), Value::Object(flow));
        let mut s = endpoint(f.source.ip(), f.source.port(), with_port);
        s.insert("packets".into(), f.src.packets.into());
        s.insert("bytes".into(), f.src.bytes.into());
        let mut d = endpoint(f.destination.ip(), f.destination.port(), with_port);
        d.insert("packets".into(), f.dst.packets.into());
        d.insert("bytes".into(), f.dst.bytes.into());
        ev.insert("source".into(), Value::Object(s));
        ev.insert("destination".into(), Value::Object(d));
        let mut network = json!({
            "transport": transport_name(proto),
            "type": if f.source.is_ipv4() { "ipv4" } else { "ipv6" },
            "packets": f.src.packets + f.dst.packets,
            "bytes": f.src.bytes + f.dst.bytes,
        });
        if with_port || !matches!(proto, 1 | 58) {
            let tuple = FlowTuple {
                src: f.source.ip(),
                dst: f.destination.ip(),
                proto,
                sport: f.source.port(),
                dport: f.destination.port(),
            };
            if let Some(n) = network.as_object_mut() {
                n.insert(
                    "community_id".into(),
                    community_id::community_id(&tuple, 0).into(),
                );
            }
        }
        ev.insert("network".into(), network);
        let mut ips = vec![Value::String(f.source.ip().to_string())];
        if f.destination.ip() != f.source.ip() {
            ips.push(Value::String(f.destination.ip().to_string()));
        }
        ev.insert("related".into(), json!({ "ip": ips }));
        ev.insert("ecs".into(), json!({ "version": ECS_VERSION }));
        add_tags_fields(&mut ev, &cfg.tags, &cfg.fields, cfg.fields_under_root);
        add_tags_fields(
            &mut ev,
            &self.global.tags,
            &self.global.fields,
            self.global.fields_under_root,
        );
        if !cfg.keep_null {
            strip_nulls(&mut ev);
        }
        ev
    }

    /// Encode a flow report as one JSON line (without the newline); empty when the enrichment
    /// stage drops it.
    pub fn flow(&mut self, f: &Flow, final_: bool, now: Ts, cfg: &FlowsConfig) -> &[u8] {
        let mut ev = self.flow_value(f, final_, now, cfg);
        if let Some(e) = self.enrich.as_mut() {
            if !e.flow(&mut ev, f.source.ip(), f.destination.ip()) {
                self.buf.clear();
                return &self.buf;
            }
            if !cfg.keep_null {
                strip_nulls(&mut ev);
            }
        }
        self.finish(&ev)
    }

    /// Encode any JSON object (stats events).
    pub fn value(&mut self, ev: &Map<String, Value>) -> &[u8] {
        self.finish(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ConnMeta, Status};

    fn txn() -> Txn {
        let meta = ConnMeta {
            client: "198.18.0.1:40000".parse().unwrap(),
            server: "198.18.0.2:3306".parse().unwrap(),
            l4: L4::Tcp,
            vlan: vec![],
        };
        let mut t = Txn::new("mysql", &meta);
        t.request_ts = Some(Ts(1_000));
        t.response_ts = Some(Ts(3_000));
        t.request_bytes = Some(10);
        t.response_bytes = Some(20);
        t.status = Status::Error;
        t.method = Some("SELECT".into());
        t.query = Some("SELECT 1".into());
        t.notes.push("boom".into());
        t.obj("mysql").insert("num_rows".into(), 1.into());
        t.obj("mysql").insert("nothing".into(), Value::Null);
        t
    }

    #[test]
    fn envelope_fields() {
        let ev = Encoder::default().txn_value(&txn(), &CommonConfig::default());
        assert_eq!(ev["type"], "mysql");
        assert_eq!(ev["event"]["duration"], 2000);
        assert_eq!(ev["source"]["bytes"], 10);
        assert_eq!(ev["destination"]["bytes"], 20);
        assert_eq!(ev["network"]["bytes"], 30);
        assert_eq!(ev["status"], "Error");
        assert_eq!(ev["error"]["message"], "boom");
        assert_eq!(ev["mysql"]["num_rows"], 1);
        assert!(
            ev["mysql"].get("nothing").is_none(),
            "nulls dropped without keep_null"
        );
    }

    #[test]
    fn map_to_ecs_moves_legacy_fields() {
        let common = CommonConfig {
            map_to_ecs: true,
            keep_null: true,
            ..CommonConfig::default()
        };
        let ev = Encoder::default().txn_value(&txn(), &common);
        assert!(
            ev.get("type").is_none() && ev.get("status").is_none() && ev.get("mysql").is_none()
        );
        assert_eq!(ev["network_traffic"]["status"], "Error");
        assert_eq!(ev["network_traffic"]["mysql"]["num_rows"], 1);
        assert_eq!(ev["network_traffic"]["mysql"]["method"], "SELECT");
        assert!(ev["network_traffic"]["mysql"]["nothing"].is_null());
        assert!(ev["event"].get("dataset").is_none());
    }

    #[test]
    fn tags_and_fields() {
        let mut common = CommonConfig {
            tags: vec!["db".into()],
            ..CommonConfig::default()
        };
        common.fields.insert("team".into(), "core".into());
        let mut enc = Encoder::default();
        enc.global.tags = vec!["sensor-a".into(), "db".into()];
        enc.global.fields_under_root = true;
        enc.global.fields.insert("site".into(), "lab".into());
        let ev = enc.txn_value(&txn(), &common);
        assert_eq!(ev["tags"], serde_json::json!(["db", "sensor-a"]));
        assert_eq!(ev["fields"]["team"], "core");
        assert_eq!(ev["site"], "lab");
    }
}
