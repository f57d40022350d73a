//! Least privilege for live capture.
//!
//! Before anything else `sensor run` checks that it holds what loading and attaching need
//! (CAP_BPF or CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW) and refuses with a message naming what
//! is missing. Once the XDP program is attached and the AF_XDP sockets exist — while the
//! process still has a single thread, because capabilities are per thread — every capability
//! is dropped from the effective, permitted, inheritable and ambient sets (and from the
//! bounding set when CAP_SETPCAP allows), and `no_new_privs` is set. What stays:
//!
//! * nothing, normally: reading the kernel flow map and updating the filter maps happen on file
//!   descriptors the process already holds (Linux ≥ 6.5 checks BPF privileges at object
//!   creation only); on older kernels with `kernel.unprivileged_bpf_disabled` the map reads
//!   fail without CAP_BPF, which a probe detects — CAP_BPF is then kept, and said so;
//! * CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH when a protocol has `monitor_processes` (reading
//!   other processes' `/proc/PID/fd` needs them).

use anyhow::{bail, Context, Result};
use caps::{CapSet, Capability, CapsHashSet};

/// What live capture needs at start-up: (capability, alternative, what it is for).
const NEEDED: &[(Capability, Option<Capability>, &str)] = &[
    (
        Capability::CAP_BPF,
        Some(Capability::CAP_SYS_ADMIN),
        "load the XDP program and create its maps",
    ),
    (
        Capability::CAP_NET_ADMIN,
        None,
        "attach XDP to the interface",
    ),
    (Capability::CAP_NET_RAW, None, "create the AF_XDP sockets"),
];

/// Refuse to start live capture without the capabilities it needs, naming the missing ones.
pub fn check_live() -> Result<()> {
    let eff = caps::read(None, CapSet::Effective).context("reading the capability sets")?;
    let missing: Vec<String> = NEEDED
        .iter()
        .filter(|(c, alt, _)| !eff.contains(c) && !alt.is_some_and(|a| eff.contains(&a)))
        .map(|(c, alt, why)| match alt {
            Some(a) => format!("{c} (or {a}) to {why}"),
            None => format!("{c} to {why}"),
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "live capture is missing capabilities: {}. Run the sensor as root (e.g. `cargo xtask \
             run`), or grant them: systemd AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_NET_RAW \
             (deploy/systemd), Kubernetes securityContext.capabilities.add [BPF, NET_ADMIN, \
             NET_RAW] (deploy/k8s)",
            missing.join("; ")
        );
    }
    Ok(())
}

/// What [`drop_after_startup`] left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Kept {
    /// Capabilities still permitted and effective.
    pub caps: Vec<String>,
    /// The bounding set could not be emptied (no CAP_SETPCAP); no_new_privs still prevents
    /// regaining anything through exec.
    pub bounding_kept: bool,
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// Drop every capability but those needed after start-up. Must run while the process has one
/// thread. `map_probe` reads a BPF map through an existing fd: when it fails without CAP_BPF,
/// CAP_BPF is kept (old kernels).
pub fn drop_after_startup(keep_ptrace: bool, map_probe: &mut dyn FnMut() -> bool) -> Result<Kept> {
    let n = threads();
    if n > 1 {
        bail!("internal error: capabilities must be dropped before threads start ({n} threads)");
    }
    let permitted = caps::read(None, CapSet::Permitted)?;
    let mut keep = CapsHashSet::new();
    if keep_ptrace {
        for c in [Capability::CAP_SYS_PTRACE, Capability::CAP_DAC_READ_SEARCH] {
            if permitted.contains(&c) {
                keep.insert(c);
            }
        }
    }
    let had_bpf = permitted.contains(&Capability::CAP_BPF);
    // 1. The bounding set (needs CAP_SETPCAP in the effective set, so first; it limits only
    //    what exec could grant, so CAP_BPF can go even if the probe below keeps it permitted).
    let can_bound = caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)?;
    if can_bound {
        for c in caps::all() {
            if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c)? {
                caps::drop(None, CapSet::Bounding, c)?;
            }
        }
    }
    // 2. Never regain anything through exec.
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        );
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    // 3. Effective = keep; permitted = keep (+ CAP_BPF until the probe says it is not needed).
    caps::set(None, CapSet::Effective, &keep)?;
    let mut perm = keep.clone();
    if had_bpf {
        perm.insert(Capability::CAP_BPF);
    }
    caps::set(None, CapSet::Permitted, &perm)?;
    if had_bpf {
        if map_probe() {
            caps::drop(None, CapSet::Permitted, Capability::CAP_BPF)?;
        } else {
            caps::raise(None, CapSet::Effective, Capability::CAP_BPF)?;
            keep.insert(Capability::CAP_BPF);
            eprintln!(
                "sensor: this kernel needs CAP_BPF to read BPF maps through existing descriptors \
                 (kernel.unprivileged_bpf_disabled before Linux 6.5): keeping CAP_BPF"
            );
        }
    }
    let mut names: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
    names.sort();
    Ok(Kept {
        caps: names,
        bounding_kept: !can_bound,
    })
}
