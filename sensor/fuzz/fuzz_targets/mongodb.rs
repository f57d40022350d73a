//! Fuzz the mongodb dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some("{max_docs: 2, max_doc_length: 16}");

static TARGET: Target = Target::new(ProtoId::Mongodb, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
