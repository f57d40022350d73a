//! pcap and pcapng files (pcap-parser): classic pcap (µs and ns), pcapng with several interfaces
//! and per-interface time resolution. A truncated or corrupt file stops with an error naming the
//! byte offset; every frame before it has already been handed on.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use crate::decode::LinkType;
use crate::time::Ts;

/// Receives each frame: link type, capture time, bytes, original length on the wire.
pub type FrameFn<'a> = dyn FnMut(LinkType, Ts, &[u8], u32) + 'a;

/// Read-buffer size: must hold the largest record (snap lengths go up to 262144 bytes).
const READ_BUFFER: usize = 4 << 20;

/// What went wrong reading a capture file.
#[derive(Debug)]
pub struct CaptureError {
    /// The file.
    pub path: String,
    /// Byte offset in the file where reading stopped.
    pub offset: u64,
    /// What was found there.
    pub what: String,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at byte offset {}",
            self.path, self.what, self.offset
        )
    }
}

impl std::error::Error for CaptureError {}

/// Counters of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Frames handed on.
    pub frames: u64,
    /// Frames skipped because their link type is not decoded.
    pub unsupported_link: u64,
}

#[derive(Clone, Copy)]
struct Iface {
    link: Option<LinkType>,
    /// Units per second of the timestamps.
    resolution: u64,
    offset_secs: i64,
}

fn ts_from_units(ts: u64, resolution: u64, offset_secs: i64) -> Ts {
    let resolution = resolution.max(1);
    let secs = ts / resolution;
    let frac = ts % resolution;
    let nanos =
        u64::try_from(u128::from(frac) * 1_000_000_000 / u128::from(resolution)).unwrap_or(0);
    let secs = secs.saturating_add_signed(offset_secs);
    Ts(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// Read every frame of `path` and hand it to `frame(link, ts, data, wire_len)`.
pub fn read_file(path: &Path, frame: &mut FrameFn<'_>) -> Result<FileStats, CaptureError> {
    let name = path.display().to_string();
    let err = |offset: u64, what: String| CaptureError {
        path: name.clone(),
        offset,
        what,
    };
    let file = File::open(path).map_err(|e| err(0, format!("cannot open: {e}")))?;
    read_from(file, frame).map_err(|(offset, what)| err(offset, what))
}

/// Read every frame from a reader (see [`read_file`]); errors are (offset, description).
pub fn read_from(
    input: impl Read + Send,
    frame: &mut FrameFn<'_>,
) -> Result<FileStats, (u64, String)> {
    let mut reader = match create_reader(READ_BUFFER, input) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err((0, "empty file".into())),
        Err(PcapError::HeaderNotRecognized) => {
            return Err((
                0,
                "not a pcap or pcapng file (header not recognized)".into(),
            ))
        }
        Err(e) => return Err((0, format!("cannot read the file header ({e:?})"))),
    };
    let mut stats = FileStats::default();
    let mut offset: u64 = 0;
    let mut legacy = Iface {
        link: None,
        resolution: 1_000_000,
        offset_secs: 0,
    };
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_progress_offset = u64::MAX;
    loop {
        match reader.next() {
            Ok((len, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy.link = LinkType::from_linktype(h.network.0);
                        legacy.resolution = if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        };
                        if legacy.link.is_none() {
                            return Err((offset, format!("unsupported link type {}", h.network.0)));
                        }
                    }
                    PcapBlockOwned::Legacy(b) => {
                        if let Some(link) = legacy.link {
                            let caplen = usize::try_from(b.caplen).unwrap_or(usize::MAX);
                            let data = b.data.get(..caplen.min(b.data.len())).unwrap_or(b.data);
                            let ts = ts_from_units(
                                u64::from(b.ts_sec) * legacy.resolution + u64::from(b.ts_usec),
                                legacy.resolution,
                                0,
                            );
                            stats.frames += 1;
                            frame(link, ts, data, b.origlen);
                        }
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => ifaces.push(Iface {
                        link: LinkType::from_linktype(idb.linktype.0),
                        resolution: idb.ts_resolution().unwrap_or(1_000_000),
                        offset_secs: idb.ts_offset(),
                    }),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let iface = usize::try_from(epb.if_id).ok().and_then(|i| ifaces.get(i));
                        match iface.and_then(|i| i.link.map(|l| (l, *i))) {
                            Some((link, i)) => {
                                let caplen = usize::try_from(epb.caplen).unwrap_or(usize::MAX);
                                let data = epb
                                    .data
                                    .get(..caplen.min(epb.data.len()))
                                    .unwrap_or(epb.data);
                                let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let ts = ts_from_units(units, i.resolution, i.offset_secs);
                                stats.frames += 1;
                                frame(link, ts, data, epb.origlen);
                            }
                            None => stats.unsupported_link += 1,
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        match ifaces.first().and_then(|i| i.link) {
                            Some(link) => {
                                stats.frames += 1;
                                // Simple packet blocks carry no timestamp.
                                frame(link, Ts(0), spb.data, spb.origlen);
                            }
                            None => stats.unsupported_link += 1,
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                offset += len as u64;
                reader.consume(len);
            }
            Err(PcapError::Eof) => return Ok(stats),
            Err(PcapError::Incomplete(_)) => {
                if last_progress_offset == offset {
                    return Err((offset, "truncated record at end of file".into()));
                }
                last_progress_offset = offset;
                if let Err(e) = reader.refill() {
                    return Err((offset, format!("read error ({e:?})")));
                }
            }
            Err(PcapError::UnexpectedEof) => {
                return Err((offset, "truncated record at end of file".into()))
            }
            Err(PcapError::BufferTooSmall) => {
                return Err((offset, format!("record larger than {READ_BUFFER} bytes")))
            }
            Err(e) => return Err((offset, format!("corrupt record ({})", short_error(&e)))),
        }
    }
}

fn short_error(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("parse error: {kind:?}"),
        PcapError::OwnedNomError(_, kind) => format!("parse error: {kind:?}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_file(records: &[(u32, u32, &[u8])], nanos: bool) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut f = Vec::new();
        f.extend_from_slice(&magic.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        for (sec, frac, data) in records {
            f.extend_from_slice(&sec.to_le_bytes());
            f.extend_from_slice(&frac.to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32 + 4).to_le_bytes());
            f.extend_from_slice(data);
        }
        f
    }

    type Frames = Vec<(LinkType, Ts, Vec<u8>, u32)>;

    fn collect(bytes: &[u8]) -> (Frames, Result<FileStats, (u64, String)>) {
        let mut out = Vec::new();
        let r = read_from(bytes, &mut |l, ts, d, w| out.push((l, ts, d.to_vec(), w)));
        (out, r)
    }

    #[test]
    fn classic_pcap_micro_and_nano() {
        let f = pcap_file(&[(10, 5, b"abc"), (11, 7, b"de")], false);
        let (frames, r) = collect(&f);
        assert_eq!(r.unwrap().frames, 2);
        assert_eq!(frames[0].1, Ts(10_000_005_000));
        assert_eq!(frames[1].2, b"de");
        assert_eq!(frames[1].3, 6);
        let f = pcap_file(&[(10, 5, b"abc")], true);
        let (frames, _) = collect(&f);
        assert_eq!(frames[0].1, Ts(10_000_000_005));
    }

    #[test]
    fn truncated_file_reports_offset_after_emitting_what_came_before() {
        let mut f = pcap_file(&[(1, 0, &[7u8; 100]), (2, 0, &[8u8; 100])], false);
        f.truncate(f.len() - 30);
        let (frames, r) = collect(&f);
        assert_eq!(frames.len(), 1);
        let (offset, what) = r.unwrap_err();
        assert_eq!(offset, 24 + 16 + 100, "{what}");
        assert!(what.contains("truncated"), "{what}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let (_, r) = collect(b"this is not a capture file at all, really");
        assert!(r.unwrap_err().1.contains("not a pcap"));
        let (_, r) = collect(b"");
        assert!(r.unwrap_err().1.contains("empty"));
    }

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    #[test]
    fn pcapng_with_two_interfaces_and_resolutions() {
        let mut f = Vec::new();
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        f.extend(block(0x0a0d_0d0a, &shb));
        // Interface 0: Ethernet, default µs resolution.
        let mut idb = 1u16.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&0u32.to_le_bytes());
        f.extend(block(1, &idb));
        // Interface 1: raw IP, if_tsresol = 9 (ns).
        let mut idb = 101u16.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        f.extend(block(1, &idb));
        for (iface, ts) in [(0u32, 2_000_001u64), (1, 3_000_000_002)] {
            let mut epb = iface.to_le_bytes().to_vec();
            epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            epb.extend_from_slice(&(ts as u32).to_le_bytes());
            epb.extend_from_slice(&3u32.to_le_bytes());
            epb.extend_from_slice(&3u32.to_le_bytes());
            epb.extend_from_slice(&[1, 2, 3, 0]);
            f.extend(block(6, &epb));
        }
        let (frames, r) = collect(&f);
        assert_eq!(r.unwrap().frames, 2);
        assert_eq!(
            (frames[0].0, frames[0].1, frames[0].2.clone()),
            (LinkType::Ethernet, Ts(2_000_001_000), vec![1, 2, 3])
        );
        assert_eq!(
            (frames[1].0, frames[1].1),
            (LinkType::Raw, Ts(3_000_000_002))
        );
    }
}
