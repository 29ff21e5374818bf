//! `tonnytray devices`: lists audio input devices, the default marked with `*`.

use std::process::ExitCode;

use super::exit;
use crate::audio::capture;

/// Runs the subcommand.
pub fn run() -> ExitCode {
    match capture::list_input_devices() {
        Ok(devices) if devices.is_empty() => {
            eprintln!("tonnytray: no input devices found");
            ExitCode::from(exit::AUDIO)
        }
        Ok(devices) => {
            for d in devices {
                let mark = if d.is_default { '*' } else { ' ' };
                #[allow(clippy::print_stdout)] // the listing is this command's output
                {
                    println!("{mark} {:<16} {}  ({})", d.id, d.name, d.config);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tonnytray: {e}");
            ExitCode::from(exit::AUDIO)
        }
    }
}
