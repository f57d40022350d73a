//! Pure, borrowing, panic-free DNS wire-format parsing (RFC 1035, RFC 6891 EDNS).
//!
//! Nothing here allocates except [`read_name`], which appends to a caller-owned `String`.
//! Records are validated once by [`parse_message`] and re-walked on demand with
//! [`Message::records`], so a message that is only correlated (never published) costs no
//! allocation at all.

use super::names::escape_label;

/// Size of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire; longer chains are malformed.
pub const MAX_NAME_WIRE: usize = 255;
/// Compression pointers followed per name (miekg/dns' bound for a 255-octet name), so a
/// pointer loop ends after a bounded number of jumps.
pub const MAX_POINTERS: usize = 126;

/// RR type of the EDNS pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// RR type SOA.
pub const TYPE_SOA: u16 = 6;
/// Query type of a full zone transfer.
pub const TYPE_AXFR: u16 = 252;
/// Query type of an incremental zone transfer.
pub const TYPE_IXFR: u16 = 251;

/// Why bytes are not a DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The data ends inside a field.
    Short,
    /// A label length byte with the reserved 0x40/0x80 prefix.
    LabelType,
    /// Too many compression pointers (a loop).
    PointerLoop,
    /// A name longer than 255 octets.
    NameTooLong,
    /// Not more than a bare header (Packetbeat drops those as non-DNS).
    TooSmall,
}

/// The fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message id.
    pub id: u16,
    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// QDCOUNT.
    pub qd: u16,
    /// ANCOUNT.
    pub an: u16,
    /// NSCOUNT.
    pub ns: u16,
    /// ARCOUNT.
    pub ar: u16,
}

impl Header {
    /// The header at the start of `msg`.
    pub fn parse(msg: &[u8]) -> Result<Header, Error> {
        Ok(Header {
            id: u16_at(msg, 0)?,
            flags: u16_at(msg, 2)?,
            qd: u16_at(msg, 4)?,
            an: u16_at(msg, 6)?,
            ns: u16_at(msg, 8)?,
            ar: u16_at(msg, 10)?,
        })
    }

    /// QR: true for a response.
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// Opcode (4 bits).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    /// Authoritative answer.
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    /// Truncated.
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    /// Recursion desired.
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    /// Recursion available.
    pub fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    /// Authentic data (RFC 4035).
    pub fn ad(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    /// Checking disabled (RFC 4035).
    pub fn cd(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    /// The 4-bit header rcode.
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }
}

/// Big-endian u16 at `pos`.
pub fn u16_at(b: &[u8], pos: usize) -> Result<u16, Error> {
    match b.get(pos..pos.saturating_add(2)) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(Error::Short),
    }
}

/// Big-endian u32 at `pos`.
pub fn u32_at(b: &[u8], pos: usize) -> Result<u32, Error> {
    match b.get(pos..pos.saturating_add(4)) {
        Some(&[a, c, d, e]) => Ok(u32::from_be_bytes([a, c, d, e])),
        _ => Err(Error::Short),
    }
}

/// Walk the (possibly compressed) name at `pos` of `msg`, handing each label to `f`. Returns
/// the offset just after the name as written at `pos` (after the first pointer, if any).
pub fn walk_name<'a>(
    msg: &'a [u8],
    pos: usize,
    mut f: impl FnMut(&'a [u8]),
) -> Result<usize, Error> {
    let mut cur = pos;
    let mut end: Option<usize> = None;
    let mut jumps = 0usize;
    let mut wire = 0usize;
    loop {
        let len = *msg.get(cur).ok_or(Error::Short)?;
        match len & 0xC0 {
            0x00 => {
                wire += 1 + usize::from(len);
                if wire > MAX_NAME_WIRE {
                    return Err(Error::NameTooLong);
                }
                if len == 0 {
                    return Ok(end.unwrap_or(cur + 1));
                }
                let start = cur + 1;
                let stop = start + usize::from(len);
                let label = msg.get(start..stop).ok_or(Error::Short)?;
                f(label);
                cur = stop;
            }
            0xC0 => {
                let lo = *msg.get(cur + 1).ok_or(Error::Short)?;
                if end.is_none() {
                    end = Some(cur + 2);
                }
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(Error::PointerLoop);
                }
                cur = (usize::from(len & 0x3F) << 8) | usize::from(lo);
            }
            _ => return Err(Error::LabelType),
        }
    }
}

/// Skip the name at `pos`; the offset after it.
pub fn skip_name(msg: &[u8], pos: usize) -> Result<usize, Error> {
    walk_name(msg, pos, |_| {})
}

/// Append the name at `pos` in presentation form (miekg/dns escaping, no trailing dot; the
/// root is `.`) to `out`. Returns the offset after the name. On error `out` is restored.
pub fn read_name(msg: &[u8], pos: usize, out: &mut String) -> Result<usize, Error> {
    let start = out.len();
    let r = walk_name(msg, pos, |label| {
        if out.len() > start {
            out.push('.');
        }
        escape_label(label, out);
    });
    match r {
        Ok(next) => {
            if out.len() == start {
                out.push('.');
            }
            Ok(next)
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// The name at `pos` as a new string (see [`read_name`]).
pub fn name_string(msg: &[u8], pos: usize) -> Result<String, Error> {
    let mut s = String::new();
    read_name(msg, pos, &mut s)?;
    Ok(s)
}

/// A question entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// Offset of the name in the message.
    pub name_pos: usize,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// Parse the question at `pos`; returns it and the offset after it.
pub fn parse_question(msg: &[u8], pos: usize) -> Result<(Question, usize), Error> {
    let after = skip_name(msg, pos)?;
    let q = Question {
        name_pos: pos,
        qtype: u16_at(msg, after)?,
        qclass: u16_at(msg, after + 2)?,
    };
    Ok((q, after + 4))
}

/// Message section of a resource record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
    /// Additional section.
    Additional,
}

/// A resource record, borrowing its RDATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rr<'a> {
    /// Offset of the owner name.
    pub name_pos: usize,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (OPT: the UDP payload size).
    pub class: u16,
    /// TTL (OPT: extended rcode, version, flags).
    pub ttl: u32,
    /// Offset of the RDATA in the message (names inside it may point anywhere before).
    pub rdata_pos: usize,
    /// The RDATA.
    pub rdata: &'a [u8],
}

/// Parse the record at `pos`; returns it and the offset after it.
pub fn parse_rr(msg: &[u8], pos: usize) -> Result<(Rr<'_>, usize), Error> {
    let after = skip_name(msg, pos)?;
    let rtype = u16_at(msg, after)?;
    let class = u16_at(msg, after + 2)?;
    let ttl = u32_at(msg, after + 4)?;
    let rdlen = usize::from(u16_at(msg, after + 8)?);
    let rdata_pos = after + 10;
    let rdata = msg.get(rdata_pos..rdata_pos + rdlen).ok_or(Error::Short)?;
    Ok((
        Rr {
            name_pos: pos,
            rtype,
            class,
            ttl,
            rdata_pos,
            rdata,
        },
        rdata_pos + rdlen,
    ))
}

/// The EDNS OPT pseudo-record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opt<'a> {
    /// Requestor's UDP payload size.
    pub udp_size: u16,
    /// Upper 8 bits of the extended rcode.
    pub ext_rcode: u8,
    /// EDNS version.
    pub version: u8,
    /// DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The options (code, length, data)*.
    pub options: &'a [u8],
}

impl<'a> Opt<'a> {
    /// From the OPT record.
    pub fn from_rr(rr: &Rr<'a>) -> Opt<'a> {
        Opt {
            udp_size: rr.class,
            ext_rcode: (rr.ttl >> 24) as u8,
            version: ((rr.ttl >> 16) & 0xFF) as u8,
            dnssec_ok: rr.ttl & 0x8000 != 0,
            options: rr.rdata,
        }
    }

    /// Iterate the (code, data) options; stops at the first malformed one.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut rest = self.options;
        std::iter::from_fn(move || {
            let code = u16_at(rest, 0).ok()?;
            let len = usize::from(u16_at(rest, 2).ok()?);
            let data = rest.get(4..4 + len)?;
            rest = rest.get(4 + len..).unwrap_or_default();
            Some((code, data))
        })
    }
}

/// A validated message view.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The whole message (names are resolved against it).
    pub buf: &'a [u8],
    /// The header.
    pub header: Header,
    /// The first question, if any.
    pub question: Option<Question>,
    /// Offset of the first answer record.
    records_pos: usize,
    /// Records that parsed, per section (answer, authority, additional).
    parsed: [u16; 3],
    /// False when the counts promised more records than the data holds (or one was
    /// malformed): the message was kept with the records before that point.
    pub complete: bool,
    /// The EDNS OPT record, if present in the additional section.
    pub opt: Option<Opt<'a>>,
}

/// Parse and validate a DNS message. The header and every question must be well-formed;
/// records that do not parse end the message early (`complete = false`).
pub fn parse_message(buf: &[u8]) -> Result<Message<'_>, Error> {
    if buf.len() <= HEADER_LEN {
        return Err(Error::TooSmall);
    }
    let header = Header::parse(buf)?;
    let mut pos = HEADER_LEN;
    let mut question = None;
    for _ in 0..header.qd {
        let (q, next) = parse_question(buf, pos)?;
        if question.is_none() {
            question = Some(q);
        }
        pos = next;
    }
    let records_pos = pos;
    let mut parsed = [0u16; 3];
    let mut complete = true;
    let mut opt = None;
    let counts = [header.an, header.ns, header.ar];
    'sections: for (idx, (count, done)) in counts.iter().zip(parsed.iter_mut()).enumerate() {
        for _ in 0..*count {
            match parse_rr(buf, pos) {
                Ok((rr, next)) => {
                    if idx == 2 && rr.rtype == TYPE_OPT && opt.is_none() {
                        opt = Some(Opt::from_rr(&rr));
                    }
                    *done += 1;
                    pos = next;
                }
                Err(_) => {
                    complete = false;
                    break 'sections;
                }
            }
        }
    }
    Ok(Message {
        buf,
        header,
        question,
        records_pos,
        parsed,
        complete,
        opt,
    })
}

impl<'a> Message<'a> {
    /// The rcode including the EDNS extended bits (as miekg/dns reports it).
    pub fn rcode(&self) -> u16 {
        let ext = self.opt.map_or(0, |o| u16::from(o.ext_rcode));
        (ext << 4) | u16::from(self.header.rcode())
    }

    /// Every record that parsed, in wire order, with its section.
    pub fn records(&self) -> impl Iterator<Item = (Section, Rr<'a>)> + 'a {
        let buf = self.buf;
        let [an, ns, ar] = self.parsed;
        let mut pos = self.records_pos;
        let mut left = [an, ns, ar];
        std::iter::from_fn(move || {
            let (section, slot) = match &mut left {
                [a, _, _] if *a > 0 => (Section::Answer, a),
                [_, n, _] if *n > 0 => (Section::Authority, n),
                [_, _, x] if *x > 0 => (Section::Additional, x),
                _ => return None,
            };
            *slot -= 1;
            let (rr, next) = parse_rr(buf, pos).ok()?;
            pos = next;
            Some((section, rr))
        })
    }

    /// Records of one section.
    pub fn section(&self, s: Section) -> impl Iterator<Item = Rr<'a>> + 'a {
        self.records()
            .filter(move |(sec, _)| *sec == s)
            .map(|(_, rr)| rr)
    }
}

/// SOA serial of an SOA record's RDATA (after MNAME and RNAME).
pub fn soa_serial(msg: &[u8], rr: &Rr<'_>) -> Option<u32> {
    let p = skip_name(msg, rr.rdata_pos).ok()?;
    let p = skip_name(msg, p).ok()?;
    u32_at(msg, p).ok()
}
