//! The fuzz targets' smoke run on the stable toolchain: replay the
//! committed corpus, then run mutations of it (bit flips, interesting
//! bytes, cut, duplicated and spliced stretches, tokens of the formats).
//! Written by hand because libFuzzer's mutator needs the nightly toolchain
//! and an instrumented build, which a CI machine does not have; this finds
//! the shallow crashes in seconds, the campaigns (`cargo fuzz`) the deep
//! ones.
//!
//! A run starts from `TONNYTRAY_FUZZ_SEED` if set, else from the clock,
//! and prints its seed; an input that fails is written to `fuzz-failures/`
//! under `$TONNYTRAY_TEST_ARTIFACTS` (else the target dir) and named in the
//! failure, ready to be added to the corpus as `crash-*`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Tokens worth inserting: the syntax of JSON, TOML, WAV and the socket
/// protocol, and numbers at the edges.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e309",
    b"NaN",
    b"nan",
    b"inf",
    b"18446744073709551615",
    b"-9223372036854775808",
    b"\\u0000",
    b"\\ud800",
    b"\n",
    b"=",
    b"[[",
    b"]]",
    b"'''",
    b"RIFF",
    b"WAVE",
    b"fmt ",
    b"data",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"type",
    b"lines",
    b"buffer_transcription",
    b"ready_to_stop",
    b"store ",
    b"profile ",
    b"reply",
    b"message",
    b"detail",
    b"tok3n",
    b"\xc3\x28",
    b"*",
    b"24:00",
    b"-",
];

/// xorshift64*: small, fast and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// Changes `input` in one of a dozen ways; `others` are the corpus.
fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = input.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = [0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b' ', b'"', b'\\'][rng.below(10)];
        }
        2 => {
            let at = rng.below(len + 1);
            let n = rng.below(8) + 1;
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            input.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let from = rng.below(len);
            let to = (from + rng.below(16) + 1).min(len);
            input.drain(from..to);
        }
        4 if len > 0 => {
            let from = rng.below(len);
            let to = (from + rng.below(32) + 1).min(len);
            let copy = input[from..to].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, copy);
        }
        5 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let to = (from + rng.below(64) + 1).min(other.len());
                let at = rng.below(len + 1);
                input.splice(at..at, other[from..to].iter().copied());
            }
        }
        6 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            let at = rng.below(len + 1);
            input.splice(at..at, token.iter().copied());
        }
        7 if len > 0 => input.truncate(rng.below(len)),
        8 if len >= 4 => {
            // A little-endian length or count field set to an edge value.
            let at = rng.below(len - 3);
            let value: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000][rng.below(5)];
            input[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        _ => {
            let at = rng.below(len + 1);
            input.insert(at, rng.byte());
        }
    }
}

/// Where a target's committed corpus lives.
pub(super) fn corpus_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name)
}

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(name);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    files.sort();
    files
}

fn keep_failure(name: &str, seed: u64, n: usize, input: &[u8]) -> PathBuf {
    let dir = std::env::var_os("TONNYTRAY_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-seed{seed}-{n}"));
    let _ = std::fs::write(&path, input);
    path
}

/// Replays `name`'s corpus through `target`, then `iterations` mutations.
pub(super) fn smoke(name: &str, target: fn(&[u8]), iterations: usize) {
    let files = corpus(name);
    assert!(!files.is_empty(), "no corpus for {name}");
    for (file, bytes) in &files {
        if catch_unwind(AssertUnwindSafe(|| target(bytes))).is_err() {
            panic!("{name}: the corpus file {file} fails (see the panic above)");
        }
    }
    let seed = std::env::var("TONNYTRAY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| {
                    u64::try_from(d.as_nanos() % u128::from(u64::MAX)).unwrap_or(1)
                })
        })
        | 1;
    // On stderr, which the test runner keeps even when the process
    // dies (an abort or a hang leaves no failure message behind).
    eprintln!("{name}: seed {seed} (TONNYTRAY_FUZZ_SEED={seed} repeats this run)");
    let mut rng = Rng(seed);
    let others: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    for n in 0..iterations {
        let mut input = others[rng.below(others.len())].clone();
        for _ in 0..=rng.below(4) {
            mutate_once(&mut rng, &mut input, &others);
        }
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let kept = keep_failure(name, seed, n, &input);
            panic!(
                "{name}: mutation {n} of seed {seed} fails (see the panic above); the input is in {}",
                kept.display()
            );
        }
    }
}
