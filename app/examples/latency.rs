//! Client-added latency: from a sample entering the ring buffer to its frame
//! being sent over the WebSocket.
//!
//! Feeds synthetic 48 kHz stereo f32 audio into the real pipeline in 10 ms
//! blocks at real-time pace (as a sound card's callback would), through the
//! `audio` thread (downmix, rubato, chunking) and the `asr` worker, to a
//! local WebSocket sink that timestamps every binary frame on arrival.
//! For each 100 ms frame it reports the time from its newest sample entering
//! the ring to (a) the worker handing it to ewebsock and (b) its arrival at
//! the sink. The 100 ms of framing itself is inherent and not counted.
//!
//! `cargo run --release -p tonnytray --example latency -- [SECONDS]`

#![allow(clippy::print_stdout)] // a report printed for the reader
#![allow(clippy::disallowed_methods)] // the harness's own sender thread

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonnytray::asr::AsrWorkerConfig;
use tonnytray::asr::worker::FrameSent;
use tonnytray::audio::wav::WavAudio;
use tonnytray::audio::worker::Source;
use tonnytray::messages::PipelineEvent;
use tonnytray::runtime::Pipeline;

fn main() -> anyhow::Result<()> {
    let seconds: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(30);
    let (url, arrivals) = start_sink()?;
    let audio = synthetic(48_000, 2, seconds);
    let handed: Arc<Mutex<Vec<FrameSent>>> = Arc::default();
    let record = Arc::clone(&handed);
    let observer = Box::new(move |f: FrameSent| {
        if let Ok(mut v) = record.lock() {
            v.push(f);
        }
    });
    let source = Source::Wav {
        path: "synthetic 48 kHz stereo".into(),
        audio: Arc::new(audio),
        realtime: true,
        gate: None,
    };
    let pipeline = Pipeline::start(source, AsrWorkerConfig::new(url), Some(observer))?;
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 10);
    // The sink never answers, so wait for the source to end, then a little.
    while Instant::now() < deadline {
        if let Ok(PipelineEvent::Failed(_, m)) =
            pipeline.events().recv_timeout(Duration::from_millis(200))
        {
            anyhow::bail!(m);
        }
        let sent = handed.lock().map(|v| v.len()).unwrap_or(0);
        if sent >= (seconds * 10) as usize - 1 {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
    }
    pipeline.shutdown();
    let handed = handed.lock().map(|v| v.clone()).unwrap_or_default();
    let arrivals = arrivals.lock().map(|v| v.clone()).unwrap_or_default();
    let to_handoff: Vec<f64> = handed
        .iter()
        .map(|f| ms(f.sent_at - f.entered_at))
        .collect();
    // Live frames arrive in order, one message each, after any frames sent
    // as a backlog while the connection opened (those are not observed).
    let live_arrivals = &arrivals[arrivals.len().saturating_sub(handed.len())..];
    let to_arrival: Vec<f64> = handed
        .iter()
        .zip(live_arrivals)
        .map(|(f, at)| ms(at.saturating_duration_since(f.entered_at)))
        .collect();
    println!(
        "frames: {} handed over, {} arrived",
        handed.len(),
        arrivals.len()
    );
    report("ring → handed to WebSocket", to_handoff);
    report("ring → arrived at the server socket", to_arrival);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, mut v: Vec<f64>) {
    if v.is_empty() {
        println!("{what}: no frames");
        return;
    }
    v.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        // Index into a non-empty sorted list.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i]
    };
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        pick(0.5),
        pick(0.99),
        pick(1.0),
        v.len()
    );
}

/// A WebSocket endpoint on loopback that records when each binary frame arrives.
fn start_sink() -> anyhow::Result<(String, Arc<Mutex<Vec<Instant>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("ws://{}/asr", listener.local_addr()?);
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let record = Arc::clone(&arrivals);
    std::thread::Builder::new()
        .name("sink".into())
        .spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let Ok(mut ws) = tungstenite::accept(stream) else {
                return;
            };
            while let Ok(msg) = ws.read() {
                if let tungstenite::Message::Binary(data) = msg
                    && !data.is_empty()
                    && let Ok(mut v) = record.lock()
                {
                    v.push(Instant::now());
                }
            }
        })?;
    Ok((url, arrivals))
}

fn synthetic(rate: u32, channels: u16, seconds: u32) -> WavAudio {
    let frames = (rate * seconds) as usize;
    #[allow(clippy::cast_precision_loss)]
    let samples = (0..frames)
        .flat_map(|i| {
            let t = i as f32 / rate as f32;
            let s = 0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin();
            std::iter::repeat_n(s, usize::from(channels))
        })
        .collect();
    WavAudio {
        samples,
        sample_rate: rate,
        channels,
    }
}
