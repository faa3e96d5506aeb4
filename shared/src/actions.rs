//! What people do to a mailbox and its messages, and the RFC 4314 rights
//! each needs: the one table the service checks before acting and the web
//! follows to decide which buttons to show. (Which flag needs which right
//! is [`crate::FlagPermissions`]'s.)

use crate::{Right, Rights};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open it, list, fetch, search, copy messages out.
    Read,
    /// Add messages (APPEND, COPY or MOVE into, a draft, a sent copy).
    Insert,
    /// Mark read or unread.
    MarkSeen,
    /// Flag, or set any other keyword.
    Flag,
    /// Delete messages (mark `\Deleted` and expunge, or move to Trash).
    Delete,
    /// Expunge messages already marked `\Deleted`.
    Expunge,
    /// Move messages out to another mailbox.
    MoveOut,
    /// Create a mailbox inside it.
    CreateChild,
    /// Delete the mailbox itself.
    DeleteMailbox,
    /// Rename the mailbox.
    RenameMailbox,
    /// See who may use it (its ACL).
    SeeSharing,
    /// Change who may use it.
    Administer,
    /// Change how it keeps read state (shared or per user).
    ChangeSeenMode,
}

impl Action {
    /// The rights this action needs, all of them.
    pub const fn needs(self) -> &'static [Right] {
        match self {
            Action::Read => &[Right::Read],
            Action::Insert => &[Right::Insert],
            Action::MarkSeen => &[Right::Seen],
            Action::Flag => &[Right::Write],
            Action::Delete => &[Right::DeleteMessage, Right::Expunge],
            Action::Expunge => &[Right::Expunge],
            Action::MoveOut => &[Right::Read, Right::DeleteMessage, Right::Expunge],
            Action::CreateChild => &[Right::CreateMailbox],
            Action::DeleteMailbox | Action::RenameMailbox => &[Right::DeleteMailbox],
            Action::SeeSharing | Action::Administer | Action::ChangeSeenMode => &[Right::Administer],
        }
    }

    /// The action in words, for "you need the … right to …".
    pub const fn described(self) -> &'static str {
        match self {
            Action::Read => "read it",
            Action::Insert => "add messages to it",
            Action::MarkSeen => "mark messages read",
            Action::Flag => "flag messages",
            Action::Delete => "delete messages",
            Action::Expunge => "expunge messages",
            Action::MoveOut => "move messages out of it",
            Action::CreateChild => "create mailboxes in it",
            Action::DeleteMailbox => "delete it",
            Action::RenameMailbox => "rename it",
            Action::SeeSharing => "see who may use it",
            Action::Administer => "change who may use it",
            Action::ChangeSeenMode => "change how it keeps read state",
        }
    }
}

impl Rights {
    /// Whether these rights allow `action`.
    pub fn allow(self, action: Action) -> bool {
        action.needs().iter().all(|r| self.contains(*r))
    }

    /// The first right `action` needs that these lack.
    pub fn missing_for(self, action: Action) -> Option<Right> {
        action.needs().iter().copied().find(|r| !self.contains(*r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_out_needs_reading_deleting_and_expunging() {
        let rights = Rights::parse("lrte").unwrap();
        assert!(rights.allow(Action::MoveOut) && rights.allow(Action::Delete));
        assert!(!rights.allow(Action::Insert));
        let read_only = Rights::parse("lr").unwrap();
        assert_eq!(read_only.missing_for(Action::MoveOut), Some(Right::DeleteMessage));
        assert_eq!(read_only.missing_for(Action::Read), None);
    }
}
