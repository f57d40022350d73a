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
