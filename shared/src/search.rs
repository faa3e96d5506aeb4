//! The search box's language: words, and operators as Gmail and Fastmail
//! users type them — `from:`, `to:`, `subject:`, `has:attachment`,
//! `is:unread`, `is:flagged`, `before:`/`after:` (a date, YYYY-MM-DD) and
//! `in:all` (every folder the user can read), and for team mailboxes
//! `is:mine`, `is:unassigned`, `is:open`/`is:waiting`/`is:done`. A value with spaces goes in
//! quotes (`from:"Alice Smith"`); `word:` that is no operator is a word.

use crate::dates::days_from_civil;

/// A search as typed, read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Words anywhere: sender, recipients, subject, text, attachment names.
    pub words: Vec<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub subject: Vec<String>,
    pub has_attachment: bool,
    pub unread: bool,
    pub flagged: bool,
    /// Received before this moment (Unix seconds, UTC midnight).
    pub before: Option<i64>,
    /// Received on or after this moment.
    pub after: Option<i64>,
    /// Every folder the user can read, not only the open one.
    pub all_folders: bool,
    /// Assigned to the searcher (`is:mine`): the service puts the
    /// keyword that says so in `assigned_keyword`.
    pub mine: bool,
    pub assigned_keyword: Option<String>,
    pub unassigned: bool,
    pub status: Option<crate::team::Status>,
}

impl Query {
    pub fn parse(text: &str) -> Query {
        let mut q = Query::default();
        for term in terms(text) {
            let Some((op, value)) = term.split_once(':') else {
                q.words.push(term);
                continue;
            };
            let value = value.to_owned();
            let known = match (op.to_ascii_lowercase().as_str(), value.to_ascii_lowercase().as_str()) {
                ("from", v) if !v.is_empty() => push(&mut q.from, value),
                ("to" | "cc", v) if !v.is_empty() => push(&mut q.to, value),
                ("subject", v) if !v.is_empty() => push(&mut q.subject, value),
                ("has", "attachment" | "attachments") => set(&mut q.has_attachment),
                ("is", "unread") => set(&mut q.unread),
                ("is", "flagged" | "starred") => set(&mut q.flagged),
                ("in", "all" | "anywhere") => set(&mut q.all_folders),
                ("is", "mine") => set(&mut q.mine),
                ("is", "unassigned") => set(&mut q.unassigned),
                ("is", v) if crate::team::Status::from_code(v).is_some() => {
                    q.status = crate::team::Status::from_code(v);
                    true
                }
                ("before", v) => date(v).map(|t| q.before = Some(t)).is_some(),
                ("after", v) => date(v).map(|t| q.after = Some(t)).is_some(),
                _ => false,
            };
            if !known {
                q.words.push(term);
            }
        }
        q
    }

    /// Whether it asks for nothing (every message matches).
    pub fn is_empty(&self) -> bool {
        *self == Query::default()
    }

    /// Whether any word must be looked up in the text index.
    pub fn has_text(&self) -> bool {
        !(self.words.is_empty() && self.from.is_empty() && self.to.is_empty() && self.subject.is_empty())
    }
}

fn push(list: &mut Vec<String>, value: String) -> bool {
    list.push(value);
    true
}

fn set(flag: &mut bool) -> bool {
    *flag = true;
    true
}

/// `2026-11-27` (or with `/`) as UTC midnight.
fn date(text: &str) -> Option<i64> {
    let mut parts = text.split(['-', '/']).map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
}

/// The terms of a search: split at spaces, except inside quotes (which
/// are dropped).
fn terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_words() {
        let q = Query::parse(
            r#"invoice from:"Alice Smith" to:bob@example.com subject:Q3 has:attachment is:unread is:flagged in:all"#,
        );
        assert_eq!(q.words, ["invoice"]);
        assert_eq!(q.from, ["Alice Smith"]);
        assert_eq!(q.to, ["bob@example.com"]);
        assert_eq!(q.subject, ["Q3"]);
        assert!(q.has_attachment && q.unread && q.flagged && q.all_folders);
        assert!(q.has_text());
    }

    #[test]
    fn dates_are_utc_days() {
        let q = Query::parse("after:2026-11-27 before:2026/11/28");
        assert_eq!(q.after, Some(1_795_737_600));
        assert_eq!(q.before, Some(1_795_737_600 + 86_400));
        assert!(!q.has_text());
    }

    #[test]
    fn what_is_no_operator_is_a_word() {
        let q = Query::parse("re: https://example.com before:someday is:happy");
        assert_eq!(q.words, ["re:", "https://example.com", "before:someday", "is:happy"]);
        assert!(Query::parse("   ").is_empty());
    }
}
