//! Fuzz the redis dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some("{queue_max_bytes: 64, queue_max_messages: 2}");

static TARGET: Target = Target::new(ProtoId::Redis, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
