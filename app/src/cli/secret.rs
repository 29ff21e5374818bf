//! `tonnytray secret set|delete|list`: the keyring entries TonnyTray uses.
//! A value is read from standard input, never from the command line, so it
//! stays out of `ps` and shell history; `list` shows which names are set,
//! never a value.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::{Command, ExitCode, Stdio};

use clap::{Args, Subcommand};

use super::exit;
use crate::secrets::{self, KNOWN_NAMES, Secret, SecretError, SecretStore};

/// Longest value accepted, in bytes: keys and tokens are far shorter, so
/// more is a wrong file piped in.
const MAX_VALUE_BYTES: usize = 16 * 1024;

/// `tonnytray secret …`.
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SecretAction,
}

/// The `secret` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum SecretAction {
    /// Store a value read from standard input (e.g. `tonnytray secret set
    /// n8n-token < token.txt`, or type it when asked).
    Set {
        /// One of: n8n-token, elevenlabs-api-key, rabbitmq-password.
        name: String,
    },
    /// Remove a value from the keyring.
    Delete {
        /// One of: n8n-token, elevenlabs-api-key, rabbitmq-password.
        name: String,
    },
    /// Show which names are set (never their values).
    List,
}

/// Why a `secret` command failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretCliError {
    /// Not a name TonnyTray uses.
    #[error("{name:?} is not a secret TonnyTray uses; use one of: {}", KNOWN_NAMES.join(", "))]
    UnknownName {
        /// What was given.
        name: String,
    },
    /// Nothing, or only spaces, on standard input.
    #[error("no value was given on standard input; nothing was stored")]
    Empty,
    /// More than one line, or a control character.
    #[error("the value has more than one line or a control character; give just the key")]
    NotOneLine,
    /// Longer than the limit (16 KiB).
    #[error("the value is longer than 16 KiB; is that the right input?")]
    TooLong,
    /// Standard input was not text or could not be read.
    #[error("cannot read the value from standard input: {0}")]
    Input(std::io::Error),
    /// The keyring failed.
    #[error(transparent)]
    Store(#[from] SecretError),
    /// Writing the listing failed.
    #[error("cannot write the listing: {0}")]
    Output(std::io::Error),
}

impl SecretCliError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            SecretCliError::Store(_) | SecretCliError::Output(_) => exit::FAILED,
            _ => exit::BAD_INPUT,
        })
    }
}

/// Runs the subcommand against the OS keyring.
pub fn run(args: &SecretArgs) -> ExitCode {
    let store = secrets::default_store();
    let stdin = std::io::stdin();
    let result = match &args.action {
        SecretAction::Set { name } if stdin.is_terminal() => {
            // At a terminal the value ends with Enter, not end of input.
            eprint!("tonnytray: type or paste the value for {name} and press Enter: ");
            let echo = EchoOff::start();
            let mut line = String::new();
            let read = stdin.lock().read_line(&mut line);
            drop(echo);
            let line = Secret::new(line);
            read.map_err(SecretCliError::Input).and_then(|_| {
                execute(
                    store.as_ref(),
                    &args.action,
                    line.expose().as_bytes(),
                    &mut std::io::stdout().lock(),
                )
            })
        }
        action => execute(
            store.as_ref(),
            action,
            stdin.lock(),
            &mut std::io::stdout().lock(),
        ),
    };
    match result {
        Ok(Some(note)) => {
            eprintln!("tonnytray: {note}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tonnytray: {e}");
            e.exit_code()
        }
    }
}

/// Does `action` against `store`, reading a value from `input` and writing
/// a listing to `out`. Returns a note for standard error.
///
/// # Errors
/// [`SecretCliError`] saying what went wrong.
pub fn execute(
    store: &dyn SecretStore,
    action: &SecretAction,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<Option<String>, SecretCliError> {
    match action {
        SecretAction::Set { name } => {
            let name = known(name)?;
            let value = read_value(input)?;
            store.set(name, &value)?;
            Ok(Some(format!("{name} is stored in the keyring")))
        }
        SecretAction::Delete { name } => {
            let name = known(name)?;
            store.delete(name)?;
            Ok(Some(format!("{name} is no longer in the keyring")))
        }
        SecretAction::List => {
            for name in KNOWN_NAMES {
                let state = if store.get(name)?.is_some() {
                    "set"
                } else {
                    "not set"
                };
                writeln!(out, "{name:<20} {state}").map_err(SecretCliError::Output)?;
            }
            Ok(None)
        }
    }
}

/// The known name equal to `name`.
fn known(name: &str) -> Result<&'static str, SecretCliError> {
    KNOWN_NAMES
        .into_iter()
        .find(|k| *k == name)
        .ok_or_else(|| SecretCliError::UnknownName {
            name: name.to_owned(),
        })
}

/// The value on `input`: one line, surrounding spaces and the line end dropped.
fn read_value(input: impl BufRead) -> Result<Secret, SecretCliError> {
    let mut raw = Vec::new();
    input
        .take(MAX_VALUE_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(SecretCliError::Input)?;
    // Owned by a Secret from here on, so the bytes are wiped however we leave.
    let text = Secret::new(String::from_utf8(raw).map_err(|_| {
        SecretCliError::Input(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })?);
    if text.expose().len() > MAX_VALUE_BYTES {
        return Err(SecretCliError::TooLong);
    }
    let value = text.expose().trim();
    if value.is_empty() {
        return Err(SecretCliError::Empty);
    }
    if value.chars().any(char::is_control) {
        return Err(SecretCliError::NotOneLine);
    }
    Ok(Secret::new(value.to_owned()))
}

/// Turns the terminal's echo off while a value is typed (with `stty`, so no
/// terminal crate is needed), and back on when dropped.
struct EchoOff {
    off: bool,
}

impl EchoOff {
    fn start() -> Self {
        let off = stty("-echo");
        if !off {
            eprint!("(it will show as you type) ");
        }
        Self { off }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if self.off {
            stty("echo");
            // The user's Enter was not echoed either.
            eprintln!();
        }
    }
}

/// Runs `stty ARG` on our terminal; whether it worked.
fn stty(arg: &str) -> bool {
    Command::new("stty")
        .arg(arg)
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::secrets::{MemoryStore, N8N_TOKEN, RABBITMQ_PASSWORD};

    const VALUE: &str = "tok-5f3a9c";

    fn run_action(
        store: &dyn SecretStore,
        action: &SecretAction,
        input: &str,
    ) -> (Result<Option<String>, SecretCliError>, String) {
        let mut out = Vec::new();
        let result = execute(store, action, Cursor::new(input.as_bytes()), &mut out);
        (result, String::from_utf8(out).expect("utf-8 listing"))
    }

    fn set(name: &str) -> SecretAction {
        SecretAction::Set { name: name.into() }
    }

    #[test]
    fn set_reads_one_line_from_stdin_and_list_shows_only_which_are_set() {
        let store = MemoryStore::new();
        let (result, out) = run_action(&store, &set(N8N_TOKEN), &format!("  {VALUE}\r\n"));
        let note = result.expect("set").expect("a note");
        assert!(note.contains("n8n-token is stored"), "{note}");
        assert!(!note.contains(VALUE) && out.is_empty());
        let stored = store.get(N8N_TOKEN).expect("get").expect("stored");
        assert_eq!(stored.expose(), VALUE);

        let (result, out) = run_action(&store, &SecretAction::List, "");
        assert!(result.expect("list").is_none());
        assert_eq!(
            out,
            "n8n-token            set\n\
             elevenlabs-api-key   not set\n\
             rabbitmq-password    not set\n"
        );
        assert!(!out.contains(VALUE));
    }

    #[test]
    fn delete_removes_and_is_fine_when_absent() {
        let store = MemoryStore::new();
        store
            .set(RABBITMQ_PASSWORD, &Secret::new(VALUE.into()))
            .expect("set");
        let delete = || SecretAction::Delete {
            name: RABBITMQ_PASSWORD.into(),
        };
        let (result, _) = run_action(&store, &delete(), "");
        assert!(result.expect("delete").is_some());
        assert!(store.get(RABBITMQ_PASSWORD).expect("get").is_none());
        let (result, _) = run_action(&store, &delete(), "");
        assert!(result.is_ok(), "deleting twice is fine");
    }

    #[test]
    fn unknown_names_are_rejected_with_the_known_ones() {
        let store = MemoryStore::new();
        let (result, _) = run_action(&store, &set("openai-key"), VALUE);
        let e = result.expect_err("unknown");
        assert!(matches!(e, SecretCliError::UnknownName { .. }));
        let text = e.to_string();
        assert!(text.contains("\"openai-key\""), "{text}");
        assert!(
            text.contains("n8n-token, elevenlabs-api-key, rabbitmq-password"),
            "{text}"
        );
        assert!(store.get("openai-key").expect("get").is_none());
        let (result, _) = run_action(
            &store,
            &SecretAction::Delete {
                name: "N8N-TOKEN".into(),
            },
            "",
        );
        assert!(matches!(result, Err(SecretCliError::UnknownName { .. })));
    }

    #[test]
    fn bad_values_are_refused_without_echoing_them() {
        let store = MemoryStore::new();
        for (input, want) in [
            ("", "no value"),
            (" \n", "no value"),
            ("abc\ndef\n", "more than one line"),
            ("abc\u{7}def", "control character"),
        ] {
            let (result, _) = run_action(&store, &set(N8N_TOKEN), input);
            let e = result.expect_err(input);
            assert!(e.to_string().contains(want), "{input:?}: {e}");
            assert_eq!(e.exit_code(), ExitCode::from(exit::BAD_INPUT));
        }
        let (result, _) = run_action(&store, &set(N8N_TOKEN), &"x".repeat(MAX_VALUE_BYTES + 1));
        assert!(matches!(result, Err(SecretCliError::TooLong)));
        let mut out = Vec::new();
        let e = execute(
            &store,
            &set(N8N_TOKEN),
            Cursor::new(vec![0xff, 0xfe]),
            &mut out,
        )
        .expect_err("not utf-8");
        assert!(e.to_string().contains("UTF-8"), "{e}");
        assert!(store.get(N8N_TOKEN).expect("get").is_none());
    }

    /// A store whose keyring is missing, like a session without one.
    struct NoKeyring;

    impl SecretStore for NoKeyring {
        fn get(&self, _: &str) -> Result<Option<Secret>, SecretError> {
            Err(SecretError::NoService {
                detail: "no D-Bus".into(),
            })
        }
        fn set(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
            self.get(name).map(|_| drop(value.clone()))
        }
        fn delete(&self, name: &str) -> Result<(), SecretError> {
            self.get(name).map(drop)
        }
    }

    #[test]
    fn keyring_failures_are_reported_with_exit_code_1() {
        for action in [set(N8N_TOKEN), SecretAction::List] {
            let (result, out) = run_action(&NoKeyring, &action, VALUE);
            let e = result.expect_err("no keyring");
            assert!(e.to_string().contains("no keyring service"), "{e}");
            assert!(!e.to_string().contains(VALUE), "{e}");
            assert_eq!(e.exit_code(), ExitCode::from(exit::FAILED));
            assert!(out.is_empty(), "{out}");
        }
    }
}
