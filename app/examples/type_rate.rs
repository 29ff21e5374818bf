//! Types a sentence through the X11 XTEST typer into whatever has focus
//! and prints how long it took: the typing figure in docs/PERFORMANCE.md
//! (`ci/bench.sh typing`). Needs `DISPLAY`.

#![allow(clippy::print_stdout)] // a report printed for the reader

use std::time::{Duration, Instant};

use tonnytray::integrations::xtest::Typer;

const TEXT: &str = "Please add apples and bananas to the shopping list. Remind me to call my sister after dinner tonight.";

fn main() -> Result<(), String> {
    let delay_ms: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(12), |a| a.parse())
        .map_err(|e| format!("delay in ms: {e}"))?;
    let mut typer = Typer::connect()?;
    let started = Instant::now();
    typer
        .type_text(
            TEXT,
            Duration::from_millis(delay_ms),
            Duration::from_secs(1),
        )
        .map_err(|s| s.why)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{} characters at {delay_ms} ms delay: {ms:.0} ms ({:.2} ms a character)",
        TEXT.chars().count(),
        ms / TEXT.chars().count() as f64
    );
    Ok(())
}
