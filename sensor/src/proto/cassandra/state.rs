//! Framing of one direction: frames are delimited by the header's body length. Frames up to
//! [`MAX_WHOLE`] are parsed whole; larger ones from their first [`PREFIX`] bytes (metadata and
//! row count come first), the rest is skipped as it arrives. After a gap or bytes that do not
//! look like a frame header, the direction resynchronises on the next plausible header.

use super::parse::{self, Header};
use crate::time::Ts;

/// Largest frame buffered whole: requests and most result pages are far smaller.
pub const MAX_WHOLE: usize = 1024 * 1024;

/// Bytes of an oversized frame parsed (header, result kind, metadata, row count).
pub const PREFIX: usize = 64 * 1024;

/// Bytes scanned for a header after a loss of sync before the direction is given up.
pub const MAX_RESYNC_SCAN: usize = 64 * 1024 * 1024;

/// One direction's framing state.
#[derive(Debug, Default)]
pub struct Stream {
    start_ts: Option<Ts>,
    skip: u64,
    resync: bool,
    scanned: usize,
}

/// Result of one framing step.
#[derive(Debug)]
pub enum Step<'a> {
    /// Wait for more bytes.
    NeedMore {
        /// Bytes used.
        consumed: usize,
        /// More bytes wanted (hint).
        needed: usize,
    },
    /// `n` bytes used; continue.
    Advance(usize),
    /// A frame (or the prefix of an oversized one).
    Frame {
        /// Its bytes (header included).
        bytes: &'a [u8],
        /// Its header.
        header: Header,
        /// Only the prefix is given.
        cut: bool,
        /// Time of its first packet.
        ts: Ts,
    },
    /// Lost sync: count one anomaly.
    LostSync,
    /// Nothing plausible in too many bytes.
    GiveUp,
}

/// A header at the start of `b` that looks real for a direction (`response`).
fn looks_real(b: &[u8], response: bool) -> bool {
    parse::header(b).is_some_and(|h| {
        parse::plausible(&h) && h.is_response() == response && (3..=5).contains(&h.proto())
    })
}

impl Stream {
    /// Bytes were lost: resync on the next plausible header.
    pub fn gap(&mut self) {
        self.start_ts = None;
        self.skip = 0;
        self.resync = true;
        self.scanned = 0;
    }

    /// One framing step over the unconsumed bytes of this direction.
    pub fn step<'a>(&mut self, data: &'a [u8], ts: Ts, response: bool) -> Step<'a> {
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.skip -= u64::try_from(n).unwrap_or(0);
            return Step::Advance(n);
        }
        if self.resync {
            return self.scan(data, response);
        }
        let Some(&first) = data.first() else {
            return Step::NeedMore {
                consumed: 0,
                needed: parse::HEADER_LEN,
            };
        };
        let head_len = if matches!(first & 0x7F, 1 | 2) {
            parse::HEADER_LEN_V2
        } else {
            parse::HEADER_LEN
        };
        if data.len() < head_len {
            self.start_ts.get_or_insert(ts);
            return Step::NeedMore {
                consumed: 0,
                needed: head_len - data.len(),
            };
        }
        let Some(h) = parse::header(data).filter(parse::plausible) else {
            self.start_ts = None;
            self.resync = true;
            self.scanned = 0;
            return Step::LostSync;
        };
        let start = *self.start_ts.get_or_insert(ts);
        let len = usize::try_from(h.frame_len()).unwrap_or(usize::MAX);
        let want = if len > MAX_WHOLE { PREFIX } else { len };
        if data.len() < want {
            return Step::NeedMore {
                consumed: 0,
                needed: want - data.len(),
            };
        }
        self.start_ts = None;
        if len > MAX_WHOLE {
            self.skip = u64::try_from(len - PREFIX).unwrap_or(0);
        }
        Step::Frame {
            bytes: data.get(..want).unwrap_or_default(),
            header: h,
            cut: len > MAX_WHOLE,
            ts: start,
        }
    }

    fn scan<'a>(&mut self, data: &'a [u8], response: bool) -> Step<'a> {
        let last = data.len().saturating_sub(parse::HEADER_LEN - 1);
        for i in 0..last {
            if data.get(i..).is_some_and(|b| looks_real(b, response)) {
                self.resync = false;
                self.scanned = 0;
                return Step::Advance(i);
            }
        }
        self.scanned = self.scanned.saturating_add(last);
        if self.scanned > MAX_RESYNC_SCAN {
            return Step::GiveUp;
        }
        if last == 0 {
            return Step::NeedMore {
                consumed: 0,
                needed: parse::HEADER_LEN - data.len(),
            };
        }
        Step::Advance(last)
    }
}
