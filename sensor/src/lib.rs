//! The sensor: capture → decode → flows → TCP reassembly → dissectors → ECS events → output.
//!
//! The architecture is described in `shared/docs/DESIGN.md`; the event contract in
//! `shared/docs/EVENTS.md`. `capture` feeds the `pipeline` with packets (from a pcap/pcapng file
//! or, later, AF_XDP sockets); the pipeline owns the flow table, the reassemblers and the
//! dissector sessions, and hands finished events to an `output` sink.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "tests may panic on purpose"
    )
)]

pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod ecs;
pub mod flow;
pub mod hostinfo;
pub mod live;
pub mod output;
pub mod pipeline;
pub mod privs;
pub mod processors;
pub mod procs;
pub mod proto;
pub mod reassembly;
pub mod replay;
pub mod telemetry;
pub mod time;
