//! Application-protocol dissectors and the contract they implement.
//!
//! Every protocol lives in its own folder and implements [`Dissector`]. The single
//! [`dissectors!`] list at the bottom of this file generates the enum dispatch
//! ([`AnyDissector`]), the protocol ids ([`ProtoId`]) and the `packetbeat.protocols` config
//! section — no hand-copied `match` blocks.
//!
//! Dissectors never see the flow table, the output or the clock source: they get a [`Cx`] with
//! the connection metadata, the time of the current packet, their config and a way to emit
//! finished transactions ([`Txn`]).

pub mod correlate;
#[cfg(test)]
pub mod testkit;
pub mod txn;

pub mod amqp;
pub mod cassandra;
pub mod dhcpv4;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod memcache;
pub mod mongodb;
pub mod mysql;
pub mod nfs;
pub mod pgsql;
pub mod redis;
pub mod sip;
pub mod thrift;
pub mod tls;

use std::net::SocketAddr;

use serde::de::DeserializeOwned;

use crate::config::CommonConfig;
use crate::time::Ts;
pub use txn::{Endpoint, Status, Txn, TxnKind};

/// Answer of a cheap look at the first bytes of a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Certainly this protocol.
    Match,
    /// Cannot tell yet (too few bytes, or plausible).
    Unsure,
    /// Certainly not this protocol.
    NotMine,
}

/// Why a dissector stopped parsing a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The bytes do not follow the protocol.
    Malformed,
    /// A message is larger than a configured or built-in limit.
    TooLarge,
    /// The stream switched to something not parsed (e.g. TLS upgrade, CONNECT tunnel).
    Upgraded,
}

/// Result of [`Dissector::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every byte given was used.
    Consumed,
    /// `consumed` bytes were used; the rest is an incomplete message. Call again with the
    /// unconsumed rest plus at least `needed` more bytes (a hint; 0 = unknown).
    NeedMore { consumed: usize, needed: usize },
    /// Stop parsing this direction of the connection (counted as an anomaly). The flow record
    /// is still reported.
    GiveUp(Reason),
}

/// Direction of a message relative to the connection's client and server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (requester) to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

impl Direction {
    /// 0 for `ToServer`, 1 for `ToClient`: index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// The transport a dissector runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Byte streams after TCP reassembly.
    Tcp,
    /// One call per datagram.
    Udp,
    /// Both TCP and UDP (e.g. DNS): one call per datagram, or reassembled stream data.
    TcpUdp,
    /// ICMPv4 and ICMPv6 messages (one session per worker).
    Icmp,
}

/// Why a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides sent FIN.
    Fin,
    /// A RST was seen.
    Rst,
    /// The flow was idle longer than `flows.timeout`.
    Timeout,
    /// End of the capture or shutdown.
    EndOfInput,
}

/// The transport of the current connection/message, as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMPv4.
    Icmp,
    /// ICMPv6.
    Icmpv6,
}

impl L4 {
    /// `network.transport` value.
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Icmpv6 => "ipv6-icmp",
        }
    }

    /// IP protocol number.
    pub fn ipproto(self) -> u8 {
        match self {
            L4::Tcp => sensor_common::ipproto::TCP,
            L4::Udp => sensor_common::ipproto::UDP,
            L4::Icmp => sensor_common::ipproto::ICMP,
            L4::Icmpv6 => sensor_common::ipproto::ICMPV6,
        }
    }
}

/// Metadata of the connection a dissector session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnMeta {
    /// The requester side (for ICMP: the sender of the current message).
    pub client: SocketAddr,
    /// The responder side (for ICMP: the receiver of the current message).
    pub server: SocketAddr,
    /// Transport of the connection.
    pub l4: L4,
    /// 802.1Q VLAN ids, outermost first (empty when untagged).
    pub vlan: Vec<u16>,
}

/// Per-protocol counters a dissector may bump (they appear in `--summary` and the stats event).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtoStats {
    /// Transactions/messages published.
    pub transactions: u64,
    /// Requests published without a response.
    pub unmatched_requests: u64,
    /// Responses published without a request.
    pub unmatched_responses: u64,
    /// Malformed or unexpected input (each one also counted by kind where useful).
    pub anomalies: u64,
    /// Directions or sessions given up on.
    pub gave_up: u64,
    /// Gaps reported by the reassembler to this protocol.
    pub gaps: u64,
}

/// What a dissector gets on every call.
pub struct Cx<'a> {
    /// Time of the current packet (or of the timer tick / end of input).
    pub ts: Ts,
    /// The connection.
    pub meta: &'a ConnMeta,
    /// The protocol's common options (`send_request`, `transaction_timeout`, ...).
    pub common: &'a CommonConfig,
    /// Per-protocol counters.
    pub stats: &'a mut ProtoStats,
    /// Finished transactions, drained by the pipeline after the call.
    pub out: &'a mut Vec<Txn>,
}

impl Cx<'_> {
    /// A new transaction pre-filled with the connection's endpoints and transport.
    pub fn txn(&self, proto: &'static str) -> Txn {
        Txn::new(proto, self.meta)
    }

    /// Publish a finished transaction or message.
    pub fn emit(&mut self, txn: Txn) {
        self.stats.transactions += 1;
        match txn.status_note() {
            txn::Unmatched::Request => self.stats.unmatched_requests += 1,
            txn::Unmatched::Response => self.stats.unmatched_responses += 1,
            txn::Unmatched::No => {}
        }
        self.out.push(txn);
    }

    /// Count malformed input.
    pub fn anomaly(&mut self) {
        self.stats.anomalies += 1;
    }
}

/// The contract every protocol implements.
pub trait Dissector: Sized + Send {
    /// `network.protocol` = `type` = config key = folder name.
    const NAME: &'static str;
    /// Transport(s) it runs on.
    const TRANSPORT: Transport;
    /// Ports used when the config does not name any.
    const DEFAULT_PORTS: &'static [u16];
    /// Protocol-specific options (strict: unknown keys are errors).
    type Config: Default + Clone + DeserializeOwned + Send + Sync + std::fmt::Debug;

    /// Cheap, allocation-free look at the first bytes of a direction.
    fn probe(dir: Direction, data: &[u8]) -> Probe;
    /// A new session (one per connection; one per worker for ICMP).
    fn new(cfg: &Self::Config) -> Self;
    /// Parse in-order bytes of one direction (TCP), or one datagram (UDP/ICMP).
    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress;
    /// `len` bytes of `dir` are missing (capture loss); unconsumed bytes were dropped.
    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize);
    /// The sender of `dir` closed its side (TCP FIN). Default: nothing.
    fn on_fin(&mut self, _cx: &mut Cx<'_>, _dir: Direction) {}
    /// Periodic call (about once a second of capture time) to expire transactions.
    fn on_timer(&mut self, _cx: &mut Cx<'_>) {}
    /// The session ends: publish everything pending (unmatched requests, ...).
    fn on_close(&mut self, cx: &mut Cx<'_>, why: CloseReason);
}

/// Generates the dispatch enum, the protocol ids and the per-protocol config storage from one
/// list of `Variant(module::Type)`.
macro_rules! dissectors {
    ($($variant:ident($($path:ident)::+)),+ $(,)?) => {
        /// Identifies a protocol.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProtoId { $($variant),+ }

        impl ProtoId {
            /// Every protocol, in list order.
            pub const ALL: &'static [ProtoId] = &[$(ProtoId::$variant),+];

            /// The config key / `network.protocol` name.
            pub fn name(self) -> &'static str {
                match self { $(ProtoId::$variant => <$($path)::+ as Dissector>::NAME),+ }
            }

            /// The protocol with this config name.
            pub fn from_name(name: &str) -> Option<ProtoId> {
                Self::ALL.iter().copied().find(|p| p.name() == name)
            }

            /// Transport(s) it runs on.
            pub fn transport(self) -> Transport {
                match self { $(ProtoId::$variant => <$($path)::+ as Dissector>::TRANSPORT),+ }
            }

            /// Default ports.
            pub fn default_ports(self) -> &'static [u16] {
                match self { $(ProtoId::$variant => <$($path)::+ as Dissector>::DEFAULT_PORTS),+ }
            }

            /// Cheap check of the first bytes.
            pub fn probe(self, dir: Direction, data: &[u8]) -> Probe {
                match self { $(ProtoId::$variant => <$($path)::+ as Dissector>::probe(dir, data)),+ }
            }
        }

        /// Protocol-specific configs of every protocol.
        #[derive(Clone, Debug, Default)]
        #[allow(non_snake_case, reason = "fields are named after the variants by the macro")]
        pub struct ProtoConfigs { $(pub $variant: <$($path)::+ as Dissector>::Config),+ }

        impl ProtoConfigs {
            /// Replace one protocol's specific config from a YAML mapping (strict).
            pub fn set_from_yaml(
                &mut self,
                id: ProtoId,
                value: serde_yaml_ng::Value,
            ) -> Result<(), serde_yaml_ng::Error> {
                match id { $(ProtoId::$variant => self.$variant = serde_yaml_ng::from_value(value)?),+ }
                Ok(())
            }
        }

        /// A dissector session of any protocol.
        pub enum AnyDissector { $($variant($($path)::+)),+ }

        impl AnyDissector {
            /// A new session of protocol `id`.
            pub fn new(id: ProtoId, cfgs: &ProtoConfigs) -> Self {
                match id { $(ProtoId::$variant => AnyDissector::$variant(<$($path)::+ as Dissector>::new(&cfgs.$variant))),+ }
            }

            /// Which protocol this session parses.
            pub fn id(&self) -> ProtoId {
                match self { $(AnyDissector::$variant(_) => ProtoId::$variant),+ }
            }

            /// See [`Dissector::parse`].
            pub fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
                match self { $(AnyDissector::$variant(d) => d.parse(cx, dir, data)),+ }
            }

            /// See [`Dissector::on_gap`].
            pub fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
                match self { $(AnyDissector::$variant(d) => d.on_gap(cx, dir, len)),+ }
            }

            /// See [`Dissector::on_fin`].
            pub fn on_fin(&mut self, cx: &mut Cx<'_>, dir: Direction) {
                match self { $(AnyDissector::$variant(d) => d.on_fin(cx, dir)),+ }
            }

            /// See [`Dissector::on_timer`].
            pub fn on_timer(&mut self, cx: &mut Cx<'_>) {
                match self { $(AnyDissector::$variant(d) => d.on_timer(cx)),+ }
            }

            /// See [`Dissector::on_close`].
            pub fn on_close(&mut self, cx: &mut Cx<'_>, why: CloseReason) {
                match self { $(AnyDissector::$variant(d) => d.on_close(cx, why)),+ }
            }
        }
    };
}

dissectors! {
    Icmp(icmp::Icmp),
    Dns(dns::Dns),
    Http(http::Http),
    Dhcpv4(dhcpv4::Dhcpv4),
    Tls(tls::Tls),
    Redis(redis::Redis),
    Pgsql(pgsql::Pgsql),
    Mysql(mysql::Mysql),
    Memcache(memcache::Memcache),
    Mongodb(mongodb::Mongodb),
    Cassandra(cassandra::Cassandra),
    Amqp(amqp::Amqp),
    Thrift(thrift::Thrift),
    Nfs(nfs::Nfs),
    Sip(sip::Sip),
}
