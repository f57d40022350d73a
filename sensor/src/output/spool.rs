//! A bounded on-disk FIFO of Kafka records: the at-least-once buffer used while the broker is
//! unreachable or the producer queue is full, and across restarts.
//!
//! Layout: a directory of segment files `<id>.spool` (ids sort in FIFO order). A record is
//! `[u32 body length][u32 CRC-32 of body][body]`, body = `[u16 topic length][topic][u32 key length
//! or u32::MAX for none][key][payload]`, all little-endian. Records are appended to the newest
//! segment; the oldest segment is read into memory and replayed record by record, then deleted.
//! A torn or corrupt tail (crash while writing) is counted as dropped and cut off on open.
//! Older records can be put back in front (`prepend`) with a smaller id, e.g. the producer's
//! queue at shutdown.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::kafka_config::{SpoolConfig, WhenFull};

/// Segment size target: small enough to hold the segment being replayed in memory, big enough
/// that the per-file cost is negligible.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Smallest segment, so a tiny `max_bytes` still rotates (and drop_oldest can free space).
const MIN_SEGMENT_BYTES: u64 = 4 << 10;
/// Record header: length + CRC.
const HEADER: usize = 8;
/// A record body larger than this is not a record we wrote (corruption guard); Kafka messages are
/// capped far lower by `message.max.bytes`.
const MAX_RECORD: usize = 256 << 20;
/// Buffered spool writes reach the OS at least this often (bounds what a crash can lose).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Ids start in the middle of the range so `prepend` can go below the first one.
const FIRST_ID: u64 = 1 << 40;
/// Write buffer of the active segment.
const WRITE_BUFFER: usize = 256 << 10;

/// A record read from the spool (borrowed from the segment in memory).
#[derive(Debug, Clone, Copy)]
pub struct Rec<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Payload.
    pub payload: &'a [u8],
}

/// An owned record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRec {
    /// Topic.
    pub topic: String,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Spool counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records written.
    pub spooled: u64,
    /// Records taken out for replay.
    pub replayed: u64,
    /// Records dropped (spool full, corrupt tail, write error).
    pub dropped: u64,
}

struct Segment {
    id: u64,
    bytes: u64,
    records: u64,
}

struct Active {
    seg: Segment,
    w: BufWriter<File>,
}

struct Reader {
    seg: Segment,
    data: Vec<u8>,
    pos: usize,
}

/// The spool.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    when_full: WhenFull,
    closed: VecDeque<Segment>,
    active: Option<Active>,
    reader: Option<Reader>,
    next_id: u64,
    first_id: u64,
    last_sync: Instant,
    /// Counters.
    pub stats: SpoolStats,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.spool"))
}

fn encode(rec: Rec<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let topic_len = u16::try_from(rec.topic.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "topic too long"))?;
    let key_len = match rec.key {
        Some(k) => u32::try_from(k.len())
            .ok()
            .filter(|&l| l != u32::MAX)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "key too long"))?,
        None => u32::MAX,
    };
    let body_len = 2 + rec.topic.len() + 4 + rec.key.map_or(0, <[u8]>::len) + rec.payload.len();
    if body_len > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "record too large",
        ));
    }
    out.clear();
    out.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&topic_len.to_le_bytes());
    out.extend_from_slice(rec.topic.as_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    if let Some(k) = rec.key {
        out.extend_from_slice(k);
    }
    out.extend_from_slice(rec.payload);
    let mut crc = flate2::Crc::new();
    crc.update(out.get(HEADER..).unwrap_or_default());
    if let Some(c) = out.get_mut(4..8) {
        c.copy_from_slice(&crc.sum().to_le_bytes());
    }
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

/// Decode the record at `pos`: (record, next position), or None if torn/corrupt.
fn decode(b: &[u8], pos: usize) -> Option<(Rec<'_>, usize)> {
    let len = usize::try_from(u32_at(b, pos)?).ok()?;
    if len > MAX_RECORD {
        return None;
    }
    let crc_want = u32_at(b, pos + 4)?;
    let body = b.get(pos + HEADER..pos + HEADER + len)?;
    let mut crc = flate2::Crc::new();
    crc.update(body);
    if crc.sum() != crc_want {
        return None;
    }
    let tl = usize::from(u16::from_le_bytes(body.get(0..2)?.try_into().ok()?));
    let topic = std::str::from_utf8(body.get(2..2 + tl)?).ok()?;
    let kl = u32_at(body, 2 + tl)?;
    let mut at = 2 + tl + 4;
    let key = if kl == u32::MAX {
        None
    } else {
        let kl = usize::try_from(kl).ok()?;
        let k = body.get(at..at + kl)?;
        at += kl;
        Some(k)
    };
    let payload = body.get(at..)?;
    Some((
        Rec {
            topic,
            key,
            payload,
        },
        pos + HEADER + len,
    ))
}

/// Count valid records; returns (records, valid length).
fn scan(b: &[u8]) -> (u64, usize) {
    let mut pos = 0;
    let mut n = 0;
    while pos < b.len() {
        match decode(b, pos) {
            Some((_, next)) => {
                pos = next;
                n += 1;
            }
            None => break,
        }
    }
    (n, pos)
}

impl Spool {
    /// Open (or create) the spool directory; existing segments are kept for replay.
    pub fn open(cfg: &SpoolConfig) -> io::Result<Spool> {
        // The directory is created on the first write: an unused spool leaves no trace.
        let mut ids: Vec<u64> = Vec::new();
        let entries = match fs::read_dir(&cfg.path) {
            Ok(rd) => Some(rd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        for e in entries.into_iter().flatten() {
            let e = e?;
            let name = e.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".spool")) else {
                continue;
            };
            if let Ok(id) = stem.parse::<u64>() {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut sp = Spool {
            dir: cfg.path.clone(),
            max_bytes: cfg.max_bytes,
            segment_bytes: (cfg.max_bytes / 4).clamp(MIN_SEGMENT_BYTES, SEGMENT_BYTES),
            when_full: cfg.when_full,
            closed: VecDeque::new(),
            active: None,
            reader: None,
            next_id: ids.last().map_or(FIRST_ID, |l| l.saturating_add(1)),
            first_id: ids.first().copied().unwrap_or(FIRST_ID),
            last_sync: Instant::now(),
            stats: SpoolStats::default(),
        };
        for id in ids {
            let p = seg_path(&sp.dir, id);
            let data = fs::read(&p)?;
            let (records, valid) = scan(&data);
            if valid < data.len() {
                // A torn tail: keep the valid prefix, count the rest as one lost record.
                sp.stats.dropped += 1;
                let f = OpenOptions::new().write(true).open(&p)?;
                f.set_len(valid as u64)?;
            }
            if records == 0 {
                fs::remove_file(&p)?;
                continue;
            }
            sp.closed.push_back(Segment {
                id,
                bytes: valid as u64,
                records,
            });
        }
        Ok(sp)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>()
            + self.active.as_ref().map_or(0, |a| a.seg.bytes)
            + self
                .reader
                .as_ref()
                .map_or(0, |r| (r.data.len().saturating_sub(r.pos)) as u64)
    }

    /// Records held.
    pub fn records(&self) -> u64 {
        self.closed.iter().map(|s| s.records).sum::<u64>()
            + self.active.as_ref().map_or(0, |a| a.seg.records)
            + self.reader.as_ref().map_or(0, |r| r.seg.records)
    }

    /// Nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.closed.is_empty()
            && self.active.as_ref().is_none_or(|a| a.seg.records == 0)
            && self.reader.as_ref().is_none_or(|r| r.seg.records == 0)
    }

    /// Append a record. Ok(false): dropped by the full policy; Err: not written. Both counted.
    pub fn push(&mut self, rec: Rec<'_>, buf: &mut Vec<u8>) -> io::Result<bool> {
        let r = self.push_inner(rec, buf);
        if r.is_err() {
            self.stats.dropped += 1;
        }
        r
    }

    fn push_inner(&mut self, rec: Rec<'_>, buf: &mut Vec<u8>) -> io::Result<bool> {
        encode(rec, buf)?;
        let len = buf.len() as u64;
        while self.bytes() + len > self.max_bytes {
            let freed = match self.when_full {
                WhenFull::DropNewest => false,
                WhenFull::DropOldest => self.drop_oldest()?,
            };
            if !freed {
                self.stats.dropped += 1;
                return Ok(false);
            }
        }
        let rotate = self
            .active
            .as_ref()
            .is_some_and(|a| a.seg.bytes + len > self.segment_bytes && a.seg.records > 0);
        if rotate {
            self.close_active()?;
        }
        if self.active.is_none() {
            let id = self.next_id;
            self.next_id = self.next_id.saturating_add(1);
            fs::create_dir_all(&self.dir)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(seg_path(&self.dir, id))?;
            self.active = Some(Active {
                seg: Segment {
                    id,
                    bytes: 0,
                    records: 0,
                },
                w: BufWriter::with_capacity(WRITE_BUFFER, f),
            });
        }
        if let Some(a) = self.active.as_mut() {
            a.w.write_all(buf)?;
            a.seg.bytes += len;
            a.seg.records += 1;
        }
        self.stats.spooled += 1;
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
        }
        Ok(true)
    }

    fn drop_oldest(&mut self) -> io::Result<bool> {
        if let Some(r) = self.reader.take() {
            self.stats.dropped += r.seg.records;
            remove(&seg_path(&self.dir, r.seg.id))?;
            return Ok(true);
        }
        if let Some(s) = self.closed.pop_front() {
            self.stats.dropped += s.records;
            remove(&seg_path(&self.dir, s.id))?;
            return Ok(true);
        }
        if let Some(a) = self.active.take() {
            self.stats.dropped += a.seg.records;
            drop(a.w);
            remove(&seg_path(&self.dir, a.seg.id))?;
            return Ok(true);
        }
        Ok(false)
    }

    fn close_active(&mut self) -> io::Result<()> {
        if let Some(mut a) = self.active.take() {
            a.w.flush()?;
            if a.seg.records > 0 {
                self.closed.push_back(a.seg);
            } else {
                drop(a.w);
                remove(&seg_path(&self.dir, a.seg.id))?;
            }
        }
        Ok(())
    }

    /// Push buffered writes to the OS.
    pub fn sync(&mut self) -> io::Result<()> {
        self.last_sync = Instant::now();
        if let Some(a) = self.active.as_mut() {
            a.w.flush()?;
        }
        Ok(())
    }

    /// The oldest record, if any.
    pub fn front(&mut self) -> io::Result<Option<Rec<'_>>> {
        loop {
            if let Some(r) = &self.reader {
                if r.pos < r.data.len() && r.seg.records > 0 {
                    break;
                }
                let id = r.seg.id;
                self.reader = None;
                remove(&seg_path(&self.dir, id))?;
            }
            if self.closed.is_empty() {
                self.close_active()?;
            }
            let Some(seg) = self.closed.pop_front() else {
                return Ok(None);
            };
            let data = fs::read(seg_path(&self.dir, seg.id))?;
            self.reader = Some(Reader { seg, data, pos: 0 });
        }
        let valid = self
            .reader
            .as_ref()
            .is_some_and(|r| decode(&r.data, r.pos).is_some());
        if valid {
            return Ok(self
                .reader
                .as_ref()
                .and_then(|r| decode(&r.data, r.pos))
                .map(|(rec, _)| rec));
        }
        match self.reader.as_ref() {
            None => Ok(None),
            Some(r) => {
                // Corrupt after open (disk trouble): drop the rest of the segment, counted.
                let lost = r.seg.records;
                self.stats.dropped += lost;
                if let Some(r) = self.reader.as_mut() {
                    r.pos = r.data.len();
                    r.seg.records = 0;
                }
                Ok(None)
            }
        }
    }

    /// Remove the record returned by `front`.
    pub fn pop(&mut self) {
        if let Some(r) = self.reader.as_mut() {
            if let Some((_, next)) = decode(&r.data, r.pos) {
                r.pos = next;
                r.seg.records = r.seg.records.saturating_sub(1);
                self.stats.replayed += 1;
            }
        }
    }

    /// Put records back in front of everything spooled (they are older). Returns how many were
    /// written; the rest (spool full) are counted as dropped.
    pub fn prepend(&mut self, recs: &[OwnedRec]) -> io::Result<u64> {
        if recs.is_empty() {
            return Ok(0);
        }
        self.persist_reader()?;
        let id = self.first_id.saturating_sub(1);
        self.first_id = id;
        let p = seg_path(&self.dir, id);
        fs::create_dir_all(&self.dir)?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, File::create(&p)?);
        let mut buf = Vec::new();
        let mut seg = Segment {
            id,
            bytes: 0,
            records: 0,
        };
        let budget = self.max_bytes.saturating_sub(self.bytes());
        for r in recs {
            let rec = Rec {
                topic: &r.topic,
                key: r.key.as_deref(),
                payload: &r.payload,
            };
            if encode(rec, &mut buf).is_err() || seg.bytes + buf.len() as u64 > budget {
                self.stats.dropped += 1;
                continue;
            }
            w.write_all(&buf)?;
            seg.bytes += buf.len() as u64;
            seg.records += 1;
        }
        w.flush()?;
        drop(w);
        let n = seg.records;
        self.stats.spooled += n;
        if n == 0 {
            remove(&p)?;
        } else {
            self.closed.push_front(seg);
        }
        Ok(n)
    }

    /// Write the unread rest of the segment being replayed back to its file (so a restart or a
    /// `prepend` sees exactly what is left), and return it to the closed list.
    fn persist_reader(&mut self) -> io::Result<()> {
        let Some(r) = self.reader.take() else {
            return Ok(());
        };
        let p = seg_path(&self.dir, r.seg.id);
        let rest = r.data.get(r.pos..).unwrap_or_default();
        if rest.is_empty() || r.seg.records == 0 {
            return remove(&p);
        }
        let tmp = self.dir.join(format!("{:020}.tmp", r.seg.id));
        fs::write(&tmp, rest)?;
        fs::rename(&tmp, &p)?;
        self.closed.push_front(Segment {
            id: r.seg.id,
            bytes: rest.len() as u64,
            records: r.seg.records,
        });
        Ok(())
    }

    /// Make the on-disk state exact (shutdown).
    pub fn close(&mut self) -> io::Result<()> {
        self.persist_reader()?;
        self.close_active()
    }
}

fn remove(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn cfg(dir: &Path, max: u64, when_full: WhenFull) -> SpoolConfig {
        SpoolConfig {
            enabled: true,
            path: dir.to_path_buf(),
            max_bytes: max,
            when_full,
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn rec(i: u32) -> OwnedRec {
        OwnedRec {
            topic: format!("t{}", i % 3),
            key: i.is_multiple_of(2).then(|| i.to_le_bytes().to_vec()),
            payload: format!("{{\"n\":{i}}}").into_bytes(),
        }
    }

    fn drain(sp: &mut Spool) -> Vec<OwnedRec> {
        let mut out = Vec::new();
        while let Some(r) = sp.front().unwrap() {
            out.push(OwnedRec {
                topic: r.topic.into(),
                key: r.key.map(<[u8]>::to_vec),
                payload: r.payload.to_vec(),
            });
            sp.pop();
        }
        out
    }

    fn push(sp: &mut Spool, r: &OwnedRec) -> bool {
        let mut buf = Vec::new();
        sp.push(
            Rec {
                topic: &r.topic,
                key: r.key.as_deref(),
                payload: &r.payload,
            },
            &mut buf,
        )
        .unwrap()
    }

    #[test]
    fn fifo_across_reopen_and_prepend() {
        let d = tmpdir("fifo");
        let c = cfg(&d, 1 << 20, WhenFull::DropNewest);
        let mut sp = Spool::open(&c).unwrap();
        for i in 0..1000 {
            assert!(push(&mut sp, &rec(i)));
        }
        // Take a few, then shut down mid-segment.
        let first: Vec<_> = (0..10)
            .map(|_| {
                let r = sp.front().unwrap().unwrap();
                let o = OwnedRec {
                    topic: r.topic.into(),
                    key: r.key.map(<[u8]>::to_vec),
                    payload: r.payload.to_vec(),
                };
                sp.pop();
                o
            })
            .collect();
        assert_eq!(first, (0..10).map(rec).collect::<Vec<_>>());
        // The first 5 were "in flight" and come back.
        sp.prepend(&first[..5]).unwrap();
        sp.close().unwrap();
        drop(sp);
        let mut sp = Spool::open(&c).unwrap();
        assert_eq!(sp.records(), 995);
        let got = drain(&mut sp);
        let want: Vec<_> = (0..5).chain(10..1000).map(rec).collect();
        assert_eq!(got, want);
        assert!(sp.is_empty());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn full_policies_and_torn_tail() {
        let d = tmpdir("full");
        let c = cfg(&d, 20_000, WhenFull::DropNewest);
        let mut sp = Spool::open(&c).unwrap();
        let mut kept = 0;
        for i in 0..2000 {
            kept += u64::from(push(&mut sp, &rec(i)));
        }
        assert!(sp.bytes() <= 20_000);
        assert_eq!(sp.stats.dropped, 2000 - kept);
        let got = drain(&mut sp);
        assert_eq!(got, (0..kept as u32).map(rec).collect::<Vec<_>>());
        drop(sp);

        let c = cfg(&d, 20_000, WhenFull::DropOldest);
        let mut sp = Spool::open(&c).unwrap();
        for i in 0..2000 {
            assert!(push(&mut sp, &rec(i)));
        }
        assert!(sp.bytes() <= 20_000);
        let n = sp.records();
        assert_eq!(sp.stats.dropped + n, 2000);
        sp.close().unwrap();
        drop(sp);
        // Tear the newest segment's tail.
        let mut segs: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        segs.sort();
        let last = segs.last().unwrap();
        let len = fs::metadata(last).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(last)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut sp = Spool::open(&c).unwrap();
        assert_eq!(sp.stats.dropped, 1);
        let got = drain(&mut sp);
        assert_eq!(got.len() as u64, n - 1);
        assert_eq!(got.last().unwrap(), &rec(1998));
        let _ = fs::remove_dir_all(&d);
    }
}
