//! Sip dissector (placeholder: being written; it claims its ports but publishes nothing yet).

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};

/// Sip-specific options.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// One Sip session.
pub struct Sip;

impl Dissector for Sip {
    const NAME: &'static str = "sip";
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[5060];
    type Config = Config;

    fn probe(_dir: Direction, _data: &[u8]) -> Probe {
        Probe::Unsure
    }

    fn new(_cfg: &Config) -> Self {
        Sip
    }

    fn parse(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _data: &[u8]) -> Progress {
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
