//! Connection state: record framing per direction (records split across segments, several
//! per segment, bodies skipped incrementally), handshake messages reassembled across records,
//! and the handshake facts the event needs (hellos, certificates, alerts, ChangeCipherSpec,
//! the first encrypted client record of TLS 1.3). After the handshake, records are only counted.

use super::parse::{self, content, hs, Header, RecordHeader, HANDSHAKE_HEADER, RECORD_HEADER};
use super::x509::{self, CertOut, Hashes};
use crate::proto::Direction;
use crate::time::Ts;

/// Largest handshake message reassembled: certificate chains of a few large certificates fit
/// (Packetbeat stops at 64 KiB); a bigger announced length is treated as malformed.
pub const MAX_HANDSHAKE_MSG: usize = 256 * 1024;

/// Most certificates kept from one Certificate message: real chains have 2–5; the cap bounds
/// the work a hostile peer can cause.
pub const MAX_CHAIN: usize = 16;

/// Most alerts kept per connection: a handshake fails with one or two; the cap bounds memory
/// on a peer that floods alerts.
pub const MAX_ALERTS: usize = 16;

/// Record body lengths of an encrypted TLS 1.3 alert: 2 bytes + content type + 16-byte AEAD
/// tag (GCM, ChaCha20-Poly1305, CCM) or 8-byte tag (CCM_8). A client Finished is never this
/// short (at least 32 + 4 + 1 + 16 bytes).
const ENCRYPTED_ALERT_LENS: [usize; 2] = [19, 11];

/// Options the state machine needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opts {
    /// Certificate fingerprints to compute.
    pub hashes: Hashes,
    /// Keep PEM text of the certificates.
    pub pem: bool,
}

/// An alert seen in plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Sent by the client.
    pub from_client: bool,
    /// 1 warning, 2 fatal.
    pub level: u8,
    /// Description code.
    pub code: u8,
}

/// What the current record body is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Counted only (application data, ciphertext, heartbeat, ChangeCipherSpec).
    Skip,
    /// Plaintext handshake messages.
    Handshake,
    /// A plaintext alert (2 bytes).
    Alert { buf: [u8; 2], got: usize },
}

/// Position in the record stream of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cur {
    /// Expecting a record header.
    Header,
    /// Inside a record body.
    Body { kind: Kind, left: usize },
    /// Record boundaries lost (gap or malformed header): looking for the next header.
    Lost,
}

/// One direction of the connection.
#[derive(Debug)]
pub struct Dir {
    /// Bytes of TLS records seen (headers and bodies).
    pub bytes: u64,
    /// Records started.
    pub records: u64,
    /// Time of the first record byte.
    pub first_ts: Option<Ts>,
    cur: Cur,
    /// Partial handshake message(s).
    hs: Vec<u8>,
    /// Handshake messages of this direction are no longer parsed.
    hs_off: bool,
    /// Record-layer version of the last valid header (for resynchronisation).
    last_version: Option<u16>,
    /// A note about lost data was already added.
    noted_loss: bool,
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            bytes: 0,
            records: 0,
            first_ts: None,
            cur: Cur::Header,
            hs: Vec::new(),
            hs_off: false,
            last_version: None,
            noted_loss: false,
        }
    }
}

/// Result of [`Conn::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Everything used.
    Consumed,
    /// `consumed` bytes used; call again with the rest and `needed` more.
    NeedMore { consumed: usize, needed: usize },
    /// The direction does not carry TLS.
    NotTls,
}

/// Everything known about the connection.
#[derive(Debug, Default)]
pub struct Conn {
    /// Per direction, indexed by [`Direction::index`].
    pub dirs: [Dir; 2],
    /// The direction the ClientHello travelled (the client's), once known.
    pub client_dir: Option<Direction>,
    /// Body of the first ClientHello.
    pub client_hello: Option<Vec<u8>>,
    /// Body of the ServerHello (a HelloRetryRequest until the real one arrives).
    pub server_hello: Option<Vec<u8>>,
    /// A real ServerHello (not a HelloRetryRequest) was seen.
    pub sh_seen: bool,
    /// The negotiated version is TLS 1.3.
    pub tls13: bool,
    /// Certificates by role: 0 client, 1 server.
    pub certs: [Vec<CertOut>; 2],
    /// Certificates that failed to parse.
    pub bad_certs: u32,
    /// The server sent a CertificateRequest.
    pub cert_requested: bool,
    /// A key-exchange message by role.
    pub key_exchange: [bool; 2],
    /// The server sent Certificate / ServerKeyExchange / ServerHelloDone (full handshake).
    pub server_full: bool,
    /// ChangeCipherSpec by role.
    pub ccs: [bool; 2],
    /// TLS 1.3: the client's first encrypted record after the ServerHello was a Finished-sized
    /// record (`Some(true)`) or alert-sized (`Some(false)`).
    pub client_finished_13: Option<bool>,
    /// Plaintext alerts.
    pub alerts: Vec<Alert>,
    /// A fatal alert was seen (plaintext, or encrypted TLS 1.3 alert-sized client record).
    pub fatal: bool,
    /// OCSP response status from CertificateStatus.
    pub ocsp: Option<u8>,
    /// `error.message` notes.
    pub notes: Vec<String>,
}

impl Conn {
    /// Role index (0 client, 1 server) of the sender of `dir`.
    pub fn role(&self, dir: Direction) -> usize {
        let client = self.client_dir.unwrap_or(Direction::ToServer);
        usize::from(dir != client)
    }

    /// The sender of `dir` is the client.
    fn sent_by_client(&self, dir: Direction) -> bool {
        self.role(dir) == 0
    }

    /// Anything worth an event was seen.
    pub fn has_info(&self) -> bool {
        self.client_hello.is_some()
            || self.server_hello.is_some()
            || !self.alerts.is_empty()
            || self.certs.iter().any(|c| !c.is_empty())
    }

    /// The handshake completed: ServerHello seen, no fatal alert, and the key switch seen in
    /// both directions (TLS ≤ 1.2: ChangeCipherSpec; TLS 1.3: the client's first encrypted
    /// record is its Finished flight, not an alert).
    pub fn established(&self) -> bool {
        if !self.sh_seen || self.fatal {
            return false;
        }
        if self.tls13 {
            self.client_finished_13 == Some(true)
        } else {
            self.ccs == [true, true]
        }
    }

    /// Handshake records of `dir` are ciphertext (TLS ≤ 1.2 after its ChangeCipherSpec).
    fn encrypted(&self, dir: Direction) -> bool {
        self.ccs.get(self.role(dir)).copied().unwrap_or(false) && !self.tls13
    }

    fn note(&mut self, s: &str) {
        if !self.notes.iter().any(|n| n == s) {
            self.notes.push(s.to_owned());
        }
    }

    /// Parse bytes of `dir`. `anomaly` is called for each malformed element.
    pub fn parse(
        &mut self,
        dir: Direction,
        ts: Ts,
        data: &[u8],
        opts: Opts,
        anomaly: &mut dyn FnMut(),
    ) -> Parsed {
        let i = dir.index();
        let mut off = 0usize;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            let Some(cur) = self.dirs.get(i).map(|d| d.cur) else {
                return Parsed::Consumed;
            };
            match cur {
                Cur::Header => {
                    if rest.is_empty() {
                        return Parsed::Consumed;
                    }
                    match parse::record_header(rest) {
                        Header::Incomplete => {
                            return Parsed::NeedMore {
                                consumed: off,
                                needed: RECORD_HEADER.saturating_sub(rest.len()),
                            }
                        }
                        Header::Invalid => {
                            let seen = self.dirs.get(i).is_some_and(|d| d.records > 0);
                            if !seen {
                                return Parsed::NotTls;
                            }
                            anomaly();
                            self.note("Malformed TLS record header");
                            self.set_cur(i, Cur::Lost);
                        }
                        Header::Ok(h) => {
                            off += RECORD_HEADER;
                            let kind = self.on_record(dir, ts, h);
                            let cur = if h.len == 0 {
                                Cur::Header
                            } else {
                                Cur::Body { kind, left: h.len }
                            };
                            self.set_cur(i, cur);
                        }
                    }
                }
                Cur::Body { kind, left } => {
                    if rest.is_empty() {
                        return Parsed::Consumed;
                    }
                    let n = left.min(rest.len());
                    let (chunk, _) = rest.split_at_checked(n).unwrap_or((rest, &[]));
                    off += n;
                    let left = left - n;
                    if let Some(d) = self.dirs.get_mut(i) {
                        d.bytes += n as u64;
                    }
                    let kind = match kind {
                        Kind::Skip => Kind::Skip,
                        Kind::Handshake => {
                            self.handshake_bytes(dir, chunk, opts, anomaly);
                            Kind::Handshake
                        }
                        Kind::Alert { mut buf, mut got } => {
                            for b in chunk {
                                if let Some(slot) = buf.get_mut(got) {
                                    *slot = *b;
                                }
                                got += 1;
                            }
                            if left == 0 {
                                self.on_alert(dir, buf);
                            }
                            Kind::Alert { buf, got }
                        }
                    };
                    let cur = if left == 0 {
                        Cur::Header
                    } else {
                        Cur::Body { kind, left }
                    };
                    self.set_cur(i, cur);
                }
                Cur::Lost => {
                    let last = self.dirs.get(i).and_then(|d| d.last_version);
                    match resync(rest, last) {
                        Some(at) => {
                            off += at;
                            self.set_cur(i, Cur::Header);
                        }
                        None => {
                            let keep = rest.len().min(RECORD_HEADER - 1);
                            return Parsed::NeedMore {
                                consumed: data.len() - keep,
                                needed: 1,
                            };
                        }
                    }
                }
            }
        }
    }

    fn set_cur(&mut self, i: usize, cur: Cur) {
        if let Some(d) = self.dirs.get_mut(i) {
            d.cur = cur;
        }
    }

    /// `len` bytes of `dir` were lost.
    pub fn gap(&mut self, dir: Direction, len: usize) {
        let from_client = self.sent_by_client(dir);
        let Some(d) = self.dirs.get_mut(dir.index()) else {
            return;
        };
        match d.cur {
            Cur::Body {
                kind: Kind::Skip,
                left,
            } if len < left => {
                d.cur = Cur::Body {
                    kind: Kind::Skip,
                    left: left - len,
                };
                return;
            }
            Cur::Body {
                kind: Kind::Skip,
                left,
            } if len == left => {
                d.cur = Cur::Header;
                return;
            }
            _ => {}
        }
        // Record boundaries are lost; a partial handshake message cannot be completed.
        d.cur = Cur::Lost;
        d.hs.clear();
        let first = !d.noted_loss;
        d.noted_loss = true;
        if first {
            self.note(if from_client {
                "Packet loss while capturing the request"
            } else {
                "Packet loss while capturing the response"
            });
        }
    }

    /// A record header of `dir` was read: count it and decide what its body is for.
    fn on_record(&mut self, dir: Direction, ts: Ts, h: RecordHeader) -> Kind {
        let role = self.role(dir);
        let encrypted = self.encrypted(dir);
        if let Some(d) = self.dirs.get_mut(dir.index()) {
            d.records += 1;
            d.bytes += RECORD_HEADER as u64;
            d.first_ts.get_or_insert(ts);
            d.last_version = Some(h.version);
        }
        let hs_off = self.dirs.get(dir.index()).is_none_or(|d| d.hs_off);
        match h.ctype {
            content::CHANGE_CIPHER_SPEC => {
                if let Some(c) = self.ccs.get_mut(role) {
                    *c = true;
                }
                Kind::Skip
            }
            content::ALERT if !encrypted && h.len == 2 => Kind::Alert {
                buf: [0; 2],
                got: 0,
            },
            content::HANDSHAKE if !encrypted && !hs_off => Kind::Handshake,
            content::APPLICATION_DATA => {
                if role == 0 && self.tls13 && self.sh_seen && self.client_finished_13.is_none() {
                    let alert = ENCRYPTED_ALERT_LENS.contains(&h.len);
                    self.client_finished_13 = Some(!alert);
                    if alert {
                        self.fatal = true;
                        self.note("Encrypted alert from the client during the handshake");
                    }
                }
                Kind::Skip
            }
            _ => Kind::Skip,
        }
    }

    fn on_alert(&mut self, dir: Direction, [level, code]: [u8; 2]) {
        let from_client = self.sent_by_client(dir);
        if level == 2 {
            self.fatal = true;
        }
        if self.alerts.len() < MAX_ALERTS {
            self.alerts.push(Alert {
                from_client,
                level,
                code,
            });
        }
    }

    /// Handshake-record body bytes of `dir`: reassemble and process complete messages.
    fn handshake_bytes(
        &mut self,
        dir: Direction,
        chunk: &[u8],
        opts: Opts,
        anomaly: &mut dyn FnMut(),
    ) {
        let i = dir.index();
        let Some(d) = self.dirs.get_mut(i) else {
            return;
        };
        if d.hs_off {
            return;
        }
        let mut buf = std::mem::take(&mut d.hs);
        buf.extend_from_slice(chunk);
        let mut pos = 0usize;
        let mut off = false;
        while let Some((typ, len)) = buf.get(pos..).and_then(parse::handshake_header) {
            if len > MAX_HANDSHAKE_MSG {
                anomaly();
                self.note("Handshake message too large");
                off = true;
                break;
            }
            let end = pos + HANDSHAKE_HEADER + len;
            let Some(body) = buf.get(pos + HANDSHAKE_HEADER..end) else {
                break;
            };
            self.on_handshake(dir, typ, body, opts, anomaly);
            pos = end;
        }
        if off {
            buf.clear();
        } else {
            buf.drain(..pos.min(buf.len()));
        }
        if let Some(d) = self.dirs.get_mut(i) {
            d.hs = buf;
            d.hs_off |= off;
        }
    }

    /// One complete plaintext handshake message.
    fn on_handshake(
        &mut self,
        dir: Direction,
        typ: u8,
        body: &[u8],
        opts: Opts,
        anomaly: &mut dyn FnMut(),
    ) {
        match typ {
            hs::CLIENT_HELLO => {
                if parse::client_hello(body).is_none() {
                    anomaly();
                    self.note("Malformed ClientHello");
                    return;
                }
                if self.client_hello.is_none() {
                    self.client_dir.get_or_insert(dir);
                    self.client_hello = Some(body.to_vec());
                }
            }
            hs::SERVER_HELLO => {
                let Some(sh) = parse::server_hello(body) else {
                    anomaly();
                    self.note("Malformed ServerHello");
                    return;
                };
                if self.client_dir.is_none() {
                    self.client_dir = Some(dir.reverse());
                }
                let hrr = sh.random == parse::HRR_RANDOM;
                self.tls13 = hrr || parse::is_tls13(parse::selected_version(&sh));
                if !self.sh_seen {
                    self.sh_seen = !hrr;
                    self.server_hello = Some(body.to_vec());
                }
            }
            hs::CERTIFICATE => {
                let list = if self.tls13 {
                    parse::certificate_list_13(body)
                } else {
                    parse::certificate_list(body)
                };
                let Some(list) = list else {
                    anomaly();
                    self.note("Malformed Certificate message");
                    return;
                };
                let role = self.role(dir);
                if role == 1 {
                    self.server_full = true;
                }
                let Some(slot) = self.certs.get_mut(role) else {
                    return;
                };
                slot.clear();
                for (n, der) in list.into_iter().take(MAX_CHAIN).enumerate() {
                    let hashes = if n == 0 {
                        opts.hashes
                    } else {
                        Hashes::default()
                    };
                    match x509::digest(der, hashes, opts.pem) {
                        Some(c) => slot.push(c),
                        None => self.bad_certs += 1,
                    }
                }
                if self.bad_certs > 0 {
                    anomaly();
                    self.note("Certificate could not be parsed");
                }
            }
            hs::CERTIFICATE_REQUEST => self.cert_requested = true,
            hs::SERVER_KEY_EXCHANGE => {
                self.server_full = true;
                if let Some(k) = self.key_exchange.get_mut(1) {
                    *k = true;
                }
            }
            hs::CLIENT_KEY_EXCHANGE => {
                if let Some(k) = self.key_exchange.get_mut(0) {
                    *k = true;
                }
            }
            hs::SERVER_HELLO_DONE => self.server_full = true,
            hs::CERTIFICATE_STATUS => self.ocsp = parse::ocsp_status(body),
            _ => {}
        }
    }
}

/// Offset of the next plausible record header in `data` after lost sync (same record-layer
/// version as before, when known).
fn resync(data: &[u8], version: Option<u16>) -> Option<usize> {
    (0..data.len().saturating_sub(RECORD_HEADER - 1)).find(|&at| {
        let Some(rest) = data.get(at..) else {
            return false;
        };
        match parse::record_header(rest) {
            Header::Ok(h) => {
                h.ctype != content::HEARTBEAT && version.is_none_or(|v| v == h.version)
            }
            _ => false,
        }
    })
}
