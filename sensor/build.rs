//! Embeds the XDP object: `SENSOR_EBPF_OBJECT` (set by `cargo xtask build|run|test`) is copied to
//! `$OUT_DIR/sensor.bpf.o`; without it an empty file is written, and loading the data plane then
//! fails with a message saying how to build the object (`sensor::capture::xdp`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SENSOR_EBPF_OBJECT");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        println!("cargo:warning=OUT_DIR is not set; cannot embed the XDP object");
        return;
    };
    let dest = PathBuf::from(out_dir).join("sensor.bpf.o");
    let object = std::env::var_os("SENSOR_EBPF_OBJECT").map(PathBuf::from);
    let copied = match &object {
        Some(src) if src.is_file() => {
            println!("cargo:rerun-if-changed={}", src.display());
            match std::fs::copy(src, &dest) {
                Ok(_) => true,
                Err(e) => {
                    println!(
                        "cargo:warning=cannot copy the XDP object {}: {e}",
                        src.display()
                    );
                    false
                }
            }
        }
        Some(src) => {
            // Rebuild once the object appears.
            println!("cargo:rerun-if-changed={}", src.display());
            println!(
                "cargo:warning=SENSOR_EBPF_OBJECT={} does not exist; embedding no XDP object",
                src.display()
            );
            false
        }
        None => false,
    };
    if !copied {
        if let Err(e) = std::fs::write(&dest, b"") {
            println!("cargo:warning=cannot write {}: {e}", dest.display());
        }
    }
}
