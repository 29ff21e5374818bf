//! The soak benchmark of docs/RELIABILITY.md, not a test CI runs
//! (`ci/check.sh` leaves `soak::` out): the desktop app under Xvfb with a
//! StatusNotifier tray, dictating from the PulseAudio virtual microphone
//! into an xterm, utterance after utterance, for `TONNYTRAY_SOAK_SECONDS`.
//! Every 30 s it samples the app's resident memory, CPU time and history
//! file size; each utterance's words are compared with what was said.
//! `ci/reliability.sh soak SECONDS` runs it on the release build
//! (`TONNYTRAY_TEST_APP_BIN`) and prints the report.
//!
//! A word "lost" is one of the text missing from what was heard (a word
//! alignment). tiny.en mishears some words of these sentences in every
//! round, which is not a loss of the app's: those are counted apart, as
//! words missing in every round of their utterance.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::{normalise, speak};
use crate::desktop::{Desktop, dictate_holding_hotkey, settings};

/// Three utterances of two sentences each, spoken in turn.
const UTTERANCES: [&str; 3] = [
    "Please add apples and bananas to the shopping list. \
     Remind me to call my sister after dinner tonight.",
    "Close the garage door and turn off the kitchen lights. \
     Turn on the living room lights and set a timer for ten minutes.",
    "What is the weather going to be like tomorrow morning? \
     The quick brown fox jumps over the lazy dog.",
];

/// One sample of the app's resources.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    cpu_s: f64,
    store_bytes: u64,
    utterances: usize,
}

/// A thread sampling the app every 30 s.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    done: Arc<AtomicBool>,
    count: Arc<Mutex<usize>>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32, store: PathBuf, started: Instant) -> Self {
        let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(Mutex::new(0usize));
        let (s, d, c) = (Arc::clone(&samples), Arc::clone(&done), Arc::clone(&count));
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                if let Some((rss_kib, cpu_s)) = resources(pid) {
                    let store_bytes = std::fs::metadata(&store).map_or(0, |m| m.len());
                    let sample = Sample {
                        at_s: started.elapsed().as_secs_f64(),
                        rss_kib,
                        cpu_s,
                        store_bytes,
                        utterances: *c.lock().expect("count"),
                    };
                    eprintln!(
                        "sample t={:.0}s rss={}KiB cpu={:.1}s store={}B utterances={}",
                        sample.at_s,
                        sample.rss_kib,
                        sample.cpu_s,
                        sample.store_bytes,
                        sample.utterances
                    );
                    s.lock().expect("samples").push(sample);
                }
                for _ in 0..300 {
                    if d.load(Ordering::Relaxed) {
                        break;
                    }
                    sleep(Duration::from_millis(100));
                }
            }
        });
        Self {
            samples,
            done,
            count,
            thread,
        }
    }

    fn set_count(&self, n: usize) {
        *self.count.lock().expect("count") = n;
    }

    /// Stops the thread; the samples taken.
    fn stop(self) -> Vec<Sample> {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler");
        let samples = self.samples.lock().expect("samples");
        samples.clone()
    }
}

/// Resident set size (KiB) and CPU time (s, user + system) of `pid`.
fn resources(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is 3rd.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some((rss, ticks / 100.0))
}

/// Positions (in `said`) of the words missing from `heard`: a longest
/// common subsequence of the two word lists.
fn missing(said: &[String], heard: &[String]) -> Vec<usize> {
    let (n, m) = (said.len(), heard.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if said[i] == heard[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n {
        if j < m && said[i] == heard[j] {
            i += 1;
            j += 1;
        } else if j < m && lcs[i][j + 1] >= lcs[i + 1][j] {
            j += 1;
        } else {
            out.push(i);
            i += 1;
        }
    }
    out
}

#[test]
#[ignore = "a benchmark of an hour, not a test: ci/reliability.sh soak SECONDS"]
fn soak_dictation_through_the_desktop_app() {
    let seconds: u64 = std::env::var("TONNYTRAY_SOAK_SECONDS")
        .expect("TONNYTRAY_SOAK_SECONDS is not set: run this through ci/reliability.sh soak")
        .parse()
        .expect("TONNYTRAY_SOAK_SECONDS is a number of seconds");
    let desktop = Desktop::start(&settings("push_to_talk"));
    let pid = desktop.app.as_ref().expect("the app").id();
    // Desktop::command sets TONNYTRAY_DB to this file.
    let store = desktop.dir.path().join("history.redb");
    let wavs: Vec<PathBuf> = UTTERANCES
        .iter()
        .enumerate()
        .map(|(i, text)| speak(desktop.dir.path(), &format!("soak{i}"), "en-us", text, None))
        .collect();
    let said: Vec<Vec<String>> = UTTERANCES.iter().map(|t| normalise(t)).collect();

    let started = Instant::now();
    let sampler = Sampler::start(pid, store, started);
    // Per utterance text: how many rounds, and per word position how many
    // rounds missed it.
    let mut rounds = [0usize; UTTERANCES.len()];
    let mut misses: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::new(); UTTERANCES.len()];
    let mut last_saved = None;
    let mut n = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        let k = n % UTTERANCES.len();
        dictate_holding_hotkey(&desktop, &wavs[k]);
        // The log lists the newest utterances, oldest first.
        let newest = |s: &serde_json::Value| s["log"].as_array().and_then(|l| l.last()).cloned();
        let status = desktop.wait_status("the utterance to be saved", |s| {
            s["state"] == "Idle"
                && newest(s).is_some_and(|u| {
                    u["saved"].as_u64().is_some() && u["saved"].as_u64() != last_saved
                })
        });
        let utterance = newest(&status).expect("an utterance");
        last_saved = utterance["saved"].as_u64();
        let heard = normalise(utterance["text"].as_str().unwrap_or_default());
        let gone = missing(&said[k], &heard);
        for &i in &gone {
            *misses[k].entry(i).or_default() += 1;
        }
        rounds[k] += 1;
        n += 1;
        sampler.set_count(n);
        if !gone.is_empty() {
            let words: Vec<String> = gone
                .iter()
                .map(|&i| format!("{}@{i}", said[k][i]))
                .collect();
            eprintln!(
                "utterance {n} ({k}): missing {} in {:?}",
                words.join(" "),
                heard.join(" ")
            );
        }
    }
    let samples = sampler.stop();
    let history = desktop.run(
        crate::common::bin(),
        &["history", "--json", "--limit", &(n + 10).to_string()],
    );
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).expect("history JSON");
    let saved = history.as_array().map_or(0, Vec::len);

    eprintln!(
        "soak: {:.0} s, {n} utterances ({saved} in the history)",
        started.elapsed().as_secs_f64()
    );
    report(&samples, &said, &rounds, &misses);
    assert_eq!(saved, n, "every utterance is in the history");
}

/// Prints the figures of docs/RELIABILITY.md's soak row.
fn report(
    samples: &[Sample],
    said: &[Vec<String>],
    rounds: &[usize],
    misses: &[BTreeMap<usize, usize>],
) {
    let first = samples.first().copied().expect("a sample");
    let last = samples.last().copied().expect("a sample");
    // RSS once warmed up (after the first 5 minutes, or the first sample).
    let warm = samples
        .iter()
        .find(|s| s.at_s >= 300.0)
        .copied()
        .unwrap_or(first);
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let words_said: usize = (0..UTTERANCES.len())
        .map(|k| rounds[k] * said[k].len())
        .sum();
    let mut always = 0usize;
    let mut lost = Vec::new();
    for k in 0..UTTERANCES.len() {
        for (&i, &c) in &misses[k] {
            if c == rounds[k] {
                always += c;
            } else {
                lost.push(format!("{}@{k}.{i}×{c}", said[k][i]));
            }
        }
    }
    let lost_count: usize = (0..UTTERANCES.len())
        .map(|k| {
            misses[k]
                .values()
                .filter(|&&c| c != rounds[k])
                .sum::<usize>()
        })
        .sum();
    let n: usize = rounds.iter().sum();
    eprintln!("words said: {words_said}");
    eprintln!(
        "rss: {} KiB at start, {} KiB at 5 min, {} KiB at the end, peak {} KiB; growth after 5 min {} KiB",
        first.rss_kib,
        warm.rss_kib,
        last.rss_kib,
        peak,
        i64::try_from(last.rss_kib).unwrap_or(0) - i64::try_from(warm.rss_kib).unwrap_or(0)
    );
    eprintln!(
        "cpu: {:.1} s in {:.0} s ({:.1} % of one core)",
        last.cpu_s - first.cpu_s,
        last.at_s - first.at_s,
        100.0 * (last.cpu_s - first.cpu_s) / (last.at_s - first.at_s).max(1.0)
    );
    eprintln!(
        "store: {} bytes at the end, {:.0} bytes per utterance",
        last.store_bytes,
        last.store_bytes as f64 / n.max(1) as f64
    );
    eprintln!(
        "words: {always} missing in every round of their utterance (the model's own), {lost_count} missing only in some: {}",
        if lost.is_empty() {
            "none".to_owned()
        } else {
            lost.join(" ")
        }
    );
}
