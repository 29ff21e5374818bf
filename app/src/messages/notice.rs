//! What the user should read, and how much it matters: a [`Notice`] is a
//! line of text with a [`Severity`] that decides how the window draws it
//! (a calm note, a warning, an error). [`Notices`] is the list the core
//! keeps; plain text pushed onto it is a warning, the common case.

use std::fmt;
use std::ops::Deref;

/// How much a notice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    /// Good to know; nothing to do (a backup made, words saved late).
    Info,
    /// Something does not work as it should; what to do is said.
    #[default]
    Warning,
    /// Something the user asked for failed.
    Error,
}

/// A line for the user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notice {
    /// How it is drawn.
    pub severity: Severity,
    /// What it says.
    pub text: String,
}

impl Notice {
    /// Good to know.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            severity: Severity::Info,
            text: text.into(),
        }
    }

    /// Something does not work as it should.
    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            text: text.into(),
        }
    }

    /// Something the user asked for failed.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            text: text.into(),
        }
    }
}

/// A notice reads as its text (`notice.contains(…)`).
impl Deref for Notice {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Plain text is a warning.
impl From<String> for Notice {
    fn from(text: String) -> Self {
        Self::warning(text)
    }
}

/// Plain text is a warning.
impl From<&str> for Notice {
    fn from(text: &str) -> Self {
        Self::warning(text)
    }
}

/// `tonnytray status` shows the text.
impl serde::Serialize for Notice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// The notices the core keeps, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notices(Vec<Notice>);

impl Notices {
    /// Adds one (plain text: a warning).
    pub fn push(&mut self, notice: impl Into<Notice>) {
        self.0.push(notice.into());
    }

    /// Takes back every notice with this text.
    pub fn withdraw(&mut self, text: &str) {
        self.0.retain(|n| n.text != text);
    }

    /// Forgets them all (the user read them).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The notices, oldest first.
    #[must_use]
    pub fn as_slice(&self) -> &[Notice] {
        &self.0
    }

    /// Appends another list.
    pub fn extend(&mut self, other: Notices) {
        self.0.extend(other.0);
    }
}

impl Deref for Notices {
    type Target = [Notice];

    fn deref(&self) -> &[Notice] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_a_warning_and_reads_as_its_text() {
        let mut n = Notices::default();
        n.push(format!("the hotkey {} is taken", "Ctrl+Shift+V"));
        n.push(Notice::info("History backed up"));
        n.push(Notice::error("typing failed"));
        let kinds: Vec<_> = n.iter().map(|n| n.severity).collect();
        assert_eq!(kinds, [Severity::Warning, Severity::Info, Severity::Error]);
        assert!(n.iter().any(|n| n.contains("is taken")));
        n.withdraw("History backed up");
        assert_eq!(n.len(), 2);
        assert_eq!(
            serde_json::to_string(n.as_slice()).expect("json"),
            r#"["the hotkey Ctrl+Shift+V is taken","typing failed"]"#
        );
        n.clear();
        assert!(n.is_empty());
    }
}
