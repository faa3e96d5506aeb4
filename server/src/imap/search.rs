//! SEARCH (RFC 3501 §6.4.4): the keys, parsed from a command, and their
//! evaluation against one message.
//!
//! Text keys compare case-insensitively against decoded text: header
//! values with their encoded words decoded and text parts with their
//! transfer encoding and charset undone (see [`super::mime::searchable`]).

use std::collections::HashSet;
use std::sync::Arc;

use mailroom_shared::{Flags, SystemFlag};

use super::mime::Searchable;
use super::syntax::{Cursor, SequenceSet};
use crate::service::Indexed;

/// One search key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    All,
    /// A system flag set (`true`) or not set (`false`).
    Flag(SystemFlag, bool),
    Keyword(String, bool),
    /// RECENT (NEW is RECENT UNSEEN): `\Recent` for this session.
    Recent,
    /// OLD: not `\Recent`.
    Old,
    /// A header containing the text (`HEADER`, `FROM`, `TO`, …).
    Header(String, String),
    Body(String),
    Text(String),
    /// INTERNALDATE's day against a day: before, on, since.
    Date(DateOp, i64),
    /// The Date header's day against a day.
    Sent(DateOp, i64),
    Larger(u32),
    Smaller(u32),
    /// RFC 7162: MODSEQ at least this (any entry name: every flag of a
    /// message shares its MODSEQ here).
    Modseq(u64),
    Uid(SequenceSet),
    Sequence(SequenceSet),
    Not(Box<Key>),
    Or(Box<Key>, Box<Key>),
    And(Vec<Key>),
    /// The messages (by UID) the word index found for a text key: never
    /// parsed, put in that key's place in a big mailbox (see
    /// [`Key::text_keys`]).
    FromIndex(Arc<HashSet<u32>>),
}

/// A key the word index can answer: its text, and where it looks.
pub type TextKey = (String, Indexed);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOp {
    Before,
    On,
    Since,
}

/// A parse failure: `Err(message)`.
pub type Parsed<T> = Result<T, String>;

/// Parses `[CHARSET x] key *(SP key)`; returns the charset and the keys.
pub fn parse(c: &mut Cursor) -> Parsed<(Option<String>, Key)> {
    c.sp().map_err(|e| e.to_string())?;
    let charset = if c.keyword("CHARSET") {
        c.sp().map_err(|e| e.to_string())?;
        let raw = c.astring().map_err(|e| e.to_string())?;
        c.sp().map_err(|e| e.to_string())?;
        Some(String::from_utf8_lossy(&raw).to_ascii_uppercase())
    } else {
        None
    };
    let mut keys = vec![key(c, 0)?];
    while c.eat(b' ') {
        keys.push(key(c, 0)?);
    }
    Ok((charset, and(keys)))
}

/// Parses ` key *(SP key)` (what follows the charset in SORT).
pub fn parse_keys(c: &mut Cursor) -> Parsed<Key> {
    c.sp().map_err(|e| e.to_string())?;
    let mut keys = vec![key(c, 0)?];
    while c.eat(b' ') {
        keys.push(key(c, 0)?);
    }
    Ok(and(keys))
}

fn and(mut keys: Vec<Key>) -> Key {
    if keys.len() == 1 {
        keys.remove(0)
    } else {
        Key::And(keys)
    }
}

/// Parenthesised keys and NOT/OR nest; a hostile command cannot nest
/// deeper than this.
const MAX_NESTING: usize = 64;

fn key(c: &mut Cursor, depth: usize) -> Parsed<Key> {
    if depth > MAX_NESTING {
        return Err("search keys nest too deeply".into());
    }
    if c.eat(b'(') {
        let mut keys = vec![key(c, depth + 1)?];
        while !c.eat(b')') {
            c.sp().map_err(|e| e.to_string())?;
            keys.push(key(c, depth + 1)?);
        }
        return Ok(and(keys));
    }
    if matches!(c.peek(), Some(b'0'..=b'9' | b'*')) {
        return Ok(Key::Sequence(c.sequence_set().map_err(|e| e.to_string())?));
    }
    let name = c.atom().map_err(|e| e.to_string())?.to_ascii_uppercase();
    let flag = |f, set| Ok(Key::Flag(f, set));
    match name.as_str() {
        "ALL" => Ok(Key::All),
        "ANSWERED" => flag(SystemFlag::Answered, true),
        "DELETED" => flag(SystemFlag::Deleted, true),
        "DRAFT" => flag(SystemFlag::Draft, true),
        "FLAGGED" => flag(SystemFlag::Flagged, true),
        "SEEN" => flag(SystemFlag::Seen, true),
        "UNANSWERED" => flag(SystemFlag::Answered, false),
        "UNDELETED" => flag(SystemFlag::Deleted, false),
        "UNDRAFT" => flag(SystemFlag::Draft, false),
        "UNFLAGGED" => flag(SystemFlag::Flagged, false),
        "UNSEEN" => flag(SystemFlag::Seen, false),
        "RECENT" => Ok(Key::Recent),
        "NEW" => Ok(Key::And(vec![Key::Recent, Key::Flag(SystemFlag::Seen, false)])),
        "OLD" => Ok(Key::Old),
        "KEYWORD" | "UNKEYWORD" => {
            c.sp().map_err(|e| e.to_string())?;
            let k = c.atom().map_err(|e| e.to_string())?.to_owned();
            Ok(Key::Keyword(k, name == "KEYWORD"))
        }
        "BCC" | "CC" | "FROM" | "SUBJECT" | "TO" => Ok(Key::Header(name.to_ascii_lowercase(), text(c)?.to_lowercase())),
        "HEADER" => {
            let field = text(c)?.to_ascii_lowercase();
            Ok(Key::Header(field, text(c)?.to_lowercase()))
        }
        "BODY" => Ok(Key::Body(text(c)?.to_lowercase())),
        "TEXT" => Ok(Key::Text(text(c)?.to_lowercase())),
        "BEFORE" => Ok(Key::Date(DateOp::Before, date(c)?)),
        "ON" => Ok(Key::Date(DateOp::On, date(c)?)),
        "SINCE" => Ok(Key::Date(DateOp::Since, date(c)?)),
        "SENTBEFORE" => Ok(Key::Sent(DateOp::Before, date(c)?)),
        "SENTON" => Ok(Key::Sent(DateOp::On, date(c)?)),
        "SENTSINCE" => Ok(Key::Sent(DateOp::Since, date(c)?)),
        "MODSEQ" => {
            c.sp().map_err(|e| e.to_string())?;
            if matches!(c.peek(), Some(b'"' | b'{')) {
                c.string().map_err(|e| e.to_string())?;
                c.sp().map_err(|e| e.to_string())?;
                let kind = c.atom().map_err(|e| e.to_string())?.to_ascii_lowercase();
                if !matches!(kind.as_str(), "priv" | "shared" | "all") {
                    return Err(format!("{kind} is not a MODSEQ entry type"));
                }
                c.sp().map_err(|e| e.to_string())?;
            }
            Ok(Key::Modseq(c.number64().map_err(|e| e.to_string())?))
        }
        "LARGER" | "SMALLER" => {
            c.sp().map_err(|e| e.to_string())?;
            let n = c.number().map_err(|e| e.to_string())?;
            Ok(if name == "LARGER" {
                Key::Larger(n)
            } else {
                Key::Smaller(n)
            })
        }
        "UID" => {
            c.sp().map_err(|e| e.to_string())?;
            Ok(Key::Uid(c.sequence_set().map_err(|e| e.to_string())?))
        }
        "NOT" => {
            c.sp().map_err(|e| e.to_string())?;
            Ok(Key::Not(Box::new(key(c, depth + 1)?)))
        }
        "OR" => {
            c.sp().map_err(|e| e.to_string())?;
            let a = key(c, depth + 1)?;
            c.sp().map_err(|e| e.to_string())?;
            let b = key(c, depth + 1)?;
            Ok(Key::Or(Box::new(a), Box::new(b)))
        }
        other => Err(format!("{other} is not a search key")),
    }
}

fn text(c: &mut Cursor) -> Parsed<String> {
    c.sp().map_err(|e| e.to_string())?;
    let raw = c.astring().map_err(|e| e.to_string())?;
    String::from_utf8(raw.into_owned()).map_err(|_| "search text must be UTF-8".to_owned())
}

/// `1-Feb-1994` (quoted or not) as days since 1970-01-01.
fn date(c: &mut Cursor) -> Parsed<i64> {
    c.sp().map_err(|e| e.to_string())?;
    let raw = c.astring().map_err(|e| e.to_string())?;
    let s = String::from_utf8_lossy(&raw);
    parse_day(&s).ok_or_else(|| format!("{s} is not a date like 1-Feb-1994"))
}

/// `d-Mon-yyyy` as days since 1970-01-01.
pub fn parse_day(s: &str) -> Option<i64> {
    let mut parts = s.trim().split('-');
    let day: i64 = parts.next()?.trim().parse().ok()?;
    let month = parts.next()?.to_ascii_lowercase();
    let month = mailroom_shared::dates::MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(&month))? as i64
        + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    Some(mailroom_shared::dates::days_from_civil(year, month, day))
}

/// What a message offers to the evaluation; the decoded text is only
/// computed when a key needs it.
pub struct Candidate<'a> {
    pub seq: u32,
    pub uid: u32,
    pub flags: &'a Flags,
    pub internal_date: i64,
    pub size: u32,
    /// `\Recent` for this session.
    pub recent: bool,
    pub modseq: u64,
    /// The highest sequence number and UID of the mailbox, for `*`.
    pub last_seq: u32,
    pub last_uid: u32,
}

impl Key {
    /// Whether the key, or a key within it, is one `pred` holds for.
    fn any(&self, pred: &dyn Fn(&Key) -> bool) -> bool {
        pred(self)
            || match self {
                Key::Not(k) => k.any(pred),
                Key::Or(a, b) => a.any(pred) || b.any(pred),
                Key::And(keys) => keys.iter().any(|k| k.any(pred)),
                _ => false,
            }
    }

    /// Whether the key asks about MODSEQ (which turns CONDSTORE on).
    pub fn uses_modseq(&self) -> bool {
        self.any(&|k| matches!(k, Key::Modseq(_)))
    }

    /// Whether evaluating needs the message's text.
    pub fn needs_content(&self) -> bool {
        self.any(&|k| matches!(k, Key::Header(..) | Key::Body(_) | Key::Text(_) | Key::Sent(..)))
    }

    /// Whether evaluating needs the message's INTERNALDATE or size, which
    /// the session's view does not hold.
    pub fn needs_row(&self) -> bool {
        self.any(&|k| matches!(k, Key::Date(..) | Key::Larger(_) | Key::Smaller(_)))
    }

    /// The keys within that the word index can answer, each once.
    pub fn text_keys(&self) -> Vec<TextKey> {
        let mut found = Vec::new();
        self.collect_text_keys(&mut found);
        found
    }

    fn collect_text_keys(&self, found: &mut Vec<TextKey>) {
        match self {
            Key::Not(k) => k.collect_text_keys(found),
            Key::Or(a, b) => {
                a.collect_text_keys(found);
                b.collect_text_keys(found);
            }
            Key::And(keys) => keys.iter().for_each(|k| k.collect_text_keys(found)),
            _ => {
                if let Some(key) = self.text_key()
                    && !found.contains(&key)
                {
                    found.push(key);
                }
            }
        }
    }

    /// This key as the word index would answer it: BODY and TEXT, and the
    /// headers the index keeps words of: FROM (with Sender and Reply-To),
    /// TO (with Cc) and SUBJECT. CC, BCC and other headers it does not
    /// keep apart are read.
    fn text_key(&self) -> Option<TextKey> {
        let (needle, field) = match self {
            Key::Body(needle) => (needle, Indexed::Body),
            Key::Text(needle) => (needle, Indexed::Everywhere),
            Key::Header(name, needle) => match name.as_str() {
                "from" => (needle, Indexed::Senders),
                "to" => (needle, Indexed::Recipients),
                "subject" => (needle, Indexed::Subject),
                _ => return None,
            },
            _ => return None,
        };
        Some((needle.clone(), field))
    }

    /// The key with each text key that `found` has an answer for
    /// replaced by that answer.
    pub fn with_found(&self, found: &[(TextKey, Arc<HashSet<u32>>)]) -> Key {
        match self {
            Key::Not(k) => Key::Not(Box::new(k.with_found(found))),
            Key::Or(a, b) => Key::Or(Box::new(a.with_found(found)), Box::new(b.with_found(found))),
            Key::And(keys) => Key::And(keys.iter().map(|k| k.with_found(found)).collect()),
            _ => {
                let key = self.text_key();
                let answer = found.iter().find(|(k, _)| Some(k) == key.as_ref());
                match answer {
                    Some((_, uids)) => Key::FromIndex(Arc::clone(uids)),
                    None => self.clone(),
                }
            }
        }
    }

    /// Whether the message matches; `text` must be given when
    /// [`Key::needs_content`] says so.
    pub fn matches(&self, m: &Candidate, text: Option<&Searchable>) -> bool {
        match self {
            Key::All => true,
            Key::Recent => m.recent,
            Key::Old => !m.recent,
            Key::Flag(f, set) => m.flags.contains(*f) == *set,
            Key::Keyword(k, set) => m.flags.keywords().any(|have| have.eq_ignore_ascii_case(k)) == *set,
            Key::Header(field, needle) => text.is_some_and(|t| {
                t.headers
                    .iter()
                    .any(|(name, value)| name == field && value.contains(needle.as_str()))
            }),
            Key::Body(needle) => text.is_some_and(|t| contains(&t.body, needle)),
            Key::Text(needle) => {
                text.is_some_and(|t| contains(&t.body, needle) || t.headers.iter().any(|(_, v)| contains(v, needle)))
            }
            Key::Date(op, day) => compare(*op, m.internal_date.div_euclid(86_400), *day),
            Key::Sent(op, day) => text
                .and_then(|t| t.sent_day)
                .is_some_and(|sent| compare(*op, sent, *day)),
            Key::Larger(n) => m.size > *n,
            Key::Modseq(n) => m.modseq >= *n,
            Key::Smaller(n) => m.size < *n,
            Key::Uid(set) => set.contains(m.uid, m.last_uid),
            Key::Sequence(set) => set.contains(m.seq, m.last_seq),
            Key::Not(k) => !k.matches(m, text),
            Key::Or(a, b) => a.matches(m, text) || b.matches(m, text),
            Key::And(keys) => keys.iter().all(|k| k.matches(m, text)),
            Key::FromIndex(uids) => uids.contains(&m.uid),
        }
    }
}

/// Both are in lower case already ([`Searchable`], and the keys as
/// parsed).
fn contains(haystack: &str, needle: &str) -> bool {
    haystack.contains(needle)
}

fn compare(op: DateOp, day: i64, against: i64) -> bool {
    match op {
        DateOp::Before => day < against,
        DateOp::On => day == against,
        DateOp::Since => day >= against,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Parsed<(Option<String>, Key)> {
        parse(&mut Cursor::new(s.as_bytes()))
    }

    #[test]
    fn every_kind_of_key_parses() {
        let (charset, key) =
            keys(" CHARSET UTF-8 OR FROM alice (SEEN NOT DELETED) 1:3,5 UID 4:* SINCE 1-Feb-2026").unwrap();
        assert_eq!(charset.as_deref(), Some("UTF-8"));
        let Key::And(list) = key else { panic!("{key:?}") };
        assert_eq!(list.len(), 4);
        assert!(matches!(list[0], Key::Or(..)));
        assert_eq!(list[3], Key::Date(DateOp::Since, parse_day("1-Feb-2026").unwrap()));
        assert!(keys(" HEADER X-Spam \"yes\" LARGER 10 SMALLER 99 SENTON \"2-Nov-2026\"").is_ok());
        assert!(keys(" NOSUCHKEY").is_err());
        assert!(keys(" SINCE 31-Foo-2026").is_err());
        assert!(keys(" OR SEEN").is_err());
        assert!(keys(&format!(" {}ALL{}", "(".repeat(200), ")".repeat(200))).is_err());
    }

    #[test]
    fn flags_sizes_and_sets_match() {
        let flags = Flags::parse(["\\Seen", "$Work"]).unwrap();
        let m = Candidate {
            seq: 2,
            uid: 7,
            flags: &flags,
            internal_date: parse_day("2-Nov-2026").unwrap() * 86_400 + 3600,
            size: 100,
            recent: false,
            modseq: 5,
            last_seq: 3,
            last_uid: 9,
        };
        let check = |s: &str| keys(s).unwrap().1.matches(&m, None);
        assert!(check(" SEEN KEYWORD $work UNFLAGGED"));
        assert!(!check(" UNSEEN"));
        assert!(check(" LARGER 99 SMALLER 101 UID 7 2"));
        assert!(check(" ON 2-Nov-2026 SINCE 2-Nov-2026 BEFORE 3-Nov-2026"));
        assert!(check(" OR DELETED NOT 1"));
        assert!(!check(" UID 8:*"));
        assert!(check(" 2:*"));
    }
}
