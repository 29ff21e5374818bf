//! `tonnytray`: the one binary. Parses the command line, sets up logging on
//! stderr, and runs a headless subcommand (see `tonnytray --help`). The
//! library's top-level doc (`lib.rs`) maps the modules.

use std::process::ExitCode;

use clap::Parser;
use tonnytray::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The PulseAudio client logs an error whenever a stream is closed on
    // purpose; its real failures reach us as stream errors anyway.
    let default = match cli.verbose {
        0 => "warn,pulseaudio=off",
        1 => "info,pulseaudio=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    cli::run(cli)
}
