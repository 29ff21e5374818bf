//! Crash safety of the store, with real processes: a child writing
//! utterances is killed with SIGKILL at random moments, 100 times. After
//! each kill the file must open, and every utterance the child reported as
//! committed (it prints the id after `add_utterance` returned) must be there
//! with its exact words.
//!
//! The child is this same test binary, started on this same test with
//! `TONNYTRAY_CRASH_CHILD` set: it then writes until it is killed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tonnytray::store::{Destination, Latencies, Store, Utterance};

const CHILD: &str = "TONNYTRAY_CRASH_CHILD";
const RUN: &str = "TONNYTRAY_CRASH_RUN";
const KILLS: u32 = 100;

fn words(run: u32, n: u64) -> String {
    format!("run {run} utterance {n}: turn on the kitchen lights")
}

/// The child: writes utterances until killed, printing each committed id.
fn write_until_killed(path: &Path, run: u32) -> ! {
    let store = Store::open(path).expect("the child opens the store");
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let u = Utterance {
            id: 1 + u64::from(run) * 1_000_000 + n,
            profile: "default".into(),
            text: words(run, n),
            favourite: n.is_multiple_of(7),
            duration_ms: 1_000,
            latency: Latencies::default(),
            went: Destination::Typed,
        };
        let id = store.add_utterance(&u).expect("the child writes");
        writeln!(out, "{id} {n}").expect("stdout");
        out.flush().expect("stdout");
    }
    unreachable!("the loop only ends when the process is killed")
}

/// xorshift64: random kill moments without a crate; the seed is printed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn killed_writers_never_lose_a_committed_utterance() {
    if let Some(path) = std::env::var_os(CHILD) {
        let run = std::env::var(RUN)
            .ok()
            .and_then(|r| r.parse().ok())
            .expect("run number");
        write_until_killed(Path::new(&path), run);
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("crash.redb");
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("kill moments seeded with {seed}");
    let mut committed: Vec<(u64, String)> = Vec::new();
    for run in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "store_crash::killed_writers_never_lose_a_committed_utterance",
                "--nocapture",
                "--include-ignored",
            ])
            .env(CHILD, &path)
            .env(RUN, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.split(' ');
                let (Some(id), Some(n)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if let (Ok(id), Ok(n)) = (id.parse::<u64>(), n.parse::<u64>()) {
                    let _ = tx.send((id, n));
                }
            }
        });
        // Wait for the first commit, then kill at a random moment after it
        // (0–40 ms: mid-transaction as often as between them).
        let first = rx.recv_timeout(Duration::from_secs(30));
        assert!(first.is_ok(), "run {run}: the child committed nothing");
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 40_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        reader.join().expect("reader");
        let reported: Vec<_> = first.into_iter().chain(rx.try_iter()).collect();
        committed.extend(reported.iter().map(|&(id, n)| (id, words(run, n))));

        let store = Store::open(&path)
            .unwrap_or_else(|e| panic!("run {run}: the file does not open after SIGKILL: {e}"));
        for (id, text) in &committed {
            let got = store
                .utterance(*id)
                .unwrap_or_else(|e| panic!("run {run}: utterance {id} unreadable: {e}"));
            assert_eq!(
                got.as_ref().map(|u| u.text.as_str()),
                Some(text.as_str()),
                "run {run}: committed utterance {id} is missing or changed"
            );
        }
    }
    let store = Store::open(&path).expect("open");
    assert!(store.count().expect("count") >= committed.len() as u64);
    eprintln!(
        "{KILLS} kills, {} committed utterances all present",
        committed.len()
    );
}
