//! Where words go outside the app: typing into the focused window
//! ([`typing`]), commands to n8n and RabbitMQ ([`deliver`]), spoken replies
//! ([`speech`], [`elevenlabs`]) and desktop notifications ([`notify`]). Each integration runs on its own thread with its own
//! timeouts and reports every outcome back to the core.

pub mod deliver;
pub mod elevenlabs;
pub mod n8n;
pub mod notify;
pub mod rabbitmq;
pub mod speech;
pub mod typing;
#[cfg(target_os = "linux")]
pub mod xtest;
