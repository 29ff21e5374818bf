//! Speech recognition against a WhisperLiveKit server: the wire protocol
//! ([`protocol`]), the transcript built from its updates ([`transcript`]), the
//! audio kept until its words are committed ([`journal`]) and the WebSocket
//! worker thread that ties them together ([`worker`]).

pub mod journal;
pub mod protocol;
pub mod transcript;
pub mod worker;

pub use worker::{AsrWorkerConfig, ReconnectPolicy};
