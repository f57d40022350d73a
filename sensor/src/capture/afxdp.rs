//! AF_XDP sockets (xsk-rs): one socket per NIC RX queue, its own UMEM, frames lent to the
//! pipeline as `&[u8]` without copying, the fill ring refilled after every batch.
//!
//! The XDP program (`capture::xdp`) redirects matched packets into the `XSKS` map slot of their RX
//! queue; each socket's fd is registered there after it is bound.

use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};

use anyhow::{anyhow, Context, Result};
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// Ring and UMEM sizes of one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskOptions {
    /// UMEM frames (power of two). 8192 frames × 4 KiB = 32 MiB per queue: drops on veth came from
    /// the fill ring running empty (TOOLCHAIN.md), so rings are sized generously.
    pub frames: u32,
    /// Bytes per UMEM frame (2048 or 4096).
    pub frame_size: u32,
    /// RX ring entries (power of two).
    pub rx_ring: u32,
    /// Fill ring entries (power of two, ≥ frames so every frame can be lent to the kernel).
    pub fill_ring: u32,
    /// Frames handled per batch (clock read once, fill ring refilled once).
    pub batch: usize,
    /// Ask for zero-copy (fails on drivers without it; veth is copy mode only).
    pub zero_copy: bool,
}

impl Default for XskOptions {
    fn default() -> Self {
        XskOptions {
            frames: 8192,
            frame_size: 4096,
            rx_ring: 4096,
            fill_ring: 8192,
            batch: 64,
            zero_copy: false,
        }
    }
}

/// AF_XDP socket statistics (kernel `XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped by the kernel for other reasons than full rings.
    pub rx_dropped: u64,
    /// Frames dropped because the RX ring was full (the worker was too slow).
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived (frames dropped).
    pub rx_fill_ring_empty: u64,
    /// Invalid RX descriptors.
    pub rx_invalid_descs: u64,
}

impl XskStats {
    /// Add another socket's counters.
    pub fn add(&mut self, o: &XskStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty += o.rx_fill_ring_empty;
        self.rx_invalid_descs += o.rx_invalid_descs;
    }
}

/// Make sure `bytes` of memory can be pinned (AF_XDP UMEMs are charged to RLIMIT_MEMLOCK unless
/// the process has CAP_IPC_LOCK): raise the soft limit to the hard limit, or to unlimited when
/// allowed. Returns the limit in force (`None` = unlimited).
pub fn raise_memlock(bytes: u64) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur >= bytes {
        return (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur);
    }
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads one valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } == 0 {
        return None;
    }
    let to_hard = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads one valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &to_hard) } == 0 {
        return (lim.rlim_max != libc::RLIM_INFINITY).then_some(lim.rlim_max);
    }
    Some(lim.rlim_cur)
}

/// One bound AF_XDP socket with its UMEM.
pub struct XskQueue {
    /// RX queue index it is bound to.
    pub queue: u32,
    umem: Umem,
    rx: RxQueue,
    fill: FillQueue,
    _comp: CompQueue,
    _tx: TxQueue,
    descs: Vec<FrameDesc>,
    batch: usize,
    /// Frames received.
    pub frames: u64,
}

fn nz(n: u32, what: &str) -> Result<NonZeroU32> {
    NonZeroU32::new(n).ok_or_else(|| anyhow!("{what} must not be zero"))
}

impl XskQueue {
    /// Create a UMEM and bind a socket to `iface` queue `queue`. The XDP program must be ours
    /// (libxdp is told not to load its own).
    pub fn open(iface: &str, queue: u32, opts: &XskOptions) -> Result<XskQueue> {
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(opts.frame_size).map_err(|e| anyhow!("frame size: {e}"))?)
            .fill_queue_size(QueueSize::new(opts.fill_ring).map_err(|e| anyhow!("fill ring: {e}"))?)
            .comp_queue_size(QueueSize::new(64).map_err(|e| anyhow!("completion ring: {e}"))?)
            .build()
            .map_err(|e| anyhow!("UMEM config: {e}"))?;
        let (umem, descs) =
            Umem::new(umem_cfg, nz(opts.frames, "frames")?, false).map_err(|e| {
                anyhow!(
                    "creating the UMEM ({} frames, {} MiB): {e}. AF_XDP pins this memory: raise \
                 RLIMIT_MEMLOCK (systemd LimitMEMLOCK=infinity, `ulimit -l`), grant CAP_IPC_LOCK, \
                 or lower --xsk-frames",
                    opts.frames,
                    (u64::from(opts.frames) * u64::from(opts.frame_size)) >> 20
                )
            })?;
        let mut bind = BindFlags::XDP_USE_NEED_WAKEUP;
        bind |= if opts.zero_copy {
            BindFlags::XDP_ZEROCOPY
        } else {
            BindFlags::XDP_COPY
        };
        let sock_cfg = SocketConfig::builder()
            .rx_queue_size(QueueSize::new(opts.rx_ring).map_err(|e| anyhow!("rx ring: {e}"))?)
            .tx_queue_size(QueueSize::new(64).map_err(|e| anyhow!("tx ring: {e}"))?)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .xdp_flags(XdpFlags::empty())
            .bind_flags(bind)
            .build();
        let name: Interface = iface
            .parse()
            .map_err(|_| anyhow!("bad interface name {iface:?}"))?;
        // SAFETY: the UMEM is used by this socket only, and the frames are only read through
        // descriptors the RX ring handed back for this UMEM.
        let (tx, rx, fq_cq) = unsafe { Socket::new(sock_cfg, &umem, &name, queue) }
            .map_err(|e| anyhow!("binding an AF_XDP socket to {iface} queue {queue}: {e}"))?;
        let (mut fill, comp) = fq_cq.context("the AF_XDP socket has no fill/completion rings")?;
        // Lend every frame to the kernel.
        // SAFETY: the descriptors belong to this UMEM and none is in use by us.
        let lent = unsafe { fill.produce(&descs) };
        if lent != descs.len() {
            return Err(anyhow!(
                "the fill ring took {lent} of {} frames: make fill_ring ≥ frames",
                descs.len()
            ));
        }
        Ok(XskQueue {
            queue,
            umem,
            rx,
            fill,
            _comp: comp,
            _tx: tx,
            descs,
            batch: opts.batch.max(1),
            frames: 0,
        })
    }

    /// The socket fd, for the XDP program's XSKMAP.
    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Wait up to `timeout_ms` for frames, hand each to `f` (borrowed from the UMEM, no copy), then
    /// give the frames back to the kernel. Returns the number of frames.
    pub fn recv_batch(
        &mut self,
        timeout_ms: i32,
        f: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<usize> {
        let n = self.batch.min(self.descs.len());
        let Some(batch) = self.descs.get_mut(..n) else {
            return Ok(0);
        };
        // SAFETY: the descriptors are overwritten with frames of this UMEM that the kernel has
        // finished writing; we read them before giving them back below.
        let got = unsafe { self.rx.poll_and_consume(batch, timeout_ms)? };
        let Some(recvd) = self.descs.get(..got) else {
            return Ok(0);
        };
        for d in recvd {
            // SAFETY: `d` was just filled by the RX ring of this UMEM's socket.
            let data = unsafe { self.umem.data(d) };
            f(data.contents());
        }
        if got > 0 {
            self.frames += got as u64;
            // SAFETY: these frames are no longer read; they go back to the kernel.
            unsafe {
                self.fill.produce(recvd);
            }
            if self.fill.needs_wakeup() {
                let _ = self.fill.wakeup(self.rx.fd_mut(), 0);
            }
        }
        Ok(got)
    }

    /// Kernel statistics of this socket.
    pub fn stats(&self) -> std::io::Result<XskStats> {
        let s = self.rx.fd().xdp_statistics()?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped(),
            rx_ring_full: s.rx_ring_full(),
            rx_fill_ring_empty: s.rx_fill_ring_empty_descs(),
            rx_invalid_descs: s.rx_invalid_descs(),
        })
    }
}
