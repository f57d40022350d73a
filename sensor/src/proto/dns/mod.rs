//! Dns dissector (being written).

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};

/// Dns-specific options.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// One Dns session.
pub struct Dns;

impl Dissector for Dns {
    const NAME: &'static str = "dns";
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[53];
    type Config = Config;

    fn probe(_dir: Direction, _data: &[u8]) -> Probe {
        Probe::Unsure
    }

    fn new(_cfg: &Config) -> Self {
        Dns
    }

    fn parse(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _data: &[u8]) -> Progress {
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
