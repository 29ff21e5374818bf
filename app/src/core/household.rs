//! The household's PIN gate on the core thread: whether the settings of a
//! kid or guest profile are open (an admin's PIN unlocks them until the
//! next lock or profile switch), whether a profile switch may happen, and
//! the throttle on wrong PINs. The decisions are here, without I/O; the
//! coordinator saves the switched settings and logs the activity. Time is
//! passed in, so the throttle is tested without waiting.

use std::time::{Duration, Instant};

use super::policy::{self, PinGate};
use crate::config::settings::Settings;

/// Wrong PINs in a row before PINs must wait.
pub const PIN_TRIES: u32 = 3;
/// The first wait after too many wrong PINs (doubling with each further
/// wrong one, up to 64 times).
pub const PIN_WAIT: Duration = Duration::from_secs(30);

/// Why a PIN request was refused: a notice for the user and, when it is
/// worth keeping, a line for the store's activity log (kind `pin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the user is told.
    pub notice: String,
    /// What the activity log keeps.
    pub activity: Option<String>,
}

/// The PIN state of the household.
#[derive(Debug, Default)]
pub struct Household {
    /// A kid or guest profile's settings were opened with an admin's PIN.
    unlocked: bool,
    /// Wrong PINs in a row.
    failures: u32,
    /// Until when PINs are not even checked.
    wait_until: Option<Instant>,
}

impl Household {
    /// The profile in use needs an admin's PIN to change its settings, and
    /// none was given.
    #[must_use]
    pub fn locked(&self, settings: &Settings) -> bool {
        let gate = policy::settings_gate(&settings.all_profiles(), &settings.profile());
        !self.unlocked && gate != PinGate::Open
    }

    /// Closes the settings again (the Lock button, a profile switch).
    pub fn lock(&mut self) {
        self.unlocked = false;
    }

    /// Opens the settings with an admin's PIN.
    ///
    /// # Errors
    /// A wrong PIN, or one tried while PINs wait.
    pub fn unlock(&mut self, settings: &Settings, pin: &str, now: Instant) -> Result<(), Refusal> {
        self.may_try(now)?;
        if policy::admin_pin_matches(&settings.all_profiles(), pin) {
            self.unlocked = true;
            self.failures = 0;
            Ok(())
        } else {
            Err(self.wrong("a wrong PIN was entered to open the settings", now))
        }
    }

    /// Whether the profile in use may switch to `name` (with `pin`, when
    /// one was given).
    ///
    /// # Errors
    /// No such profile, a PIN needed and not given, a wrong PIN, or one
    /// tried while PINs wait.
    pub fn may_switch(
        &mut self,
        settings: &Settings,
        name: &str,
        pin: Option<&str>,
        now: Instant,
    ) -> Result<(), Refusal> {
        let all = settings.all_profiles();
        let Some(to) = all.iter().find(|p| p.name == name) else {
            return Err(Refusal {
                notice: format!("there is no profile named {name:?}"),
                activity: None,
            });
        };
        let current = settings.profile();
        let gate = policy::switch_gate(&all, &current, to);
        if gate == PinGate::Open || self.unlocked {
            return Ok(());
        }
        let Some(pin) = pin else {
            return Err(Refusal {
                notice: match gate {
                    PinGate::ProfilePin => format!("the {name} profile's PIN is needed"),
                    _ => format!(
                        "an admin's PIN is needed to leave the {} profile",
                        current.name
                    ),
                },
                activity: Some(format!("refused a switch from {} to {name}", current.name)),
            });
        };
        self.may_try(now)?;
        if gate.opens_with(&all, to, pin) {
            Ok(())
        } else {
            let what = format!(
                "a wrong PIN was entered to switch from {} to {name}",
                current.name
            );
            Err(self.wrong(&what, now))
        }
    }

    /// A 4-digit PIN has 10 000 values: after [`PIN_TRIES`] wrong ones in a
    /// row, PINs wait [`PIN_WAIT`] (doubling each time) before being checked.
    fn may_try(&self, now: Instant) -> Result<(), Refusal> {
        match self.wait_until {
            Some(t) if now < t => Err(Refusal {
                notice: format!(
                    "too many wrong PINs: try again in {} s",
                    t.saturating_duration_since(now).as_secs().max(1)
                ),
                activity: None,
            }),
            _ => Ok(()),
        }
    }

    fn wrong(&mut self, what: &str, now: Instant) -> Refusal {
        self.failures += 1;
        if self.failures >= PIN_TRIES {
            let doublings = (self.failures - PIN_TRIES).min(6);
            self.wait_until = Some(now + PIN_WAIT * (1 << doublings));
        }
        Refusal {
            notice: "wrong PIN".into(),
            activity: Some(what.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::{Profile, Role};

    /// Dad (admin, PIN 1357) and Kids (kid, own PIN 2468), Kids in use.
    fn household() -> Settings {
        let mut dad = Profile::new("Dad", Role::Admin);
        dad.pin_hash = policy::hash_pin("1357").expect("hash");
        let mut kids = Profile::new("Kids", Role::Kid);
        kids.pin_hash = policy::hash_pin("2468").expect("hash");
        Settings {
            profiles: vec![dad, kids],
            active_profile: "Kids".into(),
            ..Settings::default()
        }
    }

    #[test]
    fn a_kid_profile_is_locked_until_an_admin_pin_opens_it() {
        let settings = household();
        let mut h = Household::default();
        let now = Instant::now();
        assert!(h.locked(&settings));
        let refused = h.unlock(&settings, "2468", now).expect_err("a kid's PIN");
        assert_eq!(refused.notice, "wrong PIN");
        assert!(h.locked(&settings));
        h.unlock(&settings, "1357", now).expect("the admin's PIN");
        assert!(!h.locked(&settings));
        h.lock();
        assert!(h.locked(&settings));
    }

    #[test]
    fn leaving_a_kid_profile_needs_an_admin_pin_and_says_so() {
        let settings = household();
        let mut h = Household::default();
        let now = Instant::now();
        let refused = h
            .may_switch(&settings, "Dad", None, now)
            .expect_err("no PIN");
        assert_eq!(
            refused.notice,
            "an admin's PIN is needed to leave the Kids profile"
        );
        assert_eq!(
            refused.activity.as_deref(),
            Some("refused a switch from Kids to Dad")
        );
        h.may_switch(&settings, "Dad", Some("1357"), now)
            .expect("the admin's PIN");
        let nobody = h
            .may_switch(&settings, "Grandma", Some("1357"), now)
            .expect_err("no such profile");
        assert_eq!(nobody.notice, "there is no profile named \"Grandma\"");
    }

    #[test]
    fn wrong_pins_wait_and_the_wait_doubles() {
        let settings = household();
        let mut h = Household::default();
        let start = Instant::now();
        for _ in 0..PIN_TRIES {
            let r = h.unlock(&settings, "0000", start).expect_err("wrong");
            assert_eq!(r.notice, "wrong PIN");
            assert!(r.activity.is_some());
        }
        // Now even the right PIN is not checked until the wait is over.
        let waiting = h.unlock(&settings, "1357", start).expect_err("waiting");
        assert_eq!(waiting.notice, "too many wrong PINs: try again in 30 s");
        assert!(h.locked(&settings));
        // After the wait, one more wrong PIN doubles it.
        let later = start + PIN_WAIT;
        h.unlock(&settings, "0000", later).expect_err("wrong");
        let r = h
            .may_switch(&settings, "Dad", Some("1357"), later)
            .expect_err("waiting");
        assert_eq!(r.notice, "too many wrong PINs: try again in 60 s");
        h.unlock(&settings, "1357", later + PIN_WAIT * 2)
            .expect("the wait is over");
        assert!(!h.locked(&settings));
    }
}
