//! Command routing: does an utterance start with a command prefix
//! ("Computer," …)? Decided on the committed words as they stream in, so
//! dictation can be typed live while a command is never typed at all.
//!
//! Matching is lenient on case and punctuation: "computer," "Computer." and
//! "COMPUTER" all match the prefix "Computer,", and "Hey, house:" matches
//! "Hey House". Whole words only: "Computers are…" is dictation.

/// What the committed words so far say about the utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Too few words to tell (nothing yet, or only the start of a prefix).
    Undecided,
    /// Not a command: type the words.
    Dictation,
    /// A command: these are the words after the prefix (maybe none yet).
    Command(String),
}

/// Classifies `committed` against `prefixes` (blank prefixes are ignored).
#[must_use]
pub fn classify(committed: &str, prefixes: &[String]) -> Route {
    let words: Vec<(String, usize)> = words_with_ends(committed);
    if words.is_empty() {
        return Route::Undecided;
    }
    let mut undecided = false;
    for prefix in prefixes {
        let want: Vec<String> = words_with_ends(prefix).into_iter().map(|w| w.0).collect();
        if want.is_empty() {
            continue;
        }
        let n = want.len().min(words.len());
        if words[..n]
            .iter()
            .zip(&want)
            .any(|(have, want)| &have.0 != want)
        {
            continue;
        }
        if words.len() < want.len() {
            undecided = true;
            continue;
        }
        let end = words[want.len() - 1].1;
        return Route::Command(rest_after(committed, end));
    }
    if undecided {
        Route::Undecided
    } else {
        Route::Dictation
    }
}

/// The words of `text` folded for comparison (lower case, letters and
/// digits only), each with the byte offset where it ends in `text`.
fn words_with_ends(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() || c == '\'' {
            if c != '\'' {
                current.extend(c.to_lowercase());
            }
            end = i + c.len_utf8();
        } else if c.is_whitespace() && !current.is_empty() {
            out.push((std::mem::take(&mut current), end));
        }
    }
    if !current.is_empty() {
        out.push((current, end));
    }
    out
}

/// The text after byte `end`, without the punctuation and spaces that
/// separated it from the prefix.
fn rest_after(text: &str, end: usize) -> String {
    text.get(end..)
        .unwrap_or_default()
        .trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | '.' | ':' | ';' | '!' | '?' | '-')
        })
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes() -> Vec<String> {
        vec!["Computer,".to_owned(), "Hey House".to_owned()]
    }

    fn route(text: &str) -> Route {
        classify(text, &prefixes())
    }

    #[test]
    fn a_prefix_in_any_case_and_punctuation_makes_a_command() {
        for text in [
            "Computer, turn on the lights.",
            "computer turn on the lights.",
            "COMPUTER. Turn on the lights.",
            "Hey, house: turn on the lights.",
            "  hey house turn on the lights.",
        ] {
            let Route::Command(rest) = route(text) else {
                panic!("{text} is a command");
            };
            assert_eq!(rest.to_lowercase(), "turn on the lights.", "{text}");
        }
    }

    #[test]
    fn other_words_are_dictation() {
        assert_eq!(route("Computers are fast."), Route::Dictation);
        assert_eq!(route("Hey there"), Route::Dictation);
        assert_eq!(route("Dear Sir, computer is broken"), Route::Dictation);
    }

    #[test]
    fn the_start_of_a_prefix_waits_for_more_words() {
        assert_eq!(route(""), Route::Undecided);
        assert_eq!(route("  "), Route::Undecided);
        assert_eq!(route("Hey,"), Route::Undecided);
        assert_eq!(route("Hey house"), Route::Command(String::new()));
        assert_eq!(route("Computer,"), Route::Command(String::new()));
    }

    #[test]
    fn no_prefixes_means_everything_is_dictation() {
        assert_eq!(classify("Computer, lights", &[]), Route::Dictation);
        assert_eq!(
            classify("Computer, lights", &[" ".into()]),
            Route::Dictation
        );
    }

    #[test]
    fn apostrophes_and_accents_fold_like_the_prefix() {
        let p = vec!["Café Bot".to_owned()];
        assert_eq!(
            classify("café bot, what's on", &p),
            Route::Command("what's on".into())
        );
        let p = vec!["Tonny's".to_owned()];
        assert_eq!(
            classify("Tonnys play music", &p),
            Route::Command("play music".into())
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn words(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-z]{2,8}", range)
    }

    proptest! {
        /// A prefix (in any case, with any trailing punctuation) followed by
        /// words is a command of exactly those words.
        #[test]
        fn a_prefix_and_words_is_that_command(
            prefix in words(1..3),
            rest in words(1..8),
            upper in any::<bool>(),
            mark in prop::sample::select(vec!["", ",", ".", ":", "!"]),
        ) {
            let said = if upper { prefix.join(" ").to_uppercase() } else { prefix.join(" ") };
            let text = format!("{said}{mark} {}", rest.join(" "));
            prop_assert_eq!(
                classify(&text, &[prefix.join(" ")]),
                Route::Command(rest.join(" "))
            );
        }

        /// Words that do not start with the prefix are dictation, and only
        /// the prefix's first words (or nothing) are still undecided.
        #[test]
        fn other_words_are_dictation_and_a_partial_prefix_undecided(
            prefix in words(2..4),
            text in words(1..8),
        ) {
            let prefixes = [prefix.join(" ")];
            if text[0] != prefix[0] {
                prop_assert_eq!(classify(&text.join(" "), &prefixes), Route::Dictation);
            }
            let partial = prefix[..prefix.len() - 1].join(" ");
            prop_assert_eq!(classify(&partial, &prefixes), Route::Undecided);
            prop_assert_eq!(classify("", &prefixes), Route::Undecided);
        }
    }
}
