//! Pure borrowing parsers of the TLS wire format (RFC 5246, RFC 8446): record headers,
//! handshake headers, ClientHello / ServerHello with their extension lists, Certificate lists
//! and alerts. Nothing here allocates; malformed input is `None`.

/// Size of a record header: type, version, length.
pub const RECORD_HEADER: usize = 5;

/// Size of a handshake message header: type and 24-bit length.
pub const HANDSHAKE_HEADER: usize = 4;

/// Largest record body accepted: 2^14 plaintext plus the 2048 bytes of expansion RFC 5246
/// §6.2.3 allows for ciphertext; anything longer is not TLS.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// Record content types.
pub mod content {
    /// ChangeCipherSpec.
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// Alert.
    pub const ALERT: u8 = 21;
    /// Handshake.
    pub const HANDSHAKE: u8 = 22;
    /// ApplicationData (also every encrypted TLS 1.3 record).
    pub const APPLICATION_DATA: u8 = 23;
    /// Heartbeat (RFC 6520).
    pub const HEARTBEAT: u8 = 24;
}

/// Handshake message types used by the state machine.
pub mod hs {
    /// ClientHello.
    pub const CLIENT_HELLO: u8 = 1;
    /// ServerHello (also HelloRetryRequest in TLS 1.3).
    pub const SERVER_HELLO: u8 = 2;
    /// Certificate.
    pub const CERTIFICATE: u8 = 11;
    /// ServerKeyExchange.
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// CertificateRequest.
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// ServerHelloDone.
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// ClientKeyExchange.
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// CertificateStatus (OCSP stapling, RFC 6066).
    pub const CERTIFICATE_STATUS: u8 = 22;
}

/// Extension code points used by the fingerprints and the state machine.
pub mod ext {
    /// server_name.
    pub const SERVER_NAME: u16 = 0;
    /// supported_groups.
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// ec_point_formats.
    pub const EC_POINT_FORMATS: u16 = 11;
    /// signature_algorithms.
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// application_layer_protocol_negotiation.
    pub const ALPN: u16 = 16;
    /// session_ticket.
    pub const SESSION_TICKET: u16 = 35;
    /// pre_shared_key.
    pub const PRE_SHARED_KEY: u16 = 41;
    /// supported_versions.
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

/// `ServerHello.random` of a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Content type.
    pub ctype: u8,
    /// Record-layer version.
    pub version: u16,
    /// Body length.
    pub len: usize,
}

/// Result of [`record_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A plausible header.
    Ok(RecordHeader),
    /// Fewer than [`RECORD_HEADER`] bytes.
    Incomplete,
    /// Not a TLS record.
    Invalid,
}

/// Reads the record header at the start of `data`.
pub fn record_header(data: &[u8]) -> Header {
    let Some(&[ctype, major, minor, l0, l1]) = data.first_chunk::<RECORD_HEADER>() else {
        return Header::Incomplete;
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let type_ok = (content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&ctype);
    // SSL 3.0 .. TLS 1.3 all use major 3 in the record layer (1.3 freezes it at 3.1/3.3).
    if !type_ok || major != 3 || minor > 4 || len > MAX_RECORD_LEN {
        return Header::Invalid;
    }
    Header::Ok(RecordHeader {
        ctype,
        version: u16::from_be_bytes([major, minor]),
        len,
    })
}

/// A cursor over a byte slice; every read is checked.
#[derive(Clone, Copy, Debug)]
pub struct Rd<'a> {
    b: &'a [u8],
}

impl<'a> Rd<'a> {
    /// A reader over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Rd { b }
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.b.split_at_checked(n)?;
        self.b = tail;
        Some(head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        let (&v, tail) = self.b.split_first()?;
        self.b = tail;
        Some(v)
    }

    /// Big-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    /// Big-endian 24-bit length.
    pub fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some(
            (usize::from(*b.first()?) << 16)
                | (usize::from(*b.get(1)?) << 8)
                | usize::from(*b.get(2)?),
        )
    }

    /// A vector with a one-byte length prefix.
    pub fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length prefix.
    pub fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// A vector with a three-byte length prefix.
    pub fn vec24(&mut self) -> Option<&'a [u8]> {
        let n = self.u24()?;
        self.take(n)
    }
}

/// Big-endian u16 values of a byte slice (a trailing odd byte is ignored).
pub fn u16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).filter_map(|c| match c {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    })
}

/// GREASE values (RFC 8701): `0x?a?a` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// A handshake message header at the start of `data`: (type, body length).
pub fn handshake_header(data: &[u8]) -> Option<(u8, usize)> {
    let mut r = Rd::new(data);
    Some((r.u8()?, r.u24()?))
}

/// A parsed ClientHello (borrowing the message body).
#[derive(Clone, Copy, Debug)]
pub struct ClientHello<'a> {
    /// legacy_version.
    pub version: u16,
    /// 32 random bytes.
    pub random: &'a [u8],
    /// legacy_session_id.
    pub session_id: &'a [u8],
    /// Cipher suites, two bytes each (GREASE included).
    pub ciphers: &'a [u8],
    /// Compression methods.
    pub compression: &'a [u8],
    /// The extension block (validated: iterate with [`extensions`]).
    pub extensions: &'a [u8],
}

/// A parsed ServerHello (borrowing the message body).
#[derive(Clone, Copy, Debug)]
pub struct ServerHello<'a> {
    /// legacy_version.
    pub version: u16,
    /// 32 random bytes.
    pub random: &'a [u8],
    /// legacy_session_id_echo.
    pub session_id: &'a [u8],
    /// Selected cipher suite.
    pub cipher: u16,
    /// Selected compression method.
    pub compression: u8,
    /// The extension block (validated).
    pub extensions: &'a [u8],
}

/// Longest session id (RFC 5246 §7.4.1.2).
const MAX_SESSION_ID: usize = 32;

/// Size of the hello random.
const RANDOM_LEN: usize = 32;

fn check_extensions(b: &[u8]) -> Option<()> {
    let mut r = Rd::new(b);
    while !r.is_empty() {
        r.u16()?;
        r.vec16()?;
    }
    Some(())
}

/// The optional extension block at the end of a hello: empty when absent.
fn extension_block<'a>(r: &mut Rd<'a>) -> Option<&'a [u8]> {
    if r.is_empty() {
        return Some(&[]);
    }
    let block = r.vec16()?;
    check_extensions(block)?;
    Some(block)
}

/// Parses a ClientHello body (after the handshake header).
pub fn client_hello(body: &[u8]) -> Option<ClientHello<'_>> {
    let mut r = Rd::new(body);
    let version = r.u16()?;
    if version >> 8 != 3 {
        return None;
    }
    let random = r.take(RANDOM_LEN)?;
    let session_id = r.vec8()?;
    if session_id.len() > MAX_SESSION_ID {
        return None;
    }
    let ciphers = r.vec16()?;
    if ciphers.len() % 2 != 0 {
        return None;
    }
    let compression = r.vec8()?;
    let extensions = extension_block(&mut r)?;
    Some(ClientHello {
        version,
        random,
        session_id,
        ciphers,
        compression,
        extensions,
    })
}

/// Parses a ServerHello body (after the handshake header).
pub fn server_hello(body: &[u8]) -> Option<ServerHello<'_>> {
    let mut r = Rd::new(body);
    let version = r.u16()?;
    if version >> 8 != 3 {
        return None;
    }
    let random = r.take(RANDOM_LEN)?;
    let session_id = r.vec8()?;
    if session_id.len() > MAX_SESSION_ID {
        return None;
    }
    let cipher = r.u16()?;
    let compression = r.u8()?;
    let extensions = extension_block(&mut r)?;
    Some(ServerHello {
        version,
        random,
        session_id,
        cipher,
        compression,
        extensions,
    })
}

/// The (type, body) pairs of a validated extension block, in order.
pub fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> + '_ {
    let mut r = Rd::new(block);
    std::iter::from_fn(move || {
        let t = r.u16()?;
        let body = r.vec16()?;
        Some((t, body))
    })
}

/// The body of extension `code`, if present.
pub fn find_ext(block: &[u8], code: u16) -> Option<&[u8]> {
    extensions(block).find(|(t, _)| *t == code).map(|(_, b)| b)
}

/// The version a ServerHello selects: supported_versions when present, else legacy_version.
pub fn selected_version(sh: &ServerHello<'_>) -> u16 {
    find_ext(sh.extensions, ext::SUPPORTED_VERSIONS)
        .and_then(|b| Rd::new(b).u16())
        .unwrap_or(sh.version)
}

/// True for TLS 1.3 and its drafts (0x7fXX) and the Facebook variant (0xfb1X).
pub fn is_tls13(version: u16) -> bool {
    version == 0x0304 || version >> 8 == 0x7f || version & 0xfff0 == 0xfb10
}

/// The versions a ClientHello lists in supported_versions (GREASE included).
pub fn client_versions<'a>(ch: &ClientHello<'a>) -> impl Iterator<Item = u16> + 'a {
    let list = find_ext(ch.extensions, ext::SUPPORTED_VERSIONS)
        .and_then(|b| Rd::new(b).vec8())
        .unwrap_or_default();
    u16s(list)
}

/// Host names of a server_name extension body (name type 0 only).
pub fn sni_names(body: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut r = Rd::new(Rd::new(body).vec16().unwrap_or_default());
    std::iter::from_fn(move || loop {
        let t = r.u8()?;
        let name = r.vec16()?;
        if t == 0 {
            return Some(name);
        }
    })
}

/// Protocol names of an ALPN extension body.
pub fn alpn_names(body: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut r = Rd::new(Rd::new(body).vec16().unwrap_or_default());
    std::iter::from_fn(move || r.vec8())
}

/// The u16 list with a two-byte length prefix (supported_groups, signature_algorithms).
pub fn u16_list(body: &[u8]) -> &[u8] {
    Rd::new(body).vec16().unwrap_or_default()
}

/// The u8 list with a one-byte length prefix (ec_point_formats).
pub fn u8_list(body: &[u8]) -> &[u8] {
    Rd::new(body).vec8().unwrap_or_default()
}

/// The DER certificates of a TLS ≤ 1.2 Certificate message body (`None` when malformed).
pub fn certificate_list(body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut r = Rd::new(body);
    let list = r.vec24()?;
    if !r.is_empty() {
        return None;
    }
    let mut l = Rd::new(list);
    let mut out = Vec::new();
    while !l.is_empty() {
        out.push(l.vec24()?);
    }
    Some(out)
}

/// The DER certificates of a TLS 1.3 Certificate message body (context + entries with
/// extensions); seen in plaintext only in tests and exotic captures.
pub fn certificate_list_13(body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut r = Rd::new(body);
    r.vec8()?;
    let list = r.vec24()?;
    let mut l = Rd::new(list);
    let mut out = Vec::new();
    while !l.is_empty() {
        out.push(l.vec24()?);
        l.vec16()?;
    }
    Some(out)
}

/// The OCSP response status of a CertificateStatus body (RFC 6066 §8), when it is one.
pub fn ocsp_status(body: &[u8]) -> Option<u8> {
    let mut r = Rd::new(body);
    if r.u8()? != 1 {
        return None;
    }
    let resp = r.vec24()?;
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... }: 30 len 0a 01 status.
    let mut d = Rd::new(resp);
    if d.u8()? != 0x30 {
        return None;
    }
    let l = d.u8()?;
    if l & 0x80 != 0 {
        d.take(usize::from(l & 0x7f))?;
    }
    if d.u8()? != 0x0a || d.u8()? != 1 {
        return None;
    }
    d.u8()
}
