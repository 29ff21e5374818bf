//! Household profiles: who is speaking (admin, user, kid, guest), their
//! voice and reply style, and the kid-safe limits kept in the settings file
//! (`[[profiles]]`). This module owns the types, the formats of their fields
//! (command patterns, hour windows) and their validation; what a profile may
//! do with them is decided in `core::policy`.

use serde::{Deserialize, Serialize};

/// Longest command pattern, in characters: longer ones are surely a mistake.
const MAX_PATTERN_CHARS: usize = 200;

/// The profile used until profiles exist.
pub const DEFAULT_PROFILE: &str = "default";

/// What a profile may do (see `core::policy` for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, and the PIN that unlocks kid and guest profiles.
    Admin,
    /// Any command not blocked; may open settings.
    #[default]
    User,
    /// Only allow-listed commands, within hours and a daily limit.
    Kid,
    /// Dictation only: no commands.
    Guest,
}

impl Role {
    /// The name shown in the UI ("Admin", "Kid", …).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::User => "User",
            Role::Kid => "Kid",
            Role::Guest => "Guest",
        }
    }
}

/// What happens to a command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Shown only.
    Text,
    /// Spoken only.
    Voice,
    /// Shown and spoken.
    #[default]
    Both,
}

impl ResponseMode {
    /// Whether the reply is shown in the window or a notification.
    #[must_use]
    pub fn shows_text(self) -> bool {
        matches!(self, ResponseMode::Text | ResponseMode::Both)
    }

    /// Whether the reply is spoken.
    #[must_use]
    pub fn speaks(self) -> bool {
        matches!(self, ResponseMode::Voice | ResponseMode::Both)
    }
}

/// One member of the household.
///
/// `Debug` hides `pin_hash`: a 4-digit PIN's hash is quick to guess offline.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Shown in the UI and sent with commands; unique (case-insensitive).
    pub name: String,
    /// What the profile may do.
    pub role: Role,
    /// ElevenLabs voice for replies; empty: the global `[elevenlabs] voice_id`.
    pub voice_id: String,
    /// Reply style; `None`: the global `[commands] response_mode`.
    pub response_mode: Option<ResponseMode>,
    /// Preferred n8n agent, sent with commands; empty: none.
    pub agent: String,
    /// Commands this profile may run (see [`CommandPattern`]); empty: any
    /// for users and admins, none for kids.
    pub allow: Vec<String>,
    /// Commands this profile may never run; wins over `allow`.
    pub block: Vec<String>,
    /// Local time windows when commands work, like "07:00-20:00" (see
    /// [`HoursWindow`]); empty: any time.
    pub hours: Vec<String>,
    /// Commands per local day; `None`: no limit.
    pub daily_limit: Option<u32>,
    /// Argon2 PHC string of the profile's PIN (`core::policy::hash_pin`);
    /// empty: no PIN.
    pub pin_hash: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pin = if self.pin_hash.is_empty() {
            "none"
        } else {
            "[set]"
        };
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("voice_id", &self.voice_id)
            .field("response_mode", &self.response_mode)
            .field("agent", &self.agent)
            .field("allow", &self.allow)
            .field("block", &self.block)
            .field("hours", &self.hours)
            .field("daily_limit", &self.daily_limit)
            .field("pin", &pin)
            .finish()
    }
}

impl Profile {
    /// A profile with this name and role and no limits.
    #[must_use]
    pub fn new(name: &str, role: Role) -> Self {
        Self {
            name: name.to_owned(),
            role,
            ..Self::default()
        }
    }

    /// The reply style: the profile's own, else `global`.
    #[must_use]
    pub fn response_mode_or(&self, global: ResponseMode) -> ResponseMode {
        self.response_mode.unwrap_or(global)
    }

    /// The voice for replies: the profile's own, else `global`.
    #[must_use]
    pub fn voice_or<'a>(&'a self, global: &'a str) -> &'a str {
        if self.voice_id.trim().is_empty() {
            global
        } else {
            &self.voice_id
        }
    }

    /// Whether the profile has a PIN.
    #[must_use]
    pub fn has_pin(&self) -> bool {
        !self.pin_hash.is_empty()
    }
}

/// The profiles of a fresh install: one admin named "Default" without
/// limits or PIN, so the app behaves as it did before profiles existed.
#[must_use]
pub fn defaults() -> Vec<Profile> {
    vec![Profile::new("Default", Role::Admin)]
}

/// The profile named `name` (case-insensitive); an empty name, or none
/// given, picks the first.
#[must_use]
pub fn find<'a>(profiles: &'a [Profile], name: &str) -> Option<&'a Profile> {
    let name = name.trim();
    if name.is_empty() {
        return profiles.first();
    }
    let name = name.to_lowercase();
    profiles
        .iter()
        .find(|p| p.name.trim().to_lowercase() == name)
}

/// Checks a list of profiles, returning one message per problem, each
/// naming the profile (by position and name) and the field.
#[must_use]
pub fn validate(profiles: &[Profile]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, p) in profiles.iter().enumerate() {
        let at = |field: &str| format!("profiles[{i}] ({:?}).{field}", p.name);
        if p.name.trim().is_empty() {
            problems.push(format!("{}: a profile needs a name", at("name")));
        }
        let duplicate = profiles[..i]
            .iter()
            .any(|q| q.name.trim().to_lowercase() == p.name.trim().to_lowercase());
        if duplicate && !p.name.trim().is_empty() {
            problems.push(format!(
                "{}: another profile is already called {:?}; names must differ",
                at("name"),
                p.name
            ));
        }
        for (j, h) in p.hours.iter().enumerate() {
            if let Err(e) = HoursWindow::parse(h) {
                problems.push(format!("{}: {e}", at(&format!("hours[{j}]"))));
            }
        }
        for (field, list) in [("allow", &p.allow), ("block", &p.block)] {
            for (j, pattern) in list.iter().enumerate() {
                if let Err(e) = CommandPattern::parse(pattern) {
                    problems.push(format!("{}: {e}", at(&format!("{field}[{j}]"))));
                }
            }
        }
        if p.has_pin() && argon2::PasswordHash::new(&p.pin_hash).is_err() {
            problems.push(format!(
                "{}: not a PIN hash written by TonnyTray; clear it and set the PIN again",
                at("pin_hash")
            ));
        }
    }
    let admin_pin = profiles
        .iter()
        .any(|p| p.role == Role::Admin && argon2::PasswordHash::new(&p.pin_hash).is_ok());
    for (i, p) in profiles.iter().enumerate() {
        if matches!(p.role, Role::Kid | Role::Guest) && !admin_pin {
            problems.push(format!(
                "profiles[{i}] ({:?}).role: a {} profile is locked by an admin's PIN, but no \
                 admin profile has a PIN, so anyone can leave it or change its limits; \
                 set a PIN on an admin profile",
                p.name,
                p.role.label().to_lowercase()
            ));
        }
    }
    problems
}

/// A local time window, start inclusive and end exclusive, in minutes after
/// midnight. Written "07:00-20:00"; "20:00-07:00" crosses midnight;
/// "00:00-24:00" is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoursWindow {
    start: u16,
    end: u16,
}

/// Why an hours window cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a time window: {why}; write it like \"07:00-20:00\"")]
pub struct HoursError {
    text: String,
    why: &'static str,
}

impl HoursWindow {
    /// Reads "HH:MM-HH:MM" (24-hour clock; "24:00" only as the end).
    ///
    /// # Errors
    /// [`HoursError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, HoursError> {
        let err = |why| HoursError {
            text: text.to_owned(),
            why,
        };
        let (start, end) = text
            .split_once(['-', '–'])
            .ok_or_else(|| err("it needs a start and an end separated by '-'"))?;
        let start = minutes(start).ok_or_else(|| err("the start is not a time (HH:MM)"))?;
        let end = minutes(end).ok_or_else(|| err("the end is not a time (HH:MM)"))?;
        if start == 24 * 60 {
            return Err(err("24:00 can only end a window"));
        }
        if start == end {
            return Err(err(
                "it starts and ends at the same time (use 00:00-24:00 for all day)",
            ));
        }
        Ok(Self { start, end })
    }

    /// Whether the window holds this time of day.
    #[must_use]
    pub fn contains(self, time: jiff::civil::Time) -> bool {
        let m = u16::try_from(i32::from(time.hour()) * 60 + i32::from(time.minute()))
            .unwrap_or_default();
        if self.start < self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        }
    }
}

impl std::fmt::Display for HoursWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}–{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// "HH:MM" (or "H:MM") as minutes after midnight, up to 24:00.
fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        (lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    // Minutes always have two digits, so "7:5" is not read as 07:05.
    let (h, m) = (digits(h, 1..=2)?, digits(m, 2..=2)?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// A wildcard pattern over a command's text, matched against the whole
/// text after both are normalised: lower case, apostrophes dropped, other
/// punctuation and runs of spaces made one space.
///
/// `*` is any run of characters (also none) and `?` one character other
/// than a space. A `*` that stands as a word of its own stands for whole
/// words: "turn on *" matches "turn on" and "turn on the lights" but not
/// "turn onion"; "* lights" matches "lights" and "the lights" but not
/// "spotlights". Inside a word it is plain: "*light*" matches "spotlights".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`: one character, not a space.
    One,
    /// `*` inside a word: any run.
    Any,
    /// " *": nothing, or a space and any run.
    SpaceAny,
    /// "* " at the start: nothing, or any run ending in a space.
    AnySpace,
}

/// Why a command pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a command pattern: {why}")]
pub struct PatternError {
    text: String,
    why: &'static str,
}

impl CommandPattern {
    /// Reads a pattern.
    ///
    /// # Errors
    /// [`PatternError`] when it is empty once punctuation is dropped, or
    /// longer than 200 characters.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |why| PatternError {
            text: text.to_owned(),
            why,
        };
        if text.chars().count() > MAX_PATTERN_CHARS {
            return Err(err("it is longer than 200 characters"));
        }
        let norm: Vec<char> = normalize(text, true).chars().collect();
        if norm.is_empty() {
            return Err(err(
                "it has no words or wildcards (punctuation and case are ignored)",
            ));
        }
        let mut tokens = Vec::with_capacity(norm.len());
        let mut i = 0;
        while i < norm.len() {
            let next = norm.get(i + 1).copied();
            let token = match norm[i] {
                ' ' if next == Some('*') => {
                    i += 1;
                    Token::SpaceAny
                }
                '*' if next == Some(' ') && i == 0 => {
                    i += 1;
                    Token::AnySpace
                }
                '*' => Token::Any,
                '?' => Token::One,
                c => Token::Char(c),
            };
            tokens.push(token);
            i += 1;
        }
        Ok(Self { tokens })
    }

    /// Whether the whole `text` matches (after normalising it).
    #[must_use]
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = normalize(text, false).chars().collect();
        let n = text.len();
        // Bottom-up over pattern positions (last first), keeping one row per
        // table: `m[t]` "tokens from p match text[t..]", `any[t]` "m holds
        // at some k >= t", `space[t]` "m holds right after some space at
        // k >= t". O(pattern × text) with no recursion, whatever the input.
        let mut m: Vec<bool> = (0..=n).map(|t| t == n).collect();
        let (mut any, mut space) = tails(&text, &m);
        for &token in self.tokens.iter().rev() {
            let mut row = vec![false; n + 1];
            for t in 0..=n {
                row[t] = match token {
                    Token::Char(c) => t < n && text[t] == c && m[t + 1],
                    Token::One => t < n && text[t] != ' ' && m[t + 1],
                    Token::Any => any[t],
                    Token::SpaceAny => m[t] || (t < n && text[t] == ' ' && any[t + 1]),
                    Token::AnySpace => m[t] || space[t],
                };
            }
            m = row;
            (any, space) = tails(&text, &m);
        }
        m[0]
    }
}

/// For one row `m`: whether `m` holds at some k >= t, and whether it holds
/// right after a space at some k >= t.
fn tails(text: &[char], m: &[bool]) -> (Vec<bool>, Vec<bool>) {
    let n = text.len();
    let mut any = vec![false; n + 1];
    let mut space = vec![false; n + 1];
    any[n] = m[n];
    for t in (0..n).rev() {
        any[t] = m[t] || any[t + 1];
        space[t] = (text[t] == ' ' && m[t + 1]) || space[t + 1];
    }
    (any, space)
}

/// Lower case; apostrophes dropped ("what's" = "whats"); every other
/// character that is not a letter or digit (and, in patterns, not `*` or
/// `?`) becomes a space; spaces collapsed and trimmed; `**` is `*`.
fn normalize(text: &str, wildcards: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if matches!(c, '\'' | '’' | '`') {
            continue;
        }
        let keep = c.is_alphanumeric() || (wildcards && matches!(c, '*' | '?'));
        if !keep {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if c == '*' && out.ends_with('*') {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::time;

    fn matches(pattern: &str, text: &str) -> bool {
        CommandPattern::parse(pattern)
            .expect("valid pattern")
            .matches(text)
    }

    #[test]
    fn plain_patterns_match_the_whole_text_ignoring_case_and_punctuation() {
        assert!(matches("turn on the lights", "Turn on the lights."));
        assert!(matches("Turn ON the lights!", "turn on, the lights"));
        assert!(matches("whats the weather", "What's the weather?"));
        assert!(!matches("turn on the lights", "turn on the lights now"));
        assert!(!matches("the lights", "turn on the lights"));
        assert!(matches("play   music", "  play\tmusic "));
    }

    #[test]
    fn a_star_word_stands_for_whole_words() {
        assert!(matches("turn on *", "turn on"));
        assert!(matches("turn on *", "Turn on the kitchen lights"));
        assert!(!matches("turn on *", "turn onion soup"));
        assert!(matches("* lights", "lights"));
        assert!(matches("* lights", "turn off the lights"));
        assert!(!matches("* lights", "spotlights"));
        assert!(matches("turn * lights", "turn lights"));
        assert!(matches("turn * lights", "turn on the lights"));
        assert!(!matches("turn * lights", "turnip lights"));
        assert!(matches("* weather *", "what's the weather like today"));
        assert!(matches("* weather *", "weather"));
    }

    #[test]
    fn a_star_inside_a_word_is_any_run() {
        assert!(matches("*light*", "spotlights"));
        assert!(matches("*light*", "turn on the lights"));
        assert!(matches("light*", "lightsaber"));
        assert!(!matches("light*", "the lights"));
        assert!(matches("*", ""));
        assert!(matches("*", "anything at all"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn a_question_mark_is_one_letter() {
        assert!(matches("colo?r", "colour"));
        assert!(!matches("colo?r", "color"));
        assert!(matches("play song ?", "play song 5"));
        assert!(!matches("play song ?", "play song 12"));
        assert!(!matches("a?b", "a b"));
        // A typed question mark is a wildcard, not punctuation.
        assert!(!matches("what time is it?", "What time is it?"));
    }

    #[test]
    fn empty_text_matches_only_patterns_that_allow_nothing() {
        assert!(!matches("play", ""));
        assert!(!matches("?", ""));
        assert!(matches("*", "..."));
    }

    #[test]
    fn long_text_is_matched_without_blowing_up() {
        let text = "a ".repeat(5_000) + "b";
        assert!(matches("* a * a * a * b", &text));
        assert!(!matches("* a * a * a * c", &text));
    }

    #[test]
    fn patterns_without_words_are_refused() {
        for bad in ["", "   ", "!!!", "'"] {
            let e = CommandPattern::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("no words"), "{e}");
        }
        let e = CommandPattern::parse(&"x".repeat(201)).expect_err("long");
        assert!(e.to_string().contains("200"), "{e}");
    }

    #[test]
    fn hour_windows_parse_and_cross_midnight() {
        let day = HoursWindow::parse("07:00-20:00").expect("day");
        assert!(day.contains(time(7, 0, 0, 0)));
        assert!(day.contains(time(19, 59, 59, 0)));
        assert!(!day.contains(time(20, 0, 0, 0)));
        assert!(!day.contains(time(6, 59, 0, 0)));
        let night = HoursWindow::parse("20:00 - 7:30").expect("night");
        assert!(night.contains(time(23, 0, 0, 0)));
        assert!(night.contains(time(0, 0, 0, 0)));
        assert!(night.contains(time(7, 29, 0, 0)));
        assert!(!night.contains(time(7, 30, 0, 0)));
        assert!(!night.contains(time(12, 0, 0, 0)));
        let all = HoursWindow::parse("00:00-24:00").expect("all day");
        assert!(all.contains(time(0, 0, 0, 0)) && all.contains(time(23, 59, 59, 0)));
        assert_eq!(day.to_string(), "07:00–20:00");
    }

    #[test]
    fn bad_hour_windows_say_why() {
        for (bad, why) in [
            ("7-20", "not a time"),
            ("07:00", "start and an end"),
            ("25:00-26:00", "not a time"),
            ("07:60-08:00", "not a time"),
            ("24:00-07:00", "only end"),
            ("08:00-08:00", "same time"),
            ("ab:cd-07:00", "not a time"),
            ("07:000-08:00", "not a time"),
            ("7:5-08:00", "not a time"),
        ] {
            let e = HoursWindow::parse(bad).expect_err(bad);
            assert!(e.to_string().contains(why), "{bad}: {e}");
            assert!(e.to_string().contains("07:00-20:00"), "{e}");
        }
    }

    fn kid(name: &str) -> Profile {
        Profile {
            allow: vec!["tell me a joke".into()],
            ..Profile::new(name, Role::Kid)
        }
    }

    #[test]
    fn defaults_are_one_admin_without_limits_and_valid() {
        let d = defaults();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].role, Role::Admin);
        assert!(d[0].allow.is_empty() && d[0].hours.is_empty() && !d[0].has_pin());
        assert!(validate(&d).is_empty(), "{:?}", validate(&d));
    }

    #[test]
    fn validation_names_profile_and_field() {
        let mut admin = Profile::new("Dad", Role::Admin);
        admin.pin_hash = "not-a-hash".into();
        let mut sam = kid("Sam");
        sam.hours = vec!["07:00-20:00".into(), "late".into()];
        sam.block = vec!["ok".into(), "?!".into(), "...".into()];
        let problems = validate(&[admin, sam, Profile::new("sam", Role::User)]);
        let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
        assert!(has("profiles[0] (\"Dad\").pin_hash"), "{problems:#?}");
        assert!(
            has("profiles[1] (\"Sam\").hours[1]: \"late\""),
            "{problems:#?}"
        );
        assert!(has("profiles[1] (\"Sam\").block[2]"), "{problems:#?}");
        assert!(!has("block[1]"), "'?' is a wildcard: {problems:#?}");
        assert!(
            has("profiles[2] (\"sam\").name: another profile"),
            "{problems:#?}"
        );
        assert!(has("no admin profile has a PIN"), "{problems:#?}");
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }

    #[test]
    fn kids_need_an_admin_with_a_pin() {
        let mut admin = Profile::new("Mum", Role::Admin);
        let problems = validate(&[admin.clone(), kid("Sam")]);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("profiles[1] (\"Sam\").role"),
            "{problems:#?}"
        );
        let guest = validate(&[admin.clone(), Profile::new("Visitor", Role::Guest)]);
        assert!(guest[0].contains("guest profile"), "{guest:#?}");
        // Any well-formed Argon2 hash: validation reads its form, not the PIN.
        admin.pin_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzYWx0$\
                          AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .into();
        assert!(validate(&[admin, kid("Sam")]).is_empty());
    }

    #[test]
    fn empty_names_are_a_problem() {
        let problems = validate(&[Profile::new(" ", Role::User)]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("needs a name"), "{problems:?}");
    }

    #[test]
    fn settings_toml_round_trips_and_rejects_unknown_fields() {
        #[derive(Debug, Deserialize, Serialize, PartialEq)]
        struct File {
            profiles: Vec<Profile>,
        }
        let text = r#"
            [[profiles]]
            name = "Dad"
            role = "admin"

            [[profiles]]
            name = "Sam"
            role = "kid"
            response_mode = "voice"
            allow = ["tell me a joke", "what time is it*"]
            hours = ["07:00-20:00"]
            daily_limit = 20
        "#;
        let file: File = toml::from_str(text).expect("parse");
        assert_eq!(file.profiles[1].role, Role::Kid);
        assert_eq!(file.profiles[1].response_mode, Some(ResponseMode::Voice));
        assert_eq!(file.profiles[1].daily_limit, Some(20));
        assert_eq!(file.profiles[0].response_mode, None);
        let again: File =
            toml::from_str(&toml::to_string(&file).expect("write")).expect("read back");
        assert_eq!(again, file);
        let e = toml::from_str::<File>("[[profiles]]\nname = \"x\"\nrole = \"kid\"\nage = 7\n")
            .expect_err("unknown field");
        assert!(e.to_string().contains("age"), "{e}");
        let e = toml::from_str::<File>("[[profiles]]\nrole = \"child\"\n").expect_err("role");
        assert!(e.to_string().contains("kid"), "{e}");
    }

    #[test]
    fn debug_hides_the_pin_hash() {
        let mut p = Profile::new("Dad", Role::Admin);
        p.pin_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into();
        let shown = format!("{p:?}");
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(shown.contains("[set]"), "{shown}");
    }

    #[test]
    fn profile_settings_fall_back_to_the_global_ones() {
        let mut p = Profile::new("Sam", Role::Kid);
        assert_eq!(p.response_mode_or(ResponseMode::Text), ResponseMode::Text);
        assert_eq!(p.voice_or("global"), "global");
        p.response_mode = Some(ResponseMode::Voice);
        p.voice_id = "abc".into();
        assert_eq!(p.response_mode_or(ResponseMode::Text), ResponseMode::Voice);
        assert_eq!(p.voice_or("global"), "abc");
        assert!(ResponseMode::Both.speaks() && ResponseMode::Both.shows_text());
        assert!(!ResponseMode::Text.speaks() && !ResponseMode::Voice.shows_text());
    }

    #[test]
    fn find_is_case_insensitive_and_empty_means_first() {
        let list = vec![Profile::new("Dad", Role::Admin), kid("Sam")];
        assert_eq!(find(&list, "sam").map(|p| p.role), Some(Role::Kid));
        assert_eq!(find(&list, "").map(|p| p.name.as_str()), Some("Dad"));
        assert!(find(&list, "Nobody").is_none());
        assert!(find(&[], "").is_none());
    }
}
