//! Helpers shared by the integration tests: corpus paths, in-process replay, TCP re-splitting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sensor::capture::pcap;
use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::output::Output;
use sensor::pipeline::Pipeline;
use sensor::telemetry::Summary;
use sensor::time::Ts;

/// A captured frame held in memory.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Link type.
    pub link: LinkType,
    /// Capture time.
    pub ts: Ts,
    /// Bytes.
    pub data: Vec<u8>,
    /// Wire length.
    pub wire_len: u32,
}

/// `../shared/corpus` (CI has it beside the clone).
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `*.pcap`/`*.pcapng` below `dir`, sorted.
pub fn pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Read every frame of a capture (errors are returned with the frames read before them).
pub fn read_frames(path: &Path) -> (Vec<Frame>, Option<String>) {
    let mut frames = Vec::new();
    let r = pcap::read_file(path, &mut |link, ts, data, wire_len| {
        frames.push(Frame {
            link,
            ts,
            data: data.to_vec(),
            wire_len,
        })
    });
    (frames, r.err().map(|e| e.to_string()))
}

/// A writer collecting everything written into a shared buffer.
#[derive(Clone, Default)]
pub struct Shared(pub Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run frames through a pipeline; returns the NDJSON lines and the counters.
pub fn run_frames(cfg: Config, frames: &[Frame]) -> (Vec<String>, Summary) {
    let buf = Shared::default();
    let mut p = Pipeline::new(cfg, Output::from_writer(Box::new(buf.clone())));
    for f in frames {
        p.frame(f.link, f.ts, &f.data, f.wire_len);
    }
    let summary = p.finish();
    drop(p);
    let bytes = buf.0.lock().unwrap().clone();
    let text = String::from_utf8(bytes).expect("events are UTF-8");
    (text.lines().map(str::to_owned).collect(), summary)
}

/// Transaction events only (flow records depend on the segmentation).
pub fn transactions(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.contains("\"dataset\":\"flow\""))
        .cloned()
        .collect()
}

/// Offsets of the IP header, the TCP header and the TCP payload inside an Ethernet/SLL frame, if
/// it is a non-fragmented TCP segment with payload.
fn tcp_layout(f: &Frame) -> Option<(usize, usize, usize, bool)> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let s = match f.link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(&f.data).ok()?,
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(&f.data).ok()?,
        _ => return None,
    };
    let base = f.data.as_ptr() as usize;
    let (ip_off, v6) = match s.net.as_ref()? {
        NetSlice::Ipv4(ip) => {
            if ip.header().is_fragmenting_payload() {
                return None;
            }
            (ip.header().slice().as_ptr() as usize - base, false)
        }
        NetSlice::Ipv6(ip) => (ip.header().slice().as_ptr() as usize - base, true),
        _ => return None,
    };
    match s.transport.as_ref()? {
        TransportSlice::Tcp(t) => {
            let pay = t.payload();
            if pay.is_empty() {
                return None;
            }
            let tcp_off = t.header_slice().as_ptr() as usize - base;
            Some((ip_off, tcp_off, pay.as_ptr() as usize - base, v6))
        }
        _ => None,
    }
}

/// Re-split every TCP payload into segments of the sizes `sizes` yields (the same timestamps;
/// sequence numbers adjusted, IP lengths fixed; checksums are not recomputed).
pub fn resplit(frames: &[Frame], mut sizes: impl FnMut() -> usize) -> Vec<Frame> {
    let mut out = Vec::with_capacity(frames.len() * 4);
    for f in frames {
        let Some((ip_off, tcp_off, pay_off, v6)) = tcp_layout(f) else {
            out.push(f.clone());
            continue;
        };
        let header = &f.data[..pay_off];
        let payload = &f.data[pay_off..];
        // Trailing Ethernet padding is not payload: cut at the IP length.
        let ip_len = if v6 {
            40 + u16::from_be_bytes([f.data[ip_off + 4], f.data[ip_off + 5]]) as usize
        } else {
            u16::from_be_bytes([f.data[ip_off + 2], f.data[ip_off + 3]]) as usize
        };
        let pay_len = (ip_off + ip_len).saturating_sub(pay_off).min(payload.len());
        let payload = &payload[..pay_len];
        let seq0 = u32::from_be_bytes(f.data[tcp_off + 4..tcp_off + 8].try_into().unwrap());
        let flags = f.data[tcp_off + 13];
        let mut at = 0usize;
        while at < payload.len() {
            let n = sizes().clamp(1, payload.len() - at);
            let last = at + n == payload.len();
            let mut d = header.to_vec();
            d.extend_from_slice(&payload[at..at + n]);
            let seq = seq0.wrapping_add(at as u32);
            d[tcp_off + 4..tcp_off + 8].copy_from_slice(&seq.to_be_bytes());
            // FIN only on the last piece.
            d[tcp_off + 13] = if last { flags } else { flags & !0x01 };
            let new_ip_len = (pay_off - ip_off) + n;
            if v6 {
                d[ip_off + 4..ip_off + 6]
                    .copy_from_slice(&((new_ip_len - 40) as u16).to_be_bytes());
            } else {
                d[ip_off + 2..ip_off + 4].copy_from_slice(&(new_ip_len as u16).to_be_bytes());
            }
            let wire = d.len() as u32;
            out.push(Frame {
                link: f.link,
                ts: f.ts,
                data: d,
                wire_len: wire,
            });
            at += n;
        }
    }
    out
}

/// An Ethernet + IPv4 + TCP frame (checksums left zero: the sensor does not verify them).
#[allow(clippy::too_many_arguments, reason = "plain header fields")]
pub fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}
