//! Fuzz the mysql dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some("{max_rows: 2, max_row_length: 8, statement_timeout: 1s}");

static TARGET: Target = Target::new(ProtoId::Mysql, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
