//! Flow records with Packetbeat's semantics (PROTOCOLS.md §1.2): a flow is a transport + an
//! unordered (ip, port) pair + VLAN (ICMP: address pair); `source` is the side that sent the first
//! packet; counters are running totals per direction; a flow idle longer than `timeout` gets its
//! final report; every `period` all flows are reported.

pub mod kernel;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use sensor_common::FlowKey;
use serde::Deserialize;

use crate::config::{de_duration, de_period};
use crate::decode::Vlans;
use crate::time::Ts;

/// `packetbeat.flows`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    /// Report flows at all.
    pub enabled: bool,
    /// A flow idle longer than this is ended (final report). At least 1 s.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Report every flow this often; `-1` = only the final report. At least 1 s.
    #[serde(deserialize_with = "de_period")]
    pub period: Option<Duration>,
    /// Publish null values.
    pub keep_null: bool,
    /// Added to `tags` of flow events.
    pub tags: Vec<String>,
    /// Custom fields of flow events.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Put `fields` at the event root.
    pub fields_under_root: bool,
    /// Elasticsearch index (accepted for compatibility, unused).
    pub index: Option<String>,
    /// Processors (not applied yet: rejected when non-empty by the config loader).
    pub processors: Vec<serde_yaml_ng::Value>,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            enabled: true,
            timeout: Duration::from_secs(30),
            period: Some(Duration::from_secs(10)),
            keep_null: false,
            tags: Vec::new(),
            fields: serde_json::Map::new(),
            fields_under_root: false,
            index: None,
            processors: Vec::new(),
        }
    }
}

/// Counters of one flow direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCounters {
    /// Packets (captured frames).
    pub packets: u64,
    /// Bytes of whole frames as captured on the wire.
    pub bytes: u64,
}

/// One flow's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Sequence number of the flow in this worker (part of `flow.id`, orders reports).
    pub seq: u64,
    /// Canonical key.
    pub key: FlowKey,
    /// The side that sent the first packet.
    pub source: SocketAddr,
    /// The other side.
    pub destination: SocketAddr,
    /// VLAN tags.
    pub vlans: Vlans,
    /// First packet.
    pub first_ts: Ts,
    /// Last packet.
    pub last_ts: Ts,
    /// Sent by `source`.
    pub src: DirCounters,
    /// Sent by `destination`.
    pub dst: DirCounters,
}

/// 16-byte form of an address (IPv4 mapped).
pub fn addr16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Back from the 16-byte form.
pub fn addr_from16(b: [u8; 16], v4: bool) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match (v4, v6.to_ipv4_mapped()) {
        (true, Some(v4)) => IpAddr::V4(v4),
        _ => IpAddr::V6(v6),
    }
}

/// The canonical key of a packet: both directions give the same key. Returns the key and
/// whether the packet's source is the key's `lo` endpoint.
pub fn flow_key(proto: u8, src: SocketAddr, dst: SocketAddr, vlans: &Vlans) -> (FlowKey, bool) {
    let a = (addr16(src.ip()), src.port());
    let b = (addr16(dst.ip()), dst.port());
    let src_is_lo = a <= b;
    let (lo, hi) = if src_is_lo { (a, b) } else { (b, a) };
    let key = FlowKey {
        addr_lo: lo.0,
        addr_hi: hi.0,
        port_lo: lo.1,
        port_hi: hi.1,
        vlan_outer: vlans.outer(),
        vlan_inner: vlans.inner(),
        proto,
        ip_version: if src.is_ipv4() { 4 } else { 6 },
        _pad: [0; 2],
    };
    (key, src_is_lo)
}

impl Flow {
    /// A new flow whose first packet went `source` → `destination`.
    pub fn new(
        seq: u64,
        key: FlowKey,
        source: SocketAddr,
        destination: SocketAddr,
        vlans: Vlans,
        ts: Ts,
    ) -> Flow {
        Flow {
            seq,
            key,
            source,
            destination,
            vlans,
            first_ts: ts,
            last_ts: ts,
            src: DirCounters::default(),
            dst: DirCounters::default(),
        }
    }

    /// Count a packet; `from_source` = sent by the flow's source.
    pub fn count(&mut self, from_source: bool, ts: Ts, frames: u32, bytes: u64) {
        let c = if from_source {
            &mut self.src
        } else {
            &mut self.dst
        };
        c.packets += u64::from(frames);
        c.bytes += bytes;
        if ts > self.last_ts {
            self.last_ts = ts;
        }
        if ts < self.first_ts {
            self.first_ts = ts;
        }
    }

    /// `flow.id`: stable for the flow's life, unique per flow in a run.
    pub fn id(&self) -> String {
        // FNV-1a over the key and the start time: short and stable.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        self.key
            .addr_lo
            .iter()
            .chain(self.key.addr_hi.iter())
            .for_each(|b| eat(*b));
        for v in [
            self.key.port_lo,
            self.key.port_hi,
            self.key.vlan_outer,
            self.key.vlan_inner,
        ] {
            v.to_be_bytes().iter().for_each(|b| eat(*b));
        }
        eat(self.key.proto);
        // Key and start time identify a flow (a later flow of the same key starts later), and
        // the same flow gets the same id whichever worker of a parallel replay tracks it.
        self.first_ts.0.to_be_bytes().iter().for_each(|b| eat(*b));
        format!("{h:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_symmetric() {
        let a: SocketAddr = "198.18.0.1:40000".parse().unwrap();
        let b: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let v = Vlans::default();
        let (k1, lo1) = flow_key(6, a, b, &v);
        let (k2, lo2) = flow_key(6, b, a, &v);
        assert_eq!(k1, k2);
        assert_ne!(lo1, lo2);
        assert_eq!(addr_from16(k1.addr_lo, true), a.ip());
    }
}
