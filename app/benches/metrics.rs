#![allow(missing_docs)] // criterion_main! generates an undocumented main
//! What metrics cost: one recording call on the pipeline's paths (with the
//! Prometheus recorder installed, as when metrics are on), and one scrape's
//! rendering of every series after a day's worth of histogram samples.
//!
//! `cargo bench -p tonnytray --bench metrics`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tonnytray::telemetry::metrics::{self, Integration};

fn recording(c: &mut Criterion) {
    metrics::install().expect("recorder");
    let mut group = c.benchmark_group("record");
    group.bench_function("audio_frames", |b| {
        b.iter(|| metrics::audio_frames(black_box(1)));
    });
    group.bench_function("utterance_with_latency", |b| {
        b.iter(|| metrics::utterance(black_box(Some(Duration::from_millis(420)))));
    });
    group.bench_function("integration_request_labelled", |b| {
        b.iter(|| metrics::integration_request(black_box(Integration::N8n), true));
    });
    group.finish();
}

fn scrape(c: &mut Criterion) {
    metrics::install().expect("recorder");
    // A busy household's day: a few thousand utterances and commands.
    for i in 0..5_000_u64 {
        metrics::utterance(Some(Duration::from_millis(200 + i % 900)));
        metrics::n8n_latency(Duration::from_millis(80 + i % 400));
        metrics::tts_latency(Duration::from_millis(300 + i % 700));
        metrics::integration_request(Integration::N8n, i % 50 != 0);
    }
    c.bench_function("render_all_series", |b| {
        b.iter(|| black_box(metrics::render()).len());
    });
}

criterion_group!(benches, recording, scrape);
criterion_main!(benches);
