//! Smoke tests of the real peers the other integration tests rely on: the
//! shared n8n answers the test workflow's echo and keeps an exact record of
//! what it received (order, duplicates, concurrent posts, bearer token), a
//! private instance keeps that record across a stop and start, and the
//! shared RabbitMQ speaks AMQP. They prove the test fixtures, not the app.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::peers::{self, N8n};
use serde_json::{Value, json};

/// A command as the app posts it.
fn command(id: &str, text: &str) -> Value {
    json!({
        "text": text,
        "timestamp": "2026-12-01T10:00:00Z",
        "source": "voice",
        "profile": "default",
        "utterance_id": id,
        "agent": "tonny",
    })
}

fn reply_of(answer: &str) -> String {
    let value: Value = serde_json::from_str(answer).unwrap_or_else(|e| {
        panic!("the webhook answered something other than JSON ({e}): {answer}")
    });
    value
        .get("reply")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("the webhook answered without a \"reply\": {answer}"))
        .to_owned()
}

#[test]
#[ignore = "needs the shared n8n (ci/check.sh)"]
fn shared_n8n_echoes_and_records_each_command_with_duplicates() {
    let Some(base) = peers::n8n_url() else { return };
    let id = peers::unique_id("echo");
    let body = command(&id, "turn on the kitchen lights");

    for _ in 0..2 {
        let (status, answer) =
            peers::post_json(&peers::ask_url(&base), None, &body).expect("n8n answers");
        assert_eq!(status, 200, "{answer}");
        assert_eq!(reply_of(&answer), "You said: turn on the kitchen lights");
    }

    let mine: Vec<Value> = peers::received(&base)
        .into_iter()
        .filter(|r| r["utterance_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "the duplicate is recorded too: {mine:?}");
    for record in &mine {
        assert_eq!(record["text"], "turn on the kitchen lights");
        assert_eq!(record["profile"], "default");
        assert_eq!(record["agent"], "tonny");
        assert_eq!(record["source"], "voice");
        assert_eq!(record["timestamp"], "2026-12-01T10:00:00Z");
        assert_eq!(record["webhook"], "ask-tonny");
        assert_eq!(record["body"], body);
    }
}

#[test]
#[ignore = "needs the shared n8n (ci/check.sh)"]
fn shared_n8n_records_concurrent_commands_exactly_once() {
    let Some(base) = peers::n8n_url() else { return };
    let prefix = peers::unique_id("concurrent");
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (base, prefix) = (base.clone(), prefix.clone());
            std::thread::spawn(move || {
                for n in 0..5 {
                    let id = format!("{prefix}-{t}-{n}");
                    let (status, answer) =
                        peers::post_json(&peers::ask_url(&base), None, &command(&id, &id))
                            .expect("n8n answers");
                    assert_eq!(status, 200, "{answer}");
                    assert_eq!(reply_of(&answer), format!("You said: {id}"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a posting thread panicked");
    }

    let mut got = peers::received_ids(&base, &prefix);
    // Within one thread the posts were sequential, so they are in order.
    for t in 0..6 {
        let of_thread: Vec<&String> = got
            .iter()
            .filter(|id| id.starts_with(&format!("{prefix}-{t}-")))
            .collect();
        let expected: Vec<String> = (0..5).map(|n| format!("{prefix}-{t}-{n}")).collect();
        assert_eq!(
            of_thread,
            expected.iter().collect::<Vec<_>>(),
            "thread {t}'s commands"
        );
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 30, "every command recorded once");
}

#[test]
#[ignore = "needs the shared n8n (ci/check.sh)"]
fn shared_n8n_secure_webhook_wants_the_bearer_token() {
    let Some(base) = peers::n8n_url() else { return };
    let Some(token) = peers::n8n_token() else {
        return;
    };
    let id = peers::unique_id("secure");
    let url = peers::secure_url(&base);

    let (status, answer) =
        peers::post_json(&url, None, &command(&format!("{id}-none"), "no token"))
            .expect("n8n answers");
    assert_eq!(status, 403, "without a token: {answer}");
    let (status, answer) = peers::post_json(
        &url,
        Some("not-the-token"),
        &command(&format!("{id}-wrong"), "wrong"),
    )
    .expect("n8n answers");
    assert_eq!(status, 403, "with a wrong token: {answer}");
    let (status, answer) = peers::post_json(
        &url,
        Some(&token),
        &command(&format!("{id}-right"), "lights off"),
    )
    .expect("n8n answers");
    assert_eq!(status, 200, "with the token: {answer}");
    assert_eq!(reply_of(&answer), "You said: lights off");

    let mine: Vec<Value> = peers::received(&base)
        .into_iter()
        .filter(|r| {
            r["utterance_id"]
                .as_str()
                .is_some_and(|u| u.starts_with(&id))
        })
        .collect();
    assert_eq!(mine.len(), 1, "only the authorised command ran: {mine:?}");
    assert_eq!(mine[0]["utterance_id"], format!("{id}-right").as_str());
    assert_eq!(mine[0]["webhook"], "ask-tonny-secure");
}

#[test]
#[ignore = "starts a private n8n (ci/n8n.sh)"]
fn private_n8n_keeps_its_record_across_stop_and_start() {
    let Some(mut n8n) = N8n::start() else { return };
    let base = n8n.url();
    let ids: Vec<String> = (0..20).map(|n| format!("keep-{n:02}")).collect();
    for id in &ids {
        let (status, answer) =
            peers::post_json(&peers::ask_url(&base), None, &command(id, id)).expect("n8n answers");
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(peers::received_ids(&base, "keep-"), ids);

    n8n.stop();
    assert!(
        peers::post_json(
            &peers::ask_url(&base),
            None,
            &command("keep-while-stopped", "x")
        )
        .is_err(),
        "a stopped instance must not answer"
    );
    n8n.start_again();
    assert_eq!(n8n.url(), base, "same address after a restart");
    assert_eq!(
        peers::received_ids(&base, "keep-"),
        ids,
        "the record survives a restart"
    );

    let (status, answer) =
        peers::post_json(&peers::ask_url(&base), None, &command("keep-20", "after"))
            .expect("n8n answers after the restart");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(reply_of(&answer), "You said: after");
    let (status, answer) = peers::post_json(
        &peers::secure_url(&base),
        Some(n8n.token()),
        &command("keep-21", "secure after"),
    )
    .expect("n8n answers after the restart");
    assert_eq!(status, 200, "the token survives a restart too: {answer}");
    let mut expected = ids;
    expected.extend(["keep-20".to_owned(), "keep-21".to_owned()]);
    assert_eq!(peers::received_ids(&base, "keep-"), expected);
}

#[test]
#[ignore = "needs the shared RabbitMQ (ci/check.sh)"]
fn shared_rabbitmq_speaks_amqp() {
    let Some(url) = peers::amqp_url() else { return };
    // amqp://user:pass@host:port/vhost → host:port
    let authority = url
        .strip_prefix("amqp://")
        .and_then(|rest| rest.split('/').next())
        .map(|a| a.rsplit('@').next().unwrap_or(a))
        .unwrap_or_else(|| panic!("TONNYTRAY_TEST_AMQP_URL is not an amqp:// URL: {url}"))
        .to_owned();
    let mut stream = TcpStream::connect(&authority)
        .unwrap_or_else(|e| panic!("connecting to RabbitMQ at {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    stream
        .write_all(b"AMQP\x00\x00\x09\x01")
        .expect("sending the AMQP 0-9-1 header");
    let mut frame = [0u8; 11];
    stream
        .read_exact(&mut frame)
        .expect("RabbitMQ answers the protocol header");
    // A method frame on channel 0 carrying connection.start (class 10, method 10).
    assert_eq!(frame[0], 1, "frame type: {frame:?}");
    assert_eq!(&frame[1..3], &[0, 0], "channel: {frame:?}");
    assert_eq!(
        &frame[7..11],
        &[0, 10, 0, 10],
        "connection.start: {frame:?}"
    );
}
