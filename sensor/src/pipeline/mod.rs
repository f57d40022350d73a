//! One worker's pipeline: decode → flow table → TCP reassembly → dissectors → ECS → output.
//!
//! Replay and live capture share it: a packet source calls [`Pipeline::frame`] for each captured
//! frame and [`Pipeline::finish`] at the end. Time comes from the frames (capture timestamps in
//! replay), so replay output is deterministic: flows live in a slab iterated in slot order.

pub mod handoff;

pub use handoff::Part;

/// The timer schedule of a pipeline, kept by whoever feeds several pipelines the frames of one
/// stream (parallel replay), so that every pipeline's timers fire at the same packet times as
/// a single pipeline's would.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    now: Ts,
    next_tick: Option<Ts>,
}

/// What the schedule says at a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockEvent {
    /// The first packet: timers start.
    Start(Ts),
    /// A tick fires before this packet is processed.
    Tick(Ts),
}

impl Clock {
    /// A packet at `ts` arrives; returns what fires first (as [`Pipeline::frame`] would).
    pub fn packet(&mut self, ts: Ts) -> Option<ClockEvent> {
        if ts > self.now {
            self.now = ts;
        }
        let now = self.now;
        match self.next_tick {
            None => {
                self.next_tick = Some(now.add(TICK));
                Some(ClockEvent::Start(now))
            }
            Some(t) if now >= t => {
                self.next_tick = Some(now.add(TICK));
                Some(ClockEvent::Tick(now))
            }
            Some(_) => None,
        }
    }

    /// The latest packet time.
    pub fn now(&self) -> Ts {
        self.now
    }
}
mod session;
pub mod worker;

use std::net::SocketAddr;
use std::time::Duration;

use rustc_hash::FxHashMap;
use sensor_common::FlowKey;

use crate::config::Config;
use crate::decode::{Decoded, Decoder, LinkType, Packet, Transport as Wire};
use crate::ecs::Encoder;
use crate::flow::{flow_key, Flow};
use crate::output::Output;
use crate::proto::{
    AnyDissector, CloseReason, ConnMeta, Cx, Direction, ProtoId, ProtoStats, Transport, Txn, L4,
};
use crate::reassembly::{Budget, ReassemblyStats};
use crate::telemetry::{PipelineStats, Summary};
use crate::time::Ts;
use session::{App, Session};

/// How often (capture time) timers run: flow expiry, periodic reports, transaction timeouts.
const TICK: Duration = Duration::from_secs(1);

/// Protocol owning each TCP and UDP port (index = port; 0 = none, else `ProtoId as u8 + 1`).
struct PortMap {
    tcp: Vec<u8>,
    udp: Vec<u8>,
}

impl PortMap {
    fn new(cfg: &Config) -> PortMap {
        let mut m = PortMap {
            tcp: vec![0; 65536],
            udp: vec![0; 65536],
        };
        for &id in ProtoId::ALL {
            if !cfg.protocols.get(id).enabled {
                continue;
            }
            let tag = id as u8 + 1;
            for &port in cfg.protocols.ports(id) {
                let (tcp, udp) = match id.transport() {
                    Transport::Tcp => (true, false),
                    Transport::Udp => (false, true),
                    Transport::TcpUdp => (true, true),
                    Transport::Icmp => (false, false),
                };
                if tcp {
                    if let Some(s) = m.tcp.get_mut(usize::from(port)) {
                        *s = tag;
                    }
                }
                if udp {
                    if let Some(s) = m.udp.get_mut(usize::from(port)) {
                        *s = tag;
                    }
                }
            }
        }
        m
    }

    fn get(&self, l4: L4, port: u16) -> Option<ProtoId> {
        let t = match l4 {
            L4::Tcp => &self.tcp,
            L4::Udp => &self.udp,
            _ => return None,
        };
        let tag = *t.get(usize::from(port))?;
        ProtoId::ALL.get(usize::from(tag).checked_sub(1)?).copied()
    }
}

struct FlowEntry {
    flow: Flow,
    app: App,
}

/// Everything but the decoder (split so a decoded packet, which may borrow the decoder's
/// fragment buffer, can be processed with `&mut Core`).
struct Core {
    cfg: Config,
    ports: PortMap,
    index: FxHashMap<FlowKey, usize>,
    slots: Vec<Option<FlowEntry>>,
    free: Vec<usize>,
    next_seq: u64,
    icmp: Option<AnyDissector>,
    budget: Budget,
    rstats: ReassemblyStats,
    pstats: Vec<ProtoStats>,
    txns: Vec<Txn>,
    enc: Encoder,
    out: Output,
    stats: PipelineStats,
    now: Ts,
    clock: Clock,
    next_report: Option<Ts>,
    /// Timers are driven from outside (parallel replay).
    external_clock: bool,
    /// Connections the kernel may stop redirecting (live capture collects them).
    bypass: Option<Vec<FlowKey>>,
}

/// A worker's pipeline.
pub struct Pipeline {
    decoder: Decoder,
    core: Core,
}

impl Pipeline {
    /// A pipeline with this configuration, writing to `out`.
    pub fn new(cfg: Config, out: Output) -> Pipeline {
        let icmp = if cfg.protocols.get(ProtoId::Icmp).enabled {
            Some(AnyDissector::new(ProtoId::Icmp, &cfg.protocols.specific))
        } else {
            None
        };
        let enc = Encoder::for_config(&cfg);
        let core = Core {
            ports: PortMap::new(&cfg),
            cfg,
            index: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            icmp,
            budget: Budget::default(),
            rstats: ReassemblyStats::default(),
            pstats: ProtoId::ALL.iter().map(|_| ProtoStats::default()).collect(),
            txns: Vec::new(),
            enc,
            out,
            stats: PipelineStats::default(),
            now: Ts(0),
            clock: Clock::default(),
            next_report: None,
            external_clock: false,
            bypass: None,
        };
        Pipeline {
            decoder: Decoder::new(),
            core,
        }
    }

    /// Process one captured frame.
    pub fn frame(&mut self, link: LinkType, ts: Ts, data: &[u8], wire_len: u32) {
        self.frame_part(link, ts, data, wire_len, Part::All);
    }

    /// Process part of a frame (parallel replay splits an ICMP error between the worker of its
    /// flow and the worker of the connection it quotes); [`Part::App`] leaves the counters of
    /// the frame to the other worker.
    pub fn frame_part(&mut self, link: LinkType, ts: Ts, data: &[u8], wire_len: u32, part: Part) {
        self.core.advance(ts, &mut self.decoder);
        let Pipeline { decoder, core } = self;
        let before = (part == Part::App).then(|| decoder.stats.clone());
        if let Decoded::Packet(p) = decoder.decode(link, ts, data, wire_len) {
            core.packet(&p, part);
        }
        if let Some(b) = before {
            decoder.stats = b;
        }
    }

    /// Advance the clock without a packet (live capture while idle): due timers run.
    pub fn idle(&mut self, now: Ts) {
        self.core.advance(now, &mut self.decoder);
    }

    /// Live capture: collect the connections whose dissector gave up on both directions, for
    /// the kernel's bypass map ([`Pipeline::take_bypass`]).
    pub fn collect_bypass(&mut self) {
        self.core.bypass.get_or_insert_with(Vec::new);
    }

    /// The connections to bypass since the last call.
    pub fn take_bypass(&mut self) -> Vec<FlowKey> {
        self.core
            .bypass
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Parallel replay: the reader owns the timer schedule ([`Clock`]) and tells every worker
    /// when it starts and when a tick fires, so each worker runs its timers at exactly the
    /// packet times a single pipeline would; frames then only move the clock forward.
    pub fn set_external_clock(&mut self) {
        self.core.external_clock = true;
    }

    /// [`Pipeline::set_external_clock`]: the schedule starts at `now` (the first packet).
    pub fn clock_start(&mut self, now: Ts) {
        self.core.now = self.core.now.max(now);
        self.core.start_timers();
    }

    /// [`Pipeline::set_external_clock`]: a tick fires at `now`.
    pub fn clock_tick(&mut self, now: Ts) {
        self.core.now = self.core.now.max(now);
        let now = self.core.now;
        self.decoder.defrag.expire(now);
        self.core.tick(now);
    }

    /// [`Pipeline::set_external_clock`]: the clock is at least `now` (end of input).
    pub fn clock_set(&mut self, now: Ts) {
        self.core.now = self.core.now.max(now);
    }

    /// Push buffered events to the output.
    pub fn flush_output(&mut self) {
        let _ = self.core.out.flush();
    }

    /// End of input: every pending transaction is published and every flow gets its final
    /// report. Returns the counters.
    pub fn finish(&mut self) -> Summary {
        self.core.close_all();
        let _ = self.core.out.flush();
        self.summary()
    }

    /// Current counters.
    pub fn summary(&self) -> Summary {
        Summary {
            files: Default::default(),
            decode: self.decoder.stats.clone(),
            defrag: self.decoder.defrag.stats.clone(),
            reassembly: self.core.rstats.clone(),
            pipeline: {
                let e = self.core.enc.enrich_stats();
                PipelineStats {
                    flows_active: self.core.index.len() as u64,
                    dropped_by_processors: e.dropped_by_processors,
                    ignored_outgoing: e.ignored_outgoing,
                    ..self.core.stats.clone()
                }
            },
            protocols: ProtoId::ALL
                .iter()
                .copied()
                .zip(self.core.pstats.iter().cloned())
                .collect(),
            output: self.core.out.stats.clone(),
        }
    }

    /// Apply a reloaded configuration (SIGHUP): new connections use the new protocol options
    /// and ports; sessions already running keep the dissector state they were built with but
    /// publish with the new common options (tags, fields, send_request, ...). A disabled
    /// protocol's running sessions finish normally.
    pub fn reconfigure(&mut self, cfg: Config) {
        let c = &mut self.core;
        c.ports = PortMap::new(&cfg);
        let icmp_on = cfg.protocols.get(ProtoId::Icmp).enabled;
        if !icmp_on && c.icmp.is_some() {
            // Publish what the ICMP session holds before it goes.
            let now = c.now;
            c.icmp_idle(now, |icmp, cx| icmp.on_close(cx, CloseReason::EndOfInput));
            c.icmp = None;
        } else if icmp_on && c.icmp.is_none() {
            c.icmp = Some(AnyDissector::new(ProtoId::Icmp, &cfg.protocols.specific));
        }
        c.enc.reconfigure(&cfg);
        if c.cfg.flows.period != cfg.flows.period {
            c.next_report = cfg.flows.period.map(|p| c.now.add(p));
        }
        c.cfg = cfg;
    }

    /// Publish a ready-made event (the stats event) through this pipeline's output.
    pub fn emit_value(&mut self, ev: &serde_json::Map<String, serde_json::Value>) {
        let line = self.core.enc.value(ev);
        self.core.out.write(line);
    }

    /// Give the output back (after [`Pipeline::finish`]).
    pub fn into_output(self) -> Output {
        self.core.out
    }

    /// The output, e.g. to check for a broken pipe.
    pub fn output(&self) -> &Output {
        &self.core.out
    }
}

impl Core {
    fn start_timers(&mut self) {
        let now = self.now;
        self.next_report = self.cfg.flows.period.map(|p| now.add(p));
    }

    fn advance(&mut self, ts: Ts, decoder: &mut Decoder) {
        let ev = self.clock.packet(ts);
        self.now = self.now.max(self.clock.now());
        if self.external_clock {
            return;
        }
        match ev {
            Some(ClockEvent::Start(_)) => self.start_timers(),
            Some(ClockEvent::Tick(now)) => {
                decoder.defrag.expire(now);
                self.tick(now);
            }
            None => {}
        }
    }

    fn tick(&mut self, now: Ts) {
        let timeout = self.cfg.flows.timeout;
        let report = match (self.next_report, self.cfg.flows.period) {
            (Some(t), Some(p)) if now >= t => {
                self.next_report = Some(now.add(p));
                true
            }
            _ => false,
        };
        for slot in 0..self.slots.len() {
            let expired = match self.slots.get(slot) {
                Some(Some(e)) => e.flow.last_ts.add(timeout) <= now,
                _ => continue,
            };
            if expired {
                self.stats.flows_timed_out += 1;
                self.end_flow(slot, CloseReason::Timeout, now);
                continue;
            }
            self.session_timer(slot, now);
            if report {
                self.report(slot, false, now);
            }
        }
        self.icmp_idle(now, |icmp, cx| icmp.on_timer(cx));
    }

    /// Call the worker's ICMP session without a current packet (timer, end of input).
    fn icmp_idle(&mut self, now: Ts, f: impl FnOnce(&mut AnyDissector, &mut Cx<'_>)) {
        let Some(icmp) = self.icmp.as_mut() else {
            return;
        };
        let meta = icmp_meta_placeholder();
        let mut cx = Cx {
            ts: now,
            meta: &meta,
            common: self.cfg.protocols.get(ProtoId::Icmp),
            stats: stat_mut(&mut self.pstats, ProtoId::Icmp),
            out: &mut self.txns,
        };
        f(icmp, &mut cx);
        self.emit_txns(ProtoId::Icmp);
    }

    fn report(&mut self, slot: usize, final_: bool, now: Ts) {
        if !self.cfg.flows.enabled {
            return;
        }
        if let Some(Some(e)) = self.slots.get(slot) {
            let line = self.enc.flow(&e.flow, final_, now, &self.cfg.flows);
            self.out.write(line);
            self.stats.flow_reports += 1;
        }
    }

    fn end_flow(&mut self, slot: usize, why: CloseReason, now: Ts) {
        self.close_session(slot, why, now);
        self.report(slot, true, now);
        if let Some(e) = self.slots.get_mut(slot).and_then(Option::take) {
            self.index.remove(&e.flow.key);
            self.free.push(slot);
        }
    }

    fn close_all(&mut self) {
        let now = self.now;
        for slot in 0..self.slots.len() {
            if matches!(self.slots.get(slot), Some(Some(_))) {
                self.end_flow(slot, CloseReason::EndOfInput, now);
            }
        }
        self.icmp_idle(now, |icmp, cx| icmp.on_close(cx, CloseReason::EndOfInput));
    }

    fn emit_txns(&mut self, id: ProtoId) {
        if self.txns.is_empty() {
            return;
        }
        let common = self.cfg.protocols.get(id);
        for t in self.txns.drain(..) {
            let line = self.enc.txn_owned(id, t, common);
            self.out.write(line);
        }
    }

    fn flow_slot(&mut self, p: &Packet<'_>, proto: u8, sport: u16, dport: u16) -> (usize, bool) {
        let src = SocketAddr::new(p.src, sport);
        let dst = SocketAddr::new(p.dst, dport);
        let (key, _) = flow_key(proto, src, dst, &p.vlans);
        let slot = match self.index.get(&key) {
            Some(&s) => s,
            None => {
                self.stats.flows_created += 1;
                let flow = Flow::new(self.next_seq, key, src, dst, p.vlans, p.ts);
                self.next_seq += 1;
                let entry = FlowEntry {
                    flow,
                    app: App::Undecided,
                };
                let s = match self.free.pop() {
                    Some(s) => {
                        if let Some(x) = self.slots.get_mut(s) {
                            *x = Some(entry);
                        }
                        s
                    }
                    None => {
                        self.slots.push(Some(entry));
                        self.slots.len() - 1
                    }
                };
                self.index.insert(key, s);
                s
            }
        };
        let mut from_source = true;
        if let Some(Some(e)) = self.slots.get_mut(slot) {
            from_source = e.flow.source == src;
            e.flow.count(from_source, p.ts, p.frames, p.wire_bytes);
        }
        (slot, from_source)
    }

    fn packet(&mut self, p: &Packet<'_>, part: Part) {
        match p.transport {
            Wire::Tcp { sport, dport, .. } => {
                let (slot, _) = self.flow_slot(p, 6, sport, dport);
                self.tcp_packet(slot, p);
            }
            Wire::Udp {
                sport,
                dport,
                payload,
            } => {
                let (slot, _) = self.flow_slot(p, 17, sport, dport);
                self.udp_packet(slot, p, sport, dport, payload);
            }
            Wire::Icmp { v6, msg } => {
                let proto = if v6 { 58 } else { 1 };
                if part != Part::App {
                    self.flow_slot(p, proto, 0, 0);
                }
                if part != Part::Flow {
                    self.icmp_packet(p, v6, msg);
                }
            }
            Wire::Other { proto } => {
                self.flow_slot(p, proto, 0, 0);
            }
        }
    }

    fn icmp_packet(&mut self, p: &Packet<'_>, v6: bool, msg: &[u8]) {
        let Some(icmp) = self.icmp.as_mut() else {
            return;
        };
        let meta = ConnMeta {
            client: SocketAddr::new(p.src, 0),
            server: SocketAddr::new(p.dst, 0),
            l4: if v6 { L4::Icmpv6 } else { L4::Icmp },
            vlan: p.vlans.as_slice().to_vec(),
        };
        let common = self.cfg.protocols.get(ProtoId::Icmp);
        let mut cx = Cx {
            ts: p.ts,
            meta: &meta,
            common,
            stats: stat_mut(&mut self.pstats, ProtoId::Icmp),
            out: &mut self.txns,
        };
        let _ = icmp.parse(&mut cx, Direction::ToServer, msg);
        self.emit_txns(ProtoId::Icmp);
    }

    /// Decide which protocol (if any) parses this connection, from the ports.
    fn decide(
        &mut self,
        slot: usize,
        p: &Packet<'_>,
        l4: L4,
        sport: u16,
        dport: u16,
        syn_only: bool,
    ) {
        let by_dst = self.ports.get(l4, dport);
        let by_src = self.ports.get(l4, sport);
        let server_is_dst = match (by_dst, by_src) {
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(_), Some(_)) => Some(syn_only || dport <= sport),
            (None, None) => None,
        };
        let Some(entry) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(server_is_dst) = server_is_dst else {
            entry.app = App::None;
            return;
        };
        let (id, client, server) = if server_is_dst {
            (
                by_dst,
                SocketAddr::new(p.src, sport),
                SocketAddr::new(p.dst, dport),
            )
        } else {
            (
                by_src,
                SocketAddr::new(p.dst, dport),
                SocketAddr::new(p.src, sport),
            )
        };
        let Some(id) = id else { return };
        if let Some(e) = self.enc.enrich.as_mut() {
            e.session_started(id, matches!(l4, L4::Tcp), client, server);
        }
        let meta = ConnMeta {
            client,
            server,
            l4,
            vlan: p.vlans.as_slice().to_vec(),
        };
        let Some(entry) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        entry.app = App::Active(Box::new(Session::new(
            id,
            meta,
            &self.cfg.protocols.specific,
        )));
        self.stats.sessions += 1;
    }

    fn udp_packet(&mut self, slot: usize, p: &Packet<'_>, sport: u16, dport: u16, payload: &[u8]) {
        if matches!(
            self.slots.get(slot),
            Some(Some(FlowEntry {
                app: App::Undecided,
                ..
            }))
        ) {
            self.decide(slot, p, L4::Udp, sport, dport, false);
        }
        let Some(Some(FlowEntry {
            app: App::Active(s),
            ..
        })) = self.slots.get_mut(slot)
        else {
            if matches!(
                self.slots.get(slot),
                Some(Some(FlowEntry { app: App::None, .. }))
            ) {
                self.stats.unclaimed_packets += 1;
            }
            return;
        };
        let id = s.id;
        let dir = if SocketAddr::new(p.src, sport) == s.meta.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let mut cx = Cx {
            ts: p.ts,
            meta: &s.meta,
            common: self.cfg.protocols.get(id),
            stats: stat_mut(&mut self.pstats, id),
            out: &mut self.txns,
        };
        if let crate::proto::Progress::GiveUp(_) = s.diss.parse(&mut cx, dir, payload) {
            cx.stats.anomalies += 1;
        }
        self.emit_txns(id);
    }

    fn tcp_packet(&mut self, slot: usize, p: &Packet<'_>) {
        let Wire::Tcp {
            sport,
            dport,
            flags,
            ..
        } = p.transport
        else {
            return;
        };
        use crate::decode::tcp_flags::{ACK, SYN};
        let syn_only = flags & SYN != 0 && flags & ACK == 0;
        match self.slots.get(slot) {
            Some(Some(FlowEntry {
                app: App::Undecided,
                ..
            })) => self.decide(slot, p, L4::Tcp, sport, dport, syn_only),
            // A new connection on the same 5-tuple after the previous one closed.
            Some(Some(FlowEntry {
                app: App::Closed, ..
            })) if syn_only => self.decide(slot, p, L4::Tcp, sport, dport, syn_only),
            _ => {}
        }
        let Some(Some(FlowEntry { app, flow })) = self.slots.get_mut(slot) else {
            return;
        };
        let App::Active(s) = app else {
            if matches!(app, App::None) {
                self.stats.unclaimed_packets += 1;
            }
            return;
        };
        let id = s.id;
        let closed = s.tcp_segment(
            p,
            self.cfg.protocols.get(id),
            stat_mut(&mut self.pstats, id),
            &mut self.txns,
            &mut self.budget,
            &mut self.rstats,
            &mut self.stats,
        );
        if let Some(req) = self.bypass.as_mut() {
            if !s.bypassed && !closed && s.gave_up_both() {
                s.bypassed = true;
                req.push(flow.key);
            }
        }
        if closed {
            *app = App::Closed;
        }
        self.emit_txns(id);
    }

    fn session_timer(&mut self, slot: usize, now: Ts) {
        let Some(Some(FlowEntry {
            app: App::Active(s),
            ..
        })) = self.slots.get_mut(slot)
        else {
            return;
        };
        let id = s.id;
        let mut cx = Cx {
            ts: now,
            meta: &s.meta,
            common: self.cfg.protocols.get(id),
            stats: stat_mut(&mut self.pstats, id),
            out: &mut self.txns,
        };
        s.diss.on_timer(&mut cx);
        self.emit_txns(id);
    }

    fn close_session(&mut self, slot: usize, why: CloseReason, now: Ts) {
        let Some(Some(FlowEntry { app, .. })) = self.slots.get_mut(slot) else {
            return;
        };
        if let App::Active(s) = app {
            let id = s.id;
            s.close(
                why,
                now,
                self.cfg.protocols.get(id),
                stat_mut(&mut self.pstats, id),
                &mut self.txns,
                &mut self.budget,
                &mut self.rstats,
                &mut self.stats,
            );
            *app = App::Closed;
            self.emit_txns(id);
        }
    }
}

/// Connection metadata for ICMP timer/close calls (no current packet).
fn icmp_meta_placeholder() -> ConnMeta {
    let unspecified = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
    ConnMeta {
        client: unspecified,
        server: unspecified,
        l4: L4::Icmp,
        vlan: Vec::new(),
    }
}

#[allow(
    clippy::indexing_slicing,
    reason = "one entry per ProtoId, built from ProtoId::ALL"
)]
fn stat_mut(v: &mut [ProtoStats], id: ProtoId) -> &mut ProtoStats {
    &mut v[id as usize]
}
