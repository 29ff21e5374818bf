//! `tonnytray`: the one binary. Parses the command line, sets up logging,
//! and runs the desktop app or a headless subcommand (see `tonnytray
//! --help`). The library's top-level doc (`lib.rs`) maps the modules.

use std::process::ExitCode;

use clap::Parser;
use tonnytray::cli::{self, Cli};
use tonnytray::desktop;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The PulseAudio client logs an error whenever a stream is closed on
    // purpose; its real failures reach us as stream errors anyway.
    let default = match cli.verbose {
        0 => "warn,pulseaudio=off",
        1 => "info,pulseaudio=off",
        _ => "debug",
    };
    let logs = tonnytray::telemetry::init(default);
    match cli.command {
        Some(command) => cli::run(
            command,
            &cli::Paths {
                db: cli.db,
                settings: cli.settings,
            },
        ),
        None => desktop::run(
            &desktop::DesktopOptions {
                settings: cli.settings,
                db: cli.db,
                hidden: cli.hidden,
            },
            logs,
        ),
    }
}
