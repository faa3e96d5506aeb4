//! SORT (RFC 5256) with SORT=DISPLAY (RFC 5957): the sort criteria,
//! parsed from a command, what each message is sorted by, and the
//! comparison — criteria in order, ties left in sequence order.

use std::cmp::Ordering;

use super::address::{self, Entry};
use super::search::{self, Key, Parsed};
use super::syntax::Cursor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Criterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// Whether sorting by `criteria` needs the messages' headers.
pub fn needs_headers(criteria: &[Criterion]) -> bool {
    criteria
        .iter()
        .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size))
}

/// Parses ` (criteria) charset keys` after SORT.
pub fn parse(c: &mut Cursor) -> Parsed<(Vec<Criterion>, String, Key)> {
    let err = |e: super::syntax::SyntaxError| e.to_string();
    c.sp().map_err(err)?;
    if !c.eat(b'(') {
        return Err("SORT criteria go in parentheses".into());
    }
    let mut criteria = Vec::new();
    let mut reverse = false;
    loop {
        let word = c.atom().map_err(err)?.to_ascii_uppercase();
        let key = match word.as_str() {
            "REVERSE" => {
                reverse = true;
                c.sp().map_err(err)?;
                continue;
            }
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            other => return Err(format!("{other} is not a sort criterion")),
        };
        criteria.push(Criterion { reverse, key });
        reverse = false;
        if c.eat(b')') {
            break;
        }
        c.sp().map_err(err)?;
    }
    c.sp().map_err(err)?;
    let charset = String::from_utf8_lossy(&c.astring().map_err(err)?).to_ascii_uppercase();
    let key = search::parse_keys(c)?;
    Ok((criteria, charset, key))
}

/// What one message is sorted by.
#[derive(Clone, Debug, Default)]
pub struct Sortable {
    pub seq: u32,
    pub arrival: i64,
    pub size: u32,
    /// The Date header in UTC (the arrival when there is none).
    pub date: i64,
    pub subject: String,
    /// The first address's mailbox (local part), upper-cased.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// The first address's display name, else its address, upper-cased.
    pub display_from: String,
    pub display_to: String,
}

impl Sortable {
    /// Fills the header-based fields from a message's raw bytes.
    pub fn read_headers(&mut self, raw: &[u8]) {
        let Ok((headers, _)) = mailparse::parse_headers(raw) else {
            self.date = self.arrival;
            return;
        };
        use mailparse::MailHeaderMap;
        let first = |name: &str| -> Vec<Entry> {
            headers
                .get_first_header(name)
                .map(|h| address::parse(h.get_value_raw()))
                .unwrap_or_default()
        };
        self.subject = base_subject(&headers.get_first_value("Subject").unwrap_or_default()).to_uppercase();
        self.date = headers
            .get_first_value("Date")
            .and_then(|d| mailparse::dateparse(&d).ok())
            .unwrap_or(self.arrival);
        let from = first("From");
        let to = first("To");
        self.from = mailbox_of(&from);
        self.to = mailbox_of(&to);
        self.cc = mailbox_of(&first("Cc"));
        self.display_from = display_of(&from);
        self.display_to = display_of(&to);
    }
}

/// The first address; a group counts as one whose mailbox is the
/// group's name (as ENVELOPE writes it).
fn first_person(list: &[Entry]) -> Option<address::Address> {
    list.first().map(|e| match e {
        Entry::Person(a) => a.clone(),
        Entry::GroupStart(name) => address::Address {
            mailbox: name.clone(),
            ..address::Address::default()
        },
        Entry::GroupEnd => address::Address::default(),
    })
}

fn mailbox_of(list: &[Entry]) -> String {
    first_person(list).map_or_else(String::new, |a| String::from_utf8_lossy(&a.mailbox).to_uppercase())
}

/// RFC 5957 §7: the display name if there is one, else the address.
fn display_of(list: &[Entry]) -> String {
    let Some(a) = first_person(list) else {
        return String::new();
    };
    let name = a.name.as_deref().map(address::decoded).unwrap_or_default();
    if !name.trim().is_empty() {
        return name.trim().to_uppercase();
    }
    let mut spec = String::from_utf8_lossy(&a.mailbox).into_owned();
    if let Some(host) = &a.host {
        spec.push('@');
        spec.push_str(&String::from_utf8_lossy(host));
    }
    spec.to_uppercase()
}

/// Orders two messages by `criteria`, ties by sequence number.
pub fn compare(criteria: &[Criterion], a: &Sortable, b: &Sortable) -> Ordering {
    for c in criteria {
        let order = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Date => a.date.cmp(&b.date),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::Cc => a.cc.cmp(&b.cc),
            SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
            SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let order = if c.reverse { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.seq.cmp(&b.seq)
}

pub use mailroom_shared::subject::base_subject;

/// Whether a subject marks a reply or forward (`Re:`, `Fwd:`, `(fwd)`,
/// `[fwd: …]`): what base-subject extraction removes besides blobs.
pub fn is_reply_or_forward(subject: &str) -> bool {
    let mut blobs_only: String = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    while let Some(rest) = mailroom_shared::subject::strip_blob(&blobs_only) {
        if rest.is_empty() {
            break;
        }
        blobs_only = rest;
    }
    mailroom_shared::subject::base_subject(subject) != blobs_only
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        for (subject, base) in [
            ("a", "a"),
            ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b"),
            ("b (a)", "b (a)"),
            ("Re: [FWD: c]", "c"),
            ("[xyz]", "[xyz]"),
            ("Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x"),
            ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon"),
            (" ", ""),
            ("Re: Re[2]: hello", "hello"),
        ] {
            assert_eq!(base_subject(subject), base, "{subject}");
        }
    }

    #[test]
    fn criteria_parse() {
        let mut c = Cursor::new(b" (REVERSE date subject) UTF-8 ALL");
        let (criteria, charset, _) = parse(&mut c).unwrap();
        assert_eq!(charset, "UTF-8");
        assert_eq!(
            criteria,
            vec![
                Criterion {
                    reverse: true,
                    key: SortKey::Date
                },
                Criterion {
                    reverse: false,
                    key: SortKey::Subject
                }
            ]
        );
        assert!(parse(&mut Cursor::new(b" (bogus) UTF-8 ALL")).is_err());
    }
}
