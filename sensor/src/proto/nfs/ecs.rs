//! Event fields of an NFS call and its reply (Packetbeat's `rpc.*` and `nfs.*`).

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::names;
use super::rpc::{Call, ReplyStat};
use super::v4;
use super::xdr::Xdr;

/// `rpc` and `nfs` objects of a call.
pub fn call_fields(
    c: &Call<'_>,
    bytes: u64,
    sender: IpAddr,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut rpc = Map::new();
    rpc.insert("xid".into(), c.xid.into());
    rpc.insert("call_size".into(), bytes.into());
    rpc.insert("auth_flavor".into(), names::auth_flavor(c.flavor).into());
    if let Some(u) = &c.unix {
        let machine = if u.machinename.is_empty() {
            sender.to_string()
        } else {
            u.machinename.clone()
        };
        rpc.insert(
            "cred".into(),
            json!({
                "stamp": u.stamp,
                "machinename": machine,
                "uid": u.uid,
                "gid": u.gid,
                "gids": u.gids,
            }),
        );
    }
    let mut nfs = Map::new();
    nfs.insert("version".into(), c.vers.into());
    let opcode = match (c.vers, c.proc_) {
        (4, 1) => {
            let mut args = c.args;
            match v4::compound(&mut args) {
                Some(comp) => {
                    nfs.insert("tag".into(), comp.tag.clone().into());
                    nfs.insert("minor_version".into(), comp.minor_version.into());
                    Some(comp.main_op())
                }
                None => Some("COMPOUND".to_owned()),
            }
        }
        (v, p) => names::proc_name(v, p).map(str::to_owned),
    };
    if let Some(op) = opcode {
        nfs.insert("opcode".into(), op.into());
    }
    (rpc, nfs)
}

/// Add the reply's fields; false when the call failed (RPC not executed or NFS error).
pub fn reply_fields(
    rpc: &mut Map<String, Value>,
    nfs: &mut Map<String, Value>,
    vers: u32,
    proc_: u32,
    stat: &ReplyStat<'_>,
) -> bool {
    match *stat {
        ReplyStat::Denied { reject } => {
            let s = match reject {
                0 => "rpc_mismatch".to_owned(),
                1 => "auth_error".to_owned(),
                n => format!("unknown ({n})"),
            };
            rpc.insert("status".into(), s.into());
            false
        }
        ReplyStat::Accepted { stat, results } => {
            rpc.insert("status".into(), names::accept_stat(stat).into());
            if stat != 0 {
                return false;
            }
            let code = if proc_ == 0 {
                Some(0)
            } else {
                Xdr::new(results).u32()
            };
            match code {
                Some(code) => {
                    nfs.insert("status".into(), names::status_name(vers, code).into());
                    code == 0
                }
                None => true,
            }
        }
    }
}

/// A duration as Go's `time.Duration.String` prints it (`208µs`, `1.5ms`, `2.000001s`).
pub fn go_duration(ns: u64) -> String {
    fn frac(v: u64, unit: u64, digits: usize, suffix: &str) -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return format!("{whole}{suffix}");
        }
        let f = format!("{rest:0digits$}");
        format!("{whole}.{}{suffix}", f.trim_end_matches('0'))
    }
    match ns {
        0 => "0s".to_owned(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => frac(n, 1_000, 3, "µs"),
        n if n < 1_000_000_000 => frac(n, 1_000_000, 6, "ms"),
        n if n < 60_000_000_000 => frac(n, 1_000_000_000, 9, "s"),
        n => {
            let secs = n / 1_000_000_000;
            let (h, m, s) = (secs / 3600, (secs / 60) % 60, n % 60_000_000_000);
            let tail = frac(s, 1_000_000_000, 9, "s");
            if h > 0 {
                format!("{h}h{m}m{tail}")
            } else {
                format!("{m}m{tail}")
            }
        }
    }
}
