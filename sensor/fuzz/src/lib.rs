//! Shared driver of the fuzz targets: feeds a fuzz input to one protocol dissector the way the
//! pipeline does (`sensor/src/pipeline/session.rs`, `deliver()`), and checks every transaction it
//! emits encodes to valid JSON.
//!
//! # Input format
//!
//! Byte 0 is a flag byte:
//!
//! | bit | meaning |
//! |-----|---------|
//! | 0 | 0 = one-shot, 1 = chunked stream |
//! | 1 | `TcpUdp` protocols: 1 = UDP datagrams, 0 = TCP stream; ICMP: 1 = ICMPv6 |
//! | 2 | common `send_request` |
//! | 3 | common `send_response` |
//! | 4 | common `keep_null` |
//! | 5 | common `map_to_ecs` |
//! | 6 | one-shot TCP: the server speaks first; also IPv6 endpoints and two VLAN tags |
//! | 7 | the target's alternative protocol-specific config (if it has one) |
//!
//! **One-shot, TCP**: byte 1 picks the split point `k = len * b1 / 255` of the rest: bytes
//! `..k` are one `parse(ToServer)` call, bytes `k..` one `parse(ToClient)` call (in the order
//! bit 6 says), then `on_close(EndOfInput)`.
//!
//! **One-shot, UDP / ICMP**: records `[u16 BE header][payload]`; header bit 15 = direction
//! (1 = to client; ICMP: the sender is the "server" address), bits 0..15 = payload length
//! (clamped to what is left). One `parse` per record, then `on_close(EndOfInput)`.
//!
//! **Chunked** (all transports): a sequence of operations, each starting with an op byte `o`:
//!
//! * `0x00..=0x7f`: data, direction bit 6 (0 = to server), `n = o & 0x3f`: length `n + 1`, or
//!   when `n == 0x3f` a `u16 BE` length follows. The payload bytes follow (clamped).
//! * `0xc0..=0xff`: data in the direction opposite to the previous data op, length
//!   `(o & 0x3f) + 1`.
//! * `0x80..=0xbf`: an event, `e = o & 0x3f`, direction bit 2 of `e`:
//!   * `e & 3 == 0`: gap (TCP only) of `(next byte + 1)` bytes, times 1024 when bit 3 of `e`;
//!   * `e & 3 == 1`: FIN of the direction (TCP only; once per direction; both → close);
//!   * `e & 3 == 2`: `on_timer` after advancing the clock by `((e >> 2) + 1)^2 * 100 ms`;
//!   * `e & 3 == 3`: RST: the session closes now.
//!
//! For TCP, data goes through the same pending-buffer logic as the pipeline (`NeedMore` keeps the
//! unconsumed tail and the next data is appended), a direction given up is not fed again, a gap
//! clears the pending bytes. For UDP and ICMP each data op is one datagram / message.
//! Every operation advances the clock by 1 ms.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use sensor::config::CommonConfig;
use sensor::ecs::Encoder;
use sensor::proto::{
    AnyDissector, CloseReason, ConnMeta, Cx, Direction, Progress, ProtoConfigs, ProtoId,
    ProtoStats, Transport, Txn, L4,
};
use sensor::time::Ts;

/// The pipeline's cap on the bytes kept for one direction (`session::MAX_PENDING`).
pub const MAX_PENDING: usize = 16 << 20;

/// Flag bits of byte 0.
pub mod flag {
    /// Chunked stream instead of one-shot.
    pub const CHUNKED: u8 = 1;
    /// UDP for TcpUdp protocols, ICMPv6 for ICMP.
    pub const UDP_OR_V6: u8 = 1 << 1;
    /// `send_request`.
    pub const SEND_REQUEST: u8 = 1 << 2;
    /// `send_response`.
    pub const SEND_RESPONSE: u8 = 1 << 3;
    /// `keep_null`.
    pub const KEEP_NULL: u8 = 1 << 4;
    /// `map_to_ecs`.
    pub const MAP_TO_ECS: u8 = 1 << 5;
    /// Server first (one-shot TCP), IPv6 endpoints, VLAN tags.
    pub const SERVER_FIRST: u8 = 1 << 6;
    /// Alternative protocol-specific config.
    pub const ALT_CONFIG: u8 = 1 << 7;
}

/// Start of the capture clock (2023-11-14).
const T0: u64 = 1_700_000_000_000_000_000;

/// Protocol configs of a target: the default one and an optional alternative (YAML of the
/// protocol's own section, e.g. `{send_all_headers: true}`), parsed once.
pub struct Configs {
    default: ProtoConfigs,
    alt: Option<ProtoConfigs>,
}

impl Configs {
    fn get(&self, alt: bool) -> &ProtoConfigs {
        match (&self.alt, alt) {
            (Some(a), true) => a,
            _ => &self.default,
        }
    }
}

fn configs(id: ProtoId, alt_yaml: Option<&str>) -> Configs {
    let alt = alt_yaml.map(|y| {
        let v: serde_yaml_ng::Value = match serde_yaml_ng::from_str(y) {
            Ok(v) => v,
            Err(e) => panic!("fuzz harness: bad YAML {y:?}: {e}"),
        };
        let mut c = ProtoConfigs::default();
        if let Err(e) = c.set_from_yaml(id, v) {
            panic!(
                "fuzz harness: bad alternative config for {}: {e}",
                id.name()
            );
        }
        c
    });
    Configs {
        default: ProtoConfigs::default(),
        alt,
    }
}

/// Cursor over the fuzz input.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let hi = self.byte()?;
        let lo = self.byte()?;
        Some(u16::from_be_bytes([hi, lo]))
    }

    /// Up to `n` bytes (fewer when the input ends).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Per-direction TCP state, as the pipeline's `TcpDir` (minus the reassembler).
#[derive(Default)]
struct Dir {
    pending: Vec<u8>,
    gave_up: bool,
    fin: bool,
}

/// The session under test: dissector, metadata, counters, output checks.
struct Harness {
    diss: AnyDissector,
    meta: ConnMeta,
    /// Endpoints swapped (an ICMP message from the "server").
    meta_rev: ConnMeta,
    common: CommonConfig,
    default_common: CommonConfig,
    stats: ProtoStats,
    out: Vec<Txn>,
    enc: Encoder,
    ts: Ts,
    dirs: [Dir; 2],
}

fn dir_of(to_client: bool) -> Direction {
    if to_client {
        Direction::ToClient
    } else {
        Direction::ToServer
    }
}

impl Harness {
    fn new(id: ProtoId, l4: L4, flags: u8, cfgs: &Configs) -> Harness {
        let v6 = match l4 {
            L4::Icmp => false,
            L4::Icmpv6 => true,
            _ => flags & flag::SERVER_FIRST != 0,
        };
        let (cip, sip) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            )
        };
        let (cport, sport) = match l4 {
            L4::Tcp | L4::Udp => (40_000, id.default_ports().first().copied().unwrap_or(1)),
            L4::Icmp | L4::Icmpv6 => (0, 0),
        };
        let vlan = if flags & flag::SERVER_FIRST != 0 {
            vec![10, 20]
        } else {
            Vec::new()
        };
        let meta = ConnMeta {
            client: SocketAddr::new(cip, cport),
            server: SocketAddr::new(sip, sport),
            l4,
            vlan,
        };
        let meta_rev = ConnMeta {
            client: meta.server,
            server: meta.client,
            ..meta.clone()
        };
        let common = CommonConfig {
            send_request: flags & flag::SEND_REQUEST != 0,
            send_response: flags & flag::SEND_RESPONSE != 0,
            keep_null: flags & flag::KEEP_NULL != 0,
            map_to_ecs: flags & flag::MAP_TO_ECS != 0,
            ..CommonConfig::default()
        };
        Harness {
            diss: AnyDissector::new(id, cfgs.get(flags & flag::ALT_CONFIG != 0)),
            meta,
            meta_rev,
            common,
            default_common: CommonConfig::default(),
            stats: ProtoStats::default(),
            out: Vec::new(),
            enc: Encoder::default(),
            ts: Ts(T0),
            dirs: Default::default(),
        }
    }

    /// Run `f` with a fresh `Cx`, then check what it emitted.
    fn call<R>(&mut self, rev: bool, f: impl FnOnce(&mut AnyDissector, &mut Cx<'_>) -> R) -> R {
        let mut cx = Cx {
            ts: self.ts,
            meta: if rev { &self.meta_rev } else { &self.meta },
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        let r = f(&mut self.diss, &mut cx);
        self.check_out();
        r
    }

    /// Every emitted transaction must encode to one JSON object, with the default common config
    /// and with the session's.
    fn check_out(&mut self) {
        for t in self.out.drain(..) {
            for common in [&self.default_common, &self.common] {
                let line = self.enc.txn(&t, common);
                if verbose() {
                    eprintln!("{}", String::from_utf8_lossy(line));
                }
                match serde_json::from_slice::<serde_json::Value>(line) {
                    Ok(serde_json::Value::Object(_)) => {}
                    Ok(v) => panic!("ECS encoding of a {} txn is not an object: {v}", t.proto),
                    Err(e) => panic!(
                        "ECS encoding of a {} txn is not JSON ({e}): {:?}",
                        t.proto,
                        String::from_utf8_lossy(line)
                    ),
                }
            }
        }
    }

    fn tick(&mut self, d: Duration) {
        self.ts = self.ts.add(d);
    }

    /// One datagram / ICMP message.
    fn datagram(&mut self, to_client: bool, data: &[u8]) {
        self.tick(Duration::from_millis(1));
        let icmp = matches!(self.meta.l4, L4::Icmp | L4::Icmpv6);
        // ICMP: one session for every message, always `ToServer`, sender = `client`.
        let (rev, dir) = if icmp {
            (to_client, Direction::ToServer)
        } else {
            (false, dir_of(to_client))
        };
        let p = self.call(rev, |d, cx| d.parse(cx, dir, data));
        if let Progress::NeedMore { consumed, .. } = p {
            check_consumed(consumed, data.len());
        }
    }

    /// In-order TCP bytes of one direction: the pipeline's `deliver()` for `Chunk::Data`.
    fn stream_data(&mut self, to_client: bool, bytes: &[u8]) {
        self.tick(Duration::from_millis(1));
        let dir = dir_of(to_client);
        let i = dir.index();
        let Some(d) = self.dirs.get(i) else { return };
        if d.gave_up || d.fin || bytes.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.dirs[i].pending);
        let progress = if pending.is_empty() {
            let r = self.call(false, |d, cx| d.parse(cx, dir, bytes));
            if let Progress::NeedMore { consumed, .. } = r {
                check_consumed(consumed, bytes.len());
                pending.extend_from_slice(bytes.get(consumed..).unwrap_or(&[]));
            }
            r
        } else {
            pending.extend_from_slice(bytes);
            let r = self.call(false, |d, cx| d.parse(cx, dir, &pending));
            match r {
                Progress::Consumed => pending.clear(),
                Progress::NeedMore { consumed, .. } => {
                    check_consumed(consumed, pending.len());
                    pending.drain(..consumed.min(pending.len()));
                }
                Progress::GiveUp(_) => pending.clear(),
            }
            r
        };
        let d = &mut self.dirs[i];
        if let Progress::GiveUp(_) = progress {
            d.gave_up = true;
            self.stats.gave_up += 1;
        } else if pending.len() > MAX_PENDING {
            pending.clear();
            d.gave_up = true;
            self.stats.gave_up += 1;
        }
        d.pending = pending;
    }

    /// The pipeline's `deliver()` for `Chunk::Gap`.
    fn gap(&mut self, to_client: bool, len: usize) {
        self.tick(Duration::from_millis(1));
        let dir = dir_of(to_client);
        let d = &mut self.dirs[dir.index()];
        if d.fin {
            return;
        }
        d.pending.clear();
        self.stats.gaps += 1;
        self.call(false, |d, cx| d.on_gap(cx, dir, len));
    }

    /// FIN of one direction; true when both directions are closed.
    fn fin(&mut self, to_client: bool) -> bool {
        self.tick(Duration::from_millis(1));
        let dir = dir_of(to_client);
        if !self.dirs[dir.index()].fin {
            self.dirs[dir.index()].fin = true;
            self.call(false, |d, cx| d.on_fin(cx, dir));
        }
        self.dirs.iter().all(|d| d.fin)
    }

    fn timer(&mut self, advance: Duration) {
        self.tick(advance);
        self.call(false, |d, cx| d.on_timer(cx));
    }

    fn close(&mut self, why: CloseReason) {
        self.tick(Duration::from_millis(1));
        self.call(false, |d, cx| d.on_close(cx, why));
    }
}

/// `SENSOR_FUZZ_VERBOSE=1`: print every encoded event to stderr (to look at what a reproducer
/// or a seed makes the dissector emit).
fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("SENSOR_FUZZ_VERBOSE").is_some())
}

/// The contract: `NeedMore { consumed }` never claims more bytes than it was given.
fn check_consumed(consumed: usize, len: usize) {
    assert!(
        consumed <= len,
        "contract violation: Progress::NeedMore {{ consumed: {consumed} }} for {len} bytes"
    );
}

/// A fuzz target for one protocol: `alt_yaml` is an alternative protocol-specific config
/// (selected by bit 7 of the flag byte).
pub struct Target {
    id: ProtoId,
    cfgs: OnceLock<Configs>,
    alt_yaml: Option<&'static str>,
}

impl Target {
    /// A target for protocol `name` (its config key).
    pub const fn new(id: ProtoId, alt_yaml: Option<&'static str>) -> Target {
        Target {
            id,
            cfgs: OnceLock::new(),
            alt_yaml,
        }
    }

    /// Run one fuzz input.
    pub fn run(&self, data: &[u8]) {
        let cfgs = self.cfgs.get_or_init(|| configs(self.id, self.alt_yaml));
        run(self.id, cfgs, data);
    }
}

/// Feed `data` (see the module docs) to a new session of `id`.
pub fn run(id: ProtoId, cfgs: &Configs, data: &[u8]) {
    let mut inp = Input { data };
    let Some(flags) = inp.byte() else { return };
    let l4 = match id.transport() {
        Transport::Tcp => L4::Tcp,
        Transport::Udp => L4::Udp,
        Transport::TcpUdp if flags & flag::UDP_OR_V6 != 0 => L4::Udp,
        Transport::TcpUdp => L4::Tcp,
        Transport::Icmp if flags & flag::UDP_OR_V6 != 0 => L4::Icmpv6,
        Transport::Icmp => L4::Icmp,
    };
    let mut h = Harness::new(id, l4, flags, cfgs);
    if flags & flag::CHUNKED != 0 {
        chunked(&mut h, inp);
    } else if l4 == L4::Tcp {
        one_shot_tcp(&mut h, flags, inp);
    } else {
        one_shot_datagrams(&mut h, inp);
    }
}

fn one_shot_tcp(h: &mut Harness, flags: u8, mut inp: Input<'_>) {
    let split = inp.byte().unwrap_or(0);
    let rest = inp.data;
    let k = rest.len() * usize::from(split) / 255;
    let (to_server, to_client) = rest.split_at(k.min(rest.len()));
    if flags & flag::SERVER_FIRST != 0 {
        h.stream_data(true, to_client);
        h.stream_data(false, to_server);
    } else {
        h.stream_data(false, to_server);
        h.stream_data(true, to_client);
    }
    h.close(CloseReason::EndOfInput);
}

fn one_shot_datagrams(h: &mut Harness, mut inp: Input<'_>) {
    while let Some(hdr) = inp.u16() {
        let payload = inp.take(usize::from(hdr & 0x7fff));
        h.datagram(hdr & 0x8000 != 0, payload);
    }
    h.close(CloseReason::EndOfInput);
}

fn chunked(h: &mut Harness, mut inp: Input<'_>) {
    let tcp = h.meta.l4 == L4::Tcp;
    let mut last_to_client = true;
    let mut why = CloseReason::EndOfInput;
    while let Some(o) = inp.byte() {
        let (to_client, len) = match o >> 6 {
            0 | 1 => {
                let n = usize::from(o & 0x3f);
                let len = if n == 0x3f {
                    usize::from(inp.u16().unwrap_or(0))
                } else {
                    n + 1
                };
                (o & 0x40 != 0, len)
            }
            3 => (!last_to_client, usize::from(o & 0x3f) + 1),
            _ => {
                let e = o & 0x3f;
                let to_client = e & 4 != 0;
                match e & 3 {
                    0 => {
                        let n = usize::from(inp.byte().unwrap_or(0)) + 1;
                        let n = if e & 8 != 0 { n * 1024 } else { n };
                        if tcp {
                            h.gap(to_client, n);
                        }
                    }
                    1 => {
                        if tcp && h.fin(to_client) {
                            why = CloseReason::Fin;
                            break;
                        }
                    }
                    2 => {
                        let k = u64::from(e >> 2) + 1;
                        h.timer(Duration::from_millis(k * k * 100));
                    }
                    _ => {
                        why = CloseReason::Rst;
                        break;
                    }
                }
                continue;
            }
        };
        last_to_client = to_client;
        let payload = inp.take(len);
        if tcp {
            h.stream_data(to_client, payload);
        } else {
            h.datagram(to_client, payload);
        }
        if inp.is_empty() {
            break;
        }
    }
    h.close(why);
}
