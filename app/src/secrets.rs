//! Secrets (API keys, tokens, passwords) in the OS keyring, behind a small
//! trait ([`SecretStore`]) so tests use memory instead; the [`Secret`] type
//! redacts itself in Debug and Display and is never serialised.
//!
//! On Linux the keyring is the Secret Service on the D-Bus session bus
//! (gnome-keyring, KeePassXC). Without one, every call fails with
//! [`SecretError::NoService`] and the app goes on without the secret: a
//! secret is never written to a file of ours. The keyring crate looks for
//! the service once per process, so one started later is seen after a
//! restart of TonnyTray.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

/// The keyring "service" every TonnyTray entry is filed under.
pub const SERVICE: &str = "tonnytray";
/// The bearer token sent to the n8n webhook.
pub const N8N_TOKEN: &str = "n8n-token";
/// The ElevenLabs API key.
pub const ELEVENLABS_KEY: &str = "elevenlabs-api-key";
/// The RabbitMQ user's password.
pub const RABBITMQ_PASSWORD: &str = "rabbitmq-password";
/// Every name TonnyTray keeps in the keyring.
pub const KNOWN_NAMES: [&str; 3] = [N8N_TOKEN, ELEVENLABS_KEY, RABBITMQ_PASSWORD];

/// How long a keyring call may take by default: long enough to type a
/// keyring password into an unlock prompt, short enough not to hang a
/// worker for good.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A secret value. Debug and Display print `[redacted]`; the only way to
/// the text is [`Secret::expose`], at the point of use. The bytes are
/// overwritten on drop (best effort: copies made by the OS keyring
/// libraries or by reallocation are out of reach).
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that must send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// Compares every byte whatever the first difference, so the time taken
/// does not tell how much of a guess was right (only its length).
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        // Keeps the compiler from dropping the writes to memory about to be freed.
        std::hint::black_box(&bytes);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why the keyring could not be used. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No Secret Service (or platform keyring) to talk to.
    #[error(
        "no keyring service is running (Secret Service on D-Bus): install and unlock \
         gnome-keyring or KeePassXC, then restart TonnyTray ({detail})"
    )]
    NoService {
        /// What the keyring library said.
        detail: String,
    },
    /// The keyring is locked, or refused access.
    #[error(
        "the keyring is locked or refused access to {name:?}: unlock it (log in again, or \
         open your keyring app) and retry ({detail})"
    )]
    Locked {
        /// The entry.
        name: String,
        /// What the keyring said.
        detail: String,
    },
    /// The keyring did not answer in time (often: an unlock prompt nobody answered).
    #[error(
        "the keyring did not answer within {secs} s about {name:?}; is an unlock prompt \
         waiting, or is the keyring daemon stuck?"
    )]
    TimedOut {
        /// The entry.
        name: String,
        /// The time allowed.
        secs: u64,
    },
    /// The stored value is not text TonnyTray can use.
    #[error(
        "the keyring holds {name:?} in a form TonnyTray cannot read; set it again with \
         `tonnytray secret set {name}`"
    )]
    Unreadable {
        /// The entry.
        name: String,
    },
    /// Any other keyring failure.
    #[error("the keyring failed on {name:?}: {detail}")]
    Failed {
        /// The entry.
        name: String,
        /// What the keyring said.
        detail: String,
    },
}

/// Where secrets are kept. Implementations are shared between threads.
pub trait SecretStore: Send + Sync {
    /// The secret named `name`, or `None` when it is not set.
    ///
    /// # Errors
    /// [`SecretError`] when the store cannot be used.
    fn get(&self, name: &str) -> Result<Option<Secret>, SecretError>;

    /// Stores `value` under `name`, replacing any earlier one.
    ///
    /// # Errors
    /// [`SecretError`] when the store cannot be used.
    fn set(&self, name: &str, value: &Secret) -> Result<(), SecretError>;

    /// Removes `name`; removing a name that is not set is not an error.
    ///
    /// # Errors
    /// [`SecretError`] when the store cannot be used.
    fn delete(&self, name: &str) -> Result<(), SecretError>;
}

/// The store the app uses: the OS keyring.
#[must_use]
pub fn default_store() -> Arc<dyn SecretStore> {
    Arc::new(Keyring::new())
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows) through the `keyring` crate; entries are service
/// [`SERVICE`], user = the secret's name.
///
/// Each call runs on its own short-lived thread so a keyring that never
/// answers (an unlock prompt left open) costs a [`SecretError::TimedOut`]
/// instead of a hung caller; the stuck thread is left to finish on its own.
#[derive(Debug, Clone)]
pub struct Keyring {
    timeout: Duration,
}

impl Default for Keyring {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyring {
    /// The OS keyring with [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }

    /// The OS keyring, giving up on a call after `timeout`.
    #[must_use]
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// Runs `op` on the entry `name` on a helper thread, within the timeout.
    fn run<T: Send + 'static>(
        &self,
        name: &str,
        op: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, KeyringFailure> {
        let (tx, rx) = mpsc::sync_channel(1);
        let user = name.to_owned();
        crate::runtime::thread::spawn("keyring", move || {
            let result = keyring::Entry::new(SERVICE, &user).and_then(|entry| op(&entry));
            // The caller may have given up waiting; nothing to do then.
            let _ = tx.send(result);
        })
        .map_err(|e| KeyringFailure::Thread(e.to_string()))?;
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(KeyringFailure::Keyring),
            Err(_) => Err(KeyringFailure::TimedOut),
        }
    }

    fn error(&self, name: &str, failure: KeyringFailure) -> SecretError {
        match failure {
            KeyringFailure::Keyring(e) => map_error(name, &e),
            KeyringFailure::TimedOut => SecretError::TimedOut {
                name: name.to_owned(),
                secs: self.timeout.as_secs(),
            },
            KeyringFailure::Thread(detail) => SecretError::Failed {
                name: name.to_owned(),
                detail: format!("cannot start a thread: {detail}"),
            },
        }
    }
}

/// How a [`Keyring::run`] failed, before it becomes a [`SecretError`].
enum KeyringFailure {
    Keyring(keyring::Error),
    TimedOut,
    Thread(String),
}

impl SecretStore for Keyring {
    fn get(&self, name: &str) -> Result<Option<Secret>, SecretError> {
        match self.run(name, |entry| entry.get_password().map(Secret::new)) {
            Ok(secret) => Ok(Some(secret)),
            Err(KeyringFailure::Keyring(keyring::Error::NoEntry)) => Ok(None),
            Err(failure) => Err(self.error(name, failure)),
        }
    }

    fn set(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let value = value.clone();
        self.run(name, move |entry| entry.set_password(value.expose()))
            .map_err(|failure| self.error(name, failure))
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        match self.run(name, keyring::Entry::delete_credential) {
            Ok(()) | Err(KeyringFailure::Keyring(keyring::Error::NoEntry)) => Ok(()),
            Err(failure) => Err(self.error(name, failure)),
        }
    }
}

/// Turns a keyring error into ours. Only the variants' own words are kept:
/// some variants carry the stored bytes, which must not reach a message.
fn map_error(name: &str, e: &keyring::Error) -> SecretError {
    let name = name.to_owned();
    match e {
        keyring::Error::NoDefaultStore => SecretError::NoService {
            detail: match keyring::Entry::store_status() {
                Err(cause) => cause.to_string(),
                Ok(()) => e.to_string(),
            },
        },
        keyring::Error::NoStorageAccess(cause) => SecretError::Locked {
            name,
            detail: cause.to_string(),
        },
        keyring::Error::BadEncoding(_) | keyring::Error::BadDataFormat(..) => {
            SecretError::Unreadable { name }
        }
        keyring::Error::Ambiguous(_) => SecretError::Failed {
            name,
            detail: "more than one keyring entry matches; remove the extra ones in your \
                     keyring app"
                .to_owned(),
        },
        keyring::Error::PlatformFailure(cause) => SecretError::Failed {
            name,
            detail: cause.to_string(),
        },
        other => SecretError::Failed {
            name,
            detail: other.to_string(),
        },
    }
}

/// Secrets in memory only, for tests and for running without a keyring on
/// purpose. Nothing survives the process.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Secret>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&String> = entries.keys().collect();
        names.sort();
        f.debug_struct("MemoryStore")
            .field("names", &names)
            .finish()
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<Secret>, SecretError> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(entries.get(name).cloned())
    }

    fn set(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(name.to_owned(), value.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "sk-very-secret-0123456789";

    #[test]
    fn secrets_redact_themselves_in_debug_and_display() {
        let s = Secret::new(VALUE.to_owned());
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
        assert_eq!(s.expose(), VALUE);
        assert!(!s.is_empty());
    }

    #[test]
    fn secrets_compare_by_value() {
        let s = Secret::new(VALUE.to_owned());
        assert_eq!(s, s.clone());
        assert_ne!(s, Secret::new(format!("{VALUE}x")));
        assert_ne!(s, Secret::new(VALUE.replace('v', "w")));
        assert_ne!(Secret::new(String::new()), s);
    }

    #[test]
    fn the_memory_store_sets_gets_and_deletes() {
        let store = MemoryStore::new();
        assert!(store.get(N8N_TOKEN).expect("get").is_none());
        store
            .set(N8N_TOKEN, &Secret::new(VALUE.to_owned()))
            .expect("set");
        let got = store.get(N8N_TOKEN).expect("get").expect("is set");
        assert_eq!(got.expose(), VALUE);
        assert!(store.get(ELEVENLABS_KEY).expect("get").is_none());
        store
            .set(N8N_TOKEN, &Secret::new("v2".into()))
            .expect("set");
        assert_eq!(
            store.get(N8N_TOKEN).expect("get").expect("set").expose(),
            "v2"
        );
        store.delete(N8N_TOKEN).expect("delete");
        store.delete(N8N_TOKEN).expect("deleting again is fine");
        assert!(store.get(N8N_TOKEN).expect("get").is_none());
        assert!(!format!("{store:?}").contains("v2"));
    }

    #[test]
    fn a_missing_keyring_service_says_what_to_install() {
        let e = map_error(N8N_TOKEN, &keyring::Error::NoDefaultStore);
        assert!(matches!(e, SecretError::NoService { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("no keyring service is running"), "{text}");
        assert!(text.contains("gnome-keyring or KeePassXC"), "{text}");
    }

    #[test]
    fn errors_that_carry_stored_bytes_never_show_them() {
        let bytes = VALUE.as_bytes().to_vec();
        let errors = [
            map_error(N8N_TOKEN, &keyring::Error::BadEncoding(bytes.clone())),
            map_error(
                N8N_TOKEN,
                &keyring::Error::BadDataFormat(bytes, "bad padding".into()),
            ),
        ];
        for e in errors {
            assert!(matches!(e, SecretError::Unreadable { .. }), "{e:?}");
            assert!(!e.to_string().contains(VALUE), "{e}");
            assert!(!format!("{e:?}").contains("very-secret"), "{e:?}");
            assert!(
                e.to_string().contains("tonnytray secret set n8n-token"),
                "{e}"
            );
        }
    }

    #[test]
    fn locked_keyrings_and_timeouts_say_what_to_do() {
        let e = map_error(
            ELEVENLABS_KEY,
            &keyring::Error::NoStorageAccess("collection is locked".into()),
        );
        assert!(e.to_string().contains("unlock it"), "{e}");
        assert!(e.to_string().contains("collection is locked"), "{e}");
        let e = Keyring::with_timeout(Duration::from_secs(3))
            .error(ELEVENLABS_KEY, KeyringFailure::TimedOut);
        assert_eq!(
            e,
            SecretError::TimedOut {
                name: ELEVENLABS_KEY.into(),
                secs: 3
            }
        );
        assert!(e.to_string().contains("unlock prompt"), "{e}");
    }

    #[test]
    fn known_names_are_the_settings_names() {
        assert_eq!(
            KNOWN_NAMES,
            ["n8n-token", "elevenlabs-api-key", "rabbitmq-password"]
        );
    }
}
