//! Every integration test of the app, linked into one binary: each test
//! binary links the whole app (a debug build's biggest cost after the
//! dependencies), and there were sixteen. nextest still runs each test in a
//! process of its own, so a test's global state stays its own.
//!
//! The fast ones (CLI, scripts, store, UI by label, the scripted speech
//! server) run with a plain `cargo test`; the end-to-end ones against the
//! real peers are `#[ignore]`d there, and `ci/check.sh` runs them with
//! `--run-ignored all` after starting the peers. Module names are the old
//! binaries' names, so `e2e_desktop::` selects what `--test e2e_desktop`
//! did.
//!
//! Unix only: the tests drive Linux desktops, packages and scripts (and use
//! `std::os::unix`); on Windows this binary is empty, and the unit tests
//! are what runs there.

#![cfg(unix)]
// Test peers (servers, readers) are the test's threads, not the app's.
#![allow(clippy::disallowed_methods)]

mod common;
mod desktop;
mod support;

mod asr_worker;
mod cli;
mod core_lifecycle;
mod delivery;
mod e2e_commands;
mod e2e_desktop;
mod e2e_ops;
mod e2e_speech;
mod elevenlabs;
mod package;
mod peers;
mod schema_fixtures;
mod scripts;
mod secrets;
mod security;
mod soak;
mod store_crash;
mod ui;
