//! Names Packetbeat writes: NFSv3 procedures, NFSv4 operations, version-less NFS status names,
//! RPC accept states and auth flavours.

/// NFSv3 procedure names (RFC 1813 §3), by number.
const V3_PROCS: [&str; 22] = [
    "NULL",
    "GETATTR",
    "SETATTR",
    "LOOKUP",
    "ACCESS",
    "READLINK",
    "READ",
    "WRITE",
    "CREATE",
    "MKDIR",
    "SYMLINK",
    "MKNOD",
    "REMOVE",
    "RMDIR",
    "RENAME",
    "LINK",
    "READDIR",
    "READDIRPLUS",
    "FSSTAT",
    "FSINFO",
    "PATHCONF",
    "COMMIT",
];

/// NFSv2 procedure names (RFC 1094 §2.2), by number.
const V2_PROCS: [&str; 18] = [
    "NULL",
    "GETATTR",
    "SETATTR",
    "ROOT",
    "LOOKUP",
    "READLINK",
    "READ",
    "WRITECACHE",
    "WRITE",
    "CREATE",
    "REMOVE",
    "RENAME",
    "LINK",
    "SYMLINK",
    "MKDIR",
    "RMDIR",
    "READDIR",
    "STATFS",
];

/// NFSv4 operation names (RFC 7530, 5661, 7862), from opcode 3.
const V4_OPS: [&str; 69] = [
    "ACCESS",
    "CLOSE",
    "COMMIT",
    "CREATE",
    "DELEGPURGE",
    "DELEGRETURN",
    "GETATTR",
    "GETFH",
    "LINK",
    "LOCK",
    "LOCKT",
    "LOCKU",
    "LOOKUP",
    "LOOKUPP",
    "NVERIFY",
    "OPEN",
    "OPENATTR",
    "OPEN_CONFIRM",
    "OPEN_DOWNGRADE",
    "PUTFH",
    "PUTPUBFH",
    "PUTROOTFH",
    "READ",
    "READDIR",
    "READLINK",
    "REMOVE",
    "RENAME",
    "RENEW",
    "RESTOREFH",
    "SAVEFH",
    "SECINFO",
    "SETATTR",
    "SETCLIENTID",
    "SETCLIENTID_CONFIRM",
    "VERIFY",
    "WRITE",
    "RELEASE_LOCKOWNER",
    "BACKCHANNEL_CTL",
    "BIND_CONN_TO_SESSION",
    "EXCHANGE_ID",
    "CREATE_SESSION",
    "DESTROY_SESSION",
    "FREE_STATEID",
    "GET_DIR_DELEGATION",
    "GETDEVICEINFO",
    "GETDEVICELIST",
    "LAYOUTCOMMIT",
    "LAYOUTGET",
    "LAYOUTRETURN",
    "SECINFO_NO_NAME",
    "SEQUENCE",
    "SET_SSV",
    "TEST_STATEID",
    "WANT_DELEGATION",
    "DESTROY_CLIENTID",
    "RECLAIM_COMPLETE",
    "ALLOCATE",
    "COPY",
    "COPY_NOTIFY",
    "DEALLOCATE",
    "IO_ADVISE",
    "LAYOUTERROR",
    "LAYOUTSTATS",
    "OFFLOAD_CANCEL",
    "OFFLOAD_STATUS",
    "READ_PLUS",
    "SEEK",
    "WRITE_SAME",
    "CLONE",
];

/// The illegal-operation opcode (RFC 7530 §16.36).
pub const OP_ILLEGAL: u32 = 10044;

/// A procedure name for `version` (`None` when unknown).
pub fn proc_name(version: u32, proc_: u32) -> Option<&'static str> {
    let i = usize::try_from(proc_).ok()?;
    match version {
        2 => V2_PROCS.get(i).copied(),
        3 => V3_PROCS.get(i).copied(),
        4 => match proc_ {
            0 => Some("NULL"),
            1 => Some("COMPOUND"),
            _ => None,
        },
        _ => None,
    }
}

/// An NFSv4 operation name.
pub fn op_name(op: u32) -> Option<&'static str> {
    if op == OP_ILLEGAL {
        return Some("ILLEGAL");
    }
    let i = usize::try_from(op.checked_sub(3)?).ok()?;
    V4_OPS.get(i).copied()
}

/// Packetbeat's version-less status name (`NFS_OK`, `NFSERR_NOENT`, ...); NFSv3's 10008 keeps
/// its v3 name (JUKEBOX, what NFSv4 calls DELAY).
pub fn status_name(version: u32, code: u32) -> String {
    let s = match code {
        0 => "NFS_OK",
        1 => "NFSERR_PERM",
        2 => "NFSERR_NOENT",
        5 => "NFSERR_IO",
        6 => "NFSERR_NXIO",
        13 => "NFSERR_ACCESS",
        17 => "NFSERR_EXIST",
        18 => "NFSERR_XDEV",
        19 => "NFSERR_NODEV",
        20 => "NFSERR_NOTDIR",
        21 => "NFSERR_ISDIR",
        22 => "NFSERR_INVAL",
        27 => "NFSERR_FBIG",
        28 => "NFSERR_NOSPC",
        30 => "NFSERR_ROFS",
        31 => "NFSERR_MLINK",
        63 => "NFSERR_NAMETOOLONG",
        66 => "NFSERR_NOTEMPTY",
        69 => "NFSERR_DQUOT",
        70 => "NFSERR_STALE",
        71 => "NFSERR_REMOTE",
        99 => "NFSERR_WFLUSH",
        10008 if version < 4 => "NFSERR_JUKEBOX",
        10001..=10086 => return v4_status(code),
        _ => return format!("unknown ({code})"),
    };
    s.to_owned()
}

/// Names of the 10001-10086 range (RFC 1813 / 7530 / 5661).
fn v4_status(code: u32) -> String {
    const NAMES: [&str; 86] = [
        "BADHANDLE",
        "NOT_SYNC",
        "BAD_COOKIE",
        "NOTSUPP",
        "TOOSMALL",
        "SERVERFAULT",
        "BADTYPE",
        "DELAY",
        "SAME",
        "DENIED",
        "EXPIRED",
        "LOCKED",
        "GRACE",
        "FHEXPIRED",
        "SHARE_DENIED",
        "WRONGSEC",
        "CLID_INUSE",
        "RESOURCE",
        "MOVED",
        "NOFILEHANDLE",
        "MINOR_VERS_MISMATCH",
        "STALE_CLIENTID",
        "STALE_STATEID",
        "OLD_STATEID",
        "BAD_STATEID",
        "BAD_SEQID",
        "NOT_SAME",
        "LOCK_RANGE",
        "SYMLINK",
        "RESTOREFH",
        "LEASE_MOVED",
        "ATTRNOTSUPP",
        "NO_GRACE",
        "RECLAIM_BAD",
        "RECLAIM_CONFLICT",
        "BADXDR",
        "LOCKS_HELD",
        "OPENMODE",
        "BADOWNER",
        "BADCHAR",
        "BADNAME",
        "BAD_RANGE",
        "LOCK_NOTSUPP",
        "OP_ILLEGAL",
        "DEADLOCK",
        "FILE_OPEN",
        "ADMIN_REVOKED",
        "CB_PATH_DOWN",
        "BADIOMODE",
        "BADLAYOUT",
        "BAD_SESSION_DIGEST",
        "BADSESSION",
        "BADSLOT",
        "COMPLETE_ALREADY",
        "CONN_NOT_BOUND_TO_SESSION",
        "DELEG_ALREADY_WANTED",
        "BACK_CHAN_BUSY",
        "LAYOUTTRYLATER",
        "LAYOUTUNAVAILABLE",
        "NOMATCHING_LAYOUT",
        "RECALLCONFLICT",
        "UNKNOWN_LAYOUTTYPE",
        "SEQ_MISORDERED",
        "SEQUENCE_POS",
        "REQ_TOO_BIG",
        "REP_TOO_BIG",
        "REP_TOO_BIG_TO_CACHE",
        "RETRY_UNCACHED_REP",
        "UNSAFE_COMPOUND",
        "TOO_MANY_OPS",
        "OP_NOT_IN_SESSION",
        "HASH_ALG_UNSUPP",
        "CONN_BINDING_NOT_ENFORCED",
        "CLIENTID_BUSY",
        "PNFS_IO_HOLE",
        "SEQ_FALSE_RETRY",
        "BAD_HIGH_SLOT",
        "DEADSESSION",
        "ENCR_ALG_UNSUPP",
        "PNFS_NO_LAYOUT",
        "NOT_ONLY_OP",
        "WRONG_CRED",
        "WRONG_TYPE",
        "DIRDELEG_UNAVAIL",
        "REJECT_DELEG",
        "RETURNCONFLICT",
    ];
    let i = usize::try_from(code.saturating_sub(10001)).unwrap_or(usize::MAX);
    match NAMES.get(i) {
        Some(n) => format!("NFSERR_{n}"),
        None => format!("unknown ({code})"),
    }
}

/// RPC accept_stat names as Packetbeat writes them (RFC 5531 §9).
pub fn accept_stat(n: u32) -> String {
    match n {
        0 => "success".into(),
        1 => "prog_unavail".into(),
        2 => "prog_mismatch".into(),
        3 => "proc_unavail".into(),
        4 => "garbage_args".into(),
        5 => "system_err".into(),
        n => format!("unknown ({n})"),
    }
}

/// `rpc.auth_flavor` as Packetbeat writes it (plus the other RFC 5531 flavours).
pub fn auth_flavor(n: u32) -> String {
    match n {
        0 => "none".into(),
        1 => "unix".into(),
        2 => "short".into(),
        3 => "des".into(),
        6 => "rpcsec_gss".into(),
        n => format!("unknown ({n})"),
    }
}
