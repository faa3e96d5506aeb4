//! What the service hands the gateways and takes from them. The store's
//! rows stay inside the service; these carry only what a gateway may see
//! (no password hashes, no row ids of other tables).

use mailroom_shared::Flags;

use super::store::{AccountRow, DomainRow};

/// One message of a mailbox as a reader sees it, without its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    pub modseq: u64,
    /// As the reader sees them: in a per-user seen mailbox `\Seen` is theirs.
    pub flags: Flags,
    pub internal_date: i64,
    pub size: u32,
    /// The content's SHA-256 (hex): equal for copies of one message, so
    /// POP3 uses it in its unique ids.
    pub blob_hash: String,
    /// The envelope sender it was delivered with (mbox's `From ` line).
    pub envelope_from: Option<String>,
}

/// One message as an IMAP session's view of its mailbox holds it: what
/// SELECT reads of every message, and no more.
#[derive(Clone, Debug)]
pub struct FlagRow {
    pub uid: u32,
    pub modseq: u64,
    /// As the reader sees them (see [`MessageMeta::flags`]).
    pub flags: Flags,
}

/// A mailbox's [`FlagRow`]s in UID order, as a persistent vector: a copy
/// costs nothing and shares its rows until one side changes some, which
/// then copies only the chunk of 64 rows that holds them. So the sessions
/// that select a big mailbox share the node's view of it (a million
/// messages take about 50 MB; a `Vec` copied per session cost each
/// SELECT tens of milliseconds and each session that memory).
pub type FlagRows = imbl::Vector<FlagRow>;

/// One message's flags after a change, as the actor sees them, and the
/// MODSEQ the change was written under: a session that applies its own
/// change at once can tell the log's later echo of it (or of anything
/// older) from a newer change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedFlags {
    pub uid: u32,
    pub flags: Flags,
    pub modseq: u64,
}

/// A message brought in from outside a session (`mailroom import`): its
/// bytes, flags, when it arrived (`None`: now) and its envelope sender.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub content: Vec<u8>,
    pub flags: Flags,
    pub internal_date: Option<i64>,
    pub envelope_from: Option<String>,
}

/// One account's settings; the default when it never saved any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountSettings {
    pub display_name: String,
    pub signature: String,
    /// An IANA zone name; empty: the browser's own.
    pub time_zone: String,
}

/// An account as the gateways and the command line see it: no password
/// hash (a session keeps only a fingerprint of it, in its principal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub domain: String,
    pub is_admin: bool,
    /// Whether anyone can log in to it (it has a password).
    pub can_log_in: bool,
    /// The most bytes of mail it may hold, and its domain's for all its
    /// accounts together (`None`: no limit).
    pub quota_bytes: Option<i64>,
    pub domain_quota_bytes: Option<i64>,
    /// Its INBOX is a file, where its domain keeps such files.
    pub external_inbox: bool,
}

impl Account {
    /// `name@domain`, the canonical address.
    pub fn address(&self) -> String {
        format!("{}@{}", self.name, self.domain)
    }
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Account {
        Account {
            id: row.id,
            can_log_in: row.password_hash.is_some(),
            name: row.name,
            domain: row.domain,
            is_admin: row.is_admin,
            quota_bytes: row.quota_bytes,
            domain_quota_bytes: row.domain_quota_bytes,
            external_inbox: row.external_inbox,
        }
    }
}

/// A domain as administrators see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub id: i64,
    pub name: String,
    /// A path template such as `/var/mail/{user}` (external INBOXes).
    pub external_inbox: Option<String>,
    pub lock_methods: Option<String>,
    /// Seconds to wait for another program's lock on such a file.
    pub lock_timeout: Option<i64>,
    /// The most bytes of mail its accounts may hold together.
    pub quota_bytes: Option<i64>,
}

impl From<DomainRow> for Domain {
    fn from(row: DomainRow) -> Domain {
        Domain {
            id: row.id,
            name: row.name,
            external_inbox: row.external_inbox,
            lock_methods: row.lock_methods,
            lock_timeout: row.lock_timeout,
            quota_bytes: row.quota_bytes,
        }
    }
}

/// Where in the word index an IMAP search looks for its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexed {
    /// Senders, recipients, subject and text (SEARCH TEXT).
    Everywhere,
    /// The From, Sender and Reply-To names and addresses (FROM).
    Senders,
    /// The To and Cc names and addresses (TO).
    Recipients,
    Subject,
    /// The text and the attachments' names (BODY).
    Body,
}
