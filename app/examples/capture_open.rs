//! Opens the default microphone several times and prints how long the
//! stream took to open and how the first audio arrived: the capture figures
//! in docs/PERFORMANCE.md (`ci/bench.sh capture`).
//!
//! `app` opens it as the app does (`audio::capture::open`: 50 ms chunks at
//! low latency); `server-default` builds a plain cpal stream that leaves the
//! buffer size to the sound server, as the app did before.

#![allow(clippy::print_stdout)] // a report printed for the reader

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

/// How long each stream is watched.
const WATCH: Duration = Duration::from_millis(2500);
/// Deliveries reported per run.
const SHOWN: usize = 4;

fn main() -> Result<(), String> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "app".into());
    let runs: usize = std::env::args()
        .nth(2)
        .map_or(Ok(5), |a| a.parse())
        .map_err(|e| format!("runs: {e}"))?;
    for run in 1..=runs {
        let started = Instant::now();
        let (opened, arrivals) = match mode.as_str() {
            "app" => app(started)?,
            "server-default" => server_default(started)?,
            other => return Err(format!("unknown mode {other:?}: app or server-default")),
        };
        let shown: Vec<String> = arrivals
            .iter()
            .take(SHOWN)
            .map(|(at, samples)| format!("{} ms ({samples} samples)", at.as_millis()))
            .collect();
        println!(
            "{mode} run {run}: open {} ms; first audio at {}; {} deliveries in {} ms",
            opened.as_millis(),
            shown.join(", "),
            arrivals.len(),
            WATCH.as_millis()
        );
        // Give the sound server a moment between streams, as between two
        // dictations.
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// Opens the microphone as the app does and polls its ring for audio.
fn app(started: Instant) -> Result<(Duration, Vec<(Duration, usize)>), String> {
    let (capture, mut reader) = tonnytray::audio::capture::open(None).map_err(|e| e.to_string())?;
    let opened = started.elapsed();
    let channels = usize::from(capture.channels);
    let mut arrivals = Vec::new();
    let mut buf = Vec::new();
    while started.elapsed() < opened + WATCH {
        buf.clear();
        let samples = reader.read_into(channels, &mut buf);
        if samples > 0 {
            arrivals.push((started.elapsed(), samples));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(capture);
    Ok((opened, arrivals))
}

/// A plain cpal stream with the buffer size left to the server; its
/// callback notes when audio arrives.
fn server_default(started: Instant) -> Result<(Duration, Vec<(Duration, usize)>), String> {
    let host = tonnytray::audio::capture::host();
    let device = host
        .default_input_device()
        .ok_or("no default input device")?;
    let config: cpal::StreamConfig = device
        .default_input_config()
        .map_err(|e| e.to_string())?
        .into();
    let arrivals: Arc<Mutex<Vec<(Duration, usize)>>> = Arc::default();
    let seen = Arc::clone(&arrivals);
    let stream = device
        .build_input_stream(
            config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                if let Ok(mut seen) = seen.lock() {
                    seen.push((started.elapsed(), data.len()));
                }
            },
            |e| eprintln!("stream error: {e}"),
            None,
        )
        .map_err(|e| e.to_string())?;
    stream.play().map_err(|e| e.to_string())?;
    let opened = started.elapsed();
    std::thread::sleep(WATCH);
    drop(stream);
    let arrivals = arrivals.lock().map_err(|e| e.to_string())?.clone();
    Ok((opened, arrivals))
}
