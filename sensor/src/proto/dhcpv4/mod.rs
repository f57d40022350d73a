//! Dhcpv4 dissector (placeholder: being written; it claims its ports but publishes nothing yet).

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};

/// Dhcpv4-specific options.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// One Dhcpv4 session.
pub struct Dhcpv4;

impl Dissector for Dhcpv4 {
    const NAME: &'static str = "dhcpv4";
    const TRANSPORT: Transport = Transport::Udp;
    const DEFAULT_PORTS: &'static [u16] = &[67, 68];
    type Config = Config;

    fn probe(_dir: Direction, _data: &[u8]) -> Probe {
        Probe::Unsure
    }

    fn new(_cfg: &Config) -> Self {
        Dhcpv4
    }

    fn parse(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _data: &[u8]) -> Progress {
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
