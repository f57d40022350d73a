//! NFSv4 COMPOUND requests: the operation list (arguments skipped per RFC 7530 / 5661 / 7862
//! XDR) and the main operation.
//!
//! Main operation: Packetbeat's `findV4MainOpcode` takes the first "first-class" op; the
//! corpus oracle (and tshark's tiers) take the significant op even when a minor one such as
//! ACCESS precedes it. We rank ops in tiers (tshark's table: 1 = real work, 2 = ACCESS/NVERIFY,
//! 3 = GETATTR/PUTROOTFH/PUTPUBFH, 4 = PUTFH/GETFH/SAVEFH/RESTOREFH, 5 = SEQUENCE) and take
//! the last op of the best tier, which is the last op that is not SEQUENCE/PUTFH/PUTROOTFH/
//! PUTPUBFH/GETFH/GETATTR/SAVEFH/RESTOREFH (else the last op) whenever no ACCESS/NVERIFY
//! follows the real work.

use super::names;
use super::xdr::Xdr;

/// Operations listed per COMPOUND: real compounds have a handful; a hostile count is not
/// walked further (RFC 5661 lets servers reject long compounds with NFS4ERR_TOO_MANY_OPS).
pub const MAX_OPS: usize = 64;
/// Elements accepted in an XDR array inside op arguments, so a bogus count stops parsing.
const MAX_ARRAY: usize = 1024;

/// A parsed COMPOUND call.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compound {
    /// The tag (lossy UTF-8).
    pub tag: String,
    /// minorversion.
    pub minor_version: u32,
    /// Opcodes read (stops at the first whose arguments cannot be skipped).
    pub ops: Vec<u32>,
    /// The op count announced.
    pub op_count: u32,
}

/// Tier of an op (1 = most significant).
fn tier(op: u32) -> u8 {
    match op {
        53 => 5,
        10 | 22 | 31 | 32 => 4,
        9 | 23 | 24 => 3,
        3 | 17 => 2,
        _ => 1,
    }
}

impl Compound {
    /// The main operation's name (`ILLEGAL` when no op is known).
    pub fn main_op(&self) -> String {
        let best = self.ops.iter().map(|&o| tier(o)).min();
        let op = self
            .ops
            .iter()
            .rev()
            .find(|&&o| Some(tier(o)) == best)
            .copied();
        match op {
            Some(o) => names::op_name(o).map_or_else(|| format!("unknown ({o})"), str::to_owned),
            None => "ILLEGAL".to_owned(),
        }
    }
}

/// Parse COMPOUND4args.
pub fn compound(x: &mut Xdr<'_>) -> Option<Compound> {
    let tag = x.opaque()?;
    let minor_version = x.u32()?;
    let op_count = x.u32()?;
    let mut c = Compound {
        tag: String::from_utf8_lossy(tag).into_owned(),
        minor_version,
        ops: Vec::new(),
        op_count,
    };
    for _ in 0..op_count.min(MAX_OPS as u32) {
        let Some(op) = x.u32() else { break };
        c.ops.push(op);
        if skip_args(op, x).is_none() {
            break;
        }
    }
    Some(c)
}

fn stateid(x: &mut Xdr<'_>) -> Option<()> {
    x.fixed(16).map(|_| ())
}

fn fattr(x: &mut Xdr<'_>) -> Option<()> {
    bitmap(x)?;
    x.opaque().map(|_| ())
}

fn bitmap(x: &mut Xdr<'_>) -> Option<()> {
    let n = x.skip_u32_array()?;
    (n <= MAX_ARRAY).then_some(())
}

fn owner(x: &mut Xdr<'_>) -> Option<()> {
    x.u64()?;
    x.opaque().map(|_| ())
}

fn count(x: &mut Xdr<'_>) -> Option<u32> {
    x.u32().filter(|&n| n as usize <= MAX_ARRAY)
}

/// callback_sec_parms4 array (CREATE_SESSION, BACKCHANNEL_CTL).
fn sec_parms(x: &mut Xdr<'_>) -> Option<()> {
    for _ in 0..count(x)? {
        match x.u32()? {
            0 => {}
            1 => {
                x.u32()?;
                x.opaque()?;
                x.u32()?;
                x.u32()?;
                x.skip_u32_array()?;
            }
            6 => {
                x.u32()?;
                x.opaque()?;
                x.opaque()?;
            }
            _ => return None,
        }
    }
    Some(())
}

/// channel_attrs4.
fn channel_attrs(x: &mut Xdr<'_>) -> Option<()> {
    x.fixed(24)?;
    x.skip_u32_array().map(|_| ())
}

/// Skip the arguments of `op`; `None` when unknown or malformed.
fn skip_args(op: u32, x: &mut Xdr<'_>) -> Option<()> {
    match op {
        // ACCESS, SECINFO_NO_NAME, OPENATTR, RECLAIM_COMPLETE
        3 | 52 | 19 | 58 => x.u32().map(|_| ()),
        // CLOSE
        4 => {
            x.u32()?;
            stateid(x)
        }
        // COMMIT
        5 => x.fixed(12).map(|_| ()),
        // CREATE
        6 => {
            match x.u32()? {
                5 => {
                    x.opaque()?;
                }
                3 | 4 => {
                    x.fixed(8)?;
                }
                _ => {}
            }
            x.opaque()?;
            fattr(x)
        }
        // DELEGPURGE, RENEW, DESTROY_CLIENTID
        7 | 30 | 57 => x.u64().map(|_| ()),
        // DELEGRETURN, FREE_STATEID, DESTROY_SESSION
        8 | 45 | 44 => stateid(x),
        // GETATTR
        9 => bitmap(x),
        // GETFH, LOOKUPP, PUTPUBFH, PUTROOTFH, READLINK, RESTOREFH, SAVEFH
        10 | 16 | 23 | 24 | 27 | 31 | 32 => Some(()),
        // LINK, LOOKUP, PUTFH, REMOVE, SECINFO
        11 | 15 | 22 | 28 | 33 => x.opaque().map(|_| ()),
        // LOCK
        12 => {
            x.fixed(4 + 4 + 8 + 8)?;
            if x.u32()? != 0 {
                x.u32()?;
                stateid(x)?;
                x.u32()?;
                owner(x)
            } else {
                stateid(x)?;
                x.u32().map(|_| ())
            }
        }
        // LOCKT
        13 => {
            x.fixed(4 + 8 + 8)?;
            owner(x)
        }
        // LOCKU
        14 => {
            x.fixed(8)?;
            stateid(x)?;
            x.fixed(16).map(|_| ())
        }
        // NVERIFY, VERIFY
        17 | 37 => fattr(x),
        // OPEN
        18 => {
            x.fixed(12)?;
            owner(x)?;
            if x.u32()? == 1 {
                match x.u32()? {
                    0 | 1 => fattr(x)?,
                    2 => {
                        x.fixed(8)?;
                    }
                    3 => {
                        x.fixed(8)?;
                        fattr(x)?;
                    }
                    _ => return None,
                }
            }
            match x.u32()? {
                0 | 3 => x.opaque().map(|_| ()),
                1 => x.u32().map(|_| ()),
                2 => {
                    stateid(x)?;
                    x.opaque().map(|_| ())
                }
                4 | 6 => Some(()),
                5 => stateid(x),
                _ => None,
            }
        }
        // OPEN_CONFIRM
        20 => {
            stateid(x)?;
            x.u32().map(|_| ())
        }
        // OPEN_DOWNGRADE
        21 => {
            stateid(x)?;
            x.fixed(12).map(|_| ())
        }
        // READ, READ_PLUS
        25 | 68 => {
            stateid(x)?;
            x.fixed(12).map(|_| ())
        }
        // READDIR
        26 => {
            x.fixed(8 + 8 + 4 + 4)?;
            bitmap(x)
        }
        // RENAME
        29 => {
            x.opaque()?;
            x.opaque().map(|_| ())
        }
        // SETATTR
        34 => {
            stateid(x)?;
            fattr(x)
        }
        // SETCLIENTID
        35 => {
            x.fixed(8)?;
            x.opaque()?;
            x.u32()?;
            x.opaque()?;
            x.opaque()?;
            x.u32().map(|_| ())
        }
        // SETCLIENTID_CONFIRM
        36 => x.fixed(16).map(|_| ()),
        // WRITE
        38 => {
            stateid(x)?;
            x.fixed(12)?;
            x.opaque().map(|_| ())
        }
        // RELEASE_LOCKOWNER
        39 => owner(x),
        // BACKCHANNEL_CTL
        40 => {
            x.u32()?;
            sec_parms(x)
        }
        // BIND_CONN_TO_SESSION
        41 => x.fixed(16 + 8).map(|_| ()),
        // EXCHANGE_ID
        42 => {
            x.fixed(8)?;
            x.opaque()?;
            x.u32()?;
            match x.u32()? {
                0 => {}
                1 => {
                    bitmap(x)?;
                    bitmap(x)?;
                }
                _ => return None,
            }
            for _ in 0..count(x)? {
                x.opaque()?;
                x.opaque()?;
                x.fixed(12)?;
            }
            Some(())
        }
        // CREATE_SESSION
        43 => {
            x.fixed(16)?;
            channel_attrs(x)?;
            channel_attrs(x)?;
            x.u32()?;
            sec_parms(x)
        }
        // GETDEVICEINFO
        47 => {
            x.fixed(16 + 4 + 4)?;
            bitmap(x)
        }
        // GETDEVICELIST
        48 => x.fixed(4 + 4 + 8 + 8).map(|_| ()),
        // LAYOUTGET
        50 => {
            x.fixed(4 + 4 + 4 + 8 + 8 + 8)?;
            stateid(x)?;
            x.u32().map(|_| ())
        }
        // LAYOUTRETURN
        51 => {
            x.fixed(12)?;
            if x.u32()? == 1 {
                x.fixed(16)?;
                stateid(x)?;
                x.opaque()?;
            }
            Some(())
        }
        // SEQUENCE
        53 => x.fixed(16 + 16).map(|_| ()),
        // SET_SSV
        54 => {
            x.opaque()?;
            x.opaque().map(|_| ())
        }
        // TEST_STATEID
        55 => {
            let n = count(x)?;
            x.fixed(n as usize * 16).map(|_| ())
        }
        // ALLOCATE, DEALLOCATE
        59 | 62 => {
            stateid(x)?;
            x.fixed(16).map(|_| ())
        }
        // SEEK
        69 => {
            stateid(x)?;
            x.fixed(12).map(|_| ())
        }
        _ => None,
    }
}
