//! Memcache dissector (placeholder: being written; it claims its ports but publishes nothing yet).

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};

/// Memcache-specific options.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// One Memcache session.
pub struct Memcache;

impl Dissector for Memcache {
    const NAME: &'static str = "memcache";
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[11211];
    type Config = Config;

    fn probe(_dir: Direction, _data: &[u8]) -> Probe {
        Probe::Unsure
    }

    fn new(_cfg: &Config) -> Self {
        Memcache
    }

    fn parse(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _data: &[u8]) -> Progress {
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
