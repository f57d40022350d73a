//! ONC-RPC v2 messages (RFC 5531 §9): call and reply headers, AUTH_SYS credentials.

use super::xdr::Xdr;

/// `msg_type` CALL.
pub const CALL: u32 = 0;
/// `msg_type` REPLY.
pub const REPLY: u32 = 1;
/// The RPC protocol version.
pub const RPC_VERSION: u32 = 2;
/// The NFS program number.
pub const NFS_PROGRAM: u32 = 100_003;
/// Supplementary group ids kept from AUTH_SYS credentials (RFC 5531 caps them at 16).
pub const MAX_GIDS: usize = 16;

/// AUTH_SYS (AUTH_UNIX) credentials (RFC 5531 appendix A).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unix {
    /// Stamp.
    pub stamp: u32,
    /// Machine name (lossy UTF-8).
    pub machinename: String,
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary gids.
    pub gids: Vec<u32>,
}

/// A call header.
#[derive(Debug)]
pub struct Call<'a> {
    /// Transaction id.
    pub xid: u32,
    /// Program.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure.
    pub proc_: u32,
    /// Credential flavour.
    pub flavor: u32,
    /// Parsed AUTH_SYS credentials.
    pub unix: Option<Unix>,
    /// The procedure's arguments.
    pub args: Xdr<'a>,
}

/// How a reply answered.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyStat<'a> {
    /// MSG_ACCEPTED with an accept_stat and, on SUCCESS, the results.
    Accepted {
        /// accept_stat.
        stat: u32,
        /// The results.
        results: &'a [u8],
    },
    /// MSG_DENIED: RPC_MISMATCH (0) or AUTH_ERROR (1).
    Denied {
        /// reject_stat.
        reject: u32,
    },
}

/// A reply header.
#[derive(Debug)]
pub struct Reply<'a> {
    /// Transaction id.
    pub xid: u32,
    /// The answer.
    pub stat: ReplyStat<'a>,
}

/// One RPC message.
#[derive(Debug)]
pub enum Msg<'a> {
    /// A call.
    Call(Call<'a>),
    /// A reply.
    Reply(Reply<'a>),
}

/// Parse AUTH_SYS credentials.
fn unix(body: &[u8]) -> Option<Unix> {
    let mut x = Xdr::new(body);
    Some(Unix {
        stamp: x.u32()?,
        machinename: String::from_utf8_lossy(x.opaque()?).into_owned(),
        uid: x.u32()?,
        gid: x.u32()?,
        gids: x.u32_array(MAX_GIDS)?,
    })
}

/// Parse an RPC message (without record mark). `None` when not RPC.
pub fn parse(b: &[u8]) -> Option<Msg<'_>> {
    let mut x = Xdr::new(b);
    let xid = x.u32()?;
    match x.u32()? {
        CALL => {
            if x.u32()? != RPC_VERSION {
                return None;
            }
            let prog = x.u32()?;
            let vers = x.u32()?;
            let proc_ = x.u32()?;
            let flavor = x.u32()?;
            let body = x.opaque()?;
            let unix = if flavor == 1 { unix(body) } else { None };
            x.u32()?;
            x.opaque()?;
            Some(Msg::Call(Call {
                xid,
                prog,
                vers,
                proc_,
                flavor,
                unix,
                args: x,
            }))
        }
        REPLY => {
            let stat = match x.u32()? {
                0 => {
                    x.u32()?;
                    x.opaque()?;
                    let stat = x.u32()?;
                    ReplyStat::Accepted {
                        stat,
                        results: x.rest(),
                    }
                }
                1 => ReplyStat::Denied { reject: x.u32()? },
                _ => return None,
            };
            Some(Msg::Reply(Reply { xid, stat }))
        }
        _ => None,
    }
}
