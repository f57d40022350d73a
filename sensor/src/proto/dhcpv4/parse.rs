//! Borrowing DHCPv4 / BOOTP wire parser (RFC 2131 §2, RFC 2132, RFC 3396 concatenation,
//! option 52 overload of the `file` and `sname` fields).

use std::borrow::Cow;
use std::net::Ipv4Addr;

/// Fixed BOOTP header up to and excluding the magic cookie (RFC 2131 §2, figure 1).
pub const HEADER_LEN: usize = 236;
/// The DHCP magic cookie that follows the BOOTP header (RFC 2131 §3).
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Option code: padding (RFC 2132 §3.1).
pub const OPT_PAD: u8 = 0;
/// Option code: end of options (RFC 2132 §3.2).
pub const OPT_END: u8 = 255;
/// Option code: option overload (RFC 2132 §9.3).
pub const OPT_OVERLOAD: u8 = 52;
/// Options kept per message: each needs at least two bytes, so a maximal UDP payload holds
/// fewer than 33 000; this bounds the work on a hostile datagram of padding-free options.
pub const MAX_OPTIONS: usize = 1024;

/// Offsets in the fixed header.
const SNAME_AT: usize = 44;
/// Length of `sname`.
const SNAME_LEN: usize = 64;
/// Offset of `file`.
const FILE_AT: usize = 108;
/// Length of `file`.
const FILE_LEN: usize = 128;

/// Why a datagram is not a DHCP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the fixed header plus cookie.
    Short,
    /// The magic cookie is missing (plain BOOTP or not DHCP at all).
    NoCookie,
}

/// Non-fatal oddities of the options area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Oddities {
    /// An option's length runs past the end of its area.
    pub truncated: bool,
    /// The options field has no End option.
    pub no_end: bool,
    /// More than [`MAX_OPTIONS`] options.
    pub too_many: bool,
}

/// A parsed DHCP message borrowing the datagram.
#[derive(Debug)]
pub struct Message<'a> {
    /// `op`: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub op: u8,
    /// `htype`.
    pub htype: u8,
    /// `hlen` (capped at 16 when used).
    pub hlen: u8,
    /// `hops`.
    pub hops: u8,
    /// `xid`.
    pub xid: u32,
    /// `secs`.
    pub secs: u16,
    /// `flags`.
    pub flags: u16,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `siaddr`.
    pub siaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// `chaddr` (16 bytes).
    pub chaddr: &'a [u8],
    /// `sname` (64 bytes).
    pub sname: &'a [u8],
    /// `file` (128 bytes).
    pub file: &'a [u8],
    /// Options in wire order: options field, then `file`, then `sname` when overloaded.
    pub options: Vec<(u8, &'a [u8])>,
    /// Option 52 value (1 file, 2 sname, 3 both), 0 when absent.
    pub overload: u8,
    /// Non-fatal problems seen.
    pub odd: Oddities,
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, c, d, e]) => u32::from_be_bytes([a, c, d, e]),
        _ => 0,
    }
}

fn ip(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(be32(b, at))
}

/// Parse one options area; returns whether an End option was seen.
fn parse_area<'a>(area: &'a [u8], out: &mut Vec<(u8, &'a [u8])>, odd: &mut Oddities) -> bool {
    let mut rest = area;
    while let Some((&code, tail)) = rest.split_first() {
        rest = tail;
        match code {
            OPT_PAD => continue,
            OPT_END => return true,
            _ => {}
        }
        let Some((&len, tail)) = rest.split_first() else {
            odd.truncated = true;
            return false;
        };
        let Some((data, tail)) = tail.split_at_checked(usize::from(len)) else {
            odd.truncated = true;
            return false;
        };
        rest = tail;
        if out.len() >= MAX_OPTIONS {
            odd.too_many = true;
            return false;
        }
        out.push((code, data));
    }
    false
}

impl<'a> Message<'a> {
    /// Parse a UDP payload.
    pub fn parse(b: &'a [u8]) -> Result<Message<'a>, Error> {
        let (head, rest) = b.split_at_checked(HEADER_LEN).ok_or(Error::Short)?;
        let (cookie, opts) = rest.split_at_checked(MAGIC.len()).ok_or(Error::Short)?;
        if cookie != MAGIC {
            return Err(Error::NoCookie);
        }
        let byte = |at: usize| head.get(at).copied().unwrap_or(0);
        let sname = head.get(SNAME_AT..SNAME_AT + SNAME_LEN).unwrap_or(&[]);
        let file = head.get(FILE_AT..FILE_AT + FILE_LEN).unwrap_or(&[]);
        let mut m = Message {
            op: byte(0),
            htype: byte(1),
            hlen: byte(2),
            hops: byte(3),
            xid: be32(head, 4),
            secs: be16(head, 8),
            flags: be16(head, 10),
            ciaddr: ip(head, 12),
            yiaddr: ip(head, 16),
            siaddr: ip(head, 20),
            giaddr: ip(head, 24),
            chaddr: head.get(28..44).unwrap_or(&[]),
            sname,
            file,
            options: Vec::new(),
            overload: 0,
            odd: Oddities::default(),
        };
        let mut options = Vec::new();
        let mut odd = Oddities::default();
        if !parse_area(opts, &mut options, &mut odd) && !odd.truncated && !odd.too_many {
            odd.no_end = true;
        }
        let overload = options
            .iter()
            .find(|(c, _)| *c == OPT_OVERLOAD)
            .and_then(|(_, d)| d.first().copied())
            .unwrap_or(0);
        // RFC 3396 §7: the options field first, then `file`, then `sname`.
        if overload & 1 != 0 {
            parse_area(file, &mut options, &mut odd);
        }
        if overload & 2 != 0 {
            parse_area(sname, &mut options, &mut odd);
        }
        m.options = options;
        m.overload = overload;
        m.odd = odd;
        Ok(m)
    }

    /// The value of option `code`, the parts of a split option concatenated (RFC 3396).
    pub fn get(&self, code: u8) -> Option<Cow<'a, [u8]>> {
        let mut it = self.options.iter().filter(|(c, _)| *c == code);
        let (_, first) = it.next()?;
        let mut out: Cow<'a, [u8]> = Cow::Borrowed(first);
        for (_, more) in it {
            out.to_mut().extend_from_slice(more);
        }
        Some(out)
    }

    /// The client hardware address (`hlen` bytes of `chaddr`, at most 16).
    pub fn hwaddr(&self) -> &'a [u8] {
        let n = usize::from(self.hlen).min(self.chaddr.len());
        self.chaddr.get(..n).unwrap_or(&[])
    }

    /// `sname` as text, unless overloaded with options.
    pub fn server_name(&self) -> Option<Cow<'a, str>> {
        if self.overload & 2 != 0 {
            return None;
        }
        c_string(self.sname)
    }

    /// `file` as text, unless overloaded with options.
    pub fn boot_file(&self) -> Option<Cow<'a, str>> {
        if self.overload & 1 != 0 {
            return None;
        }
        c_string(self.file)
    }
}

/// A NUL-terminated field as text; `None` when empty.
fn c_string(b: &[u8]) -> Option<Cow<'_, str>> {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = b.get(..n)?;
    if s.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(s))
}

/// IPv4 addresses of a list option (`None` when the length is not a multiple of 4).
pub fn ips(b: &[u8]) -> Option<Vec<Ipv4Addr>> {
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| Ipv4Addr::from(be32(c, 0)))
            .collect(),
    )
}

/// One IPv4 address option.
pub fn one_ip(b: &[u8]) -> Option<Ipv4Addr> {
    (b.len() == 4).then(|| Ipv4Addr::from(be32(b, 0)))
}

/// A 32-bit option.
pub fn u32_opt(b: &[u8]) -> Option<u32> {
    (b.len() == 4).then(|| be32(b, 0))
}

/// A 16-bit option.
pub fn u16_opt(b: &[u8]) -> Option<u16> {
    (b.len() == 2).then(|| be16(b, 0))
}

/// Sub-options of a TLV-encoded option (relay agent information, RFC 3046): (code, data).
pub fn sub_options(b: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = b;
    std::iter::from_fn(move || {
        let (&code, tail) = rest.split_first()?;
        let (&len, tail) = tail.split_first()?;
        let (data, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        Some((code, data))
    })
}

/// Entries of the Vendor-Identifying Vendor Class option (RFC 3925 §3): (enterprise, data).
/// `None` when malformed.
pub fn vivc(b: &[u8]) -> Option<Vec<(u32, &[u8])>> {
    let mut out = Vec::new();
    let mut rest = b;
    while !rest.is_empty() {
        let (ent, tail) = rest.split_at_checked(4)?;
        let (&len, tail) = tail.split_first()?;
        let (data, tail) = tail.split_at_checked(usize::from(len))?;
        out.push((be32(ent, 0), data));
        rest = tail;
    }
    Some(out)
}
