//! A dissector session of one connection: the dissector, the connection metadata and, for TCP,
//! the two reassembly streams and the bytes a dissector asked to keep (`NeedMore`).

use crate::config::CommonConfig;
use crate::decode::{tcp_flags, Packet, Transport as Wire};
use crate::proto::{
    AnyDissector, CloseReason, ConnMeta, Cx, Direction, Progress, ProtoConfigs, ProtoId,
    ProtoStats, Txn,
};
use crate::reassembly::{Budget, Chunk, ReassemblyStats, Stream};
use crate::telemetry::PipelineStats;
use crate::time::Ts;

/// Bytes a dissector may ask the pipeline to hold for one direction (an incomplete message):
/// 16 MiB covers the largest framed messages of the supported protocols (MySQL's 16 MiB packets);
/// beyond it the direction is given up and counted.
pub const MAX_PENDING: usize = 16 << 20;

/// What the flow's application layer is.
pub enum App {
    /// No packet with ports looked at yet.
    Undecided,
    /// No enabled protocol on its ports.
    None,
    /// Being parsed.
    Active(Box<Session>),
    /// The session ended (FIN/RST); a new SYN starts a new one.
    Closed,
}

/// Per-direction TCP state.
#[derive(Default)]
struct TcpDir {
    stream: Stream,
    pending: Vec<u8>,
    gave_up: bool,
    fin_notified: bool,
}

/// A connection being dissected.
pub struct Session {
    /// Protocol.
    pub id: ProtoId,
    /// The dissector.
    pub diss: AnyDissector,
    /// Endpoints.
    pub meta: ConnMeta,
    /// TCP streams, allocated with the first segment (a UDP session carries none).
    tcp: Option<Box<[TcpDir; 2]>>,
    /// The kernel was asked to stop redirecting this connection.
    pub bypassed: bool,
}

/// Hand one chunk of in-order data (or a gap) to the dissector.
fn deliver(
    diss: &mut AnyDissector,
    cx: &mut Cx<'_>,
    dir: Direction,
    d: &mut TcpDir,
    pstats: &mut PipelineStats,
    chunk: Chunk<'_>,
) {
    match chunk {
        Chunk::Gap(n) => {
            d.pending.clear();
            cx.stats.gaps += 1;
            diss.on_gap(cx, dir, n);
        }
        Chunk::Data(bytes) => {
            if d.gave_up || bytes.is_empty() {
                return;
            }
            let progress = if d.pending.is_empty() {
                let r = diss.parse(cx, dir, bytes);
                if let Progress::NeedMore { consumed, .. } = r {
                    d.pending
                        .extend_from_slice(bytes.get(consumed..).unwrap_or(&[]));
                }
                r
            } else {
                d.pending.extend_from_slice(bytes);
                let r = diss.parse(cx, dir, &d.pending);
                match r {
                    Progress::Consumed => d.pending.clear(),
                    Progress::NeedMore { consumed, .. } => {
                        d.pending.drain(..consumed.min(d.pending.len()));
                    }
                    Progress::GiveUp(_) => d.pending.clear(),
                }
                r
            };
            if let Progress::GiveUp(_) = progress {
                d.gave_up = true;
                cx.stats.gave_up += 1;
            } else if d.pending.len() > MAX_PENDING {
                d.pending.clear();
                d.gave_up = true;
                cx.stats.gave_up += 1;
                pstats.pending_overflows += 1;
            }
        }
    }
}

impl Session {
    /// A new session of protocol `id`.
    pub fn new(id: ProtoId, meta: ConnMeta, cfgs: &ProtoConfigs) -> Session {
        Session {
            id,
            diss: AnyDissector::new(id, cfgs),
            meta,
            tcp: None,
            bypassed: false,
        }
    }

    /// The dissector gave up on both directions: nothing more can be learnt from this
    /// connection's payload (its packets only need counting, which the kernel does).
    pub fn gave_up_both(&self) -> bool {
        self.tcp
            .as_ref()
            .is_some_and(|t| t.iter().all(|d| d.gave_up))
    }

    /// Process a TCP segment; returns true when the connection closed (both FINs, or RST).
    #[allow(
        clippy::too_many_arguments,
        reason = "disjoint borrows of the pipeline's parts"
    )]
    pub fn tcp_segment(
        &mut self,
        p: &Packet<'_>,
        common: &CommonConfig,
        stats: &mut ProtoStats,
        txns: &mut Vec<Txn>,
        budget: &mut Budget,
        rstats: &mut ReassemblyStats,
        pstats: &mut PipelineStats,
    ) -> bool {
        let Wire::Tcp {
            sport,
            seq,
            ack,
            flags,
            payload,
            ..
        } = p.transport
        else {
            return false;
        };
        let dir = if std::net::SocketAddr::new(p.src, sport) == self.meta.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let syn = flags & tcp_flags::SYN != 0;
        let fin = flags & tcp_flags::FIN != 0;
        let rst = flags & tcp_flags::RST != 0;
        let both_fins = {
            let Session {
                diss, meta, tcp, ..
            } = &mut *self;
            let mut cx = Cx {
                ts: p.ts,
                meta,
                common,
                stats: &mut *stats,
                out: &mut *txns,
            };
            let [to_server, to_client] = &mut **tcp.get_or_insert_with(Default::default);
            let (this, other) = match dir {
                Direction::ToServer => (to_server, to_client),
                Direction::ToClient => (to_client, to_server),
            };
            // The ACK acknowledges data the peer sent earlier: release it first.
            if flags & tcp_flags::ACK != 0 {
                let back = dir.reverse();
                let mut stream = std::mem::take(&mut other.stream);
                stream.acked(ack, budget, rstats, &mut |c| {
                    deliver(diss, &mut cx, back, other, pstats, c)
                });
                other.stream = stream;
            }
            let mut stream = std::mem::take(&mut this.stream);
            stream.segment(seq, syn, fin, payload, budget, rstats, &mut |c| {
                deliver(diss, &mut cx, dir, this, pstats, c)
            });
            this.stream = stream;
            for (d, td) in [(dir, &mut *this), (dir.reverse(), &mut *other)] {
                if td.stream.fin_reached() && !td.fin_notified {
                    td.fin_notified = true;
                    diss.on_fin(&mut cx, d);
                }
            }
            this.fin_notified && other.fin_notified
        };
        if rst || both_fins {
            let why = if rst {
                CloseReason::Rst
            } else {
                CloseReason::Fin
            };
            self.close(why, p.ts, common, stats, txns, budget, rstats, pstats);
            return true;
        }
        false
    }

    /// Flush both directions and end the dissector session.
    #[allow(
        clippy::too_many_arguments,
        reason = "disjoint borrows of the pipeline's parts"
    )]
    pub fn close(
        &mut self,
        why: CloseReason,
        now: Ts,
        common: &CommonConfig,
        stats: &mut ProtoStats,
        txns: &mut Vec<Txn>,
        budget: &mut Budget,
        rstats: &mut ReassemblyStats,
        pstats: &mut PipelineStats,
    ) {
        let Session {
            diss, meta, tcp, ..
        } = self;
        let mut cx = Cx {
            ts: now,
            meta,
            common,
            stats,
            out: txns,
        };
        for (i, td) in tcp.iter_mut().flat_map(|t| t.iter_mut()).enumerate() {
            let dir = if i == 0 {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            let mut stream = std::mem::take(&mut td.stream);
            stream.flush(budget, rstats, &mut |c| {
                deliver(diss, &mut cx, dir, td, pstats, c)
            });
            td.stream = stream;
        }
        diss.on_close(&mut cx, why);
    }
}
