//! What happens to an event between its encoding and its publication, in libbeat's order:
//! Packetbeat's computed values (`network.direction`, PROTOCOLS.md §1.7), process enrichment
//! (`monitor_processes`), `ignore_outgoing`, then the protocol's (or the flows') `processors`,
//! then the global `processors`. An event a processor drops (or `ignore_outgoing` removes) is
//! counted, never written.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::hostinfo::HostInfo;
use crate::processors::conditions::Net;
use crate::processors::Processors;
use crate::procs::{ProcessWatcher, SockProto};
use crate::proto::ProtoId;

/// Counters of the enrichment stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrichStats {
    /// Events dropped by processors (`drop_event`).
    pub dropped_by_processors: u64,
    /// Transactions dropped by `ignore_outgoing`.
    pub ignored_outgoing: u64,
}

/// The per-worker enrichment stage.
#[derive(Debug)]
pub struct Enrich {
    host: Arc<HostInfo>,
    internal: Vec<Net>,
    procs: Option<ProcessWatcher>,
    /// Per protocol (`ProtoId as usize`): `monitor_processes`.
    monitor: Vec<bool>,
    ignore_outgoing: bool,
    per_proto: Vec<Processors>,
    flows: Processors,
    global: Processors,
    /// Counters.
    pub stats: EnrichStats,
}

/// Packetbeat's `network.direction` (8.x): host-based first (`ingress`: the destination is
/// local; `egress`: the source is), else perimeter-based with `internal_networks`
/// (`internal`, `outbound`, `inbound`, `external`), else `unknown`.
pub fn direction(host: &HostInfo, internal: &[Net], src: IpAddr, dst: IpAddr) -> &'static str {
    if host.is_local_ip(dst) {
        return "ingress";
    }
    if host.is_local_ip(src) {
        return "egress";
    }
    if internal.is_empty() {
        return "unknown";
    }
    let inside = |ip: IpAddr| internal.iter().any(|n| n.contains(ip));
    match (inside(src), inside(dst)) {
        (true, true) => "internal",
        (true, false) => "outbound",
        (false, true) => "inbound",
        (false, false) => "external",
    }
}

impl Enrich {
    /// The stage for `cfg` (internal networks were validated by the config loader).
    pub fn new(cfg: &Config) -> Enrich {
        let monitor: Vec<bool> = ProtoId::ALL
            .iter()
            .map(|&id| cfg.protocols.get(id).monitor_processes)
            .collect();
        let procs = monitor.iter().any(|m| *m).then(ProcessWatcher::new);
        Enrich {
            host: crate::hostinfo::shared(),
            internal: cfg.internal_networks.clone(),
            procs,
            monitor,
            ignore_outgoing: cfg.ignore_outgoing,
            per_proto: cfg.protocols.processors.clone(),
            flows: cfg.flow_processors.clone(),
            global: cfg.processors.clone(),
            stats: EnrichStats::default(),
        }
    }

    fn set_direction(&self, ev: &mut Map<String, Value>, src: IpAddr, dst: IpAddr) {
        let d = direction(&self.host, &self.internal, src, dst);
        if let Some(Value::Object(n)) = ev.get_mut("network") {
            n.insert("direction".into(), d.into());
        }
    }

    /// A transaction or message event from `src` to `dst` initiated by `client`; false: drop it.
    pub fn txn(
        &mut self,
        ev: &mut Map<String, Value>,
        id: ProtoId,
        src: IpAddr,
        dst: IpAddr,
        client: IpAddr,
    ) -> bool {
        if self.ignore_outgoing && (client.is_loopback() || self.host.ips.contains(&client)) {
            self.stats.ignored_outgoing += 1;
            return false;
        }
        self.set_direction(ev, src, dst);
        if self.monitor.get(id as usize).copied().unwrap_or(false) {
            if let Some(p) = self.procs.as_mut() {
                p.enrich(ev, Instant::now());
            }
        }
        let keep = self.per_proto.get(id as usize).is_none_or(|p| p.run(ev)) && self.global.run(ev);
        self.count(keep)
    }

    /// A new session of protocol `id` between `client` and `server`: resolve the local
    /// endpoints' processes now, while their sockets exist (Packetbeat looks them up when a
    /// transaction starts); the answers are cached for the events.
    pub fn session_started(
        &mut self,
        id: ProtoId,
        tcp: bool,
        client: std::net::SocketAddr,
        server: std::net::SocketAddr,
    ) {
        if !self.monitor.get(id as usize).copied().unwrap_or(false) {
            return;
        }
        if let Some(p) = self.procs.as_mut() {
            let proto = if tcp { SockProto::Tcp } else { SockProto::Udp };
            let now = Instant::now();
            for a in [client, server] {
                let _ = p.lookup(proto, a.ip(), a.port(), now);
            }
        }
    }

    /// A flow event; false: drop it.
    pub fn flow(&mut self, ev: &mut Map<String, Value>, src: IpAddr, dst: IpAddr) -> bool {
        self.set_direction(ev, src, dst);
        if let Some(p) = self.procs.as_mut() {
            p.enrich(ev, Instant::now());
        }
        let keep = self.flows.run(ev) && self.global.run(ev);
        self.count(keep)
    }

    fn count(&mut self, keep: bool) -> bool {
        if !keep {
            self.stats.dropped_by_processors += 1;
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::conditions::parse_cidr;

    #[test]
    fn direction_as_packetbeat() {
        let host = HostInfo {
            ips: vec!["198.18.0.9".parse().unwrap()],
            ..crate::hostinfo::shared().as_ref().clone()
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let nets = vec![Net::Named("private"), parse_cidr("198.19.0.0/16").unwrap()];
        assert_eq!(
            direction(&host, &nets, ip("203.0.113.1"), ip("198.18.0.9")),
            "ingress"
        );
        assert_eq!(
            direction(&host, &nets, ip("198.18.0.9"), ip("203.0.113.1")),
            "egress"
        );
        assert_eq!(
            direction(&host, &nets, ip("203.0.113.1"), ip("127.0.0.1")),
            "ingress"
        );
        assert_eq!(
            direction(&host, &nets, ip("10.0.0.1"), ip("198.19.1.1")),
            "internal"
        );
        assert_eq!(
            direction(&host, &nets, ip("10.0.0.1"), ip("203.0.113.1")),
            "outbound"
        );
        assert_eq!(
            direction(&host, &nets, ip("203.0.113.1"), ip("10.0.0.1")),
            "inbound"
        );
        assert_eq!(
            direction(&host, &nets, ip("203.0.113.1"), ip("198.51.100.1")),
            "external"
        );
        assert_eq!(
            direction(&host, &[], ip("203.0.113.1"), ip("198.51.100.1")),
            "unknown"
        );
    }
}
