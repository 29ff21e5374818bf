//! `tonnytray listen`: dictates from the microphone and prints committed
//! words on stdout as they become final. Ctrl+C (or `--seconds`) stops the
//! microphone, and the last words are flushed before exit.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;

use super::{Outcome, ServerArgs, StopWhen, drive, exit};
use crate::asr::AsrWorkerConfig;
use crate::asr::transcript::NewWords;
use crate::audio::worker::Source;
use crate::runtime::Pipeline;

/// Arguments of `listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Input device: id (`pulseaudio:vmic` or `vmic`), name, or part of the name; see `tonnytray devices`.
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    /// Stop after this many seconds (default: until Ctrl+C).
    #[arg(long, value_name = "N")]
    pub seconds: Option<f64>,
    /// Speech server.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Runs the subcommand.
pub fn run(args: &ListenArgs) -> ExitCode {
    let url = match args.server.checked() {
        Ok(url) => url.to_owned(),
        Err(code) => return code,
    };
    let after = match args.seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            eprintln!("tonnytray: --seconds must be a positive number, got {s}");
            return ExitCode::from(exit::BAD_INPUT);
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    let handler = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            // A second Ctrl+C means "now": leave without waiting for the server.
            std::process::exit(130);
        }
    });
    if let Err(e) = handler {
        eprintln!("tonnytray: warning: Ctrl+C will not stop cleanly: {e}");
    }
    let mut config = AsrWorkerConfig::new(url);
    config.reconnect.fail_fast = true;
    let source = Source::Microphone {
        device: args.device.clone(),
        gate: None,
    };
    let pipeline = match Pipeline::start(source, config, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tonnytray: cannot start the pipeline: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    eprintln!("tonnytray: listening; Ctrl+C stops");
    let stop = StopWhen {
        after,
        flag: Some(interrupted),
    };
    let mut words = NewWords::default();
    let mut out = std::io::stdout().lock();
    let mut printed_any = false;
    let mut print = |piece: Option<String>, out: &mut std::io::StdoutLock<'_>| {
        if let Some(piece) = piece {
            let sep = if printed_any { " " } else { "" };
            let _ = write!(out, "{sep}{piece}");
            let _ = out.flush();
            printed_any = true;
        }
    };
    let outcome = drive(&pipeline, &stop, |committed, _| {
        print(words.take(committed, false), &mut out);
    });
    pipeline.shutdown();
    match outcome {
        Outcome::Finished { text, .. } => {
            print(words.take(&text, true), &mut out);
            let _ = writeln!(out);
            ExitCode::SUCCESS
        }
        Outcome::Failed(kind, message) => {
            let _ = writeln!(out);
            eprintln!("tonnytray: {message}");
            Outcome::exit_code(kind)
        }
    }
}
