//! Thin binary: parse the command line, run the library.

use clap::Parser;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = sensor::cli::Cli::parse();
    match sensor::cli::main_with(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sensor: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
