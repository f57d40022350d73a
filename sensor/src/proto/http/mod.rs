//! Http dissector (being written).

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};

/// Http-specific options.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// One Http session.
pub struct Http;

impl Dissector for Http {
    const NAME: &'static str = "http";
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[80, 8080, 8000, 5000, 8002];
    type Config = Config;

    fn probe(_dir: Direction, _data: &[u8]) -> Probe {
        Probe::Unsure
    }

    fn new(_cfg: &Config) -> Self {
        Http
    }

    fn parse(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _data: &[u8]) -> Progress {
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
