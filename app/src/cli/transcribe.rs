//! `tonnytray transcribe FILE.wav`: streams a WAV file through resampling
//! and the ASR worker, prints the final transcript as one line on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{Outcome, ServerArgs, StopWhen, drive, exit};
use crate::asr::AsrWorkerConfig;
use crate::audio::wav;
use crate::audio::worker::Source;
use crate::runtime::Pipeline;

/// Arguments of `transcribe`.
#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// The WAV file (PCM or float, any rate and channel count).
    pub file: PathBuf,
    /// Send audio at real-time pace, as a microphone would.
    #[arg(long)]
    pub realtime: bool,
    /// Print timings as JSON on stderr (a line starting with "timings: ").
    #[arg(long)]
    pub timings: bool,
    /// Speech server.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Runs the subcommand.
pub fn run(args: &TranscribeArgs) -> ExitCode {
    let url = match args.server.checked() {
        Ok(url) => url.to_owned(),
        Err(code) => return code,
    };
    let audio = match wav::read(&args.file) {
        Ok(audio) => audio,
        Err(e) => {
            eprintln!("tonnytray: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let audio_secs = audio.duration().as_secs_f64();
    eprintln!(
        "tonnytray: transcribing {:.1} s of audio with {url}",
        audio_secs
    );
    let mut config = AsrWorkerConfig::new(url);
    config.reconnect.fail_fast = true;
    let source = Source::Wav {
        path: args.file.clone(),
        audio: Arc::new(audio),
        realtime: args.realtime,
        gate: None,
    };
    let started = std::time::Instant::now();
    let pipeline = match Pipeline::start(source, config, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tonnytray: cannot start the pipeline: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let stop = StopWhen {
        after: None,
        flag: None,
    };
    let outcome = drive(&pipeline, &stop, |_, _| {});
    pipeline.shutdown();
    match outcome {
        Outcome::Finished { text, flush_time } => {
            if args.timings {
                eprintln!(
                    "timings: {{\"audio_secs\":{audio_secs:.3},\"wall_secs\":{:.3},\"end_to_final_ms\":{:.1}}}",
                    started.elapsed().as_secs_f64(),
                    flush_time.as_secs_f64() * 1000.0
                );
            }
            #[allow(clippy::print_stdout)] // stdout is this command's output
            {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Outcome::Failed(kind, message) => {
            eprintln!("tonnytray: {message}");
            Outcome::exit_code(kind)
        }
    }
}
