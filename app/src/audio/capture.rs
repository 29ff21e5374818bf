//! Microphone capture with cpal. The stream's real-time callback only pushes
//! into the [`RingWriter`]: no allocation, lock or log there. Stream errors
//! (a device unplugged) arrive on a channel the `audio` thread polls.
//!
//! A cpal stream must stay on the thread that built it on some platforms, so
//! [`open`] is called on the `audio` thread and the [`Capture`] lives there.

use std::sync::mpsc::{self, Receiver};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::ring::{RingReader, RingWriter, ring};

/// Seconds of audio the ring holds before samples are lost (and counted).
const RING_SECONDS: usize = 4;

/// How much audio the sound server hands over at a time, in milliseconds.
/// Left to itself PulseAudio gives a record stream 2 s fragments (its
/// default fragment size), so the first words of every utterance reached the
/// speech server 2 s late; 50 ms keeps that delay small without waking the
/// `audio` thread more than 20 times a second.
const CHUNK_MS: u32 = 50;

/// Why capture could not start or list devices.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// No input device at all.
    #[error("no microphone found (is an input device connected, and is the sound server running?)")]
    NoDevice,
    /// The named device does not exist.
    #[error("no input device named {wanted:?}; available: {available}")]
    NotFound {
        /// What was asked for.
        wanted: String,
        /// What there is.
        available: String,
    },
    /// The device refused to open.
    #[error("cannot open input device {device:?}: {detail}")]
    Open {
        /// The device.
        device: String,
        /// What the audio host said.
        detail: String,
    },
    /// The audio system could not be queried.
    #[error("cannot list audio devices: {0}")]
    Host(String),
}

/// One input device, for listing.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Name as shown to the user.
    pub name: String,
    /// Stable id such as `pulseaudio:vmic`; `--device` accepts it (or the part
    /// after the colon, or the name).
    pub id: String,
    /// Whether it is the system default input.
    pub is_default: bool,
    /// Default configuration.
    pub config: String,
}

/// A running capture stream; stops when dropped.
pub struct Capture {
    _stream: cpal::Stream,
    /// Device name.
    pub name: String,
    /// Device id (`pulseaudio:vmic`): names are not unique.
    pub id: String,
    /// Native rate.
    pub sample_rate: u32,
    /// Native channel count.
    pub channels: u16,
    /// Stream errors, as text.
    pub errors: Receiver<String>,
}

fn id_of(d: &cpal::Device) -> String {
    d.id().map(|i| i.to_string()).unwrap_or_default()
}

/// The audio host: PulseAudio (which PipeWire also serves) where a sound
/// server answers, else the platform default (ALSA on Linux). Measured here:
/// cpal's ALSA capture through the PulseAudio plugin kept its thread at
/// 11–27 % of a core, even in silence, against a 2 % budget.
pub fn host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    if let Ok(host) = cpal::host_from_id(cpal::HostId::PulseAudio) {
        return host;
    }
    cpal::default_host()
}

/// Lists the input devices of the default host that can be opened now, the
/// default input first.
///
/// # Errors
/// When the audio host cannot enumerate devices.
pub fn list_input_devices() -> Result<Vec<DeviceInfo>, CaptureError> {
    let host = host();
    let default = host.default_input_device();
    let default_id = default.as_ref().map(id_of);
    let devices = host
        .input_devices()
        .map_err(|e| CaptureError::Host(e.to_string()))?;
    let mut out: Vec<DeviceInfo> = Vec::new();
    for d in default.into_iter().chain(devices) {
        let id = id_of(&d);
        if out.iter().any(|o| o.id == id) {
            continue;
        }
        // Devices that cannot report a configuration cannot be opened either.
        let Ok(c) = d.default_input_config() else {
            continue;
        };
        out.push(DeviceInfo {
            is_default: default_id.as_deref() == Some(id.as_str()),
            name: d.to_string(),
            id,
            config: format!(
                "{} Hz, {} ch, {}",
                c.sample_rate(),
                c.channels(),
                c.sample_format()
            ),
        });
    }
    Ok(out)
}

/// Whether the input device `id` is still there: `None` when the host
/// cannot list its devices. A sound server moves a stream whose source
/// went away to its default source without a stream error (PulseAudio and
/// PipeWire do), so this is how the app learns that it happened.
/// Also `None` when `id` has no host part or the host now answering is
/// another (PulseAudio gone, ALSA in its place: its ids never match).
#[must_use]
pub fn input_present(id: &str) -> Option<bool> {
    let (host_part, _) = id.split_once(':')?;
    let ids: Vec<String> = host().input_devices().ok()?.map(|d| id_of(&d)).collect();
    let same_host = ids
        .iter()
        .any(|i| i.split_once(':').is_some_and(|(h, _)| h == host_part));
    same_host.then(|| ids.iter().any(|i| i == id))
}

/// The default input's name, if there is one.
#[must_use]
pub fn default_input_name() -> Option<String> {
    host().default_input_device().map(|d| d.to_string())
}

/// Whether `wanted` names this device: its id (`pulseaudio:vmic`), the id
/// without the host (`vmic`), or its name.
fn matches_exactly(d: &cpal::Device, wanted: &str) -> bool {
    let id = id_of(d);
    id == wanted
        || id.split_once(':').is_some_and(|(_, short)| short == wanted)
        || d.to_string() == wanted
}

fn find_device(host: &cpal::Host, wanted: Option<&str>) -> Result<cpal::Device, CaptureError> {
    let Some(wanted) = wanted else {
        return host.default_input_device().ok_or(CaptureError::NoDevice);
    };
    let devices: Vec<cpal::Device> = host
        .default_input_device()
        .into_iter()
        .chain(
            host.input_devices()
                .map_err(|e| CaptureError::Host(e.to_string()))?,
        )
        .collect();
    let exact = devices.iter().position(|d| matches_exactly(d, wanted));
    let loose = || {
        let w = wanted.to_lowercase();
        devices
            .iter()
            .position(|d| d.to_string().to_lowercase().contains(&w))
    };
    match exact.or_else(loose) {
        Some(i) => devices.into_iter().nth(i).ok_or(CaptureError::NoDevice),
        None => Err(CaptureError::NotFound {
            wanted: wanted.to_owned(),
            available: devices.iter().map(id_of).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Opens `device` (or the default input) and starts capturing.
///
/// # Errors
/// [`CaptureError`] naming the device and what went wrong.
pub fn open(device: Option<&str>) -> Result<(Capture, RingReader), CaptureError> {
    let host = host();
    let device = find_device(&host, device)?;
    let name = device.to_string();
    let id = id_of(&device);
    let open_err = |detail: String| CaptureError::Open {
        device: name.clone(),
        detail,
    };
    let supported = device
        .default_input_config()
        .map_err(|e| open_err(e.to_string()))?;
    let sample_rate = supported.sample_rate();
    let channels = supported.channels();
    let format = supported.sample_format();
    let chunk = chunk_frames(supported.buffer_size(), sample_rate);
    let mut config: cpal::StreamConfig = supported.into();
    config.buffer_size = chunk;
    let started = start(&device, &config, format).or_else(|e| {
        // A host that refuses the chunk size still records with its own.
        if config.buffer_size == cpal::BufferSize::Default {
            return Err(e);
        }
        tracing::debug!(error = %e, "the device refused {CHUNK_MS} ms chunks; using its default");
        config.buffer_size = cpal::BufferSize::Default;
        start(&device, &config, format)
    });
    let (stream, reader, errors) = started.map_err(open_err)?;
    Ok((
        Capture {
            _stream: stream,
            name,
            id,
            sample_rate,
            channels,
            errors,
        },
        reader,
    ))
}

/// [`CHUNK_MS`] of frames where the device says what it supports, within
/// its range; otherwise the host's default.
fn chunk_frames(supported: &cpal::SupportedBufferSize, sample_rate: u32) -> cpal::BufferSize {
    match *supported {
        cpal::SupportedBufferSize::Range { min, max } if min <= max => {
            cpal::BufferSize::Fixed((sample_rate * CHUNK_MS / 1000).clamp(min.max(1), max))
        }
        _ => cpal::BufferSize::Default,
    }
}

/// Builds and starts a stream into a new ring.
fn start(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: SampleFormat,
) -> Result<(cpal::Stream, RingReader, Receiver<String>), String> {
    let samples = config.sample_rate as usize * usize::from(config.channels) * RING_SECONDS;
    let (writer, reader) = ring(samples);
    let (err_tx, errors) = mpsc::channel();
    let on_error = move |e: cpal::Error| {
        // Not the data path: the error callback may allocate.
        let _ = err_tx.send(e.to_string());
    };
    let stream = match format {
        SampleFormat::I8 => build::<i8>(device, config, writer, on_error),
        SampleFormat::I16 => build::<i16>(device, config, writer, on_error),
        SampleFormat::I32 => build::<i32>(device, config, writer, on_error),
        SampleFormat::U8 => build::<u8>(device, config, writer, on_error),
        SampleFormat::U16 => build::<u16>(device, config, writer, on_error),
        SampleFormat::U32 => build::<u32>(device, config, writer, on_error),
        SampleFormat::F32 => build::<f32>(device, config, writer, on_error),
        SampleFormat::F64 => build::<f64>(device, config, writer, on_error),
        other => return Err(format!("sample format {other} is not supported")),
    }
    .map_err(|e| e.to_string())?;
    stream.play().map_err(|e| e.to_string())?;
    Ok((stream, reader, errors))
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut writer: RingWriter,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream(
        *config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            // Overflow is counted inside the writer; nothing else may happen here.
            writer.push(data);
        },
        on_error,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::{BufferSize, SupportedBufferSize};

    #[test]
    fn chunks_are_50_ms_within_what_the_device_allows() {
        let wide = SupportedBufferSize::Range {
            min: 64,
            max: 96_000,
        };
        assert_eq!(chunk_frames(&wide, 48_000), BufferSize::Fixed(2_400));
        assert_eq!(chunk_frames(&wide, 16_000), BufferSize::Fixed(800));
        let small = SupportedBufferSize::Range {
            min: 64,
            max: 1_024,
        };
        assert_eq!(chunk_frames(&small, 48_000), BufferSize::Fixed(1_024));
        let large = SupportedBufferSize::Range {
            min: 4_096,
            max: 8_192,
        };
        assert_eq!(chunk_frames(&large, 16_000), BufferSize::Fixed(4_096));
        assert_eq!(
            chunk_frames(&SupportedBufferSize::Unknown, 48_000),
            BufferSize::Default
        );
    }
}
