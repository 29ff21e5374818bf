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
        // The speech server's own output and the supervisor's and metrics'
        // start/stop lines are kept at info: they are what an operator reads
        // in the logs viewer and the JSON files when speech goes wrong.
        0 => "warn,pulseaudio=off,asr_server=info,tonnytray::server=info,tonnytray::telemetry=info",
        1 => "info,pulseaudio=off",
        _ => "debug",
    };
    // The desktop app runs for days: it also keeps JSON logs on disk. The
    // subcommands are short and speak on the terminal.
    let json_dir = if cli.command.is_none() {
        tonnytray::telemetry::default_log_dir()
    } else {
        None
    };
    let logs = tonnytray::telemetry::init(default, json_dir.as_deref());
    tonnytray::telemetry::crash::log_panics();
    if let Err(e) = tonnytray::telemetry::crash::no_core_files() {
        tracing::warn!("cannot turn off core files: {e}");
    }
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
