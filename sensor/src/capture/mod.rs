//! Packet sources. `pcap` replays capture files; live AF_XDP capture comes with the data plane.
//! Both feed the same [`crate::pipeline::Pipeline`].

pub mod afxdp;
pub mod iface;
pub mod pcap;
pub mod xdp;
