//! The coordinator: the dictation state machine ([`state`], pure), custom
//! vocabulary ([`replace`], pure) and the `core` thread that owns the
//! dictation lifecycle and publishes snapshots ([`coordinator`]).

pub mod commands;
pub mod coordinator;
pub mod delivery;
pub mod policy;
pub mod replace;
pub mod route;
pub mod state;

pub use coordinator::{Core, CoreInput, CoreOptions, Snapshot, SnapshotCell, channel};
