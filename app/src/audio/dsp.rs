//! Pure signal functions: downmix, level, sample conversion.

use crate::messages::Level;

/// Averages interleaved frames of `channels` channels into `out` (appended).
/// A trailing partial frame is ignored.
pub fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels <= 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    // Channel counts are tiny; the cast cannot lose precision that matters.
    #[allow(clippy::cast_precision_loss)]
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

/// Converts a float sample (nominally -1.0..1.0) to s16, clipping. Uses the
/// same 32768 scale as the s16 → f32 conversion on the way in, so 16-bit
/// input comes out bit for bit.
pub fn to_i16(sample: f32) -> i16 {
    // Clamped to the i16 range first, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let s = (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16;
    s
}

/// RMS and peak of s16 samples, in full-scale units.
pub fn level(samples: &[i16]) -> Level {
    if samples.is_empty() {
        return Level::default();
    }
    let mut sum = 0.0_f64;
    let mut peak = 0_i32;
    for &s in samples {
        let v = i32::from(s);
        sum += f64::from(v * v);
        peak = peak.max(v.abs());
    }
    let full = f64::from(i16::MAX);
    #[allow(clippy::cast_precision_loss)]
    let mean = sum / samples.len() as f64;
    // Levels are for display; f32 is plenty.
    #[allow(clippy::cast_possible_truncation)]
    Level {
        rms: (mean.sqrt() / full).min(1.0) as f32,
        peak: (f64::from(peak) / full).min(1.0) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels() {
        let mut out = Vec::new();
        downmix_into(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.5, 0.0]);
    }

    #[test]
    fn downmix_mono_is_a_copy_and_partial_frames_are_dropped() {
        let mut out = Vec::new();
        downmix_into(&[0.1, 0.2], 1, &mut out);
        assert_eq!(out, vec![0.1, 0.2]);
        out.clear();
        downmix_into(&[0.3, 0.3, 0.3, 0.9], 3, &mut out);
        assert_eq!(out.len(), 1);
        assert!((out[0] - 0.3).abs() < 1e-6);
    }

    #[test]
    fn conversion_clips_instead_of_wrapping() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(1.0), i16::MAX);
        assert_eq!(to_i16(2.5), i16::MAX);
        assert_eq!(to_i16(-3.0), i16::MIN);
        assert_eq!(to_i16(0.5), 16_384);
        assert_eq!(to_i16(f32::NAN), 0);
    }

    #[test]
    fn sixteen_bit_input_round_trips_exactly() {
        use cpal::Sample as _;
        for v in [i16::MIN, -12_345, -1, 0, 1, 777, i16::MAX] {
            assert_eq!(to_i16(f32::from_sample(v)), v);
        }
    }

    #[test]
    fn level_of_full_scale_square_wave() {
        let l = level(&[i16::MAX, -i16::MAX, i16::MAX, -i16::MAX]);
        assert!((l.rms - 1.0).abs() < 1e-4);
        assert!((l.peak - 1.0).abs() < 1e-4);
        assert_eq!(level(&[]), Level::default());
        let quiet = level(&[0, 0, 327, 0]);
        assert!(quiet.peak > 0.009 && quiet.peak < 0.011);
        assert!(quiet.rms < quiet.peak);
    }
}
