//! Where an opened mailbox's messages are kept, behind one interface:
//! Mailroom's store, or an INBOX file shared with legacy mailers
//! (`external.rs`), whose index the store mirrors. The rest of the
//! service adds, flags, expunges and refreshes through these and never
//! asks which kind a mailbox is.

use std::sync::Arc;

use mailroom_shared::{FlagOp, FlagPermissions, Flags};

use super::external::{IndexChange, IndexChanged, Mirror};
use super::store::{AccountRow, MailboxRow, NewMessage};
use super::types::ChangedFlags;
use super::{Opened, Service};
use crate::error::Result;

/// The kind of storage behind one mailbox.
pub(super) enum Storage {
    /// Rows in the store, written in its transactions.
    Store,
    /// An mbox file outside Mailroom; the store keeps its index.
    File(Arc<Mirror>),
}

impl Storage {
    /// Whether a change of this mailbox can share a store transaction
    /// with a change of another (a move between two such is atomic).
    pub(super) fn is_transactional(&self) -> bool {
        matches!(self, Storage::Store)
    }
}

impl Service {
    /// The storage of `owner`'s `mailbox`.
    pub(super) async fn storage_of(&self, owner: &AccountRow, mailbox: &MailboxRow) -> Result<Storage> {
        Ok(match self.mirror_of(owner, mailbox).await? {
            Some(mirror) => Storage::File(mirror),
            None => Storage::Store,
        })
    }

    /// Takes in what another program changed since the last look: `true`
    /// when the mailbox changed (its row must be read again).
    pub(super) async fn refresh_storage(&self, storage: &Storage) -> Result<bool> {
        match storage {
            Storage::Store => Ok(false),
            Storage::File(mirror) => self.refresh_mirror(mirror).await,
        }
    }

    /// Adds messages; returns their UIDs.
    pub(super) async fn add_messages(
        &self,
        m: &Opened,
        messages: Vec<NewMessage>,
        seen_reader: Option<i64>,
    ) -> Result<Vec<u32>> {
        match &m.storage {
            Storage::File(mirror) => self.insert_into_mirror(mirror, messages).await,
            Storage::Store => Ok(self.store.insert_messages(m.mailbox.id, messages, seen_reader).await?.0),
        }
    }

    /// Changes flags as `may` allows; `reader`: the account whose own
    /// `\Seen` this is (per-user seen mode), which is kept in the store
    /// whatever the storage: a file has one `Status:` for everybody.
    pub(super) async fn set_flags(
        &self,
        m: &Opened,
        (uids, op, flags): (&[u32], FlagOp, &Flags),
        may: FlagPermissions,
        reader: Option<i64>,
    ) -> Result<Vec<ChangedFlags>> {
        match &m.storage {
            Storage::File(mirror) if reader.is_none() => {
                let change = IndexChange::Flags { uids, op, flags, may };
                Ok(match self.change_mirror(mirror, change).await? {
                    IndexChanged::Flags(changed) => changed,
                    IndexChanged::Expunged(_) => Vec::new(),
                })
            }
            _ => Ok(self
                .store
                .update_flags(m.mailbox.id, uids, op, flags, may, reader)
                .await?),
        }
    }

    /// Removes the messages flagged `\Deleted` (only among `uids` when
    /// given); returns the removed UIDs.
    pub(super) async fn expunge_messages(&self, m: &Opened, uids: Option<&[u32]>) -> Result<Vec<u32>> {
        match &m.storage {
            Storage::File(mirror) => match self.change_mirror(mirror, IndexChange::Expunge { uids }).await? {
                IndexChanged::Expunged(gone) => Ok(gone),
                IndexChanged::Flags(_) => Ok(Vec::new()),
            },
            Storage::Store => Ok(self.store.expunge(m.mailbox.id, uids).await?.0),
        }
    }
}
