//! Custom vocabulary: whole-word, case-insensitive replacements applied to
//! committed text before it is typed ("tony tray" → "TonnyTray"). Trailing
//! punctuation of the replaced words is kept.

use crate::config::settings::Replacement;

/// Applies the replacements, longest phrase first, to whitespace-separated
/// words. Text without a match comes back unchanged (spacing normalised).
#[must_use]
pub fn apply(text: &str, replacements: &[Replacement]) -> String {
    if replacements.is_empty() {
        return text.to_owned();
    }
    let mut rules: Vec<(Vec<String>, &str)> = replacements
        .iter()
        .map(|r| {
            (
                r.from.split_whitespace().map(normalise).collect(),
                r.to.as_str(),
            )
        })
        .filter(|(from, _): &(Vec<String>, &str)| !from.is_empty())
        .collect();
    rules.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));

    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let hit = rules.iter().find(|(from, _)| {
            words.len() - i >= from.len()
                && from
                    .iter()
                    .zip(&words[i..])
                    .all(|(f, w)| *f == normalise(w))
        });
        match hit {
            Some((from, to)) => {
                let last = words[i + from.len() - 1];
                out.push(format!("{to}{}", trailing_punctuation(last)));
                i += from.len();
            }
            None => {
                out.push(words[i].to_owned());
                i += 1;
            }
        }
    }
    out.join(" ")
}

fn normalise(word: &str) -> String {
    word.trim_end_matches(|c: char| c.is_ascii_punctuation())
        .to_lowercase()
}

fn trailing_punctuation(word: &str) -> &str {
    let core = word.trim_end_matches(|c: char| c.is_ascii_punctuation());
    &word[core.len()..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(from: &str, to: &str) -> Replacement {
        Replacement {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn replaces_whole_words_ignoring_case_and_keeps_punctuation() {
        let rules = [rule("tony tray", "TonnyTray"), rule("kube", "Kubernetes")];
        assert_eq!(
            apply("Open Tony Tray, then kube.", &rules),
            "Open TonnyTray, then Kubernetes."
        );
        assert_eq!(apply("kubectl stays", &rules), "kubectl stays");
    }

    #[test]
    fn longer_phrases_win_over_their_prefixes() {
        let rules = [rule("new", "NEW"), rule("new york", "NYC")];
        assert_eq!(apply("new york is new", &rules), "NYC is NEW");
    }

    #[test]
    fn no_rules_leave_text_untouched() {
        assert_eq!(apply("  as  is ", &[]), "  as  is ");
        assert_eq!(apply("a b", &[rule("   ", "x")]), "a b");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn rule(from: &str, to: &str) -> Replacement {
        Replacement {
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    proptest! {
        /// Every occurrence is replaced (in any case, punctuation kept),
        /// and the words around it are left alone.
        #[test]
        fn every_occurrence_is_replaced_and_nothing_else(
            text in prop::collection::vec(
                prop::sample::select(vec!["tony", "tray", "Tony", "TRAY,", "the", "app.", "a"]),
                0..30,
            ),
        ) {
            let out = apply(&text.join(" "), &[rule("tony tray", "TonnyTray")]);
            let mut expected = Vec::new();
            let mut i = 0;
            while i < text.len() {
                let pair = text.get(i + 1).map(|next| (normalise(text[i]), normalise(next)));
                if pair == Some(("tony".into(), "tray".into())) {
                    expected.push(format!("TonnyTray{}", trailing_punctuation(text[i + 1])));
                    i += 2;
                } else {
                    expected.push(text[i].to_owned());
                    i += 1;
                }
            }
            prop_assert_eq!(out, expected.join(" "));
        }

        /// Text without the phrase comes back word for word.
        #[test]
        fn text_without_a_match_is_unchanged(text in prop::collection::vec("[a-z]{1,6}[.,]?", 0..20)) {
            let out = apply(&text.join(" "), &[rule("zzzz yyyy", "X")]);
            prop_assert_eq!(out, text.join(" "));
        }
    }
}
