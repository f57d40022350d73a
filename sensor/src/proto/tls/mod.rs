//! TLS dissector (Packetbeat's `tls` protocol), SSL 3.0 to TLS 1.3.
//!
//! One event per connection: the handshake (ClientHello / ServerHello with SNI, ALPN, ciphers,
//! versions, resumption, certificates of TLS ≤ 1.2, alerts) plus JA3, JA3S and JA4
//! fingerprints. Records are framed in both directions for the whole connection (split across
//! segments, several per segment); once the handshake is over their bodies are skipped without
//! buffering and only counted, so the event — published when the connection closes — carries
//! the bytes of every record. A stream that does not start with a TLS record is given up.
//!
//! `established` (status `OK`): a ServerHello, no fatal alert, and the key switch in both
//! directions — ChangeCipherSpec for TLS ≤ 1.2; for TLS 1.3 (where the rest of the handshake
//! is encrypted) the client's first encrypted record after the ServerHello, unless its size
//! is that of an encrypted alert.
//!
//! Layout: `parse.rs` pure parsers, `state.rs` framing and handshake facts, `x509.rs`
//! certificates, `fingerprint.rs` JA3/JA3S/JA4, `names.rs` code-point names, `ecs.rs` the
//! event; this file holds the options and the [`Dissector`] impl.

mod ecs;
mod fingerprint;
mod names;
mod parse;
mod state;
#[cfg(test)]
mod tests;
mod x509;

use serde::Deserialize;

use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Reason, Transport};
use state::{Conn, Opts, Parsed};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "tls";

/// TLS-specific options (Packetbeat names and defaults).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Publish the certificate chains (`tls.detailed.*_certificate_chain`).
    pub send_certificates: bool,
    /// PEM of every certificate in `tls.{client,server}.certificate_chain`.
    pub include_raw_certificates: bool,
    /// Publish `tls.detailed.*` and `tls.{client,server}.x509`.
    pub include_detailed_fields: bool,
    /// Certificate fingerprints: `sha1`, `sha256`, `md5`.
    pub fingerprints: Vec<Fingerprint>,
}

/// A certificate fingerprint algorithm (`fingerprints` option).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fingerprint {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            send_certificates: true,
            include_raw_certificates: false,
            include_detailed_fields: true,
            fingerprints: vec![Fingerprint::Sha1],
        }
    }
}

impl Config {
    fn opts(&self) -> Opts {
        let has = |f: Fingerprint| self.fingerprints.contains(&f);
        Opts {
            hashes: x509::Hashes {
                md5: has(Fingerprint::Md5),
                sha1: has(Fingerprint::Sha1),
                sha256: has(Fingerprint::Sha256),
            },
            pem: self.include_raw_certificates,
        }
    }
}

/// One TLS connection.
pub struct Tls {
    /// Options (boxed: keeps the dissector enum small).
    cfg: Box<Config>,
    /// Options the state machine needs.
    opts: Opts,
    /// Everything seen so far (boxed: it is large).
    conn: Box<Conn>,
    /// The event was published.
    published: bool,
}

impl Dissector for Tls {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[443, 993, 995, 5223, 8443, 8883, 9243];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        match parse::record_header(data) {
            parse::Header::Invalid => Probe::NotMine,
            parse::Header::Incomplete => Probe::Unsure,
            parse::Header::Ok(h) => {
                let hello = match dir {
                    Direction::ToServer => parse::hs::CLIENT_HELLO,
                    Direction::ToClient => parse::hs::SERVER_HELLO,
                };
                let first = data.get(parse::RECORD_HEADER).copied();
                let handshake = h.ctype == parse::content::HANDSHAKE;
                let server_alert = h.ctype == parse::content::ALERT && dir == Direction::ToClient;
                if handshake && first == Some(hello) {
                    Probe::Match
                } else if (handshake && first.is_none()) || server_alert {
                    Probe::Unsure
                } else {
                    Probe::NotMine
                }
            }
        }
    }

    fn new(cfg: &Config) -> Self {
        Tls {
            cfg: Box::new(cfg.clone()),
            opts: cfg.opts(),
            conn: Box::default(),
            published: false,
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let mut anomalies = 0u64;
        let r = self
            .conn
            .parse(dir, cx.ts, data, self.opts, &mut || anomalies += 1);
        cx.stats.anomalies += anomalies;
        match r {
            Parsed::Consumed => Progress::Consumed,
            Parsed::NeedMore { consumed, needed } => Progress::NeedMore { consumed, needed },
            Parsed::NotTls => Progress::GiveUp(Reason::Malformed),
        }
    }

    fn on_gap(&mut self, _cx: &mut Cx<'_>, dir: Direction, len: usize) {
        self.conn.gap(dir, len);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        if self.published || !self.conn.has_info() {
            return;
        }
        self.published = true;
        let txn = ecs::build(cx, &self.cfg, &self.conn);
        cx.emit(txn);
    }
}
