//! Amqp dissector (placeholder: being written; it claims its ports but publishes nothing yet).

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};

/// Amqp-specific options.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// One Amqp session.
pub struct Amqp;

impl Dissector for Amqp {
    const NAME: &'static str = "amqp";
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[5672];
    type Config = Config;

    fn probe(_dir: Direction, _data: &[u8]) -> Probe {
        Probe::Unsure
    }

    fn new(_cfg: &Config) -> Self {
        Amqp
    }

    fn parse(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _data: &[u8]) -> Progress {
        Progress::Consumed
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, _dir: Direction, _len: usize) {}

    fn on_close(&mut self, _cx: &mut Cx<'_>, _why: CloseReason) {}
}
