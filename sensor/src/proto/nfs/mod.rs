//! NFS dissector over ONC-RPC (Packetbeat's `nfs` protocol, PROTOCOLS.md §1.4, EVENTS.md §5).
//!
//! TCP: RPC record marking (`state.rs`), multi-fragment records joined, large messages
//! counted without being buffered, resynchronisation on the next plausible message after a
//! gap. UDP: one RPC message per datagram. Calls to the NFS program (100003) wait in a
//! bounded table keyed by xid and the call's direction for their reply; calls of other
//! programs (NFSACL, callbacks) and replies without a call are ignored, as in Packetbeat.
//!
//! Event: `rpc.{xid, call_size, reply_size, time, time_str, status, auth_flavor, cred.*}`,
//! `nfs.{version, opcode, tag, minor_version, status}`, `network.protocol` `nfsv3`/`nfsv4`;
//! bytes include the record marks. Status is `Error` when the RPC call was not executed or
//! the NFS status is not NFS_OK; unanswered calls are published at `transaction_timeout` or
//! at the end of the session with a note.
//!
//! Files: `xdr.rs` (XDR reader), `rpc.rs` (RPC headers), `v4.rs` (COMPOUND), `names.rs`,
//! `ecs.rs` (fields), `state.rs` (record marking).

mod ecs;
mod names;
mod rpc;
mod state;
#[cfg(test)]
mod tests;
mod v4;
mod xdr;

use serde_json::{Map, Value};

use super::correlate::Keyed;
use super::txn::Unmatched;
use super::{CloseReason, Cx, Direction, Dissector, Probe, Progress, Status, Transport, L4};
use crate::time::Ts;
use rpc::{Msg, ReplyStat};
use state::{Done, Framer};

/// Calls pending per session: NFS clients keep at most a few hundred RPCs in flight per
/// connection (slot tables); beyond this the oldest is published unanswered.
const MAX_PENDING: usize = 4096;

/// Note of a call published without reply.
const NOTE_NO_REPLY: &str = "No reply to this call was received";

/// NFS options (Packetbeat has only the common ones).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {}

/// A call waiting for its reply.
#[derive(Debug)]
struct Pending {
    /// Direction the call travelled.
    dir: Direction,
    /// Call wire bytes.
    bytes: u64,
    /// NFS version.
    vers: u32,
    /// Procedure.
    proc_: u32,
    /// `rpc` object so far.
    rpc: Map<String, Value>,
    /// `nfs` object so far.
    nfs: Map<String, Value>,
}

/// One NFS session.
pub struct Nfs {
    up: Framer,
    down: Framer,
    pending: Keyed<(u32, Direction), Pending>,
}

/// True when `b` starts with a record mark followed by an NFS call or any reply.
fn plausible_start(b: &[u8]) -> bool {
    let w = |i: usize| -> Option<u32> {
        match b.get(i..i + 4)? {
            &[a, c, d, e] => Some(u32::from_be_bytes([a, c, d, e])),
            _ => None,
        }
    };
    let (Some(m), Some(kind), Some(v)) = (w(0), w(8), w(12)) else {
        return false;
    };
    let len = (m & 0x7fff_ffff) as usize;
    if !(12..=state::MAX_FRAGMENT).contains(&len) {
        return false;
    }
    match kind {
        rpc::CALL => v == rpc::RPC_VERSION && w(16) == Some(rpc::NFS_PROGRAM),
        rpc::REPLY => v <= 1 && m & 0x8000_0000 != 0,
        _ => false,
    }
}

impl Nfs {
    /// One complete RPC message sent in `dir`.
    fn message(&mut self, cx: &mut Cx<'_>, dir: Direction, head: &[u8], bytes: u64, ts: Ts) {
        match rpc::parse(head) {
            None => cx.anomaly(),
            Some(Msg::Call(call)) => {
                if call.prog != rpc::NFS_PROGRAM {
                    return;
                }
                let key = (call.xid, dir);
                if self.pending.get_mut(&key).is_some() {
                    // A retransmitted call: the first one stays pending.
                    return;
                }
                let sender = match dir {
                    Direction::ToServer => cx.meta.client,
                    Direction::ToClient => cx.meta.server,
                };
                let (rpc, nfs) = ecs::call_fields(&call, bytes, sender.ip());
                let p = Pending {
                    dir,
                    bytes,
                    vers: call.vers,
                    proc_: call.proc_,
                    rpc,
                    nfs,
                };
                if let Some((old_ts, old)) = self.pending.insert(key, ts, p) {
                    self.publish(cx, old_ts, old, None);
                }
            }
            Some(Msg::Reply(reply)) => {
                let Some((call_ts, p)) = self.pending.remove(&(reply.xid, dir.reverse())) else {
                    return;
                };
                self.publish(cx, call_ts, p, Some((ts, bytes, reply.stat)));
            }
        }
    }

    /// Publish a call with its reply (or without, as unanswered).
    fn publish(
        &self,
        cx: &mut Cx<'_>,
        call_ts: Ts,
        mut p: Pending,
        reply: Option<(Ts, u64, ReplyStat<'_>)>,
    ) {
        let mut t = cx.txn(Nfs::NAME);
        if p.dir == Direction::ToClient {
            std::mem::swap(&mut t.client, &mut t.server);
        }
        t.network_protocol = match p.vers {
            2 => Some("nfsv2"),
            3 => Some("nfsv3"),
            4 => Some("nfsv4"),
            _ => None,
        };
        t.request_ts = Some(call_ts);
        t.request_bytes = Some(p.bytes);
        match reply {
            Some((ts, bytes, stat)) => {
                t.response_ts = Some(ts);
                t.response_bytes = Some(bytes);
                let ok = ecs::reply_fields(&mut p.rpc, &mut p.nfs, p.vers, p.proc_, &stat);
                p.rpc.insert("reply_size".into(), bytes.into());
                let ns = ts.since(call_ts);
                p.rpc.insert("time".into(), ns.into());
                p.rpc.insert("time_str".into(), ecs::go_duration(ns).into());
                if !ok {
                    t.status = Status::Error;
                }
            }
            None => {
                t.status = Status::Error;
                t.unmatched = Unmatched::Request;
                t.notes.push(NOTE_NO_REPLY.to_owned());
            }
        }
        if let Some(Value::String(op)) = p.nfs.get("opcode") {
            t.method = Some(op.clone());
        }
        t.fields.insert("rpc".into(), Value::Object(p.rpc));
        t.fields.insert("nfs".into(), Value::Object(p.nfs));
        cx.emit(t);
    }

    fn framer(&mut self, dir: Direction) -> &mut Framer {
        match dir {
            Direction::ToServer => &mut self.up,
            Direction::ToClient => &mut self.down,
        }
    }
}

impl Dissector for Nfs {
    const NAME: &'static str = "nfs";
    const TRANSPORT: Transport = Transport::TcpUdp;
    const DEFAULT_PORTS: &'static [u16] = &[2049];
    type Config = Config;

    fn probe(_dir: Direction, data: &[u8]) -> Probe {
        if data.len() < 20 {
            return Probe::Unsure;
        }
        if plausible_start(data) {
            Probe::Match
        } else {
            Probe::NotMine
        }
    }

    fn new(_cfg: &Config) -> Self {
        Nfs {
            up: Framer::default(),
            down: Framer::default(),
            pending: Keyed::new(MAX_PENDING),
        }
    }

    fn parse(&mut self, cx: &mut Cx<'_>, dir: Direction, data: &[u8]) -> Progress {
        if cx.meta.l4 != L4::Tcp {
            self.message(cx, dir, data, data.len() as u64, cx.ts);
            return Progress::Consumed;
        }
        // The framer is taken out so that complete messages can be handled while it runs.
        let mut framer = std::mem::take(self.framer(dir));
        let fed = framer.feed(data, cx.ts, plausible_start, |d: Done<'_>| {
            self.message(cx, dir, d.head, d.total, d.ts);
        });
        *self.framer(dir) = framer;
        if fed.anomaly {
            cx.anomaly();
        }
        if fed.consumed < data.len() {
            Progress::NeedMore {
                consumed: fed.consumed,
                needed: state::MARK,
            }
        } else {
            Progress::Consumed
        }
    }

    fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Direction, _len: usize) {
        cx.stats.gaps += 1;
        self.framer(dir).lose();
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>) {
        let mut old = Vec::new();
        self.pending
            .expire(cx.ts, cx.common.transaction_timeout, |_, ts, p| {
                old.push((ts, p))
            });
        for (ts, p) in old {
            self.publish(cx, ts, p, None);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, _why: CloseReason) {
        for (_, ts, p) in self.pending.drain_sorted() {
            self.publish(cx, ts, p, None);
        }
    }
}
