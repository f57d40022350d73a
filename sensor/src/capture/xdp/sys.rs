//! System calls the loader makes itself: interface lookup, bpf_link
//! creation (never the netlink fallback), BPF_PROG_TEST_RUN, CLOCK_BOOTTIME.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use anyhow::{anyhow, bail, Context, Result};

/// CLOCK_BOOTTIME now, in ns (the kernel's `bpf_ktime_get_boot_ns`).
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Interface index in the calling thread's network namespace.
pub(super) fn ifindex(iface: &str) -> Result<u32> {
    let name = CString::new(iface).with_context(|| format!("interface name {iface:?}"))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        bail!(
            "no network interface {iface:?} (in this network namespace): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(idx)
}

pub(super) fn ethtool_queues(iface: &str) -> Result<u32> {
    let out = std::process::Command::new("ethtool")
        .args(["-l", iface])
        .output()
        .with_context(|| format!("no /sys/class/net/{iface}/queues; running `ethtool -l`"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The second block is "Current hardware settings"; RX + Combined are the RX queues.
    let current = text
        .split("Current hardware settings:")
        .nth(1)
        .ok_or_else(|| anyhow!("cannot read the RX queues of {iface}: {text}"))?;
    let field = |name: &str| -> u32 {
        current
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok((field("RX:") + field("Combined:")).max(1))
}

/// `bpf(2)` commands and attach constants (linux/bpf.h, linux/if_link.h).
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_XDP: u32 = 37;
pub(super) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(super) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// Room for the rest of `union bpf_attr`, which the kernel requires to be zero.
const ATTR_TAIL_WORDS: usize = 12;

/// `bpf_attr` for BPF_LINK_CREATE (the fields we use, zero tail).
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    tail: [u64; ATTR_TAIL_WORDS],
}

/// Attach with a bpf_link only (never the netlink fallback): the attachment then lives exactly
/// as long as the returned fd, so a crashed sensor leaves nothing on the interface.
pub(super) fn link_create(prog_fd: RawFd, ifindex: u32, flags: u32) -> Result<OwnedFd> {
    let attr = LinkCreateAttr {
        prog_fd: u32::try_from(prog_fd).context("program fd")?,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
        tail: [0; ATTR_TAIL_WORDS],
    };
    let size = std::mem::size_of::<LinkCreateAttr>();
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix of `size` bytes for the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_LINK_CREATE, &attr as *const _, size) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        let hint = match e.raw_os_error() {
            Some(libc::EBUSY) => " (another XDP program is attached to this interface)",
            Some(libc::EOPNOTSUPP) => " (the driver has no native XDP: use skb or auto mode)",
            Some(libc::EINVAL) => " (kernel without XDP bpf_link, 5.9+, or bad flags)",
            _ => "",
        };
        bail!("bpf_link_create: {e}{hint}");
    }
    let fd = RawFd::try_from(rc).context("link fd")?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `bpf_attr` for BPF_PROG_TEST_RUN.
#[repr(C)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    tail: [u64; ATTR_TAIL_WORDS],
}

pub(super) fn prog_test_run(prog_fd: RawFd, frame: &[u8]) -> Result<u32> {
    let mut attr = TestRunAttr {
        prog_fd: u32::try_from(prog_fd).context("program fd")?,
        retval: 0,
        data_size_in: u32::try_from(frame.len()).context("frame too long")?,
        data_size_out: 0,
        data_in: frame.as_ptr() as u64,
        data_out: 0,
        repeat: 1,
        duration: 0,
        tail: [0; ATTR_TAIL_WORDS],
    };
    let size = std::mem::size_of::<TestRunAttr>();
    // SAFETY: `attr` is a valid bpf_attr prefix; `data_in` points to `frame`, alive for the call;
    // no output buffer is given (data_out = 0), so the kernel writes only into `attr`.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_TEST_RUN, &mut attr as *mut _, size) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("BPF_PROG_TEST_RUN");
    }
    Ok(attr.retval)
}
