//! Fuzz the icmp dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = None;

static TARGET: Target = Target::new(ProtoId::Icmp, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
