//! Automated rules for incoming mail: conditions on a message and what to
//! do with it. Rules live at three levels (server, domain, account) and run
//! in priority order at delivery; this module is the pure part — what a
//! rule says, how it is written as text (the CLI and the web show the same
//! words), and whether it matches a message.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::flags::Flags;
use crate::name::MailboxName;

/// What a condition looks at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    /// The envelope sender and the `From:` addresses.
    Sender,
    /// The envelope recipient and the `To:`/`Cc:` addresses.
    Recipient,
    Subject,
    /// Any header, by name (all its occurrences).
    Header(String),
    /// The message's size in bytes.
    Size,
}

/// How a condition compares. Text tests ignore case; `Over`/`Under` are
/// for sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Test {
    Contains,
    Is,
    /// A wildcard pattern: `*` any run of characters, `?` one character.
    Matches,
    Over,
    Under,
}

impl Test {
    pub const ALL: [Test; 5] = [Test::Contains, Test::Is, Test::Matches, Test::Over, Test::Under];

    pub fn word(self) -> &'static str {
        match self {
            Test::Contains => "contains",
            Test::Is => "is",
            Test::Matches => "matches",
            Test::Over => "over",
            Test::Under => "under",
        }
    }

    fn for_size(self) -> bool {
        matches!(self, Test::Over | Test::Under)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub field: Field,
    pub test: Test,
    pub value: String,
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Store the message in this mailbox instead of the INBOX.
    FileInto(String),
    /// Store a copy in this mailbox as well.
    CopyTo(String),
    /// Set a flag or keyword on the stored message.
    AddFlag(String),
    /// Deliver to another local address instead.
    Redirect(String),
    /// Do not keep the message in the INBOX.
    Discard,
    /// Run no further rules.
    Stop,
    /// Answer the sender with `text`, at most once per `days` days each,
    /// and never mail from lists, bulk senders or other robots.
    Vacation { days: u32, text: String },
}

/// How often a vacation reply goes to the same sender unless said.
pub const VACATION_DAYS: u32 = 7;
/// The most days a vacation reply may wait before answering a sender again.
pub const MAX_VACATION_DAYS: u32 = 365;

/// The action names as the text form writes them, with whether they take
/// an argument (the web form offers the same list).
pub const ACTION_WORDS: [(&str, bool); 7] = [
    ("fileinto", true),
    ("copy", true),
    ("flag", true),
    ("redirect", true),
    ("vacation", true),
    ("discard", false),
    ("stop", false),
];

/// The field names as the text form writes them (`header` takes a name).
pub const FIELD_WORDS: [&str; 5] = ["sender", "recipient", "subject", "header", "size"];

/// Where a rule applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Mail to every account on the server.
    Server,
    /// Mail to every account of the domain.
    Domain(String),
    /// Mail to one account (`name@domain`).
    Account(String),
}

impl Scope {
    /// The scope as a URL or form parameter: `account:a@b`, `domain:b`,
    /// `server`.
    pub fn to_param(&self) -> String {
        match self {
            Scope::Server => "server".into(),
            Scope::Domain(d) => format!("domain:{d}"),
            Scope::Account(a) => format!("account:{a}"),
        }
    }

    /// Reads [`Scope::to_param`]'s form; `None` for anything else.
    pub fn from_param(text: &str) -> Option<Scope> {
        match text.split_once(':') {
            None if text == "server" => Some(Scope::Server),
            Some(("domain", d)) if !d.is_empty() => Some(Scope::Domain(d.into())),
            Some(("account", a)) if !a.is_empty() => Some(Scope::Account(a.into())),
            _ => None,
        }
    }
}

/// The rules page: the scopes its user may edit, the one shown and its
/// rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesPage {
    pub scopes: Vec<Scope>,
    pub scope: Scope,
    pub rules: Vec<RuleView>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Server => f.write_str("server"),
            Scope::Domain(d) => write!(f, "domain {d}"),
            Scope::Account(a) => write!(f, "account {a}"),
        }
    }
}

/// A rule as its author writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub name: String,
    /// Lower runs first.
    pub priority: i64,
    /// Any condition suffices (else all must hold). No conditions: every
    /// message matches.
    pub any: bool,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// A stored rule, as its editors see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    pub id: i64,
    pub scope: Scope,
    pub spec: RuleSpec,
    /// Whose rights the rule's copies use (`None`: the server's operator).
    pub owner: Option<String>,
    /// Why the rule recently did less than it says, newest first.
    pub problems: Vec<String>,
}

/// What conditions are tested against, taken from one incoming message.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub senders: Vec<String>,
    pub recipients: Vec<String>,
    pub subject: String,
    /// Every header as `(name, decoded value)`.
    pub headers: Vec<(String, String)>,
    pub size: u64,
}

/// The most conditions and actions one rule may have.
pub const MAX_PARTS: usize = 32;
/// The longest value a condition may compare with.
pub const MAX_VALUE: usize = 1000;
/// How many characters of a header value conditions look at.
pub const MAX_TESTED: usize = 16 * 1024;

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        match &self.field {
            Field::Sender => facts.senders.iter().any(|v| self.compare(v)),
            Field::Recipient => facts.recipients.iter().any(|v| self.compare(v)),
            Field::Subject => self.compare(&facts.subject),
            Field::Header(name) => facts
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && self.compare(v)),
            Field::Size => match parse_size(&self.value) {
                Some(limit) if self.test == Test::Over => facts.size > limit,
                Some(limit) if self.test == Test::Under => facts.size < limit,
                _ => false,
            },
        }
    }

    fn compare(&self, value: &str) -> bool {
        // A sender controls header lengths: only their start is tested,
        // so a pattern costs at most MAX_TESTED × MAX_VALUE steps.
        let value = match value.char_indices().nth(MAX_TESTED) {
            Some((end, _)) => &value[..end],
            None => value,
        };
        let (value, wanted) = (value.trim().to_lowercase(), self.value.to_lowercase());
        match self.test {
            Test::Contains => value.contains(&wanted),
            Test::Is => value == wanted.trim(),
            Test::Matches => wildcard(&wanted, &value),
            Test::Over | Test::Under => false,
        }
    }

    /// Refuses a condition that could never mean anything.
    pub fn check(&self) -> Result<(), String> {
        if self.value.len() > MAX_VALUE {
            return Err(format!("a condition's value may have at most {MAX_VALUE} bytes"));
        }
        if let Field::Header(name) = &self.field {
            let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !valid {
                return Err(format!("{name:?} is not a header name"));
            }
        }
        match (self.field == Field::Size, self.test.for_size()) {
            (true, true) if parse_size(&self.value).is_none() => Err(format!(
                "{:?} is not a size (write bytes, or with K or M: 100K, 2M)",
                self.value
            )),
            (true, false) => Err("a size is compared with over or under".into()),
            (false, true) => Err(format!("over and under compare sizes, not the {}", self.field)),
            _ if self.value.is_empty() && self.test != Test::Is => Err(format!("{self}: compare with what?")),
            _ => Ok(()),
        }
    }
}

impl Action {
    pub fn word(&self) -> &'static str {
        match self {
            Action::FileInto(_) => "fileinto",
            Action::CopyTo(_) => "copy",
            Action::AddFlag(_) => "flag",
            Action::Redirect(_) => "redirect",
            Action::Discard => "discard",
            Action::Stop => "stop",
            Action::Vacation { .. } => "vacation",
        }
    }

    /// What follows the action's word in the text form (a vacation
    /// reply's days, then its text).
    pub fn argument(&self) -> Option<String> {
        match self {
            Action::FileInto(a) | Action::CopyTo(a) | Action::AddFlag(a) | Action::Redirect(a) => Some(a.clone()),
            Action::Vacation { days, text } => Some(format!("{days} {text}")),
            Action::Discard | Action::Stop => None,
        }
    }

    /// Builds an action from its word and argument, checking the argument.
    pub fn new(word: &str, argument: &str) -> Result<Action, String> {
        let argument = unquote(argument.trim());
        let needs = |what: &str| match argument.is_empty() {
            true => Err(format!("{word} needs {what}")),
            false => Ok(argument.to_owned()),
        };
        let action = match word.to_ascii_lowercase().as_str() {
            "fileinto" | "file" => Action::FileInto(needs("a mailbox")?),
            "copy" => Action::CopyTo(needs("a mailbox")?),
            "flag" => Action::AddFlag(needs("a flag or keyword")?),
            "redirect" => Action::Redirect(needs("an address")?),
            "discard" => Action::Discard,
            "stop" => Action::Stop,
            "vacation" => vacation(&needs("the reply's text (after the days between replies, if not 7)")?)?,
            other => {
                return Err(format!(
                    "unknown action {other:?} (fileinto, copy, flag, redirect, vacation, discard, stop)"
                ));
            }
        };
        match &action {
            Action::FileInto(m) | Action::CopyTo(m) => {
                MailboxName::parse(m).map_err(|e| format!("{m:?}: {e}"))?;
            }
            Action::AddFlag(f) => {
                Flags::parse([f.as_str()]).map_err(|e| e.to_string())?;
            }
            Action::Redirect(a) if !a.contains('@') || a.chars().any(char::is_whitespace) => {
                return Err(format!("{a:?} is not an address (write name@domain)"));
            }
            _ if !argument.is_empty() && action.argument().is_none() => {
                return Err(format!("{word} takes nothing after it"));
            }
            _ => {}
        }
        Ok(action)
    }
}

impl RuleSpec {
    /// Whether the rule's conditions hold for a message.
    pub fn matches(&self, facts: &Facts) -> bool {
        match self.any {
            true => self.conditions.is_empty() || self.conditions.iter().any(|c| c.holds(facts)),
            false => self.conditions.iter().all(|c| c.holds(facts)),
        }
    }

    /// The rule in words: `if subject contains "[x]" then copy ~public/X`.
    pub fn describe(&self) -> String {
        let join = |parts: Vec<String>, with: &str| parts.join(with);
        let conditions = join(
            self.conditions.iter().map(ToString::to_string).collect(),
            if self.any { " or " } else { " and " },
        );
        let actions = join(self.actions.iter().map(ToString::to_string).collect(), ", ");
        match conditions.is_empty() {
            true => format!("always {actions}"),
            false => format!("if {conditions} then {actions}"),
        }
    }

    /// Refuses a rule that cannot be kept.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("give the rule a name (up to 200 bytes)".into());
        }
        if self.actions.is_empty() {
            return Err("a rule needs at least one action".into());
        }
        if self.conditions.len() > MAX_PARTS || self.actions.len() > MAX_PARTS {
            return Err(format!("a rule may have at most {MAX_PARTS} conditions and actions"));
        }
        self.conditions.iter().try_for_each(Condition::check)?;
        // Re-building each action checks its argument.
        for a in &self.actions {
            Action::new(a.word(), &a.argument().unwrap_or_default())?;
        }
        Ok(())
    }
}

/// A vacation reply from its text form: `[days] text`.
fn vacation(argument: &str) -> Result<Action, String> {
    let (days, text) = match argument.split_once(char::is_whitespace) {
        Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) => (n.parse().ok(), rest.trim()),
        _ if argument.bytes().all(|b| b.is_ascii_digit()) => (argument.parse().ok(), ""),
        _ => (Some(VACATION_DAYS), argument),
    };
    let days = days.filter(|d| (1..=MAX_VACATION_DAYS).contains(d)).ok_or_else(|| {
        format!("a vacation reply waits 1 to {MAX_VACATION_DAYS} days before answering a sender again")
    })?;
    if text.is_empty() {
        return Err("vacation needs the reply's text".into());
    }
    if text.len() > 10_000 {
        return Err("a vacation reply may have at most 10,000 bytes".into());
    }
    Ok(Action::Vacation {
        days,
        text: text.to_owned(),
    })
}

/// Parses a size: bytes, or with a `K`/`M` suffix (powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1024),
        (i, 'm' | 'M') => (&text[..i], 1024 * 1024),
        _ => (text, 1),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(unit)
}

/// Wildcard matching with `*` and `?`, both sides already lower-cased.
/// Written here: the greedy matcher with one backtrack point is a dozen
/// lines, and it must also build for the browser.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text)
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Sender => f.write_str("sender"),
            Field::Recipient => f.write_str("recipient"),
            Field::Subject => f.write_str("subject"),
            Field::Header(name) => write!(f, "header {name}"),
            Field::Size => f.write_str("size"),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} \"{}\"", self.field, self.test.word(), self.value)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.argument() {
            Some(a) => write!(f, "{} {a}", self.word()),
            None => f.write_str(self.word()),
        }
    }
}

impl Field {
    /// A field from its word (`header` needs the header's name).
    pub fn new(word: &str, header: &str) -> Result<Field, String> {
        Ok(match word.to_ascii_lowercase().as_str() {
            "sender" | "from" => Field::Sender,
            "recipient" | "to" => Field::Recipient,
            "subject" => Field::Subject,
            "size" => Field::Size,
            "header" => Field::Header(header.trim().to_owned()),
            other => {
                return Err(format!(
                    "unknown field {other:?} (sender, recipient, subject, header NAME, size)"
                ));
            }
        })
    }
}

impl Test {
    pub fn new(word: &str) -> Result<Test, String> {
        Test::ALL
            .into_iter()
            .find(|t| t.word().eq_ignore_ascii_case(word))
            .ok_or_else(|| format!("unknown test {word:?} (contains, is, matches, over, under)"))
    }
}

impl std::str::FromStr for Condition {
    type Err = String;

    /// `subject contains "[support]"`, `header X-Spam is yes`,
    /// `size over 5M`, `sender matches *@example.org`.
    fn from_str(text: &str) -> Result<Condition, String> {
        let mut words = text.trim().splitn(2, char::is_whitespace);
        let word = words.next().unwrap_or_default();
        let mut rest = words.next().unwrap_or_default().trim_start();
        let mut header = "";
        if word.eq_ignore_ascii_case("header") {
            let (name, after) = rest
                .split_once(char::is_whitespace)
                .ok_or("write header NAME TEST VALUE")?;
            header = name;
            rest = after.trim_start();
        }
        let field = Field::new(word, header)?;
        let (test, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let condition = Condition {
            field,
            test: Test::new(test)?,
            value: unquote(value.trim()).to_owned(),
        };
        condition.check()?;
        Ok(condition)
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    /// `fileinto Lists/rust`, `copy ~public/Support`, `flag \Flagged`,
    /// `redirect bob@example.com`, `discard`, `stop`.
    fn from_str(text: &str) -> Result<Action, String> {
        let text = text.trim();
        let (word, argument) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        Action::new(word, argument)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            senders: vec!["Carol@Example.org".into()],
            recipients: vec!["support@example.com".into(), "alice@example.com".into()],
            subject: "Re: [support] printer on fire".into(),
            headers: vec![
                ("X-Spam".into(), "YES".into()),
                ("List-Id".into(), "<rust.lists>".into()),
            ],
            size: 2048,
        }
    }

    fn holds(text: &str) -> bool {
        text.parse::<Condition>().unwrap().holds(&facts())
    }

    #[test]
    fn text_tests_ignore_case() {
        assert!(holds("subject contains \"[SUPPORT]\""));
        assert!(!holds("subject contains [sales]"));
        assert!(holds("sender is carol@example.org"));
        assert!(!holds("sender is carol"));
        assert!(holds("sender matches *@example.org"));
        assert!(!holds("sender matches *@example.com"));
        assert!(holds("recipient is alice@example.com"), "any of the recipients");
        assert!(holds("header x-spam is yes"));
        assert!(holds("header List-Id matches <rust.*>"));
        assert!(!holds("header X-Missing contains a"));
    }

    #[test]
    fn sizes_compare_in_bytes_k_and_m() {
        assert!(holds("size over 2000"));
        assert!(!holds("size over 2K"));
        assert!(holds("size under 1M"));
        assert_eq!(parse_size("5M"), Some(5 * 1024 * 1024));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999999999999M"), None);
    }

    #[test]
    fn a_huge_header_is_tested_by_its_start_only() {
        let mut f = facts();
        f.subject = format!("[support] {}", "a".repeat(1_000_000));
        assert!("subject matches \"[support]*\"".parse::<Condition>().unwrap().holds(&f));
        assert!(!"subject contains b".parse::<Condition>().unwrap().holds(&f));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*b?d", "axxbcd"));
        assert!(wildcard("*", ""));
        assert!(wildcard("*a*a*", "banana"));
        assert!(!wildcard("a?", "a"));
        assert!(!wildcard("*x", "banana"));
        assert!(wildcard("ä*", "äpfel"));
    }

    #[test]
    fn all_or_any() {
        let rule = |any| RuleSpec {
            name: "r".into(),
            any,
            conditions: vec![
                "subject contains support".parse().unwrap(),
                "sender contains nobody".parse().unwrap(),
            ],
            actions: vec![Action::Stop],
            ..RuleSpec::default()
        };
        assert!(!rule(false).matches(&facts()));
        assert!(rule(true).matches(&facts()));
        let always = RuleSpec {
            conditions: vec![],
            ..rule(true)
        };
        assert!(always.matches(&facts()));
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for bad in [
            "size contains 3",
            "subject over 3",
            "size over lots",
            "colour is red",
            "header is x",
        ] {
            assert!(bad.parse::<Condition>().is_err(), "{bad}");
        }
        for bad in [
            "fileinto",
            "copy ~bad//name",
            "flag (x",
            "redirect nobody",
            "discard now",
            "vacation 0 Away",
            "vacation 9",
            "explode",
        ] {
            assert!(bad.parse::<Action>().is_err(), "{bad}");
        }
        let empty = RuleSpec {
            name: "x".into(),
            ..RuleSpec::default()
        };
        assert!(empty.check().is_err());
    }

    #[test]
    fn text_form_round_trips() {
        for text in [
            "subject contains \"[support]\"",
            "header X-Spam is \"yes\"",
            "size over \"5M\"",
        ] {
            let c: Condition = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
        }
        for text in [
            "fileinto Lists/rust",
            "copy ~public/Support",
            "flag \\Flagged",
            "discard",
            "vacation 3 Away until Monday.",
        ] {
            let a: Action = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
        }
    }
}
