//! Numbered schema migrations for TonnyTray's redb store.
//!
//! Empty on purpose for now: the store and its first schema arrive with the
//! storage work (issue 4), which adds the numbered steps here and the tests
//! that run them on fixture files of every earlier version.
