//! Types a sentence through the app's own `typing` thread into whatever has
//! focus and prints how long it took: the typing figures in
//! docs/PERFORMANCE.md (`ci/bench.sh typing`, `ci/bench.sh typing-wayland`).
//! XTEST on X11 (`DISPLAY`), the virtual keyboard on Wayland
//! (`WAYLAND_DISPLAY`), as the app itself would choose; with a second
//! argument `clipboard`, through the paste fallback instead.

#![allow(clippy::print_stdout)] // a report printed for the reader

use std::time::Instant;

use tonnytray::config::settings::{TypingMethod, TypingSettings};
use tonnytray::integrations::typing::{self, TypeJob, TypeResult};

const TEXT: &str = "Please add apples and bananas to the shopping list. Remind me to call my sister after dinner tonight.";

fn main() -> Result<(), String> {
    let delay_ms: u32 = std::env::args()
        .nth(1)
        .map_or(Ok(12), |a| a.parse())
        .map_err(|e| format!("delay in ms: {e}"))?;
    let (results_tx, results) = std::sync::mpsc::channel();
    let (jobs, _thread) = typing::spawn(move |r| {
        let _ = results_tx.send(r);
    })
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    jobs.send(TypeJob {
        utterance: 1,
        text: TEXT.to_owned(),
        settings: TypingSettings {
            delay_ms,
            method: if std::env::args().nth(2).as_deref() == Some("clipboard") {
                TypingMethod::Clipboard
            } else {
                TypingMethod::Auto
            },
            ..TypingSettings::default()
        },
        focus_wait: std::time::Duration::ZERO,
    })
    .map_err(|e| e.to_string())?;
    match results.recv().map_err(|e| e.to_string())? {
        TypeResult::Typed { .. } => {}
        other => return Err(format!("not typed: {other:?}")),
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let chars = TEXT.chars().count();
    println!(
        "{chars} characters at {delay_ms} ms delay: {ms:.0} ms ({:.2} ms a character, {:.0} characters a second)",
        ms / chars as f64,
        chars as f64 * 1000.0 / ms
    );
    Ok(())
}
