//! Fuzz the capture reader (`sensor::capture::pcap::read_from`, pcap and pcapng) feeding a whole
//! pipeline with the default config (every protocol enabled); every output line must be JSON.
#![no_main]

use std::io::Write;
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use sensor::capture::pcap::read_from;
use sensor::config::Config;
use sensor::output::Output;
use sensor::pipeline::Pipeline;

/// Collects the output lines.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let sink = Sink::default();
    let mut p = Pipeline::new(
        Config::default(),
        Output::from_writer(Box::new(sink.clone())),
    );
    let _ = read_from(data, &mut |link, ts, frame, wire_len| {
        p.frame(link, ts, frame, wire_len)
    });
    p.finish();
    drop(p);
    let out = sink.0.lock().unwrap();
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
            panic!(
                "output line is not JSON ({e}): {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
});
