//! Redis dissector (Packetbeat's `redis` protocol, PROTOCOLS.md §1.4, EVENTS.md §5).
//!
//! RESP2 and RESP3 (every type: simple/bulk/verbatim strings, errors and blob errors, integers,
//! doubles, big numbers, booleans, nulls, arrays, maps, sets, attributes, pushes, streamed
//! strings and aggregates) and inline commands. Values are read incrementally, so large bulk
//! strings spanning many segments are counted without being buffered. Commands are answered in
//! order (FIFO, pipelining bounded by `queue_max_messages` / `queue_max_bytes`); MULTI/EXEC
//! needs nothing special (`QUEUED` replies are ordinary replies).
//!
//! Pub/sub: `(P|S)SUBSCRIBE a b` and `(P|S)UNSUBSCRIBE` get one confirmation per channel; they
//! form ONE event with all their confirmations (bytes summed). Pushed messages (RESP3 `>`
//! frames, RESP2 `message`/`pmessage`/`smessage` arrays while subscribed) never answer a
//! command; like Packetbeat (which drops replies without a request) they are not published.
//!
//! Files: `parse.rs` (pure RESP helpers), `state.rs` (incremental reader), `ecs.rs` (fields).

mod ecs;
mod parse;
mod state;
#[cfg(test)]
mod tests;

use serde::Deserialize;

use super::correlate::Fifo;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Transport};
use ecs::Reply;
use parse::{AggKind, SubKind};
use state::{GapOut, Msg, Out, Reader, Top};

/// Protocol name (`type`, `network.protocol`, config key).
pub const NAME: &str = "redis";

/// Packetbeat's default `queue_max_bytes` (pending request bytes per connection).
const DEFAULT_QUEUE_MAX_BYTES: u64 = 1024 * 1024;
/// Packetbeat's default `queue_max_messages` (pending requests per connection).
const DEFAULT_QUEUE_MAX_MESSAGES: usize = 20_000;

/// Redis-specific options (Packetbeat names).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Most bytes of commands waiting for their replies on one connection.
    pub queue_max_bytes: u64,
    /// Most commands waiting for their replies on one connection.
    pub queue_max_messages: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            queue_max_messages: DEFAULT_QUEUE_MAX_MESSAGES,
        }
    }
}

/// A command waiting for its reply (or a placeholder for one lost to a gap).
#[derive(Debug)]
enum Entry {
    /// A command whose bytes were lost: its reply is dropped when it comes.
    Lost,
    /// A command.
    Cmd(Box<Pending>),
}

/// A command and what has arrived for it.
#[derive(Debug)]
struct Pending {
    req: Box<Msg>,
    /// Pub/sub command: confirmations answer it.
    sub: Option<SubKind>,
    /// Confirmations expected (`None`: unsubscribe-all, known at the first confirmation).
    expect: Option<u64>,
    /// Confirmations received so far.
    reply: Reply,
}

/// Subscriptions of the connection, from the confirmations' counts.
#[derive(Debug, Default)]
struct Subs {
    /// Last count of channel + pattern subscriptions.
    total: u64,
    channels: u64,
    patterns: u64,
    shards: u64,
}

impl Subs {
    fn active(&self) -> bool {
        self.total > 0 || self.shards > 0
    }

    /// Subscriptions of `k`'s family before applying a confirmation.
    fn of(&self, k: SubKind) -> u64 {
        match k {
            SubKind::Subscribe | SubKind::Unsubscribe => self.channels,
            SubKind::PSubscribe | SubKind::PUnsubscribe => self.patterns,
            SubKind::SSubscribe | SubKind::SUnsubscribe => self.shards,
        }
    }

    fn apply(&mut self, k: SubKind, count: Option<i64>) {
        let c = count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0);
        let (up, down) = (c.saturating_sub(self.total), self.total.saturating_sub(c));
        match k {
            SubKind::Subscribe => self.channels = self.channels.saturating_add(up),
            SubKind::PSubscribe => self.patterns = self.patterns.saturating_add(up),
            SubKind::Unsubscribe => self.channels = self.channels.saturating_sub(down),
            SubKind::PUnsubscribe => self.patterns = self.patterns.saturating_sub(down),
            SubKind::SSubscribe | SubKind::SUnsubscribe => {
                self.shards = c;
                return;
            }
        }
        self.total = c;
    }
}

/// One Redis connection.
pub struct Redis {
    cfg: Config,
    /// Client → server, server → client.
    readers: [Reader; 2],
    /// Commands waiting for replies, oldest first.
    pending: Fifo<Entry>,
    /// Bytes of the pending commands.
    pending_bytes: u64,
    /// Commands published at expiry whose late replies are still to come (dropped).
    skip: u32,
    subs: Subs,
}

impl Redis {
    fn publish(cx: &mut Cx<'_>, e: Entry, note: Option<&str>) {
        if let Entry::Cmd(p) = e {
            let Pending { req, reply, .. } = *p;
            let txn = ecs::build(cx, req, Some(reply), note);
            cx.emit(txn);
        }
    }

    fn pop(&mut self) -> Option<Entry> {
        let (_, e) = self.pending.pop()?;
        if let Entry::Cmd(p) = &e {
            self.pending_bytes = self.pending_bytes.saturating_sub(p.req.size);
        }
        Some(e)
    }

    fn on_request(&mut self, cx: &mut Cx<'_>, m: Box<Msg>) {
        let Some(cmd) = m.first.as_deref() else {
            return;
        };
        let sub = SubKind::from_word(cmd);
        let args = m.count.saturating_sub(1);
        let expect = match sub {
            Some(_) if args > 0 => Some(args),
            Some(k) if k.is_unsubscribe() => None,
            // SUBSCRIBE without channels is answered by an error.
            _ => Some(1),
        };
        let sub = sub.filter(|k| args > 0 || k.is_unsubscribe());
        let size = m.size;
        let ts = m.ts;
        let e = Entry::Cmd(Box::new(Pending {
            req: m,
            sub,
            expect,
            reply: Reply::default(),
        }));
        self.pending_bytes = self.pending_bytes.saturating_add(size);
        if let Some((_, old)) = self.pending.push(ts, e) {
            if let Entry::Cmd(p) = &old {
                self.pending_bytes = self.pending_bytes.saturating_sub(p.req.size);
            }
            Self::publish(cx, old, Some(ecs::NOTE_QUEUE_FULL));
        }
        while self.pending_bytes > self.cfg.queue_max_bytes && self.pending.len() > 1 {
            if let Some(old) = self.pop() {
                Self::publish(cx, old, Some(ecs::NOTE_QUEUE_FULL));
            }
        }
    }

    fn on_reply(&mut self, cx: &mut Cx<'_>, m: Box<Msg>) {
        let agg = match m.top {
            Top::Aggregate(k @ (AggKind::Array | AggKind::Push)) => Some(k),
            _ => None,
        };
        let word = m.first.as_deref().unwrap_or_default();
        let conf = agg
            .filter(|_| m.count == 3)
            .and_then(|_| SubKind::from_word(word));
        if let Some(k) = conf {
            let before = self.subs.of(k);
            self.subs.apply(k, m.third_int);
            if let Some((_, Entry::Cmd(p))) = self.pending.front_mut() {
                if p.sub == Some(k) {
                    if p.expect.is_none() {
                        p.expect = Some(if m.second_null { 1 } else { before.max(1) });
                    }
                    p.reply.add(&m);
                    if u64::from(p.reply.count) >= p.expect.unwrap_or(1) {
                        if let Some(e) = self.pop() {
                            Self::publish(cx, e, None);
                        }
                    }
                    return;
                }
            }
            // A confirmation nobody asked for (server-initiated, or capture started late).
            return;
        }
        let pushed = agg == Some(AggKind::Push)
            || (agg == Some(AggKind::Array)
                && self.subs.active()
                && (3..=4).contains(&m.count)
                && parse::is_message_word(word));
        if pushed {
            return;
        }
        // An ordinary reply ends a pub/sub command still collecting confirmations.
        while let Some((_, Entry::Cmd(p))) = self.pending.front_mut() {
            if p.sub.is_none() || p.reply.count == 0 {
                break;
            }
            if let Some(e) = self.pop() {
                Self::publish(cx, e, None);
            }
        }
        if self.skip > 0 {
            self.skip -= 1;
            cx.stats.unmatched_responses += 1;
            return;
        }
        match self.pop() {
            None => cx.stats.unmatched_responses += 1,
            Some(Entry::Lost) => {}
            Some(Entry::Cmd(mut p)) => {
                if p.req
                    .first
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"RESET"))
                {
                    self.subs = Subs::default();
                }
                p.reply.add(&m);
                Self::publish(cx, Entry::Cmd(p), None);
            }
        }
    }

    /// A reply was lost (gap or garbage): the oldest command goes out without it.
    fn reply_lost(&mut self, cx: &mut Cx<'_>) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if let Some(e) = self.pop() {
            Self::publish(cx, e, Some(ecs::NOTE_RESPONSE_LOST));
        }
    }

    fn request_lost(&mut self, ts: crate::time::Ts) {
        if self.pending.push(ts, Entry::Lost).is_some() {
            // The oldest placeholder or command fell out; nothing to publish for a placeholder.
        }
    }
}

impl Dissector for Redis {
    const NAME: &'static str = NAME;
    const TRANSPORT: Transport = Transport::Tcp;
    const DEFAULT_PORTS: &'static [u16] = &[6379];
    type Config = Config;

    fn probe(dir: Direction, data: &[u8]) -> Probe {
        let Some(&b) = data.first() else {
            return Probe::Unsure;
        };
        match dir {
            Direction::ToServer if b == b'*' => match data.get(1) {
                Some(d) if d.is_ascii_digit() => Probe::Match,
                None => Probe::Unsure,
                _ => Probe::NotMine,
            },
            Direction::ToServer if b.is_ascii_alphabetic() => Probe::Unsure,
            Direction::ToClient if parse::is_type_byte(b) => Probe::Unsure,
            _ => Probe::NotMine,
        }
    }

    fn new(cfg: &Config) -> Self {
        Redis {
            cfg: cfg.clone(),
            readers: [Reader::new(true), Reader::new(false)],
            pending: Fifo::new(cfg.queue_max_messages),
            pending_bytes: 0,
            skip: 0,
            subs: Subs::default(),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            let (used, out) = match self.readers.get_mut(dir.index()) {
                Some(r) => r.feed(cx.ts, rest),
                None => return Progress::Consumed,
            };
            off = off.saturating_add(used);
            match out {
                Out::Consumed => return Progress::Consumed,
                Out::NeedMore => {
                    return Progress::NeedMore {
                        consumed: off,
                        needed: 0,
                    }
                }
                Out::Msg(m) => match dir {
                    Direction::ToServer => self.on_request(cx, m),
                    Direction::ToClient => self.on_reply(cx, m),
                },
                Out::Malformed => {
                    cx.anomaly();
                    match dir {
                        Direction::ToServer => self.request_lost(cx.ts),
                        Direction::ToClient => self.reply_lost(cx),
                    }
                    return Progress::Consumed;
                }
            }
        }
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, len: usize) {
        let g = match self.readers.get_mut(dir.index()) {
            Some(r) => r.gap(len),
            None => return,
        };
        if g == GapOut::Absorbed {
            return;
        }
        match dir {
            Direction::ToServer => self.request_lost(cx.ts),
            Direction::ToClient => self.reply_lost(cx),
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        if self.pending.is_empty() {
            return;
        }
        // A reply being received answers the oldest command: keep it.
        if self.readers.get(1).is_some_and(Reader::in_progress) {
            return;
        }
        let mut expired = Vec::new();
        self.pending
            .expire(cx.ts, cx.common.transaction_timeout, |_, e| expired.push(e));
        for e in expired {
            match &e {
                Entry::Cmd(p) => {
                    self.pending_bytes = self.pending_bytes.saturating_sub(p.req.size);
                    if p.reply.count == 0 {
                        self.skip = self.skip.saturating_add(1);
                    }
                }
                Entry::Lost => self.skip = self.skip.saturating_add(1),
            }
            Self::publish(cx, e, None);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for r in &mut self.readers {
            if r.abandon() {
                cx.anomaly();
            }
        }
        while let Some(e) = self.pop() {
            Self::publish(cx, e, None);
        }
        self.pending_bytes = 0;
        self.skip = 0;
    }
}
