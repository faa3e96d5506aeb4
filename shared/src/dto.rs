//! What the service hands to its callers about mailboxes: plain data that
//! may be shown to the user who asked.

use serde::{Deserialize, Serialize};

use crate::acl::{AclEntry, Explanation};
use crate::rights::Rights;

/// Whether `\Seen` is one flag for everybody or kept per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeenMode {
    /// One `\Seen` for the whole mailbox (a team inbox).
    Shared,
    /// Each reader has their own `\Seen` (an announcements folder).
    PerUser,
}

impl SeenMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SeenMode::Shared => "shared",
            SeenMode::PerUser => "per-user",
        }
    }

    pub fn parse(s: &str) -> Option<SeenMode> {
        match s {
            "shared" => Some(SeenMode::Shared),
            "per-user" => Some(SeenMode::PerUser),
            _ => None,
        }
    }
}

/// A mailbox as one principal sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxInfo {
    /// The name as this principal writes it: `Projects` for their own,
    /// `~bob/Projects` for another account's.
    pub name: String,
    /// The owning account, `name@domain`.
    pub owner: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    /// `\Sent`, `\Drafts`, `\Trash`, `\Junk`, … (RFC 6154).
    pub special_use: Option<String>,
    pub seen_mode: SeenMode,
    /// This principal's effective rights.
    pub rights: Rights,
}

/// Message counts of a mailbox, as STATUS and the folder tree show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxCounts {
    pub messages: u32,
    pub unseen: u32,
}

/// A folder in the web's folder tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub info: MailboxInfo,
    pub counts: MailboxCounts,
    /// Others who have it open now (a shared folder).
    #[serde(default)]
    pub present: Vec<crate::team::Present>,
}

impl Folder {
    /// Which group of the folder tree it belongs in.
    pub fn group(&self) -> FolderGroup {
        if self.info.name.starts_with("~public/") {
            FolderGroup::Public
        } else if self.info.name.starts_with('~') {
            FolderGroup::OtherUsers
        } else {
            FolderGroup::Mine
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FolderGroup {
    Mine,
    OtherUsers,
    Public,
}

/// How a message list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    /// Newest first.
    #[default]
    Date,
    Sender,
    Subject,
    /// Largest first.
    Size,
}

impl SortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Date => "date",
            SortKey::Sender => "sender",
            SortKey::Subject => "subject",
            SortKey::Size => "size",
        }
    }

    pub fn parse(s: &str) -> SortKey {
        match s {
            "sender" => SortKey::Sender,
            "subject" => SortKey::Subject,
            "size" => SortKey::Size,
            _ => SortKey::Date,
        }
    }
}

/// Where a page of a folder's list starts. `offset` is how many come
/// before it (what the page numbers from); the anchor, when there is
/// one, is the message next to the page in the list's order, so a deep
/// page is an index range from that message instead of `offset` rows
/// skipped ("keyset" paging). A page without an anchor (the first, or an
/// old link) is read by its offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageAt {
    pub offset: u32,
    pub anchor: Option<Anchor>,
}

/// The message a page is read from (see [`PageAt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anchor {
    /// The page is the messages after this UID's (the next page).
    After(u32),
    /// The page is the messages before this UID's (the previous page).
    Before(u32),
}

impl PageAt {
    /// The page `offset` messages in, without an anchor.
    pub fn at(offset: u32) -> PageAt {
        PageAt { offset, anchor: None }
    }
}

/// One line of a message list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSummary {
    pub uid: u32,
    pub seen: bool,
    pub flagged: bool,
    pub answered: bool,
    pub draft: bool,
    pub deleted: bool,
    /// The sender's display name, or address.
    pub sender: String,
    pub recipients: String,
    pub subject: String,
    /// From the Date header (else arrival), Unix seconds.
    pub date: i64,
    pub size: u32,
    pub has_attachments: bool,
    /// The first words of the text.
    pub preview: String,
    /// How `date` reads on the reader's clock.
    #[serde(default)]
    pub local: crate::dates::Local,
    /// The folder it is in, when a search spans several (`in:all`).
    #[serde(default)]
    pub mailbox: Option<String>,
    /// Whom it is assigned to, as its keyword names them (a team mailbox).
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub status: crate::team::Status,
    /// The conversation it belongs to (its first message's Message-ID,
    /// else its normalised subject), when the list groups them.
    #[serde(default)]
    pub thread: String,
}

/// One page of a mailbox's messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    pub mailbox: MailboxInfo,
    /// How many messages match (the whole mailbox, or the search).
    pub total: u32,
    /// More than `total` match: a search counts exactly only so far.
    #[serde(default)]
    pub more: bool,
    pub offset: u32,
    pub messages: Vec<MessageSummary>,
    /// The server's clock when the page was read (for "today" in dates,
    /// the same on the server and in the browser).
    pub now: i64,
    /// How `now` reads on the reader's clock.
    #[serde(default)]
    pub now_local: crate::dates::Local,
    /// Others who have the folder open now.
    #[serde(default)]
    pub present: Vec<crate::team::Present>,
    /// Others share it: assignment, status and activity apply.
    #[serde(default)]
    pub shared: bool,
}

/// The attachment index that names a whole stored message (forwarded
/// as an attachment), not one of its parts.
pub const WHOLE_MESSAGE: u32 = u32::MAX;

/// An attachment of a message, downloadable by its index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub index: u32,
    pub filename: String,
    pub content_type: String,
    pub size: u32,
}

/// A message as the reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub uid: u32,
    pub summary: MessageSummary,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub reply_to: String,
    /// Only a message one wrote oneself has it (a draft, a Sent copy).
    pub bcc: String,
    pub message_id: String,
    pub in_reply_to: String,
    pub references: String,
    /// The plain text to show (or quote in a reply).
    pub text: String,
    /// A complete, sanitised HTML document for a sandboxed frame.
    pub html: Option<String>,
    /// The HTML refers to remote images that were left out.
    pub remote_images: bool,
    pub attachments: Vec<AttachmentInfo>,
    /// The reader's rights on the mailbox, for the buttons to offer.
    pub rights: Rights,
    /// The team's side of it, in a shared mailbox.
    #[serde(default)]
    pub team: crate::team::TeamView,
}

/// A message being written in the web's compose form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// Which of the sender's addresses it goes out from (empty: the
    /// account's own).
    #[serde(default)]
    pub from: String,
    pub to: String,
    pub cc: String,
    /// Recipients nobody else sees: delivered to, never written in what
    /// they receive (a saved draft keeps them).
    #[serde(default)]
    pub bcc: String,
    pub subject: String,
    pub body: String,
    pub in_reply_to: String,
    pub references: String,
    pub attachments: Vec<DraftAttachment>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftAttachment {
    pub filename: String,
    pub content_type: String,
    /// The content, base64.
    pub data: String,
}

/// The settings page: what the user chose for themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub address: String,
    /// Put before the address in the mail they send (`Alice Smith <alice@…>`).
    pub display_name: String,
    /// Added below new messages, replies and forwards, after `-- `.
    pub signature: String,
    /// The IANA zone dates are shown in; empty: the browser's own.
    pub time_zone: String,
    /// The zones one may choose.
    pub zones: Vec<String>,
    /// The addresses mail may be sent from: the account's own first, then
    /// its aliases.
    pub identities: Vec<String>,
    /// The vacation auto-reply, when one is on.
    pub vacation: Option<Vacation>,
    /// Where incoming mail is forwarded, when it is.
    pub forwarding: Option<Forwarding>,
    /// The account's storage quota (or its domain's), when there is one.
    pub storage: Option<StorageUse>,
    /// Others do not see where this user is (presence in shared folders).
    #[serde(default)]
    pub hide_presence: bool,
}

/// What a compose form starts with, besides the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeDefaults {
    /// The addresses the user may send from (a choice when more than one).
    pub identities: Vec<String>,
    pub signature: String,
    /// Addresses offered while a recipient is typed.
    pub known: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacation {
    /// Days before the same sender is answered again.
    pub days: u32,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarding {
    /// A local address.
    pub to: String,
    /// Whether a copy stays in the INBOX too.
    pub keep: bool,
}

/// The signed-in user, as the web shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebUser {
    pub address: String,
    pub server_admin: bool,
}

/// A mailbox's sharing page, as one user sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// The mailbox, with this user's own rights on it.
    pub mailbox: MailboxInfo,
    /// Its access control list; `None` unless this user may administer
    /// it (`a`), since the ACL is the administrator's business.
    pub acl: Option<Vec<AclEntry>>,
    /// Its sub-folders, as this user writes their names.
    pub sub_folders: Vec<String>,
    /// Account addresses to offer when adding an entry (the user's own
    /// domain), empty for users who may not administer.
    pub accounts: Vec<String>,
    /// Who may answer as the owner from this folder (`send as`), shown
    /// to its administrators.
    #[serde(default)]
    pub send_as: Vec<String>,
}

/// What *apply to sub-folders* would do to one sub-folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclPlan {
    pub mailbox: String,
    pub before: Vec<AclEntry>,
    pub after: Vec<AclEntry>,
    /// Why it is left alone (the user may not administer it), if it is.
    pub refused: Option<String>,
}

/// Why one user has the rights they have on a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RightsWhy {
    /// The account asked about, `name@domain`.
    pub user: String,
    pub explanation: Explanation,
}

/// A mailbox of another account, on the page that opens it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFolder {
    pub info: MailboxInfo,
    /// In the user's subscriptions (the list IMAP `LSUB` shows).
    pub subscribed: bool,
}

/// What the server administration page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminView {
    pub domains: Vec<DomainView>,
    pub accounts: Vec<AccountView>,
    pub routing_rules: Vec<RoutingRuleView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainView {
    pub name: String,
    pub aliases: Vec<String>,
    /// Where the accounts' INBOXes live outside Mailroom, if they do.
    pub external_inbox: Option<String>,
    /// The file locks taken on them (`fcntl,dotlock`), when set.
    pub lock_methods: Option<String>,
    /// Seconds to wait for another program's lock, when set.
    pub lock_timeout: Option<i64>,
    /// The quota of all its accounts together, when it has one.
    pub quota: Option<StorageUse>,
    /// The mailboxes of the domain's `public` account, as the admin
    /// writes them (`~public/Support`).
    pub public_mailboxes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: String,
    pub server_admin: bool,
    /// Has a password (the `public` accounts have none).
    pub can_sign_in: bool,
    /// Other addresses of the account (`name@domain`).
    pub aliases: Vec<String>,
    /// Its storage quota, when it has one, and the bytes it holds.
    pub quota: Option<StorageUse>,
    /// Its INBOX is a file of its domain's (for legacy mailers).
    pub external_inbox: bool,
}

/// Bytes of mail held, and the most allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageUse {
    pub used: u64,
    pub limit: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRuleView {
    pub id: i64,
    pub priority: i64,
    pub pattern: String,
    pub target: String,
}
