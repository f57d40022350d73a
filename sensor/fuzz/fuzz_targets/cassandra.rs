//! Fuzz the cassandra dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> =
    Some("{compressor: snappy, send_request_header: false, send_response_header: false}");

static TARGET: Target = Target::new(ProtoId::Cassandra, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
