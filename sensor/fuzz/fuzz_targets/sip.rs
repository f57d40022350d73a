//! Fuzz the sip dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> =
    Some("{parse_authorization: false, parse_body: false, keep_original: false}");

static TARGET: Target = Target::new(ProtoId::Sip, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
