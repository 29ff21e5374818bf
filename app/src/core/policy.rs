//! What a profile may do: run a command (allow/block lists, hours, daily
//! limit), open settings, switch profile; and PINs (argon2id). Pure
//! decisions: no I/O except the OS random salt of a new PIN hash.
//!
//! The rules:
//! - A guest dictates only: every command is refused.
//! - The block list wins over the allow list.
//! - A non-empty allow list admits only the commands it matches, whatever
//!   the role. An empty one admits any command for users and admins, and
//!   none for kids: a kid runs only what an adult put on its list.
//! - Hours and the daily limit apply to any role that has them. Entries
//!   that cannot be read (reported by `profiles::validate`) are skipped;
//!   if none of a profile's hour windows can be read, commands are refused
//!   rather than allowed at any time.
//! - Kid and guest profiles need an admin's PIN to open settings or switch
//!   to another profile; switching into a profile that has its own PIN
//!   asks for that PIN. With no admin PIN set there is nothing to ask for,
//!   so the lock is open (and `profiles::validate` says so).
//!
//! Callers count only commands that were let through in `used_today`, and
//! limit how fast wrong PINs may be retried: a 4-digit PIN has 10 000 values.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use jiff::civil::Time;
use password_hash::SaltString;
use password_hash::rand_core::OsRng;

use crate::config::profiles::{CommandPattern, HoursWindow, Profile, Role};

/// Why a PIN could not be set.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The PIN is not 4–8 digits. (The PIN itself is never part of the message.)
    #[error("a PIN must be 4 to 8 digits (0-9); choose another")]
    BadPin,
    /// Hashing failed (out of memory, no OS randomness).
    #[error("could not hash the PIN: {0}")]
    Hash(String),
}

/// Hashes a PIN with argon2id and a random salt, as a PHC string for
/// `Profile::pin_hash`.
///
/// # Errors
/// [`PolicyError::BadPin`] unless the PIN is 4–8 ASCII digits;
/// [`PolicyError::Hash`] if argon2 fails.
pub fn hash_pin(pin: &str) -> Result<String, PolicyError> {
    check_pin(pin)?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PolicyError::Hash(e.to_string()))
}

/// Checks a PIN's form without hashing it (hashing takes a moment).
///
/// # Errors
/// [`PolicyError::BadPin`] unless the PIN is 4–8 ASCII digits.
pub fn check_pin(pin: &str) -> Result<(), PolicyError> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PolicyError::BadPin)
    }
}

/// Whether `pin` is the one hashed in `hash`; false for an empty or
/// unreadable hash.
#[must_use]
pub fn verify_pin(hash: &str, pin: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A command that was not let through: a message for the (possibly young)
/// user, and a reason for the activity log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Why, for the activity log.
    pub reason: RefusalReason,
    /// Friendly words for the window, notification or speech.
    pub message: String,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// Guests dictate only.
    Guest,
    /// A block-list pattern matched.
    Blocked {
        /// The pattern, as written in the settings.
        pattern: String,
    },
    /// The allow list is non-empty (or the profile is a kid's) and no
    /// pattern matched.
    NotAllowed,
    /// Outside every hour window.
    OutsideHours,
    /// The day's commands are used up.
    DailyLimit {
        /// The profile's limit.
        limit: u32,
    },
}

impl RefusalReason {
    /// A stable code for logs and statistics.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RefusalReason::Guest => "guest",
            RefusalReason::Blocked { .. } => "blocked",
            RefusalReason::NotAllowed => "not_allowed",
            RefusalReason::OutsideHours => "outside_hours",
            RefusalReason::DailyLimit { .. } => "daily_limit",
        }
    }
}

/// Whether `profile` may run the command `text` (the words after the
/// command prefix) at local time `now`, having run `used_today` commands
/// today. Checks in order: guest, block list, allow list, hours, limit.
///
/// # Errors
/// A [`Refusal`] saying why not.
pub fn check_command(
    profile: &Profile,
    text: &str,
    now: Time,
    used_today: u32,
) -> Result<(), Refusal> {
    let name = profile.name.trim();
    let refuse = |reason, message: String| Err(Refusal { reason, message });
    if profile.role == Role::Guest {
        return refuse(
            RefusalReason::Guest,
            "Guests can dictate, but voice commands need a household profile.".to_owned(),
        );
    }
    let not_allowed = format!("That command isn't allowed for {name}.");
    if let Some(pattern) = first_match(&profile.block, text) {
        return refuse(
            RefusalReason::Blocked {
                pattern: pattern.to_owned(),
            },
            not_allowed,
        );
    }
    let allow_all = profile.allow.is_empty() && profile.role != Role::Kid;
    if !allow_all && first_match(&profile.allow, text).is_none() {
        return refuse(RefusalReason::NotAllowed, not_allowed);
    }
    if !profile.hours.is_empty() {
        let windows: Vec<HoursWindow> = profile
            .hours
            .iter()
            .filter_map(|h| HoursWindow::parse(h).ok())
            .collect();
        if !windows.iter().any(|w| w.contains(now)) {
            let when: Vec<String> = windows.iter().map(ToString::to_string).collect();
            let message = if when.is_empty() {
                format!("Commands are resting right now, {name}.")
            } else {
                format!(
                    "Commands are resting right now, {name}. They work {}.",
                    when.join(" and ")
                )
            };
            return refuse(RefusalReason::OutsideHours, message);
        }
    }
    if let Some(limit) = profile.daily_limit.filter(|&limit| used_today >= limit) {
        let message = if limit == 0 {
            format!("{name} has no voice commands. Ask a grown-up to change that.")
        } else {
            format!("That's all {limit} commands for today, {name}. Try again tomorrow!")
        };
        return refuse(RefusalReason::DailyLimit { limit }, message);
    }
    Ok(())
}

/// The first pattern in `patterns` that matches `text`; unreadable ones are
/// skipped.
fn first_match<'a>(patterns: &'a [String], text: &str) -> Option<&'a str> {
    patterns
        .iter()
        .find(|p| CommandPattern::parse(p).is_ok_and(|pattern| pattern.matches(text)))
        .map(String::as_str)
}

/// Whether a profile of this role may open settings without an admin's PIN
/// (admins and users may; kids and guests may not).
#[must_use]
pub fn may_open_settings(role: Role) -> bool {
    matches!(role, Role::Admin | Role::User)
}

/// Whether leaving `from` for another profile needs an admin's PIN (it does
/// for kids and guests).
#[must_use]
pub fn needs_pin_to_switch(from: &Profile) -> bool {
    !may_open_settings(from.role)
}

/// Whether switching into `to` asks for its own PIN (it does when it has one).
#[must_use]
pub fn needs_pin_to_enter(to: &Profile) -> bool {
    to.has_pin()
}

/// Whether `pin` is the PIN of any admin profile.
#[must_use]
pub fn admin_pin_matches(profiles: &[Profile], pin: &str) -> bool {
    profiles
        .iter()
        .filter(|p| p.role == Role::Admin && p.has_pin())
        .any(|p| verify_pin(&p.pin_hash, pin))
}

/// What must be typed before an action: the rules above in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinGate {
    /// Nothing.
    Open,
    /// The PIN of any admin profile.
    AdminPin,
    /// The PIN of the profile being switched to.
    ProfilePin,
}

impl PinGate {
    /// Whether `pin` opens this gate; `to` is the profile being switched to
    /// (for [`PinGate::ProfilePin`]).
    #[must_use]
    pub fn opens_with(self, profiles: &[Profile], to: &Profile, pin: &str) -> bool {
        match self {
            PinGate::Open => true,
            // An admin PIN also opens an admin's own profile.
            PinGate::AdminPin => admin_pin_matches(profiles, pin),
            PinGate::ProfilePin => {
                verify_pin(&to.pin_hash, pin)
                    || (to.role == Role::Admin && admin_pin_matches(profiles, pin))
            }
        }
    }
}

/// What opening settings needs while `active` is in use.
#[must_use]
pub fn settings_gate(profiles: &[Profile], active: &Profile) -> PinGate {
    if may_open_settings(active.role) || !any_admin_pin(profiles) {
        PinGate::Open
    } else {
        PinGate::AdminPin
    }
}

/// What switching from `from` to `to` needs. Leaving a kid or guest
/// profile needs an admin's PIN, which also admits any profile; otherwise
/// a profile with its own PIN asks for it.
#[must_use]
pub fn switch_gate(profiles: &[Profile], from: &Profile, to: &Profile) -> PinGate {
    if from.name == to.name {
        PinGate::Open
    } else if needs_pin_to_switch(from) && any_admin_pin(profiles) {
        PinGate::AdminPin
    } else if needs_pin_to_enter(to) {
        PinGate::ProfilePin
    } else {
        PinGate::Open
    }
}

/// Whether some admin profile has a PIN (otherwise no lock can be opened,
/// so none is applied).
fn any_admin_pin(profiles: &[Profile]) -> bool {
    profiles
        .iter()
        .any(|p| p.role == Role::Admin && PasswordHash::new(&p.pin_hash).is_ok())
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use jiff::civil::time;

    use super::*;

    const NOON: Time = time(12, 0, 0, 0);

    /// One hash for the tests that need an admin PIN (argon2 is slow on purpose).
    static ADMIN_HASH: LazyLock<String> =
        LazyLock::new(|| hash_pin("2468").expect("hash a valid PIN"));

    fn profile(role: Role) -> Profile {
        Profile::new("Sam", role)
    }

    fn admin_with_pin() -> Profile {
        Profile {
            pin_hash: ADMIN_HASH.clone(),
            ..Profile::new("Dad", Role::Admin)
        }
    }

    fn reason(result: Result<(), Refusal>) -> &'static str {
        result.expect_err("refused").reason.code()
    }

    #[test]
    fn guests_may_run_no_command() {
        let guest = Profile {
            allow: vec!["*".into()],
            ..profile(Role::Guest)
        };
        let refusal = check_command(&guest, "what time is it", NOON, 0).expect_err("guest");
        assert_eq!(refusal.reason, RefusalReason::Guest);
        assert!(refusal.message.contains("dictate"), "{refusal}");
    }

    #[test]
    fn kids_run_only_allow_listed_commands() {
        let mut kid = profile(Role::Kid);
        assert_eq!(
            reason(check_command(&kid, "tell me a joke", NOON, 0)),
            "not_allowed"
        );
        kid.allow = vec!["tell me a *".into(), "what time is it".into()];
        assert_eq!(check_command(&kid, "Tell me a joke!", NOON, 0), Ok(()));
        assert_eq!(check_command(&kid, "What time is it?", NOON, 0), Ok(()));
        let refusal = check_command(&kid, "buy a new game", NOON, 0).expect_err("not listed");
        assert_eq!(refusal.reason, RefusalReason::NotAllowed);
        assert_eq!(refusal.message, "That command isn't allowed for Sam.");
    }

    #[test]
    fn users_and_admins_run_anything_not_blocked() {
        for role in [Role::User, Role::Admin] {
            let mut p = profile(role);
            assert_eq!(check_command(&p, "order pizza", NOON, 0), Ok(()));
            assert_eq!(check_command(&p, "", NOON, 0), Ok(()));
            p.block = vec!["order *".into()];
            assert_eq!(
                check_command(&p, "Order pizza.", NOON, 0)
                    .expect_err("blocked")
                    .reason,
                RefusalReason::Blocked {
                    pattern: "order *".into()
                }
            );
            assert_eq!(check_command(&p, "reorder the list", NOON, 0), Ok(()));
        }
    }

    #[test]
    fn a_non_empty_allow_list_restricts_users_too() {
        let user = Profile {
            allow: vec!["lights *".into()],
            ..profile(Role::User)
        };
        assert_eq!(check_command(&user, "lights off", NOON, 0), Ok(()));
        assert_eq!(
            reason(check_command(&user, "order pizza", NOON, 0)),
            "not_allowed"
        );
    }

    #[test]
    fn the_block_list_wins_over_the_allow_list() {
        let kid = Profile {
            allow: vec!["*".into()],
            block: vec!["* buy *".into(), "*purchase*".into()],
            ..profile(Role::Kid)
        };
        assert_eq!(check_command(&kid, "play music", NOON, 0), Ok(()));
        assert_eq!(reason(check_command(&kid, "buy robux", NOON, 0)), "blocked");
        assert_eq!(
            reason(check_command(&kid, "please buy it", NOON, 0)),
            "blocked"
        );
        assert_eq!(
            reason(check_command(&kid, "make a purchase", NOON, 0)),
            "blocked"
        );
        // Whole words: "buyer" is not "buy".
        assert_eq!(check_command(&kid, "who is the buyer", NOON, 0), Ok(()));
    }

    #[test]
    fn unreadable_patterns_are_skipped() {
        let kid = Profile {
            allow: vec!["!!!".into(), "play *".into()],
            block: vec![String::new()],
            ..profile(Role::Kid)
        };
        assert_eq!(check_command(&kid, "play music", NOON, 0), Ok(()));
        assert_eq!(reason(check_command(&kid, "!!!", NOON, 0)), "not_allowed");
    }

    #[test]
    fn hours_limit_commands_also_across_midnight() {
        let mut kid = Profile {
            allow: vec!["*".into()],
            hours: vec!["07:00-08:00".into(), "16:00-20:00".into()],
            ..profile(Role::Kid)
        };
        assert_eq!(check_command(&kid, "hi", time(7, 30, 0, 0), 0), Ok(()));
        assert_eq!(check_command(&kid, "hi", time(19, 59, 0, 0), 0), Ok(()));
        let refusal = check_command(&kid, "hi", NOON, 0).expect_err("noon");
        assert_eq!(refusal.reason, RefusalReason::OutsideHours);
        assert!(
            refusal.message.contains("07:00–08:00 and 16:00–20:00"),
            "{refusal}"
        );
        kid.hours = vec!["22:00-06:00".into()];
        assert_eq!(check_command(&kid, "hi", time(23, 0, 0, 0), 0), Ok(()));
        assert_eq!(check_command(&kid, "hi", time(5, 59, 0, 0), 0), Ok(()));
        assert_eq!(
            reason(check_command(&kid, "hi", time(6, 0, 0, 0), 0)),
            "outside_hours"
        );
        assert_eq!(reason(check_command(&kid, "hi", NOON, 0)), "outside_hours");
    }

    #[test]
    fn unreadable_hours_refuse_rather_than_allow_any_time() {
        let kid = Profile {
            allow: vec!["*".into()],
            hours: vec!["after school".into()],
            ..profile(Role::Kid)
        };
        assert_eq!(reason(check_command(&kid, "hi", NOON, 0)), "outside_hours");
    }

    #[test]
    fn the_daily_limit_counts_commands_already_run() {
        let mut kid = Profile {
            allow: vec!["*".into()],
            daily_limit: Some(3),
            ..profile(Role::Kid)
        };
        assert_eq!(check_command(&kid, "hi", NOON, 0), Ok(()));
        assert_eq!(check_command(&kid, "hi", NOON, 2), Ok(()));
        let refusal = check_command(&kid, "hi", NOON, 3).expect_err("used up");
        assert_eq!(refusal.reason, RefusalReason::DailyLimit { limit: 3 });
        assert!(refusal.message.contains("all 3 commands"), "{refusal}");
        assert_eq!(reason(check_command(&kid, "hi", NOON, 99)), "daily_limit");
        kid.daily_limit = Some(0);
        assert_eq!(reason(check_command(&kid, "hi", NOON, 0)), "daily_limit");
    }

    #[test]
    fn settings_and_switching_lock_kids_and_guests_behind_an_admin_pin() {
        assert!(may_open_settings(Role::Admin) && may_open_settings(Role::User));
        assert!(!may_open_settings(Role::Kid) && !may_open_settings(Role::Guest));
        assert!(needs_pin_to_switch(&profile(Role::Kid)));
        assert!(needs_pin_to_switch(&profile(Role::Guest)));
        assert!(!needs_pin_to_switch(&profile(Role::User)));

        let admin = admin_with_pin();
        let kid = profile(Role::Kid);
        let user = Profile::new("Mum", Role::User);
        let all = vec![admin.clone(), kid.clone(), user.clone()];
        assert_eq!(settings_gate(&all, &kid), PinGate::AdminPin);
        assert_eq!(settings_gate(&all, &user), PinGate::Open);
        assert_eq!(switch_gate(&all, &kid, &user), PinGate::AdminPin);
        assert_eq!(switch_gate(&all, &kid, &kid), PinGate::Open);
        assert_eq!(switch_gate(&all, &user, &kid), PinGate::Open);
        assert_eq!(switch_gate(&all, &user, &admin), PinGate::ProfilePin);
        assert!(PinGate::AdminPin.opens_with(&all, &user, "2468"));
        assert!(!PinGate::AdminPin.opens_with(&all, &user, "1357"));
        assert!(PinGate::ProfilePin.opens_with(&all, &admin, "2468"));
        assert!(!PinGate::ProfilePin.opens_with(&all, &admin, "0000"));
        assert!(PinGate::Open.opens_with(&all, &user, ""));
    }

    #[test]
    fn without_an_admin_pin_there_is_no_lock_to_open() {
        let all = vec![Profile::new("Dad", Role::Admin), profile(Role::Kid)];
        assert_eq!(settings_gate(&all, &all[1]), PinGate::Open);
        assert_eq!(switch_gate(&all, &all[1], &all[0]), PinGate::Open);
        assert!(!admin_pin_matches(&all, "2468"));
    }

    #[test]
    fn pins_hash_with_argon2id_and_verify() {
        let hash = ADMIN_HASH.as_str();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            !hash.contains("2468"),
            "the hash must not hold the PIN: {hash}"
        );
        assert!(verify_pin(hash, "2468"));
        assert!(!verify_pin(hash, "2469"));
        assert!(!verify_pin(hash, ""));
        assert!(!verify_pin("", "2468"));
        assert!(!verify_pin("$argon2id$garbage", "2468"));
    }

    #[test]
    fn the_same_pin_hashes_differently_each_time() {
        let again = hash_pin("2468").expect("hash");
        assert_ne!(again, *ADMIN_HASH, "salts must differ");
        assert!(verify_pin(&again, "2468"));
    }

    #[test]
    fn pins_must_be_four_to_eight_digits() {
        for bad in ["", "123", "123456789", "12a4", "12 34", "١٢٣٤"] {
            let e = hash_pin(bad).expect_err(bad);
            assert!(matches!(e, PolicyError::BadPin), "{bad}: {e}");
            assert!(e.to_string().contains("4 to 8 digits"), "{e}");
            if !bad.is_empty() {
                assert!(!e.to_string().contains(bad), "{e}");
            }
        }
        assert!(hash_pin("12345678").is_ok());
    }
}
