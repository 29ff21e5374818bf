//! Store benchmarks for docs/PERFORMANCE.md (`ci/bench.sh store`):
//! - commit of one utterance (one durable, fsync'd transaction): p50/p99
//!   over 1 000 commits;
//! - search over 100 000 utterances (a word in ~1 % of them, a word in none,
//!   and a date range), median of 9;
//! - file size per 10 000 utterances.
//!
//! Usage: `store_bench [DIR]` (default: a temporary folder under /tmp, i.e.
//! the disk the user's data dir would be on).

#![allow(clippy::print_stdout)] // a report printed for the reader
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)] // figures for people

use std::time::{Duration, Instant};

use tonnytray::store::{Destination, Latencies, Query, Store, Utterance};

const PHRASES: [&str; 8] = [
    "turn on the living room lights and set a timer for ten minutes",
    "please add apples and bananas to the shopping list",
    "remind me to call my sister after dinner tonight",
    "what is the weather going to be like tomorrow morning",
    "play some quiet music in the kitchen",
    "dear team thanks for the update I will look at it on Monday",
    "the meeting moved to three o'clock so we have time for lunch",
    "computer lock the front door and close the garage",
];

fn utterance(id: u64, i: usize) -> Utterance {
    let mut text = PHRASES[i % PHRASES.len()].to_owned();
    if i.is_multiple_of(100) {
        text.push_str(" zanzibar");
    }
    Utterance {
        id,
        profile: if i.is_multiple_of(3) {
            "kids"
        } else {
            "default"
        }
        .into(),
        text,
        favourite: i.is_multiple_of(50),
        duration_ms: 2_000 + (i % 3_000) as u32,
        latency: Latencies {
            final_text_ms: Some(400 + (i % 200) as u32),
            typing_ms: Some(120),
            command_ms: None,
            speech_ms: None,
        },
        went: Destination::Typed,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = tempfile::tempdir_in(base).expect("temp dir");

    // Commit latency, one durable transaction per utterance.
    let store = Store::open(&dir.path().join("commit.redb")).expect("open");
    let mut times = Vec::with_capacity(1_000);
    for i in 0..1_000 {
        let u = utterance(1_700_000_000_000_000 + i as u64 * 1_000_000, i);
        let t = Instant::now();
        store.add_utterance(&u).expect("add");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "commit one utterance (fsync), 1000 commits: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&times, 0.5),
        pct(&times, 0.99),
        pct(&times, 1.0)
    );
    drop(store);

    // 100 000 utterances, loaded in batches through the same API.
    let path = dir.path().join("search.redb");
    let store = Store::open(&path).expect("open");
    let start = 1_700_000_000_000_000u64;
    let t = Instant::now();
    for i in 0..100_000 {
        store
            .add_utterance(&utterance(start + i as u64 * 60_000_000, i))
            .expect("add");
        if i + 1 == 10_000 {
            let bytes = std::fs::metadata(&path).expect("size").len();
            println!(
                "file size with 10 000 utterances: {:.2} MB",
                bytes as f64 / 1e6
            );
        }
    }
    eprintln!("loaded 100 000 in {:.1} s", t.elapsed().as_secs_f64());
    let bytes = std::fs::metadata(&path).expect("size").len();
    println!(
        "file size with 100 000 utterances: {:.2} MB",
        bytes as f64 / 1e6
    );
    let day = 86_400_000_000u64;
    let cases = [
        (
            "a word in 1 % of them",
            Query {
                text: "Zanzibar".into(),
                ..Query::default()
            },
        ),
        (
            "a word in none (full scan)",
            Query {
                text: "xylophone".into(),
                ..Query::default()
            },
        ),
        (
            "first 50 of a common word",
            Query {
                text: "lights".into(),
                limit: 50,
                ..Query::default()
            },
        ),
        (
            "one week, kids' profile",
            Query {
                since: Some(start + 30 * day),
                until: Some(start + 37 * day),
                profile: Some("kids".into()),
                ..Query::default()
            },
        ),
    ];
    for (what, q) in cases {
        let mut runs = Vec::new();
        let mut n = 0;
        for _ in 0..9 {
            let t = Instant::now();
            n = store.search(&q).expect("search").len();
            runs.push(t.elapsed());
        }
        runs.sort();
        println!(
            "search 100 000, {what}: {:.1} ms median of 9 ({n} found)",
            pct(&runs, 0.5)
        );
    }

    drop(store);
    bench_open(&path);
}

/// Opening checks the whole file's integrity (every page's checksum)
/// before trusting it: what that costs on the 100 000 utterances at `path`.
fn bench_open(path: &std::path::Path) {
    let mut opens = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let store = Store::open(path).expect("open");
        opens.push(t.elapsed());
        drop(store);
    }
    opens.sort();
    let mut plain = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let db = redb::Database::open(path).expect("open");
        plain.push(t.elapsed());
        drop(db);
    }
    plain.sort();
    println!(
        "open 100 000 (integrity check included, warm page cache): {:.1} ms median of 5, \
         max {:.1} ms; a plain redb open: {:.1} ms",
        pct(&opens, 0.5),
        pct(&opens, 1.0),
        pct(&plain, 0.5)
    );
}
