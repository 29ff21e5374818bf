//! What the window asks of the store worker and what it gets back: the
//! History tab's filter, and results as view rows (text already formatted
//! for drawing), so the UI never sees a `store` record.

/// What the user is looking for in the History tab, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryFilter {
    /// Words to find.
    pub text: String,
    /// From this day (YYYY-MM-DD), empty: the beginning.
    pub since: String,
    /// Up to and including this day, empty: today.
    pub until: String,
    /// Only this profile, empty: all.
    pub profile: String,
    /// Only favourites.
    pub favourites: bool,
}

/// One saved utterance, ready to draw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryRow {
    /// The store's id (microseconds since the epoch): what commands name.
    pub id: u64,
    /// Local date and time, `YYYY-MM-DD HH:MM`.
    pub when: String,
    /// Whose it is.
    pub profile: String,
    /// Where the words went, in words ("typed", "sent to n8n", …).
    pub went: String,
    /// Marked by the user.
    pub favourite: bool,
    /// What was said.
    pub text: String,
    /// The measured latencies in words, when any were measured.
    pub latency: Option<String>,
}

/// One day's figures for one profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayRow {
    /// The UTC date, `YYYY-MM-DD`.
    pub day: String,
    /// Whose figures.
    pub profile: String,
    /// Utterances that day.
    pub utterances: u64,
    /// Words in them.
    pub words: u64,
    /// Mean end of speech → final text, when measured.
    pub mean_final_text_ms: Option<u64>,
}

/// The store worker's answer to a search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPage {
    /// The filter this answers.
    pub filter: HistoryFilter,
    /// Matching utterances, newest first.
    pub rows: Vec<HistoryRow>,
    /// More matched than are shown.
    pub more: bool,
    /// Daily statistics, oldest day first.
    pub stats: Vec<DayRow>,
    /// Why the search failed (bad date, unreadable store), in words.
    pub error: Option<String>,
}
