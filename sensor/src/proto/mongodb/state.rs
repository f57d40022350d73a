//! Framing of one direction: messages are delimited by the header's length. Messages up to
//! [`MAX_WHOLE`] are parsed whole; larger ones from their first [`PREFIX`] bytes (the command
//! and its first documents), the rest is skipped as it arrives. After a gap or bytes that do
//! not look like a header the direction resynchronises on the next plausible header.

use super::parse::{self, Header, HEADER_LEN};
use crate::time::Ts;

/// Largest message buffered whole before parsing: commands and replies are far smaller; bulk
/// inserts and big batches beyond it are parsed from their prefix instead.
pub const MAX_WHOLE: usize = 1024 * 1024;

/// Bytes of an oversized message parsed: the command document, `$db` and the first documents
/// fit easily.
pub const PREFIX: usize = 64 * 1024;

/// Bytes scanned for a header after a loss of sync before the direction is given up: a real
/// MongoDB stream shows a header within one message (a few KiB typically).
pub const MAX_RESYNC_SCAN: usize = 64 * 1024 * 1024;

/// One direction's framing state.
#[derive(Debug, Default)]
pub struct Stream {
    /// First packet of the message in progress.
    start_ts: Option<Ts>,
    /// Bytes of an oversized message still to drop.
    skip: u64,
    /// Looking for a header (after a gap or garbage).
    resync: bool,
    /// Bytes scanned while resyncing.
    scanned: usize,
}

/// Result of one framing step.
#[derive(Debug)]
pub enum Step<'a> {
    /// Wait for more bytes (`needed` is a hint) after consuming `consumed`.
    NeedMore {
        /// Bytes used.
        consumed: usize,
        /// More bytes wanted.
        needed: usize,
    },
    /// `n` bytes used (skipped or scanned); continue.
    Advance(usize),
    /// A message (or the prefix of an oversized one).
    Message {
        /// Its bytes (whole message, or its prefix when `cut`).
        bytes: &'a [u8],
        /// Its header.
        header: Header,
        /// Only the prefix is given.
        cut: bool,
        /// Time of its first packet.
        ts: Ts,
    },
    /// Lost sync: count one anomaly; `n` bytes used.
    LostSync(usize),
    /// Nothing plausible in too many bytes: give up the direction.
    GiveUp,
}

/// Does a header at the start of `b` look real (beyond [`parse::plausible`])?
fn looks_real(b: &[u8]) -> bool {
    let Some(h) = parse::header(b) else {
        return false;
    };
    if !parse::plausible(&h) {
        return false;
    }
    match h.opcode {
        parse::OP_MSG => {
            // flags: only bits 0, 1 and 16 are defined; section kind 0 or 1.
            let flags_ok = b
                .get(HEADER_LEN..HEADER_LEN + 4)
                .map(|f| f.get(2) == Some(&0) || f.get(2) == Some(&1))
                .unwrap_or(true);
            let kind_ok = b
                .get(HEADER_LEN + 4)
                .map(|&k| k == 0 || k == 1)
                .unwrap_or(true);
            flags_ok && kind_ok && h.length >= 21
        }
        parse::OP_REPLY => h.length >= 36,
        _ => true,
    }
}

impl Stream {
    /// True while a message has started but is not complete.
    pub fn in_progress(&self) -> bool {
        self.start_ts.is_some() || self.skip > 0
    }

    /// `len` bytes were lost: resync on the next plausible header.
    pub fn gap(&mut self) {
        self.start_ts = None;
        self.skip = 0;
        self.resync = true;
        self.scanned = 0;
    }

    /// One framing step over `data` (the unconsumed bytes of this direction).
    pub fn step<'a>(&mut self, data: &'a [u8], ts: Ts) -> Step<'a> {
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.skip -= u64::try_from(n).unwrap_or(0);
            if n == 0 {
                return Step::NeedMore {
                    consumed: 0,
                    needed: 1,
                };
            }
            return Step::Advance(n);
        }
        if self.resync {
            return self.scan(data);
        }
        if data.len() < HEADER_LEN {
            if !data.is_empty() && self.start_ts.is_none() {
                self.start_ts = Some(ts);
            }
            return Step::NeedMore {
                consumed: 0,
                needed: HEADER_LEN - data.len(),
            };
        }
        let Some(h) = parse::header(data).filter(parse::plausible) else {
            self.start_ts = None;
            self.resync = true;
            self.scanned = 0;
            return Step::LostSync(0);
        };
        let start = *self.start_ts.get_or_insert(ts);
        let len = usize::try_from(h.length).unwrap_or(usize::MAX);
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
        Step::Message {
            bytes: data.get(..want).unwrap_or_default(),
            header: h,
            cut: len > MAX_WHOLE,
            ts: start,
        }
    }

    /// Look for a plausible header in `data`.
    fn scan<'a>(&mut self, data: &'a [u8]) -> Step<'a> {
        let last = data.len().saturating_sub(HEADER_LEN - 1);
        for i in 0..last {
            if data.get(i..).is_some_and(looks_real) {
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
                needed: HEADER_LEN - data.len(),
            };
        }
        Step::Advance(last)
    }
}
