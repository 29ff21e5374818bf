//! Which webhook URLs the settings accept: the n8n token is sent to the
//! URL, so plain http only where it cannot leave this machine or network,
//! and never a user name or password inside the URL. Settings validation
//! and the webhook client ask the same [`check_url`].

use std::net::IpAddr;

use ureq::http::Uri;

/// Why a webhook URL is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute web address.
    #[error(
        "n8n URL '{shown}' is not a web address: it should look like \
         https://n8n.example.com/webhook/ask-tonny"
    )]
    NotAUrl {
        /// The URL as it may be shown (no credentials, no query).
        shown: String,
    },
    /// A scheme other than http or https.
    #[error(
        "n8n URL {shown} starts with '{scheme}://': use https:// (or http:// for a \
         server on your own network)"
    )]
    Scheme {
        /// The URL as it may be shown.
        shown: String,
        /// The scheme given.
        scheme: String,
    },
    /// A user name or password inside the URL, where it would be shown and
    /// logged with the URL.
    #[error(
        "n8n URL {shown} has a user name or password in it: remove it and put the token \
         in Settings → Integrations → n8n token, which keeps it in the keyring"
    )]
    Credentials {
        /// The URL as it may be shown.
        shown: String,
    },
    /// Plain http to a host that is not provably on this machine or network.
    #[error(
        "n8n URL {shown} is plain http to a remote host: use https, or for a server on \
         your own network turn on 'allow http on this network' and use its IP address"
    )]
    PlainHttpRemote {
        /// The URL as it may be shown.
        shown: String,
    },
    /// Plain http to a host name: a name proves nothing about where it
    /// points (DNS, a hosts file or a captive portal can send it anywhere),
    /// and the token would travel there in clear.
    #[error(
        "n8n URL {shown} is plain http to the host name '{host}', which could resolve \
         anywhere: use https, or for a server on your own network turn on 'allow http on \
         this network' and use its IP address"
    )]
    PlainHttpName {
        /// The URL as it may be shown.
        shown: String,
        /// The host name.
        host: String,
    },
    /// Plain http to this machine or the local network while that is off.
    #[error(
        "n8n URL {shown} is plain http: use https, or, since {host} is on this machine \
         or your own network, turn on 'allow http on this network' in Settings → \
         Integrations"
    )]
    PlainHttpNotAllowed {
        /// The URL as it may be shown.
        shown: String,
        /// The host.
        host: String,
    },
}

/// Where a host is, for deciding whether plain http may carry the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// This machine: 127.0.0.0/8, ::1, "localhost".
    Loopback,
    /// An IP literal in a private or link-local range.
    OwnNetwork,
    /// Anything else, including every host name but "localhost".
    Remote,
}

/// Checks that `url` is an http(s) address the token may be sent to.
///
/// https is fine for any host. Plain http only when `allow_http` is set and
/// the host is loopback (127.0.0.0/8, ::1, `localhost`) or a private IP
/// literal: 10/8, 172.16/12, 192.168/16, IPv6 unique-local fc00::/7, and
/// link-local 169.254/16 and fe80::/10 (never routed beyond the local link).
/// Not included: 100.64/10 (carrier-grade NAT space is shared with other
/// customers of the ISP) and every host name other than `localhost`, since
/// a name can resolve anywhere.
///
/// # Errors
/// [`UrlError`] says what to change.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), UrlError> {
    let shown = shown_url(url);
    let uri: Uri = url.trim().parse().map_err(|_| UrlError::NotAUrl {
        shown: shown.clone(),
    })?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(UrlError::NotAUrl { shown });
    };
    if authority.as_str().contains('@') {
        return Err(UrlError::Credentials { shown });
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(UrlError::NotAUrl { shown });
    }
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(());
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(UrlError::Scheme {
            shown,
            scheme: scheme.to_owned(),
        });
    }
    match (reach(host), allow_http) {
        (Reach::Loopback | Reach::OwnNetwork, true) => Ok(()),
        (Reach::Loopback | Reach::OwnNetwork, false) => Err(UrlError::PlainHttpNotAllowed {
            shown,
            host: host.to_owned(),
        }),
        (Reach::Remote, _) if bare_ip(host).is_none() => Err(UrlError::PlainHttpName {
            shown,
            host: host.to_owned(),
        }),
        (Reach::Remote, _) => Err(UrlError::PlainHttpRemote { shown }),
    }
}

/// The IP address of a URL host, without IPv6 brackets.
fn bare_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

fn reach(host: &str) -> Reach {
    if host.eq_ignore_ascii_case("localhost") {
        return Reach::Loopback;
    }
    let Some(ip) = bare_ip(host) else {
        return Reach::Remote;
    };
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d) goes where the IPv4
    // address goes.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    if ip.is_loopback() {
        return Reach::Loopback;
    }
    let own = match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unique_local() || v6.is_unicast_link_local(),
    };
    if own {
        Reach::OwnNetwork
    } else {
        Reach::Remote
    }
}

/// `url` as it may appear in messages: without a user name or password,
/// query or fragment (either could hold a credential), and not too long.
pub fn shown_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before, after) = rest.split_at(end);
    let authority_end = before.find('/').unwrap_or(before.len());
    let (authority, path) = before.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut shown = if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    };
    if !after.is_empty() {
        shown.push_str("?…");
    }
    match shown.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &shown[..at]),
        None => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_url_table() {
        use UrlError as E;
        type Check = fn(&Result<(), UrlError>) -> bool;
        let ok: Check = Result::is_ok;
        let remote: Check = |r| matches!(r, Err(E::PlainHttpRemote { .. }));
        let name: Check = |r| matches!(r, Err(E::PlainHttpName { .. }));
        let off: Check = |r| matches!(r, Err(E::PlainHttpNotAllowed { .. }));
        let cases: [(&str, bool, Check); 26] = [
            ("https://n8n.example.com/webhook/ask-tonny", false, ok),
            ("https://203.0.113.5/webhook/x", false, ok),
            ("HTTPS://N8N.EXAMPLE.COM/webhook/x", false, ok),
            ("http://127.0.0.1:5678/webhook/x", true, ok),
            ("http://127.8.9.10/webhook/x", true, ok),
            ("http://localhost:5678/webhook/x", true, ok),
            ("http://LOCALHOST/webhook/x", true, ok),
            ("http://[::1]:5678/webhook/x", true, ok),
            ("http://10.1.2.3/webhook/x", true, ok),
            ("http://172.16.0.1/webhook/x", true, ok),
            ("http://172.31.255.254/webhook/x", true, ok),
            ("http://192.168.1.20:5678/webhook/x", true, ok),
            ("http://169.254.1.1/webhook/x", true, ok),
            ("http://[fd00::1]/webhook/x", true, ok),
            ("http://[fe80::1]/webhook/x", true, ok),
            ("http://[::ffff:192.168.1.2]/webhook/x", true, ok),
            ("http://127.0.0.1:5678/webhook/x", false, off),
            ("http://192.168.1.20/webhook/x", false, off),
            ("http://172.32.0.1/webhook/x", true, remote),
            ("http://100.64.1.1/webhook/x", true, remote),
            ("http://203.0.113.5/webhook/x", true, remote),
            ("http://[2001:db8::1]/webhook/x", true, remote),
            ("http://0.0.0.0/webhook/x", true, remote),
            ("http://example.com/webhook/x", true, name),
            ("http://n8n.lan/webhook/x", false, name),
            ("http://localhost.evil.com/webhook/x", true, name),
        ];
        for (url, allow_http, check) in cases {
            let result = check_url(url, allow_http);
            assert!(
                check(&result),
                "{url} (allow_http {allow_http}): {result:?}"
            );
        }
    }

    #[test]
    fn check_url_refuses_malformed_and_credentials() {
        for url in [
            "",
            "n8n.example.com/webhook",
            "https://",
            "not a url",
            "https:///x",
        ] {
            assert!(
                matches!(check_url(url, true), Err(UrlError::NotAUrl { .. })),
                "{url:?}: {:?}",
                check_url(url, true)
            );
        }
        assert!(matches!(
            check_url("ftp://example.com/x", true),
            Err(UrlError::Scheme { .. })
        ));
        let error = check_url("https://user:hunter2@n8n.example.com/webhook/x", false)
            .expect_err("credentials in the URL");
        assert!(matches!(error, UrlError::Credentials { .. }), "{error:?}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(!error.to_string().contains("user:"), "{error}");
    }

    #[test]
    fn url_messages_say_what_to_change() {
        let remote = check_url("http://example.com/webhook/ask?token=abc", true)
            .expect_err("remote http")
            .to_string();
        assert!(remote.contains("use https"), "{remote}");
        assert!(remote.contains("allow http on this network"), "{remote}");
        assert!(
            remote.contains("http://example.com/webhook/ask?…"),
            "{remote}"
        );
        assert!(!remote.contains("abc"), "query hidden: {remote}");
        let off = check_url("http://192.168.1.5:5678/webhook/x", false)
            .expect_err("http off")
            .to_string();
        assert!(off.contains("allow http on this network"), "{off}");
    }
}
