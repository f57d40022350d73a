//! Fuzz the thrift dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some(
    "{transport_type: framed, protocol_type: compact, string_max_size: 4, collection_max_size: 2, \
     capture_reply: false, obfuscate_strings: true, drop_after_n_struct_fields: 2}",
);

static TARGET: Target = Target::new(ProtoId::Thrift, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
