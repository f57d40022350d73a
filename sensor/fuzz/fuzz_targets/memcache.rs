//! Fuzz the memcache dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> =
    Some("{parseunknown: true, maxvalues: -1, maxbytespervalue: 16, udptransactiontimeout: 1s}");

static TARGET: Target = Target::new(ProtoId::Memcache, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
