//! The sensor's XDP program. For now it passes every packet; the data-plane issue adds the
//! flow counters, the port filter and the AF_XDP redirect (see `shared/docs/DESIGN.md`).
#![no_std]
#![no_main]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

/// Entry point: every error path ends in `XDP_PASS`, so the host never loses traffic.
#[xdp]
pub fn sensor(ctx: XdpContext) -> u32 {
    try_sensor(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

fn try_sensor(_ctx: &XdpContext) -> Result<u32, ()> {
    Ok(xdp_action::XDP_PASS)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel needs a GPL-compatible licence to allow the helpers we use.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
