//! DHCPv4 dissector (Packetbeat's `dhcpv4` protocol, PROTOCOLS.md §1.4, EVENTS.md §5).
//!
//! One message event per datagram (`TxnKind::Message`): `source` is the sender, and as in
//! Packetbeat the client is the sender of a BOOTREQUEST and the receiver of a BOOTREPLY.
//! Every header and option field Packetbeat writes (`dhcpv4.*`, `dhcpv4.option.*`), options
//! carried in the `file`/`sname` fields when option 52 overloads them, split options
//! concatenated (RFC 3396), relay agent information (option 82), and `client.mac`. Status is
//! `OK`, except a DHCPNAK (`Error`, EVENTS.md §9.3). Datagrams that are not DHCP (too short, no
//! magic cookie) are counted anomalies, as Packetbeat drops them.
//!
//! Files: `parse.rs` (borrowing wire parser), `ecs.rs` (names and event fields).

mod ecs;
mod parse;
#[cfg(test)]
mod tests;

use serde_json::Value;

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Status, Transport, TxnKind};
use parse::Message;

/// Message type 6 (RFC 2132 §9.6): DHCPNAK.
const TYPE_NAK: u8 = 6;
/// BOOTP op code of a reply.
const OP_BOOTREPLY: u8 = 2;

/// Note for an options field that does not end with the End option.
const NOTE_NO_END: &str = "DHCP options are not terminated by an End option";
/// Note for an option whose length runs past its area.
const NOTE_TRUNCATED: &str = "DHCP option length runs past the end of the message";
/// Note for too many options.
const NOTE_TOO_MANY: &str = "Too many DHCP options; the rest were not parsed";

/// DHCPv4 options (Packetbeat has only `ports` and the common ones).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}

/// One DHCPv4 session (stateless: every datagram is its own event).
pub struct Dhcpv4;

impl Dissector for Dhcpv4 {
    const NAME: &'static str = "dhcpv4";
    const TRANSPORT: Transport = Transport::Udp;
    const DEFAULT_PORTS: &'static [u16] = &[67, 68];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        match data.get(parse::HEADER_LEN..parse::HEADER_LEN + parse::MAGIC.len()) {
            Some(c) if c == parse::MAGIC => Probe::Match,
            Some(_) => Probe::NotMine,
            None => Probe::Unsure,
        }
    }

    fn new(_cfg: &Config) -> Self {
        Dhcpv4
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let Ok(m) = Message::parse(data) else {
            cx.anomaly();
            return Progress::Consumed;
        };
        let (sender, receiver) = match dir {
            Direction::ToServer => (cx.meta.client, cx.meta.server),
            Direction::ToClient => (cx.meta.server, cx.meta.client),
        };
        let reply = m.op == OP_BOOTREPLY;
        let mut t = cx.txn(Dhcpv4::NAME);
        // Packetbeat: the client is the sender of a request and the receiver of a reply.
        let (client, server) = if reply {
            (receiver, sender)
        } else {
            (sender, receiver)
        };
        t.client = client;
        t.server = server;
        t.kind = TxnKind::Message {
            from_client: !reply,
        };
        t.request_ts = Some(cx.ts);
        t.request_bytes = Some(data.len() as u64);
        let msg_type = m.get(53).and_then(|v| v.first().copied());
        if msg_type == Some(TYPE_NAK) {
            t.status = Status::Error;
        }
        t.method = msg_type.map(|n| {
            ecs::message_type_name(n)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("unknown ({n})"))
        });
        for (bad, note) in [
            (m.odd.no_end, NOTE_NO_END),
            (m.odd.truncated, NOTE_TRUNCATED),
            (m.odd.too_many, NOTE_TOO_MANY),
        ] {
            if bad {
                cx.anomaly();
                t.notes.push(note.to_owned());
            }
        }
        let hw = m.hwaddr();
        if m.htype == 1 && hw.len() == 6 {
            t.obj("client")
                .insert("mac".into(), ecs::mac_ecs(hw).into());
        }
        let fields = ecs::dhcpv4_fields(&m);
        t.fields.insert("dhcpv4".into(), Value::Object(fields));
        cx.emit(t);
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
