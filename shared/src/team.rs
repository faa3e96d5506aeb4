//! Working as a team on a shared mailbox: who is present and through
//! what, the activity trail, assignment and status (kept as IMAP keywords,
//! so desktop clients see and set them too), internal notes, and who read
//! a message.

use serde::{Deserialize, Serialize};

use crate::dates::Local;
use crate::dto::MailboxInfo;
use crate::flags::Flags;

/// Through what someone acts on a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Via {
    Web,
    Imap,
    Pop3,
    /// Mail delivered (LMTP, a relay's hand-over, the demo seed).
    Delivery,
    /// The server's operator at the command line, and the server itself.
    Server,
}

impl Via {
    pub const ALL: [Via; 5] = [Via::Web, Via::Imap, Via::Pop3, Via::Delivery, Via::Server];

    /// How it is stored and written in filters and exports.
    pub fn code(self) -> &'static str {
        match self {
            Via::Web => "web",
            Via::Imap => "imap",
            Via::Pop3 => "pop3",
            Via::Delivery => "delivery",
            Via::Server => "server",
        }
    }

    pub fn from_code(code: &str) -> Option<Via> {
        Via::ALL.into_iter().find(|v| v.code() == code)
    }

    /// As people read it: "via IMAP".
    pub fn label(self) -> &'static str {
        match self {
            Via::Web => "the web",
            Via::Imap => "IMAP",
            Via::Pop3 => "POP3",
            Via::Delivery => "delivery",
            Via::Server => "the server",
        }
    }
}

/// What a present person is doing in a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Doing {
    /// Has it open (a folder page, a selected IMAP session, a POP3 drop).
    Open,
    /// Reads this message.
    Reading(u32),
    /// Writes a reply to (or forward of) this message.
    Replying(u32),
}

impl Doing {
    /// The message it is about, if any.
    pub fn message(self) -> Option<u32> {
        match self {
            Doing::Open => None,
            Doing::Reading(uid) | Doing::Replying(uid) => Some(uid),
        }
    }
}

/// Someone present in a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Present {
    /// Their address.
    pub who: String,
    pub via: Via,
    pub doing: Doing,
    /// Since when (Unix seconds).
    pub since: i64,
}

impl Present {
    /// Initials for an avatar: "bob@example.com" is "B", "mary.jones@…" "MJ".
    pub fn initials(&self) -> String {
        initials(&self.who)
    }
}

/// Initials of an address's local part.
pub fn initials(address: &str) -> String {
    let local = address.split('@').next().unwrap_or(address);
    local
        .split(['.', '-', '_', '+'])
        .filter_map(|part| part.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// What happened, in the activity trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum What {
    Delivered,
    Appended,
    Read,
    Unread,
    Flagged,
    Unflagged,
    Answered,
    Deleted,
    Undeleted,
    /// Flags replaced as a whole (IMAP `STORE FLAGS`).
    FlagsSet,
    Expunged,
    MovedIn,
    MovedOut,
    CopiedIn,
    CopiedOut,
    Assigned,
    Unassigned,
    Status,
    Note,
    Sent,
    AclChanged,
    SeenModeChanged,
    Renamed,
}

impl What {
    pub const ALL: [What; 23] = [
        What::Delivered,
        What::Appended,
        What::Read,
        What::Unread,
        What::Flagged,
        What::Unflagged,
        What::Answered,
        What::Deleted,
        What::Undeleted,
        What::FlagsSet,
        What::Expunged,
        What::MovedIn,
        What::MovedOut,
        What::CopiedIn,
        What::CopiedOut,
        What::Assigned,
        What::Unassigned,
        What::Status,
        What::Note,
        What::Sent,
        What::AclChanged,
        What::SeenModeChanged,
        What::Renamed,
    ];

    /// How it is stored, filtered by and exported.
    pub fn code(self) -> &'static str {
        match self {
            What::Delivered => "delivered",
            What::Appended => "appended",
            What::Read => "read",
            What::Unread => "unread",
            What::Flagged => "flagged",
            What::Unflagged => "unflagged",
            What::Answered => "answered",
            What::Deleted => "deleted",
            What::Undeleted => "undeleted",
            What::FlagsSet => "flags-set",
            What::Expunged => "expunged",
            What::MovedIn => "moved-in",
            What::MovedOut => "moved-out",
            What::CopiedIn => "copied-in",
            What::CopiedOut => "copied-out",
            What::Assigned => "assigned",
            What::Unassigned => "unassigned",
            What::Status => "status",
            What::Note => "note",
            What::Sent => "sent",
            What::AclChanged => "acl",
            What::SeenModeChanged => "seen-mode",
            What::Renamed => "renamed",
        }
    }

    pub fn from_code(code: &str) -> Option<What> {
        What::ALL.into_iter().find(|w| w.code() == code)
    }

    /// The sentence's verb, with the detail where it names something:
    /// "moved here from ~public/Support", "assigned to bob".
    pub fn described(self, detail: &str) -> String {
        let with = |verb: &str, prep: &str| match detail.is_empty() {
            true => verb.to_owned(),
            false => format!("{verb} {prep} {detail}"),
        };
        match self {
            What::Delivered => with("delivered", "by"),
            What::Appended => "added".into(),
            What::Read => "marked read".into(),
            What::Unread => "marked unread".into(),
            What::Flagged => "flagged".into(),
            What::Unflagged => "unflagged".into(),
            What::Answered => "marked answered".into(),
            What::Deleted => "marked deleted".into(),
            What::Undeleted => "marked not deleted".into(),
            What::FlagsSet => with("flags set to", ""),
            What::Expunged => "expunged".into(),
            What::MovedIn => with("moved here", "from"),
            What::MovedOut => with("moved", "to"),
            What::CopiedIn => with("copied here", "from"),
            What::CopiedOut => with("copied", "to"),
            What::Assigned => with("assigned", "to"),
            What::Unassigned => with("unassigned from", ""),
            What::Status => with("status set to", ""),
            What::Note => with("noted", ":"),
            What::Sent => with("answered as the team", "from"),
            What::AclChanged => with("changed the sharing", "for"),
            What::SeenModeChanged => with("set read marks to", ""),
            What::Renamed => with("renamed", "to"),
        }
        .replace("  ", " ")
        .replace(" :", ":")
    }
}

/// One line of the activity trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who did it: an address, or what acted on nobody's behalf (a
    /// delivery's sender, "the server").
    pub actor: String,
    pub via: Via,
    /// The client's address, empty where there is none.
    pub client: String,
    pub what: What,
    /// The message, for a message's activity.
    pub uid: Option<u32>,
    /// The other mailbox, the rule, the assignee, the note…
    pub detail: String,
    /// How `at` reads on the reader's clock.
    #[serde(default)]
    pub local: Local,
}

impl Activity {
    /// "moved here from ~public/Support by alice@example.com via IMAP".
    pub fn sentence(&self) -> String {
        format!(
            "{} by {} via {}",
            self.what.described(&self.detail),
            self.actor,
            self.via.label()
        )
    }
}

/// What the Activity page lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityFilter {
    /// Only this actor (an address, or part of one).
    pub who: String,
    /// Only this kind ([`What::code`]); empty for all.
    pub what: String,
    /// Only this message.
    pub uid: Option<u32>,
    /// Only entries older than this id (the next page).
    pub before: Option<i64>,
}

/// A folder's Activity page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub mailbox: MailboxInfo,
    pub filter: ActivityFilter,
    /// Newest first.
    pub entries: Vec<Activity>,
    /// Older entries exist beyond these.
    pub more: bool,
    /// The reader administers the mailbox: may export, and may open the
    /// page to readers.
    pub admin: bool,
    /// Holders of `r` see this page too.
    pub open_to_readers: bool,
}

/// Where a message stands in the team's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    #[default]
    Open,
    Waiting,
    Done,
}

/// The keyword of the waiting status; open has none.
pub const WAITING: &str = "$Waiting";
/// The keyword of the done status.
pub const DONE: &str = "$Done";
/// Assignment keywords start with this: `$Assigned-bob`.
pub const ASSIGNED_PREFIX: &str = "$Assigned-";

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Waiting, Status::Done];

    pub fn code(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Waiting => "waiting",
            Status::Done => "done",
        }
    }

    pub fn from_code(code: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// A message's status from its flags.
    pub fn of(flags: &Flags) -> Status {
        if flags.has_keyword(DONE) {
            Status::Done
        } else if flags.has_keyword(WAITING) {
            Status::Waiting
        } else {
            Status::Open
        }
    }

    /// The keyword that says it (none for open).
    pub fn keyword(self) -> Option<&'static str> {
        match self {
            Status::Open => None,
            Status::Waiting => Some(WAITING),
            Status::Done => Some(DONE),
        }
    }
}

/// The keyword that assigns a message to `who`: its local part when the
/// assignee is in the mailbox owner's domain (`$Assigned-bob`), else the
/// whole address.
pub fn assignment_keyword(who: &str, owner_domain: &str) -> String {
    let name = match who.rsplit_once('@') {
        Some((local, domain)) if domain.eq_ignore_ascii_case(owner_domain) => local,
        _ => who,
    };
    format!("{ASSIGNED_PREFIX}{}", name.to_lowercase())
}

/// Whom the flags assign the message to, as the keyword names them
/// (`bob`, or `carol@other.example`), with the owner's domain added.
pub fn assignee(flags: &Flags, owner_domain: &str) -> Option<String> {
    flags.keywords().find_map(|k| {
        let name = strip_prefix_ignore_case(k, ASSIGNED_PREFIX)?;
        match name.contains('@') {
            true => Some(name.to_lowercase()),
            false => Some(format!("{}@{owner_domain}", name.to_lowercase())),
        }
    })
}

/// The name an assignment keyword gives (`bob`, `carol@other.example`),
/// as a list shows it.
pub fn assigned_name(flags: &Flags) -> Option<String> {
    flags
        .keywords()
        .find_map(|k| strip_prefix_ignore_case(k, ASSIGNED_PREFIX).map(str::to_lowercase))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// What a reader (or someone starting a reply) should know before
/// answering: others replying to or reading the message now, and the
/// answer already sent.
pub fn warnings(team: &TeamView) -> Vec<String> {
    let mut lines: Vec<String> = team
        .present
        .iter()
        .filter(|p| matches!(p.doing, Doing::Replying(_)))
        .map(|p| format!("{} is replying to this message ({}).", p.who, p.via.label()))
        .collect();
    lines.extend(
        team.present
            .iter()
            .filter(|p| matches!(p.doing, Doing::Reading(_)))
            .map(|p| format!("{} is reading this message too.", p.who)),
    );
    if let Some(a) = team
        .history
        .iter()
        .find(|a| matches!(a.what, What::Answered | What::Sent))
    {
        lines.push(format!(
            "{} answered it — {}.",
            a.actor,
            crate::dates::long_date(a.at, &a.local)
        ));
    }
    lines
}

/// An internal note on a message: never sent, seen by those with `r`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub author: String,
    pub at: i64,
    pub body: String,
    #[serde(default)]
    pub local: Local,
}

/// The team's side of a message, as the reader shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamView {
    /// The mailbox is shared (its team features apply).
    pub shared: bool,
    /// Others reading or replying to this message now.
    pub present: Vec<Present>,
    pub assignee: Option<String>,
    pub status: Status,
    /// Whom it may be assigned to: those with `r` on the mailbox.
    pub assignable: Vec<String>,
    /// The reader may assign it and set its status (`w`).
    pub may_assign: bool,
    pub notes: Vec<Note>,
    /// The message's own history, newest first (empty unless the reader
    /// may see the mailbox's activity).
    pub history: Vec<Activity>,
    /// Who has read it, in a per-user read-marks mailbox.
    pub read_by: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for w in What::ALL {
            assert_eq!(What::from_code(w.code()), Some(w));
        }
        for v in Via::ALL {
            assert_eq!(Via::from_code(v.code()), Some(v));
        }
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
    }

    #[test]
    fn assignment_is_a_keyword_both_ways() {
        let k = assignment_keyword("Bob@Example.com", "example.com");
        assert_eq!(k, "$Assigned-bob");
        let flags = Flags::parse(["\\Seen", k.as_str(), "$Done"]).unwrap();
        assert_eq!(assignee(&flags, "example.com").as_deref(), Some("bob@example.com"));
        assert_eq!(Status::of(&flags), Status::Done);
        let far = assignment_keyword("carol@other.example", "example.com");
        assert_eq!(far, "$Assigned-carol@other.example");
        let flags = Flags::parse([far.as_str()]).unwrap();
        assert_eq!(assignee(&flags, "example.com").as_deref(), Some("carol@other.example"));
        assert_eq!(Status::of(&Flags::default()), Status::Open);
    }

    #[test]
    fn sentences_read_well() {
        let a = Activity {
            id: 1,
            at: 0,
            actor: "alice@example.com".into(),
            via: Via::Imap,
            client: String::new(),
            what: What::MovedIn,
            uid: Some(3),
            detail: "~public/Support".into(),
            local: Local::default(),
        };
        assert_eq!(
            a.sentence(),
            "moved here from ~public/Support by alice@example.com via IMAP"
        );
        assert_eq!(What::Status.described("done"), "status set to done");
        assert_eq!(What::Note.described("call back"), "noted: call back");
        assert_eq!(initials("mary.jones@example.com"), "MJ");
    }
}
