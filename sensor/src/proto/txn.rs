//! A finished transaction or message, as a dissector hands it to the ECS encoder.

use std::net::SocketAddr;

use serde_json::{Map, Value};

use super::{ConnMeta, L4};
use crate::time::Ts;

/// An endpoint of a transaction.
pub type Endpoint = SocketAddr;

/// Legacy Packetbeat `status` (`network_traffic.status` with `map_to_ecs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `OK`.
    Ok,
    /// `Error`.
    Error,
    /// `Client Error`.
    ClientError,
    /// `Server Error`.
    ServerError,
}

impl Status {
    /// The string Packetbeat writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "Error",
            Status::ClientError => "Client Error",
            Status::ServerError => "Server Error",
        }
    }
}

/// Shape of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnKind {
    /// A request/response pair (either side may be missing).
    Transaction,
    /// One message (dhcpv4, sip): `source` = its sender.
    Message {
        /// True when the client sent this message (`source` = client).
        from_client: bool,
    },
}

/// Whether the transaction lacks one side (for the unmatched counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unmatched {
    /// Complete, or a message event.
    #[default]
    No,
    /// A request without a response.
    Request,
    /// A response without a request.
    Response,
}

/// The 5-tuple Community ID is computed over (ICMP: type and code in the port slots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    /// Source address.
    pub src: std::net::IpAddr,
    /// Destination address.
    pub dst: std::net::IpAddr,
    /// IP protocol number.
    pub proto: u8,
    /// Source port (ICMP: type).
    pub sport: u16,
    /// Destination port (ICMP: code).
    pub dport: u16,
}

/// A finished transaction or message.
#[derive(Clone, Debug, PartialEq)]
pub struct Txn {
    /// `type` / `event.dataset`.
    pub proto: &'static str,
    /// `network.protocol` when it differs from `proto` (nfs: `nfsv3`).
    pub network_protocol: Option<&'static str>,
    /// Transaction or message event.
    pub kind: TxnKind,
    /// Requester.
    pub client: Endpoint,
    /// Responder.
    pub server: Endpoint,
    /// Transport.
    pub l4: L4,
    /// First packet of the request.
    pub request_ts: Option<Ts>,
    /// First packet of the response.
    pub response_ts: Option<Ts>,
    /// Application bytes of the request (`source.bytes`).
    pub request_bytes: Option<u64>,
    /// Application bytes of the response (`destination.bytes`).
    pub response_bytes: Option<u64>,
    /// `status`.
    pub status: Status,
    /// Legacy `method`.
    pub method: Option<String>,
    /// Legacy `resource`.
    pub resource: Option<String>,
    /// Legacy `path`.
    pub path: Option<String>,
    /// Legacy `query`.
    pub query: Option<String>,
    /// `error.message` entries.
    pub notes: Vec<String>,
    /// Which side is missing, for counters.
    pub unmatched: Unmatched,
    /// Protocol fields merged at the event root, e.g. `{"dns": {...}}` or
    /// `{"http": {...}, "url": {...}, "user_agent": {...}}`.
    pub fields: Map<String, Value>,
    /// `request` (with `send_request`).
    pub request_raw: Option<String>,
    /// `response` (with `send_response`).
    pub response_raw: Option<String>,
    /// Tuple for `network.community_id`; `None` = client → server over `l4`.
    pub community: Option<FlowTuple>,
}

impl Txn {
    /// A transaction on `meta`'s connection, status OK, nothing else set.
    pub fn new(proto: &'static str, meta: &ConnMeta) -> Txn {
        Txn {
            proto,
            network_protocol: None,
            kind: TxnKind::Transaction,
            client: meta.client,
            server: meta.server,
            l4: meta.l4,
            request_ts: None,
            response_ts: None,
            request_bytes: None,
            response_bytes: None,
            status: Status::Ok,
            method: None,
            resource: None,
            path: None,
            query: None,
            notes: Vec::new(),
            unmatched: Unmatched::No,
            fields: Map::new(),
            request_raw: None,
            response_raw: None,
            community: None,
        }
    }

    /// Which side is missing (for counters).
    pub fn status_note(&self) -> Unmatched {
        self.unmatched
    }

    /// The time of the event (`@timestamp`): the request, else the response.
    pub fn timestamp(&self) -> Option<Ts> {
        self.request_ts.or(self.response_ts)
    }

    /// The object at `key` in [`Txn::fields`], created when absent.
    pub fn obj(&mut self, key: &str) -> &mut Map<String, Value> {
        let v = self
            .fields
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(m) => m,
            _ => unreachable!("replaced by an object just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obj_creates_nested() {
        let meta = ConnMeta {
            client: "198.18.0.1:1000".parse().unwrap(),
            server: "198.18.0.2:53".parse().unwrap(),
            l4: L4::Udp,
            vlan: vec![],
        };
        let mut t = Txn::new("dns", &meta);
        t.obj("dns").insert("id".into(), 7.into());
        assert_eq!(t.fields["dns"]["id"], 7);
    }
}
