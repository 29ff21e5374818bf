//! The dictation state machine, as pure functions: which action a command
//! asks for given the hotkey mode and what is running, and which state the
//! user sees. The coordinator thread applies them; tests check them directly.

use crate::config::settings::HotkeyMode;
use crate::messages::{Command, DictationState};

/// What the coordinator should do about a recording command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open the microphone and start an utterance.
    Start,
    /// Close the microphone; the utterance finishes on its own.
    Stop,
    /// Nothing to do (already in that state, or paused).
    Nothing,
}

/// The facts the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// How the hotkey works.
    pub mode: HotkeyMode,
    /// The microphone is open.
    pub listening: bool,
    /// The user paused dictation.
    pub paused: bool,
}

/// Decides what a recording command means now. Non-recording commands
/// give [`Action::Nothing`].
#[must_use]
pub fn decide(command: &Command, facts: Facts) -> Action {
    let start_or_nothing = if facts.paused || facts.listening {
        Action::Nothing
    } else {
        Action::Start
    };
    let stop_or_nothing = if facts.listening {
        Action::Stop
    } else {
        Action::Nothing
    };
    let toggle = if facts.listening {
        Action::Stop
    } else {
        start_or_nothing
    };
    match (command, facts.mode) {
        (Command::StartRecording, _) | (Command::HotkeyPressed, HotkeyMode::PushToTalk) => {
            start_or_nothing
        }
        (Command::StopRecording, _) | (Command::HotkeyReleased, HotkeyMode::PushToTalk) => {
            stop_or_nothing
        }
        (Command::ToggleRecording, _) | (Command::HotkeyPressed, HotkeyMode::Toggle) => toggle,
        _ => Action::Nothing,
    }
}

/// The state shown to the user. Listening wins over everything (the mic is
/// open even when paused mid-utterance), then the flush of earlier words,
/// then pause, then the last error.
#[must_use]
pub fn visible_state(listening: bool, flushing: bool, paused: bool, error: bool) -> DictationState {
    if listening {
        DictationState::Listening
    } else if flushing {
        DictationState::Processing
    } else if paused {
        DictationState::Disabled
    } else if error {
        DictationState::Error
    } else {
        DictationState::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(mode: HotkeyMode, listening: bool, paused: bool) -> Facts {
        Facts {
            mode,
            listening,
            paused,
        }
    }

    #[test]
    fn push_to_talk_starts_on_press_and_stops_on_release() {
        let idle = facts(HotkeyMode::PushToTalk, false, false);
        let on = facts(HotkeyMode::PushToTalk, true, false);
        assert_eq!(decide(&Command::HotkeyPressed, idle), Action::Start);
        assert_eq!(decide(&Command::HotkeyPressed, on), Action::Nothing);
        assert_eq!(decide(&Command::HotkeyReleased, on), Action::Stop);
        assert_eq!(decide(&Command::HotkeyReleased, idle), Action::Nothing);
    }

    #[test]
    fn toggle_mode_flips_on_press_and_ignores_release() {
        let idle = facts(HotkeyMode::Toggle, false, false);
        let on = facts(HotkeyMode::Toggle, true, false);
        assert_eq!(decide(&Command::HotkeyPressed, idle), Action::Start);
        assert_eq!(decide(&Command::HotkeyPressed, on), Action::Stop);
        assert_eq!(decide(&Command::HotkeyReleased, on), Action::Nothing);
        assert_eq!(decide(&Command::HotkeyReleased, idle), Action::Nothing);
    }

    #[test]
    fn buttons_work_the_same_in_both_modes() {
        for mode in [HotkeyMode::PushToTalk, HotkeyMode::Toggle] {
            assert_eq!(
                decide(&Command::StartRecording, facts(mode, false, false)),
                Action::Start
            );
            assert_eq!(
                decide(&Command::StartRecording, facts(mode, true, false)),
                Action::Nothing
            );
            assert_eq!(
                decide(&Command::StopRecording, facts(mode, true, false)),
                Action::Stop
            );
            assert_eq!(
                decide(&Command::ToggleRecording, facts(mode, false, false)),
                Action::Start
            );
            assert_eq!(
                decide(&Command::ToggleRecording, facts(mode, true, false)),
                Action::Stop
            );
        }
    }

    #[test]
    fn paused_refuses_to_start_but_still_lets_an_utterance_stop() {
        let paused_idle = facts(HotkeyMode::PushToTalk, false, true);
        let paused_on = facts(HotkeyMode::Toggle, true, true);
        assert_eq!(
            decide(&Command::HotkeyPressed, paused_idle),
            Action::Nothing
        );
        assert_eq!(
            decide(&Command::StartRecording, paused_idle),
            Action::Nothing
        );
        assert_eq!(
            decide(&Command::ToggleRecording, paused_idle),
            Action::Nothing
        );
        assert_eq!(decide(&Command::HotkeyPressed, paused_on), Action::Stop);
    }

    #[test]
    fn other_commands_are_not_recording_actions() {
        let f = facts(HotkeyMode::PushToTalk, false, false);
        assert_eq!(decide(&Command::SetPaused(true), f), Action::Nothing);
        assert_eq!(decide(&Command::Shutdown, f), Action::Nothing);
    }

    #[test]
    fn visible_state_orders_listening_processing_paused_error() {
        use DictationState::*;
        assert_eq!(visible_state(true, true, true, true), Listening);
        assert_eq!(visible_state(false, true, true, true), Processing);
        assert_eq!(visible_state(false, false, true, true), Disabled);
        assert_eq!(visible_state(false, false, false, true), Error);
        assert_eq!(visible_state(false, false, false, false), Idle);
    }
}
