//! RPC record marking over TCP (RFC 5531 §11): 4-byte marks (last-fragment bit + length),
//! fragments joined into one message. The start of a message (up to [`MAX_HEAD`] bytes) is
//! kept for parsing; the rest (WRITE data, READ results) is only counted, so a large
//! message never buffers more than that.

use crate::time::Ts;

/// Message bytes kept for parsing: RPC headers, credentials and the NFS arguments or the
/// start of the results fit easily; WRITE/READ payloads beyond are only counted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest fragment accepted: NFS clients use at most a few MiB (rsize/wsize ≤ 1 MiB plus
/// headers); a larger length means the stream is not (or no longer) aligned on a record mark.
pub const MAX_FRAGMENT: usize = 16 << 20;
/// Size of a record mark.
pub const MARK: usize = 4;
/// Bytes needed to recognise the start of a message when resynchronising.
const PROBE: usize = 20;

/// A complete message handed to the dissector.
pub struct Done<'a> {
    /// Its first bytes (without record marks), at most [`MAX_HEAD`].
    pub head: &'a [u8],
    /// Wire bytes including every record mark.
    pub total: u64,
    /// Time of its first byte.
    pub ts: Ts,
}

/// Where the framer is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Expecting a record mark.
    Mark,
    /// Inside a fragment: bytes left, and whether it is the last one.
    Frag { left: usize, last: bool },
    /// After a gap or garbage: looking for a message start.
    Lost,
}

/// One direction's framer.
#[derive(Debug)]
pub struct Framer {
    st: St,
    head: Vec<u8>,
    total: u64,
    first_ts: Option<Ts>,
}

/// Result of feeding bytes.
pub struct Fed {
    /// Bytes consumed; the rest (a partial record mark) must be handed back.
    pub consumed: usize,
    /// Malformed marks or garbage were seen.
    pub anomaly: bool,
}

fn be32(b: &[u8]) -> Option<u32> {
    match b.get(..4)? {
        &[a, c, d, e] => Some(u32::from_be_bytes([a, c, d, e])),
        _ => None,
    }
}

/// Length and last-fragment flag of a mark.
fn mark(b: &[u8]) -> Option<(usize, bool)> {
    let m = be32(b)?;
    Some(((m & 0x7fff_ffff) as usize, m & 0x8000_0000 != 0))
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            st: St::Mark,
            head: Vec::new(),
            total: 0,
            first_ts: None,
        }
    }
}

impl Framer {
    /// Forget the message in progress and look for the next message start.
    pub fn lose(&mut self) {
        self.st = St::Lost;
        self.head.clear();
        self.total = 0;
        self.first_ts = None;
    }

    /// Feed in-order bytes; `looks_like_start` tells whether a record mark + message start
    /// is plausible (used after a gap); `done` gets every complete message.
    pub fn feed(
        &mut self,
        data: &[u8],
        ts: Ts,
        looks_like_start: impl Fn(&[u8]) -> bool,
        mut done: impl FnMut(Done<'_>),
    ) -> Fed {
        let mut off = 0;
        let mut anomaly = false;
        while off < data.len() {
            let rest = data.get(off..).unwrap_or(&[]);
            match self.st {
                St::Lost => {
                    let found = (0..rest.len().saturating_sub(PROBE - 1))
                        .find(|&p| rest.get(p..).is_some_and(&looks_like_start));
                    match found {
                        Some(p) => {
                            off += p;
                            self.st = St::Mark;
                        }
                        None => {
                            let keep = rest.len().min(PROBE - 1);
                            return Fed {
                                consumed: data.len() - keep,
                                anomaly,
                            };
                        }
                    }
                }
                St::Mark => {
                    let Some((len, last)) = mark(rest) else {
                        return Fed {
                            consumed: off,
                            anomaly,
                        };
                    };
                    if len > MAX_FRAGMENT {
                        anomaly = true;
                        self.lose();
                        off += 1;
                        continue;
                    }
                    if self.first_ts.is_none() {
                        self.first_ts = Some(ts);
                    }
                    self.total += MARK as u64;
                    off += MARK;
                    self.st = St::Frag { left: len, last };
                    if len == 0 && last {
                        self.finish(&mut done);
                    }
                }
                St::Frag { left, last } => {
                    let n = left.min(rest.len());
                    let room = MAX_HEAD.saturating_sub(self.head.len()).min(n);
                    self.head.extend_from_slice(rest.get(..room).unwrap_or(&[]));
                    self.total += n as u64;
                    off += n;
                    let left = left - n;
                    self.st = St::Frag { left, last };
                    if left == 0 {
                        if last {
                            self.finish(&mut done);
                        } else {
                            self.st = St::Mark;
                        }
                    }
                }
            }
        }
        Fed {
            consumed: off,
            anomaly,
        }
    }

    fn finish(&mut self, done: &mut impl FnMut(Done<'_>)) {
        let head = std::mem::take(&mut self.head);
        done(Done {
            head: &head,
            total: self.total,
            ts: self.first_ts.unwrap_or_default(),
        });
        self.head = head;
        self.head.clear();
        self.total = 0;
        self.first_ts = None;
        self.st = St::Mark;
    }
}
