//! Mailbox names and the `~account[@domain]/path` grammar.
//!
//! A name a user types is one of:
//! - personal: `INBOX`, `Projects/2026` — a mailbox of the signed-in account;
//! - foreign: `~bob/INBOX`, `~bob@other.example/Lists/reports`,
//!   `~public/Announcements` — a mailbox of another account, whose name goes
//!   through the router (so aliases work).
//!
//! The hierarchy delimiter is `/`. `INBOX` is case-insensitive (RFC 3501
//! §5.1) and always stored as `INBOX`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::acl::normalize_address;

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';
/// The longest mailbox path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 512;
/// The longest single level of a path, in bytes.
pub const MAX_SEGMENT_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty mailbox name")]
    Empty,
    #[error("mailbox name longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    #[error("a level of the mailbox name is longer than {MAX_SEGMENT_LEN} bytes")]
    SegmentTooLong,
    #[error("mailbox name has an empty level (leading, trailing or doubled '/')")]
    EmptySegment,
    #[error("'.' and '..' are not mailbox names")]
    DotSegment,
    #[error("mailbox name contains a control character")]
    ControlCharacter,
    #[error("mailbox name contains the wildcard {0:?}")]
    Wildcard(char),
    #[error("a personal mailbox name cannot start with '~' (that names another account)")]
    Tilde,
    #[error("{0:?} is not an account name")]
    BadAccount(String),
}

/// A validated path of a mailbox inside one account (`INBOX`,
/// `Projects/2026`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MailboxPath(String);

impl MailboxPath {
    pub fn parse(s: &str) -> Result<MailboxPath, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_PATH_LEN {
            return Err(NameError::TooLong);
        }
        let mut out = String::with_capacity(s.len());
        for (i, segment) in s.split(DELIMITER).enumerate() {
            check_segment(segment)?;
            if i == 0 {
                if segment.starts_with('~') {
                    return Err(NameError::Tilde);
                }
                if segment.eq_ignore_ascii_case("INBOX") {
                    out.push_str("INBOX");
                    continue;
                }
            } else {
                out.push(DELIMITER);
            }
            out.push_str(segment);
        }
        Ok(MailboxPath(out))
    }

    pub fn inbox() -> MailboxPath {
        MailboxPath("INBOX".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The parent path (`Projects` for `Projects/2026`), if any.
    pub fn parent(&self) -> Option<MailboxPath> {
        self.0
            .rsplit_once(DELIMITER)
            .map(|(parent, _)| MailboxPath(parent.into()))
    }

    /// The last level of the path.
    pub fn leaf(&self) -> &str {
        self.0.rsplit_once(DELIMITER).map_or(&self.0, |(_, l)| l)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &MailboxPath) -> bool {
        self.0 == other.0 || (self.0.starts_with(&other.0) && self.0[other.0.len()..].starts_with(DELIMITER))
    }
}

fn check_segment(segment: &str) -> Result<(), NameError> {
    if segment.is_empty() {
        return Err(NameError::EmptySegment);
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(NameError::SegmentTooLong);
    }
    if segment == "." || segment == ".." {
        return Err(NameError::DotSegment);
    }
    if segment.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    if let Some(w) = segment.chars().find(|c| matches!(c, '*' | '%')) {
        return Err(NameError::Wildcard(w));
    }
    Ok(())
}

impl fmt::Display for MailboxPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mailbox name as a user gives it: personal, or in another account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MailboxName {
    Personal(MailboxPath),
    /// `account` is the lower-cased name after `~` (`bob` or
    /// `bob@other.example`), still to be resolved by the router.
    Foreign {
        account: String,
        path: MailboxPath,
    },
}

impl MailboxName {
    pub fn parse(s: &str) -> Result<MailboxName, NameError> {
        if s.len() > MAX_PATH_LEN + MAX_SEGMENT_LEN + 2 {
            return Err(NameError::TooLong);
        }
        let Some(rest) = s.strip_prefix('~') else {
            return MailboxPath::parse(s).map(MailboxName::Personal);
        };
        let (account, path) = rest.split_once(DELIMITER).ok_or(NameError::Empty)?;
        let account = normalize_address(account).ok_or_else(|| NameError::BadAccount(account.into()))?;
        Ok(MailboxName::Foreign {
            account,
            path: MailboxPath::parse(path)?,
        })
    }

    pub fn path(&self) -> &MailboxPath {
        match self {
            MailboxName::Personal(p) | MailboxName::Foreign { path: p, .. } => p,
        }
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailboxName::Personal(p) => write!(f, "{p}"),
            MailboxName::Foreign { account, path } => write!(f, "~{account}/{path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_names() {
        assert_eq!(MailboxPath::parse("Projects/2026").unwrap().as_str(), "Projects/2026");
        assert_eq!(MailboxPath::parse("inbox").unwrap().as_str(), "INBOX");
        assert_eq!(MailboxPath::parse("Inbox/Sub").unwrap().as_str(), "INBOX/Sub");
        assert_eq!(MailboxPath::parse("Über ☃").unwrap().as_str(), "Über ☃");
        assert_eq!(MailboxPath::parse("a/inbox").unwrap().as_str(), "a/inbox");
    }

    #[test]
    fn foreign_names() {
        assert_eq!(
            MailboxName::parse("~Boss/INBOX").unwrap(),
            MailboxName::Foreign {
                account: "boss".into(),
                path: MailboxPath::inbox()
            }
        );
        let n = MailboxName::parse("~ListMaster@client.com/LIST/reports").unwrap();
        assert_eq!(n.to_string(), "~listmaster@client.com/LIST/reports");
        assert_eq!(n.path().as_str(), "LIST/reports");
    }

    #[test]
    fn bad_names_are_rejected_with_a_reason() {
        use NameError::*;
        let long = "x".repeat(10_000);
        let cases: &[(&str, NameError)] = &[
            ("", Empty),
            ("..", DotSegment),
            ("a/../b", DotSegment),
            ("./a", DotSegment),
            ("a//b", EmptySegment),
            ("/a", EmptySegment),
            ("a/", EmptySegment),
            ("a\u{0}b", ControlCharacter),
            ("a\nb", ControlCharacter),
            ("a\u{7f}", ControlCharacter),
            ("a*", Wildcard('*')),
            ("%", Wildcard('%')),
            (&long, TooLong),
            ("~bob", Empty),
            ("~/INBOX", BadAccount(String::new())),
            ("~b b/INBOX", BadAccount("b b".into())),
            ("~bob/..", DotSegment),
            ("~bob/~x", Tilde),
        ];
        for (input, err) in cases {
            assert_eq!(MailboxName::parse(input).as_ref(), Err(err), "{input:?}");
        }
        assert_eq!(MailboxPath::parse(&"y".repeat(256)), Err(SegmentTooLong));
    }

    #[test]
    fn hierarchy() {
        let p = MailboxPath::parse("A/B/C").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "A/B");
        assert_eq!(p.leaf(), "C");
        assert!(p.is_within(&MailboxPath::parse("A").unwrap()));
        assert!(
            !MailboxPath::parse("AB")
                .unwrap()
                .is_within(&MailboxPath::parse("A").unwrap())
        );
        assert!(MailboxPath::inbox().parent().is_none());
    }
}
