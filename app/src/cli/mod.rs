//! The headless subcommands: the same pipeline as the app, driven from a
//! terminal. Results go to stdout; progress and problems to stderr.
//!
//! Exit codes: 0 done, 1 the server was lost for good, 2 bad input (file,
//! URL, usage), 3 cannot connect to the speech server, 4 audio device problem.

pub mod devices;
pub mod listen;
pub mod secret;
pub mod store;
pub mod transcribe;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::config::{DEFAULT_SERVER_URL, SERVER_URL_ENV, validate_server_url};
use crate::messages::{FailureKind, PipelineEvent};
use crate::runtime::Pipeline;

/// Talk to your computer: dictation through a WhisperLiveKit speech server.
#[derive(Debug, Parser)]
#[command(name = "tonnytray", version, about)]
pub struct Cli {
    /// What to do; without a subcommand the desktop app starts.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings file for the desktop app (default: the XDG config dir).
    #[arg(long, value_name = "FILE", global = true)]
    pub settings: Option<std::path::PathBuf>,
    /// The history store file (default: the XDG data dir; also $TONNYTRAY_DB).
    #[arg(long, value_name = "FILE", global = true)]
    pub db: Option<std::path::PathBuf>,
    /// Start the desktop app with its window hidden in the tray.
    #[arg(long)]
    pub hidden: bool,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// What `tonnytray ptt` does with the hotkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PttAction {
    /// The key went down.
    Press,
    /// The key came up.
    Release,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Transcribe a WAV file (any rate and channel count) and print the text.
    Transcribe(transcribe::TranscribeArgs),
    /// Dictate from the microphone, printing words as they are committed.
    Listen(listen::ListenArgs),
    /// List audio input devices (the default is marked with *).
    Devices,
    /// Print the running app's state and transcript log as JSON.
    Status,
    /// Start or stop dictation in the running app (for desktop shortcuts).
    Toggle,
    /// Press or release the running app's hotkey: for a compositor's own
    /// key bindings where global hotkeys are not offered (Wayland). Bind
    /// `ptt press` to the key going down and `ptt release` to it coming up;
    /// the hotkey mode (push-to-talk or toggle) decides what they do.
    Ptt {
        /// `press` or `release`.
        #[arg(value_enum)]
        action: PttAction,
    },
    /// Quit the running app.
    Quit,
    /// Keep a token or key in the OS keyring (`secret set n8n-token` reads it
    /// from standard input), remove one, or list which are set.
    Secret(secret::SecretArgs),
    /// Switch the running app to another household profile.
    Profile {
        /// The profile's name.
        name: String,
        /// Read an admin's PIN from standard input (leaving a kid or guest
        /// profile needs one).
        #[arg(long)]
        pin_stdin: bool,
    },
    /// List or search what was said (`history search TEXT`).
    History(store::HistoryArgs),
    /// Write the whole history to a JSON file.
    Export {
        /// The file to write.
        #[arg(long, value_name = "FILE.json")]
        out: std::path::PathBuf,
    },
    /// Add the utterances of an exported JSON file.
    Import {
        /// The file to read.
        file: std::path::PathBuf,
    },
    /// Make a compressed, timestamped backup of the store (safe while the app runs).
    Backup(store::BackupArgs),
    /// Replace the store with a backup (quit the app first); a safety backup is made.
    Restore {
        /// The backup file (`tonnytray backup --list` shows them).
        file: std::path::PathBuf,
    },
    /// Bring the store to the current schema, or show its version.
    Migrate {
        /// Only show the schema version and the steps.
        #[arg(long)]
        status: bool,
    },
}

/// Where the speech server is.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// WhisperLiveKit WebSocket URL.
    #[arg(long = "server", value_name = "URL", env = SERVER_URL_ENV, default_value = DEFAULT_SERVER_URL)]
    pub url: String,
}

/// Exit codes (see the module doc).
pub mod exit {
    /// The server was lost for good, or another failure.
    pub const FAILED: u8 = 1;
    /// Bad input: file, URL or usage.
    pub const BAD_INPUT: u8 = 2;
    /// The speech server could not be reached.
    pub const CANNOT_CONNECT: u8 = 3;
    /// The audio device failed.
    pub const AUDIO: u8 = 4;
}

/// Where the store and settings are, for the store subcommands.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// `--db`.
    pub db: Option<std::path::PathBuf>,
    /// `--settings`.
    pub settings: Option<std::path::PathBuf>,
}

/// Runs one subcommand.
pub fn run(command: Command, paths: &Paths) -> ExitCode {
    let (db, settings) = (paths.db.as_deref(), paths.settings.as_deref());
    match command {
        Command::History(args) => store::history(&args, db, settings),
        Command::Export { out } => store::export(&out, db, settings),
        Command::Import { file } => store::import(&file, db, settings),
        Command::Backup(args) => store::backup(&args, db, settings),
        Command::Restore { file } => store::restore(&file, db, settings),
        Command::Migrate { status } => store::migrate(status, db, settings),
        Command::Transcribe(args) => transcribe::run(&args),
        Command::Listen(args) => listen::run(&args),
        Command::Devices => devices::run(),
        Command::Status => ask_running_app("status"),
        Command::Toggle => ask_running_app("toggle"),
        Command::Ptt { action } => ask_running_app(match action {
            PttAction::Press => "ptt press",
            PttAction::Release => "ptt release",
        }),
        Command::Quit => ask_running_app("quit"),
        Command::Profile { name, pin_stdin } => switch_profile(&name, pin_stdin),
        Command::Secret(args) => secret::run(&args),
    }
}

/// `tonnytray profile NAME [--pin-stdin]`: the PIN comes from standard
/// input, never from the command line (where `ps` and shell history would
/// show it).
fn switch_profile(name: &str, pin_stdin: bool) -> ExitCode {
    let mut request = serde_json::json!({ "name": name });
    if pin_stdin {
        let mut pin = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut pin) {
            eprintln!("tonnytray: cannot read the PIN from standard input: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
        request["pin"] = serde_json::Value::String(pin.trim().to_owned());
    }
    ask_running_app(&format!("profile {request}"))
}

/// Sends a request to the running desktop app and prints its reply.
fn ask_running_app(request: &str) -> ExitCode {
    match crate::instance::request(request) {
        Ok(reply) if reply.starts_with("error") => {
            eprintln!("tonnytray: {reply}");
            ExitCode::from(exit::FAILED)
        }
        Ok(reply) => {
            #[allow(clippy::print_stdout)] // the reply is this command's output
            {
                println!("{reply}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "tonnytray: the app is not running ({}: {e}); start it with `tonnytray`",
                crate::instance::socket_path().display()
            );
            ExitCode::from(exit::CANNOT_CONNECT)
        }
    }
}

impl ServerArgs {
    /// The URL, checked; prints the problem and gives the exit code on error.
    fn checked(&self) -> Result<&str, ExitCode> {
        validate_server_url(&self.url).map_err(|e| {
            eprintln!("tonnytray: {e}");
            ExitCode::from(exit::BAD_INPUT)
        })?;
        Ok(&self.url)
    }
}

/// How a pipeline run ended.
pub(crate) enum Outcome {
    /// Every word, and the server's flush time.
    Finished { text: String, flush_time: Duration },
    /// Gave up.
    Failed(FailureKind, String),
}

impl Outcome {
    fn exit_code(kind: FailureKind) -> ExitCode {
        ExitCode::from(match kind {
            FailureKind::CannotConnect => exit::CANNOT_CONNECT,
            FailureKind::ServerLost => exit::FAILED,
            FailureKind::Audio => exit::AUDIO,
        })
    }
}

/// When to end the source early.
pub(crate) struct StopWhen {
    /// After this long.
    pub after: Option<Duration>,
    /// When this flag is set (Ctrl+C).
    pub flag: Option<Arc<AtomicBool>>,
}

/// Runs the pipeline to its end, reporting progress on stderr and live
/// transcript updates to `on_transcript`.
pub(crate) fn drive(
    pipeline: &Pipeline,
    stop: &StopWhen,
    mut on_transcript: impl FnMut(&str, &str),
) -> Outcome {
    let started = Instant::now();
    let mut stopping = false;
    loop {
        if !stopping {
            let timed_out = stop.after.is_some_and(|d| started.elapsed() >= d);
            let interrupted = stop
                .flag
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed));
            if timed_out || interrupted {
                eprintln!("tonnytray: stopping; waiting for the last words");
                pipeline.stop_source();
                stopping = true;
            }
        }
        let Ok(event) = pipeline.events().recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match event {
            PipelineEvent::SourceStarted {
                name,
                sample_rate,
                channels,
            } => {
                eprintln!("tonnytray: audio from {name} ({sample_rate} Hz, {channels} ch)");
            }
            PipelineEvent::Connected { resending_secs } if resending_secs > 0.0 => {
                eprintln!(
                    "tonnytray: connected; re-sending {resending_secs:.1} s of untranscribed audio"
                );
            }
            PipelineEvent::Connected { .. } => eprintln!("tonnytray: connected"),
            PipelineEvent::Transcript {
                committed,
                tentative,
            } => on_transcript(&committed, &tentative),
            PipelineEvent::Disconnected {
                reason,
                retry_in,
                ever_connected,
            } => {
                let what = if ever_connected {
                    "lost the speech server"
                } else {
                    "cannot reach the speech server"
                };
                eprintln!(
                    "tonnytray: {what} ({reason}); retrying in {:.1} s, audio is kept",
                    retry_in.as_secs_f64()
                );
            }
            PipelineEvent::ServerWarning(w) => eprintln!("tonnytray: warning: {w}"),
            PipelineEvent::Level(_) | PipelineEvent::SpeechStarted | PipelineEvent::SpeechEnded => {
            }
            PipelineEvent::Overflow { samples } => {
                eprintln!("tonnytray: warning: {samples} input samples lost (system too busy)");
            }
            PipelineEvent::DeviceLost(why) => {
                eprintln!("tonnytray: {why}; finishing with what was heard");
            }
            PipelineEvent::DeviceChanged { lost, now } => {
                eprintln!(
                    "tonnytray: {lost}; now listening on {now:?}, nothing heard before is lost"
                );
            }
            PipelineEvent::Finished { text, flush_time } => {
                return Outcome::Finished { text, flush_time };
            }
            PipelineEvent::Failed(kind, message) => return Outcome::Failed(kind, message),
        }
    }
}
