//! What the service hands to its callers about mailboxes: plain data that
//! may be shown to the user who asked.

use serde::{Deserialize, Serialize};

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
