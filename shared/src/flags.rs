//! Message flags: the RFC 3501 system flags and keywords.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A system flag (RFC 3501 §2.3.2). `\Recent` is per session and lives in
/// the IMAP gateway, not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SystemFlag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
}

impl SystemFlag {
    pub const ALL: [SystemFlag; 5] = [
        SystemFlag::Seen,
        SystemFlag::Answered,
        SystemFlag::Flagged,
        SystemFlag::Deleted,
        SystemFlag::Draft,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemFlag::Seen => "\\Seen",
            SystemFlag::Answered => "\\Answered",
            SystemFlag::Flagged => "\\Flagged",
            SystemFlag::Deleted => "\\Deleted",
            SystemFlag::Draft => "\\Draft",
        }
    }

    fn bit(self) -> i64 {
        1 << self as i64
    }
}

/// A flag or keyword that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid flag or keyword")]
pub struct BadFlag(pub String);

/// The longest keyword accepted.
pub const MAX_KEYWORD_LEN: usize = 100;

/// A message's flags: system flags and keywords (IMAP atoms, compared
/// case-insensitively, kept as first written).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    system: i64,
    keywords: BTreeSet<String>,
}

/// The set of one flag.
impl From<SystemFlag> for Flags {
    fn from(flag: SystemFlag) -> Flags {
        let mut flags = Flags::default();
        flags.insert(flag);
        flags
    }
}

impl Flags {
    /// Parses flags as IMAP writes them: `\Seen`, `$Forwarded`, `Work`.
    pub fn parse<'a>(flags: impl IntoIterator<Item = &'a str>) -> Result<Flags, BadFlag> {
        let mut out = Flags::default();
        for flag in flags {
            out.insert_str(flag)?;
        }
        Ok(out)
    }

    fn insert_str(&mut self, flag: &str) -> Result<(), BadFlag> {
        if let Some(system) = SystemFlag::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(flag))
        {
            self.insert(system);
            return Ok(());
        }
        let valid = !flag.is_empty()
            && flag.len() <= MAX_KEYWORD_LEN
            && flag
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
        if !valid {
            return Err(BadFlag(flag.into()));
        }
        if !self.keywords.iter().any(|k| k.eq_ignore_ascii_case(flag)) {
            self.keywords.insert(flag.into());
        }
        Ok(())
    }

    pub fn insert(&mut self, flag: SystemFlag) {
        self.system |= flag.bit();
    }

    pub fn remove(&mut self, flag: SystemFlag) {
        self.system &= !flag.bit();
    }

    pub fn contains(&self, flag: SystemFlag) -> bool {
        self.system & flag.bit() != 0
    }

    pub fn has_keyword(&self, keyword: &str) -> bool {
        self.keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword))
    }

    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(String::as_str)
    }

    pub fn system_flags(&self) -> impl Iterator<Item = SystemFlag> + use<> {
        let system = self.system;
        SystemFlag::ALL.into_iter().filter(move |f| system & f.bit() != 0)
    }

    /// `self` with every flag of `other` added.
    pub fn union(&self, other: &Flags) -> Flags {
        let mut out = self.clone();
        out.system |= other.system;
        for k in &other.keywords {
            out.insert_str(k).expect("keywords in a Flags are valid");
        }
        out
    }

    /// `self` with every flag of `other` removed.
    pub fn difference(&self, other: &Flags) -> Flags {
        Flags {
            system: self.system & !other.system,
            keywords: self
                .keywords
                .iter()
                .filter(|k| !other.has_keyword(k))
                .cloned()
                .collect(),
        }
    }

    /// The system flags as stored: one bit each.
    pub fn system_bits(&self) -> i64 {
        self.system
    }

    /// Keywords as stored: separated by spaces.
    pub fn keywords_text(&self) -> String {
        self.keywords.iter().cloned().collect::<Vec<_>>().join(" ")
    }

    /// Rebuilds flags from their stored form. Unknown bits and invalid
    /// keywords are dropped rather than trusted.
    pub fn from_stored(system: i64, keywords: &str) -> Flags {
        let mut out = Flags {
            system: system & 0b11111,
            keywords: BTreeSet::new(),
        };
        for k in keywords.split(' ').filter(|k| !k.is_empty()) {
            let _ = out.insert_str(k);
        }
        out
    }
}

/// How a flag change combines with the flags a message has (IMAP STORE's
/// `+FLAGS`, `-FLAGS`, `FLAGS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// Which flags a principal may change, from its rights (RFC 4314 §4):
/// `s` for `\Seen`, `t` for `\Deleted`, `w` for all others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagPermissions {
    pub seen: bool,
    pub deleted: bool,
    pub other: bool,
}

impl FlagPermissions {
    pub const ALL: FlagPermissions = FlagPermissions {
        seen: true,
        deleted: true,
        other: true,
    };
}

impl Flags {
    /// The flags after applying `op` with `given`, where every flag the
    /// principal may not change keeps its old state: RFC 4314 §4 says such
    /// a change is ignored, not refused.
    pub fn apply(&self, op: FlagOp, given: &Flags, may: FlagPermissions) -> Flags {
        let wanted = match op {
            FlagOp::Add => self.union(given),
            FlagOp::Remove => self.difference(given),
            FlagOp::Replace => given.clone(),
        };
        let from = |allowed: bool| if allowed { &wanted } else { self };
        let mut out = Flags {
            system: 0,
            keywords: from(may.other).keywords.clone(),
        };
        for flag in SystemFlag::ALL {
            let allowed = match flag {
                SystemFlag::Seen => may.seen,
                SystemFlag::Deleted => may.deleted,
                _ => may.other,
            };
            if from(allowed).contains(flag) {
                out.insert(flag);
            }
        }
        out
    }
}

impl fmt::Display for Flags {
    /// Space-separated, as inside IMAP's `FLAGS (…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.system_flags().map(SystemFlag::name).collect();
        names.extend(self.keywords.iter().map(String::as_str));
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let f = Flags::parse(["\\seen", "\\Flagged", "$Forwarded", "Work", "work"]).unwrap();
        assert_eq!(f.to_string(), "\\Seen \\Flagged $Forwarded Work");
        assert!(f.contains(SystemFlag::Seen));
        assert!(f.has_keyword("WORK"));
    }

    #[test]
    fn stored_form_round_trips() {
        let f = Flags::parse(["\\Deleted", "\\Draft", "a", "b"]).unwrap();
        assert_eq!(Flags::from_stored(f.system_bits(), &f.keywords_text()), f);
    }

    #[test]
    fn bad_keywords_are_rejected() {
        for bad in ["", "a b", "(x", "\\Recentish", "x\u{1}", "é", &"k".repeat(101)] {
            assert!(Flags::parse([bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn changes_without_the_right_are_dropped_not_refused() {
        let old = Flags::parse(["\\Deleted", "\\Flagged", "k"]).unwrap();
        let given = Flags::parse(["\\Seen"]).unwrap();
        let only_seen = FlagPermissions {
            seen: true,
            deleted: false,
            other: false,
        };
        assert_eq!(
            old.apply(FlagOp::Replace, &given, only_seen).to_string(),
            "\\Seen \\Flagged \\Deleted k"
        );
        assert_eq!(
            old.apply(FlagOp::Replace, &given, FlagPermissions::ALL).to_string(),
            "\\Seen"
        );
        let none = FlagPermissions {
            seen: false,
            deleted: false,
            other: false,
        };
        assert_eq!(old.apply(FlagOp::Remove, &old, none), old);
        let no_delete = FlagPermissions {
            seen: true,
            deleted: false,
            other: true,
        };
        assert_eq!(old.apply(FlagOp::Remove, &old, no_delete).to_string(), "\\Deleted");
    }

    #[test]
    fn union_and_difference() {
        let a = Flags::parse(["\\Seen", "x"]).unwrap();
        let b = Flags::parse(["\\Seen", "X", "y"]).unwrap();
        assert_eq!(a.union(&b).to_string(), "\\Seen x y");
        assert_eq!(a.union(&b).difference(&b).to_string(), "");
    }
}
