//! Fuzz the amqp dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some("{max_body_length: 4, parse_headers: false, parse_arguments: false, hide_connection_information: false}");

static TARGET: Target = Target::new(ProtoId::Amqp, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
