#![allow(missing_docs)] // criterion_main! generates an undocumented main
//! Resampler throughput: one second of device audio through the whole
//! conversion (sample format → f32, downmix, rubato, quantise, chunking) to
//! 16 kHz mono s16. Real-time factor = 1 s / time per iteration.
//!
//! `cargo bench -p tonnytray --bench resample`

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tonnytray::audio::processor::Processor;
use tonnytray::audio::ring::ring;

fn speechlike(rate: u32, channels: u16) -> Vec<f32> {
    let n = rate as usize * usize::from(channels);
    #[allow(clippy::cast_precision_loss)]
    (0..n)
        .map(|i| {
            let t = (i / usize::from(channels)) as f32 / rate as f32;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 3_100.0 * t).sin()
        })
        .collect()
}

fn convert_one_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("to_16k_mono_s16");
    group.throughput(Throughput::Elements(1)); // one second of audio per iteration

    let f32_48k = speechlike(48_000, 2);
    group.bench_function("48kHz_stereo_f32", |b| {
        let mut p = Processor::new(48_000, 2).expect("processor");
        let now = Instant::now();
        b.iter(|| {
            let mut out = 0_usize;
            // 10 ms device callbacks, as a sound card delivers them.
            for block in f32_48k.chunks(960) {
                p.push(black_box(block), now, &mut |c| out += c.samples.len());
            }
            black_box(out)
        });
    });

    #[allow(clippy::cast_possible_truncation)]
    let i16_44k: Vec<i16> = speechlike(44_100, 2)
        .iter()
        .map(|s| (s * f32::from(i16::MAX)) as i16)
        .collect();
    group.bench_function("44.1kHz_stereo_i16", |b| {
        let mut p = Processor::new(44_100, 2).expect("processor");
        let (mut writer, mut reader) = ring(i16_44k.len() * 2);
        let mut buf = Vec::with_capacity(i16_44k.len());
        let now = Instant::now();
        b.iter(|| {
            let mut out = 0_usize;
            // i16 → f32 happens in the ring writer, as in the capture callback.
            for block in i16_44k.chunks(882) {
                writer.push(black_box(block));
                buf.clear();
                reader.read_into(2, &mut buf);
                p.push(&buf, now, &mut |c| out += c.samples.len());
            }
            black_box(out)
        });
    });
    group.finish();
}

criterion_group!(benches, convert_one_second);
criterion_main!(benches);
