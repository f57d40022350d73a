//! Fuzz the tls dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some(
    "{send_certificates: true, include_raw_certificates: true, include_detailed_fields: true, \
     fingerprints: [md5, sha1, sha256]}",
);

static TARGET: Target = Target::new(ProtoId::Tls, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
