//! Configuration: the speech server URL (with its environment override and
//! validation) and the user's [`settings`] file.

pub mod profiles;
pub mod settings;
pub mod webhook_url;

/// Where WhisperLiveKit listens by default (started by `scripts/asr-server.sh`).
pub const DEFAULT_SERVER_URL: &str = "ws://127.0.0.1:8888/asr";

/// Environment variable that overrides the server URL.
pub const SERVER_URL_ENV: &str = "TONNYTRAY_SERVER_URL";

/// Why a server URL is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("server URL {url:?} is invalid: {why}")]
pub struct UrlError {
    url: String,
    why: &'static str,
}

/// Checks a speech server URL: `ws://` or `wss://`, with a host.
///
/// # Errors
/// [`UrlError`] saying what is wrong.
pub fn validate_server_url(url: &str) -> Result<(), UrlError> {
    let err = |why| UrlError {
        url: url.to_owned(),
        why,
    };
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| err("it must start with ws:// or wss:// (e.g. ws://127.0.0.1:8888/asr)"))?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(err("it has no host"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(err("it contains spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_websocket_urls() {
        assert_eq!(validate_server_url(DEFAULT_SERVER_URL), Ok(()));
        assert_eq!(
            validate_server_url("wss://asr.home.example:443/asr"),
            Ok(())
        );
    }

    #[test]
    fn rejects_other_schemes_and_missing_hosts_with_reasons() {
        let e = validate_server_url("http://127.0.0.1:8888/asr").expect_err("http");
        assert!(e.to_string().contains("ws://"), "{e}");
        let e = validate_server_url("ws:///asr").expect_err("no host");
        assert!(e.to_string().contains("no host"), "{e}");
        let e = validate_server_url("ws://:8888/asr").expect_err("no host");
        assert!(e.to_string().contains("no host"), "{e}");
        assert!(validate_server_url("ws://a b/asr").is_err());
    }
}
