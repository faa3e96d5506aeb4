//! Message operations: append, read, flags, expunge, copy, move, and
//! delivery.

use mailroom_shared::Action;
use mailroom_shared::dto::{MailboxCounts, MailboxInfo, SeenMode};
use mailroom_shared::team::What;
use mailroom_shared::{FlagOp, FlagPermissions, Flags, Right, SystemFlag};

use super::{Opened, Principal, Service};
use crate::error::{Error, Result};
use crate::message::crlf;
use crate::service::feed::{Change, group_changes};
use crate::service::store::{Content, NewMessage, copy_of, now};
use crate::service::types::{ChangedFlags, Incoming, MessageMeta};

pub use mailroom_shared::limits::MAX_MESSAGE_SIZE;

/// Checks a new message and gives it CRLF line ends: messages are stored
/// the way IMAP and POP3 serve them, so sizes and byte ranges are exact.
pub(super) fn canonical_content(content: Vec<u8>) -> Result<Vec<u8>> {
    check_content(&content)?;
    let content = crlf(content);
    check_content(&content)?;
    Ok(content)
}

fn check_content(content: &[u8]) -> Result<()> {
    if content.is_empty() {
        return Err(Error::BadInput("a message cannot be empty".into()));
    }
    if content.len() > MAX_MESSAGE_SIZE {
        return Err(Error::BadInput(format!(
            "message of {} bytes is larger than the limit of {MAX_MESSAGE_SIZE}",
            content.len()
        )));
    }
    Ok(())
}

impl Opened {
    /// Which flags the principal may change here (RFC 4314 §4).
    pub(super) fn flag_permissions(&self) -> FlagPermissions {
        FlagPermissions {
            seen: self.rights.contains(Right::Seen),
            deleted: self.rights.contains(Right::DeleteMessage),
            other: self.rights.contains(Right::Write),
        }
    }

    /// The account whose own `\Seen` this principal reads and writes, in a
    /// per-user seen mailbox.
    pub(super) fn seen_reader(&self) -> Option<i64> {
        (self.mailbox.seen_mode == SeenMode::PerUser).then_some(self.principal.account_id)
    }

    /// Flags as stored for a new message: those the principal may not
    /// set are dropped.
    fn permitted_flags(&self, flags: &Flags) -> Flags {
        Flags::default().apply(FlagOp::Add, flags, self.flag_permissions())
    }
}

impl Service {
    /// APPEND (needs `i`). Flags the principal may not set are dropped.
    /// Returns the mailbox's UIDVALIDITY and the new UID.
    pub async fn append(
        &self,
        p: &Principal,
        name: &str,
        content: Vec<u8>,
        flags: &Flags,
        internal_date: Option<i64>,
    ) -> Result<(u32, u32)> {
        let (uidvalidity, uids) = self
            .append_many(p, name, vec![(content, flags.clone(), internal_date)])
            .await?;
        Ok((uidvalidity, uids[0]))
    }

    /// APPEND of several messages (IMAP MULTIAPPEND): all are stored, in
    /// order and in one transaction, or none. Returns the UIDVALIDITY and
    /// their UIDs.
    pub async fn append_many(
        &self,
        p: &Principal,
        name: &str,
        messages: Vec<(Vec<u8>, Flags, Option<i64>)>,
    ) -> Result<(u32, Vec<u32>)> {
        let m = self.open(p, name).await?;
        m.require(Action::Insert)?;
        let mut new = Vec::with_capacity(messages.len());
        for (content, flags, internal_date) in messages {
            new.push(NewMessage {
                content: Content::New(canonical_content(content)?),
                flags: m.permitted_flags(&flags),
                internal_date: internal_date.unwrap_or_else(now),
                envelope_from: None,
            });
        }
        let count = new.len();
        let uids = self.insert(&m, new, m.seen_reader()).await?;
        self.feed.wake();
        if uids.len() != count || count == 0 {
            return Err(Error::InUse("the messages were not stored".into()));
        }
        self.record(&m, What::Appended, &uids, "");
        Ok((m.mailbox.uidvalidity, uids))
    }

    /// The messages of a mailbox, by UID, with flags as this principal sees
    /// them (needs `r`).
    pub async fn messages(&self, p: &Principal, name: &str) -> Result<(MailboxInfo, Vec<MessageMeta>)> {
        let mut m = self.open(p, name).await?;
        let rows = self.messages_in(&mut m).await?;
        Ok((m.info(), rows))
    }

    /// [`Service::messages`] of a mailbox the caller keeps open.
    pub(crate) async fn messages_in(&self, m: &mut Opened) -> Result<Vec<MessageMeta>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        Ok(self.store.messages(m.mailbox.id, m.seen_reader()).await?)
    }

    /// [`Service::messages_in`] of only these UIDs (those still there).
    pub(crate) async fn messages_with_uids_in(&self, m: &mut Opened, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        Ok(self
            .store
            .messages_with_uids(m.mailbox.id, m.seen_reader(), uids)
            .await?)
    }

    /// Message and unseen counts (STATUS; needs `r`).
    pub async fn counts(&self, p: &Principal, name: &str) -> Result<MailboxCounts> {
        let mut m = self.open(p, name).await?;
        self.current(&mut m).await?;
        m.require(Action::Read)?;
        let Some(reader) = m.seen_reader() else {
            // Kept by the store's triggers: one row, where counting read
            // every row (a million-message mailbox: seconds and a
            // gigabyte for each client's STATUS poll).
            let (messages, unseen) = self.store.count(m.mailbox.id, None).await?;
            return Ok(MailboxCounts { messages, unseen });
        };
        // Each reader's own \Seen: counted as the reader's view shows it
        // (a \Seen set before the mailbox had readers' own stays, which
        // the kept counts leave out).
        let rows = self.store.messages(m.mailbox.id, Some(reader)).await?;
        Ok(MailboxCounts {
            messages: rows.len() as u32,
            unseen: rows.iter().filter(|r| !r.flags.contains(SystemFlag::Seen)).count() as u32,
        })
    }

    /// One message's bytes, exactly as stored (needs `r`).
    pub async fn fetch(&self, p: &Principal, name: &str, uid: u32) -> Result<Vec<u8>> {
        let mut m = self.open(p, name).await?;
        self.fetch_in(&mut m, uid).await
    }

    /// [`Service::fetch`] from a mailbox the caller keeps open.
    pub(crate) async fn fetch_in(&self, m: &mut Opened, uid: u32) -> Result<Vec<u8>> {
        let mut found = self.contents_in(m, &[uid]).await?;
        match found.pop() {
            Some((_, bytes)) => Ok(bytes),
            None => Err(Error::NotFound(format!("no message with UID {uid} in {}", m.name))),
        }
    }

    /// How many commits removed messages from a mailbox kept open, as this
    /// process knows: read before making a listing of it, for
    /// [`Service::listed_content`].
    pub(crate) fn removals(&self, m: &Opened) -> u64 {
        self.store.removals(m.mailbox.id)
    }

    /// A listed message's bytes (needs `r`), for a session that keeps a
    /// listing of the mailbox (POP3's maildrop). `listed_at`: the
    /// [`Service::removals`] of that listing. While nothing has been
    /// removed since, every listed message is still there and bytes read
    /// recently come from memory; otherwise the store is asked (NotFound:
    /// the message is gone).
    pub(crate) async fn listed_content(&self, m: &mut Opened, listed: (u32, &str), listed_at: u64) -> Result<Vec<u8>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        let (uid, hash) = listed;
        if self.store.removals(m.mailbox.id) == listed_at
            && let Some(bytes) = self.store.cached_content(hash)
        {
            return Ok(bytes.to_vec());
        }
        self.fetch_in(m, uid).await
    }

    /// Several messages with their bytes, in UID order (needs `r`); UIDs
    /// no longer there are left out.
    pub async fn contents(&self, p: &Principal, name: &str, uids: &[u32]) -> Result<Vec<(MessageMeta, Vec<u8>)>> {
        let mut m = self.open(p, name).await?;
        self.contents_in(&mut m, uids).await
    }

    /// [`Service::contents`] of a mailbox the caller keeps open.
    /// Messages of `m` expunged after change-log row `after` that the
    /// caller's session still shows (it was not told yet), as they were:
    /// RFC 2180 §4.1.1 lets it go on fetching them until it is. Needs `r`.
    pub(crate) async fn expunged_contents(
        &self,
        m: &mut Opened,
        after: i64,
        uids: &[u32],
    ) -> Result<Vec<(MessageMeta, Vec<u8>)>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        Ok(self.store.expunged_after(m.mailbox.id, after, uids).await?)
    }

    pub(crate) async fn contents_in(&self, m: &mut Opened, uids: &[u32]) -> Result<Vec<(MessageMeta, Vec<u8>)>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(found) = self
                .store
                .message_with_content(m.mailbox.id, uid, m.seen_reader())
                .await?
            {
                out.push(found);
            }
        }
        Ok(out)
    }

    /// The UIDs of a mailbox's messages (or of those `among`) whose
    /// words in the search index's `field` match `needle` (needs `r`):
    /// IMAP SEARCH where reading every message would take too long.
    /// `None` where the index cannot answer: a needle without a word, or
    /// a mailbox kept in a file outside Mailroom.
    pub(crate) async fn uids_with_words_in(
        &self,
        m: &mut Opened,
        needle: &str,
        field: super::Indexed,
        among: Option<&[u32]>,
    ) -> Result<Option<Vec<u32>>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        if !matches!(m.storage, super::storage::Storage::Store) {
            return Ok(None);
        }
        Ok(self.store.uids_with_words(m.mailbox.id, needle, field, among).await?)
    }

    /// STORE: changes flags of the given UIDs. Needs `r` and one of `s`,
    /// `w`, `t`; a flag whose right is missing keeps its old state
    /// (RFC 4314 §4). Returns the messages whose flags changed.
    pub async fn store_flags(
        &self,
        p: &Principal,
        name: &str,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
    ) -> Result<Vec<ChangedFlags>> {
        let mut m = self.open(p, name).await?;
        self.store_flags_in(&mut m, uids, op, flags).await
    }

    /// [`Service::store_flags`] in a mailbox the caller keeps open.
    pub(crate) async fn store_flags_in(
        &self,
        m: &mut Opened,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
    ) -> Result<Vec<ChangedFlags>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        let may = m.flag_permissions();
        if !(may.seen || may.deleted || may.other) {
            return Err(Error::NoPermission(format!(
                "you need the 's', 'w' or 't' right on {} to change flags",
                m.name
            )));
        }
        let changed = self.set_flags(m, (uids, op, flags), may, m.seen_reader()).await?;
        if !changed.is_empty() {
            self.feed.wake();
        }
        self.record_flags(m, op, flags, &changed);
        Ok(changed)
    }

    /// EXPUNGE (needs `e`): removes the messages flagged `\Deleted`, only
    /// among `uids` when given (UID EXPUNGE). Returns the removed UIDs.
    pub async fn expunge(&self, p: &Principal, name: &str, uids: Option<&[u32]>) -> Result<Vec<u32>> {
        let mut m = self.open(p, name).await?;
        self.expunge_in(&mut m, uids).await
    }

    /// [`Service::expunge`] in a mailbox the caller keeps open.
    pub(crate) async fn expunge_in(&self, m: &mut Opened, uids: Option<&[u32]>) -> Result<Vec<u32>> {
        self.current(m).await?;
        m.require(Action::Expunge)?;
        let gone = self.expunge_messages(m, uids).await?;
        self.feed.wake();
        self.record(m, What::Expunged, &gone, "");
        Ok(gone)
    }

    /// Adds messages to an opened mailbox — to its file first when it is
    /// an external INBOX. Returns their UIDs.
    pub(super) async fn insert(
        &self,
        m: &Opened,
        messages: Vec<NewMessage>,
        seen_reader: Option<i64>,
    ) -> Result<Vec<u32>> {
        let adding = messages
            .iter()
            .map(|n| match &n.content {
                Content::New(bytes) => bytes.len() as i64,
                Content::Stored { size, .. } => i64::from(*size),
            })
            .sum();
        self.check_quota(&m.owner, adding).await?;
        self.add_messages(m, messages, seen_reader).await
    }

    /// Flags `uids` `\Deleted` and expunges exactly them (the second half
    /// of a move that crosses into or out of a file).
    async fn remove(&self, m: &Opened, uids: &[u32]) -> Result<()> {
        let mut deleted = Flags::default();
        deleted.insert(SystemFlag::Deleted);
        let may = FlagPermissions {
            seen: false,
            deleted: true,
            other: false,
        };
        self.set_flags(m, (uids, FlagOp::Add, &deleted), may, None).await?;
        self.expunge_messages(m, Some(uids)).await?;
        Ok(())
    }

    pub(super) async fn rows(&self, m: &Opened, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        let all = self.store.messages(m.mailbox.id, m.seen_reader()).await?;
        // A set, not the slice: `UID COPY 1:*` names every message, and
        // comparing each with each was quadratic.
        let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        Ok(all.into_iter().filter(|r| wanted.contains(&r.uid)).collect())
    }

    /// COPY (`r` on the source, `i` on the target; flags the principal may
    /// not set in the target are dropped). Returns the target's
    /// UIDVALIDITY and (source UID, new UID) pairs.
    pub async fn copy(&self, p: &Principal, from: &str, uids: &[u32], to: &str) -> Result<(u32, Vec<(u32, u32)>)> {
        let src = self.open(p, from).await?;
        src.require(Action::Read)?;
        let dst = self.open(p, to).await?;
        dst.require(Action::Insert)?;
        let rows = self.rows(&src, uids).await?;
        let new = rows.iter().map(|r| copy_of(r, dst.permitted_flags(&r.flags))).collect();
        let new_uids = self.insert(&dst, new, dst.seen_reader()).await?;
        self.feed.wake();
        let pairs: Vec<(u32, u32)> = rows.iter().map(|r| r.uid).zip(new_uids).collect();
        self.record_transfer(&src, &dst, &pairs, (What::CopiedOut, What::CopiedIn));
        Ok((dst.mailbox.uidvalidity, pairs))
    }

    /// MOVE (RFC 6851: `r`, `t`, `e` on the source, `i` on the target), in
    /// one transaction. Returns the target's UIDVALIDITY and (old UID, new
    /// UID) pairs.
    pub async fn move_messages(
        &self,
        p: &Principal,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        let src = self.open(p, from).await?;
        src.require(Action::Read)?;
        src.require(Action::MoveOut)?;
        let dst = self.open(p, to).await?;
        dst.require(Action::Insert)?;
        let mut rows = self.rows(&src, uids).await?;
        for row in &mut rows {
            row.flags = dst.permitted_flags(&row.flags);
        }
        if src.owner.id != dst.owner.id {
            let adding = rows.iter().map(|r| i64::from(r.size)).sum();
            self.check_quota(&dst.owner, adding).await?;
        }
        let pairs = if src.storage.is_transactional() && dst.storage.is_transactional() {
            self.store
                .move_messages(src.mailbox.id, &rows, dst.mailbox.id, dst.seen_reader())
                .await?
        } else {
            // A file and the store share no transaction: copy, then remove.
            // A crash in between leaves the messages in both, never in none.
            let new = rows.iter().map(|r| copy_of(r, r.flags.clone())).collect();
            let new_uids = self.insert(&dst, new, dst.seen_reader()).await?;
            let old_uids: Vec<u32> = rows.iter().map(|r| r.uid).collect();
            self.remove(&src, &old_uids).await?;
            old_uids.into_iter().zip(new_uids).collect()
        };
        self.feed.wake();
        self.record_transfer(&src, &dst, &pairs, (What::MovedOut, What::MovedIn));
        Ok((dst.mailbox.uidvalidity, pairs))
    }

    /// The changes of a mailbox after `modseq`, as this principal may see
    /// them (needs `r`): how a session catches up.
    pub async fn changes_since(&self, p: &Principal, name: &str, modseq: u64) -> Result<Vec<Change>> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        let rows = self.store.changes_since(m.mailbox.id, modseq).await?;
        Ok(super::watch::visible_to(p, group_changes(&rows)))
    }

    /// Adds already-parsed messages to a mailbox in one transaction, with
    /// their dates and envelope senders (`mailroom import`; needs `i`).
    pub async fn import(&self, p: &Principal, name: &str, messages: Vec<Incoming>) -> Result<Vec<u32>> {
        let m = self.open(p, name).await?;
        m.require(Action::Insert)?;
        let messages = messages
            .into_iter()
            .map(|message| {
                Ok(NewMessage {
                    content: Content::New(canonical_content(message.content)?),
                    flags: message.flags,
                    internal_date: message.internal_date.unwrap_or_else(now),
                    envelope_from: message.envelope_from,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let uids = self.insert(&m, messages, m.seen_reader()).await?;
        self.feed.wake();
        self.record(&m, What::Appended, &uids, "");
        Ok(uids)
    }
}
