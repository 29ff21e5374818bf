//! TonnyTray: talk to your computer.
//!
//! Module map (who owns what; see `shared/design/ARCHITECTURE.md` for the target):
//! - [`audio`]: microphone/WAV capture into a ring buffer, downmix, resampling to
//!   16 kHz mono s16, input level. Runs on the dedicated `audio` thread. Also
//!   playback of spoken replies (cpal output).
//! - [`asr`]: the WhisperLiveKit protocol (pure types), transcript assembly, and
//!   the WebSocket worker on the `asr` thread that never loses uncommitted audio.
//! - [`messages`]: every type that crosses a thread boundary (the
//!   pipeline's; the History tab's filter and view rows in
//!   `messages::history`).
//! - [`runtime`]: who owns every thread. `runtime::thread::spawn` is the one
//!   place a thread is started (named; clippy refuses `std::thread::spawn`
//!   elsewhere); `Runtime::start` recovers settings and store, claims the
//!   single-instance socket (`runtime::socket` answers it) and starts the
//!   desktop app's threads; `Runtime::shutdown` joins them, inputs first
//!   and the store last; `Pipeline` is one utterance's `audio` + `asr`
//!   threads.
//! - [`config`]: the server URL and the user's settings file (TOML, per-key
//!   fallback), household profiles, which webhook URLs may carry the token;
//!   a leaf that uses no module above it.
//! - [`core`]: the `core` thread: dictation state machine, routing of words
//!   (dictation or command), the kid-safe policy and PIN gate, the command
//!   outbox's order and backoff, transcript log, snapshots for the GUI and tray.
//! - [`store`]: the redb file of everything said and set: history, statistics,
//!   backups, export; the only redb user (schema in the `migrations` crate).
//!   Its `store` worker thread answers the window and the socket (search,
//!   statistics, backup, the CLI's store subcommands), so neither waits on
//!   redb; the core writes what is said.
//! - [`integrations`]: typing words into other apps (`typing` thread; XTEST
//!   on X11, pausing while any menu holds the keyboard); delivering
//!   commands to n8n and RabbitMQ (`deliver-n8n`, `deliver-amqp` threads),
//!   speaking replies with ElevenLabs (`speech` thread), notifications.
//! - [`secrets`]: tokens and keys in the OS keyring, never in clear elsewhere.
//! - [`server`]: the WhisperLiveKit child process: start, health, restart
//!   with backoff.
//! - [`ui`]: egui drawing only: popover, dashboard, settings, widgets. It
//!   sees snapshots and view types, never `store` (`ci/boundaries.sh`).
//! - [`desktop`]: the eframe App: draws, forwards the user's requests,
//!   drains what the runtime sends the window; the only egui user outside
//!   `ui`.
//! - [`tray`], [`hotkey`]: the tray icon (a StatusNotifierItem on its own
//!   `tray` thread on Linux) and the global hotkey (own `hotkey` thread on
//!   X11; on Wayland the GlobalShortcuts portal on a `hotkey-portal`
//!   thread, else compositor bindings to `tonnytray ptt`), turned into
//!   commands.
//! - `x11` (Linux): connecting to the X server, keyboard-mapping look-ups,
//!   the focused window.
//! - [`instance`]: one app per session; `status`/`toggle`/`ptt` requests,
//!   answered only for the user who runs the app (mode 0600, peer uid).
//! - [`telemetry`]: logging to stderr, the window's logs viewer and JSON
//!   files; Prometheus metrics on 127.0.0.1; panics logged, no core files.
//! - `fuzzing` (tests and `cargo fuzz` only): one fuzz target per parser of
//!   outside input, with the promise each checks (docs/RELIABILITY.md).
//! - [`cli`]: the headless subcommands (`transcribe`, `listen`, `devices`, …).

pub mod asr;
pub mod audio;
pub mod cli;
pub mod config;
pub mod core;
pub mod desktop;
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
pub mod hotkey;
pub mod instance;
pub mod integrations;
pub mod messages;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tray;
pub mod ui;
#[cfg(target_os = "linux")]
pub mod x11;
