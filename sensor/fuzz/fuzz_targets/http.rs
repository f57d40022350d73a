//! Fuzz the http dissector, one-shot and chunked (input format: `sensor_fuzz` docs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::proto::ProtoId;
use sensor_fuzz::Target;

/// Alternative protocol-specific config (flag bit 7).
const ALT: Option<&str> = Some(
    "{send_all_headers: true, split_cookie: true, real_ip_header: X-Forwarded-For, \
     include_body_for: [text, application/json, application/x-www-form-urlencoded], \
     hide_keywords: [pass, password], redact_authorization: true, redact_headers: [cookie], \
     decode_body: true, max_message_size: 4096}",
);

static TARGET: Target = Target::new(ProtoId::Http, ALT);

fuzz_target!(|data: &[u8]| TARGET.run(data));
