//! The coordinator: the dictation state machine ([`state`], pure), custom
//! vocabulary ([`replace`], pure), routing of words ([`route`], pure), the
//! kid-safe policy ([`policy`]), and the `core` thread that owns the
//! dictation lifecycle ([`coordinator`]) with its parts: the history and
//! transcript log ([`history`]), the PIN gate ([`household`]), the order of typing ([`typing_queue`]),
//! the command outbox ([`commands`],
//! [`delivery`]), and what it publishes and takes ([`snapshot`]).

pub mod commands;
pub mod coordinator;
pub mod delivery;
pub mod history;
pub mod household;
pub mod policy;
pub mod replace;
pub mod route;
pub mod snapshot;
pub mod state;
pub mod typing_queue;

pub use coordinator::{Core, CoreInput, CoreOptions, Snapshot, SnapshotCell, channel};
