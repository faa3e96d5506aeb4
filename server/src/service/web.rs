//! What the web interface asks of the service: the folder tree, pages of
//! messages, search, the reading view, sending, drafts, deleting to
//! Trash, browser sessions and a feed of every visible mailbox's changes.
//! Rights are checked exactly as for IMAP: through `open` and `require`.

use std::collections::HashSet;

use mailroom_shared::Action;
use mailroom_shared::acl::Identifier;
use mailroom_shared::dto::{Draft, Folder, MailboxCounts, MessagePage, MessageSummary, MessageView, PageAt, SortKey};
use mailroom_shared::search::Query;
use mailroom_shared::{FlagOp, Flags, Right, SystemFlag};
use tokio::sync::broadcast;

use super::settings::sender;
use super::{Principal, Service};
use crate::error::{Error, Result};
use crate::message;
use crate::service::store::{ListedMessage, QueryPlan, now};
use crate::service::types::MessageMeta;

/// The most messages a conversation view shows (the latest).
pub const CONVERSATION: usize = 50;

/// The most messages one page may hold.
pub const MAX_PAGE: u32 = 500;
/// How long a web sign-in lasts.
pub const WEB_SESSION_SECONDS: i64 = 14 * 24 * 3600;

fn summary_of(row: &MessageMeta, s: &message::Summary) -> MessageSummary {
    MessageSummary {
        uid: row.uid,
        seen: row.flags.contains(SystemFlag::Seen),
        flagged: row.flags.contains(SystemFlag::Flagged),
        answered: row.flags.contains(SystemFlag::Answered),
        draft: row.flags.contains(SystemFlag::Draft),
        deleted: row.flags.contains(SystemFlag::Deleted),
        sender: s.sender.clone(),
        recipients: s.recipients.clone(),
        subject: s.subject.clone(),
        date: s.sent_at.unwrap_or(row.internal_date),
        size: row.size,
        has_attachments: s.has_attachments,
        preview: s.preview.clone(),
        local: Default::default(),
        mailbox: None,
        assignee: mailroom_shared::team::assigned_name(&row.flags),
        status: mailroom_shared::team::Status::of(&row.flags),
        thread: conversation_of(&s.subject),
    }
}

/// The conversation a subject belongs to: its base subject, any case.
fn conversation_of(subject: &str) -> String {
    mailroom_shared::subject::base_subject(subject).to_lowercase()
}

fn listed(l: &ListedMessage) -> MessageSummary {
    summary_of(&l.row, &l.summary)
}

/// Whether the mailbox's ACL names the principal itself.
fn shared_by_name(m: &super::Opened, p: &Principal) -> bool {
    m.acl
        .iter()
        .any(|e| !e.negative && e.identifier == Identifier::User(p.address.clone()))
}

/// A principal's live view of every mailbox it can see: it yields when
/// one of them changes (or when the set of them may have).
pub struct FolderWatch {
    rx: broadcast::Receiver<(i64, bool)>,
    /// Who is present, or a note: the page shows those too.
    touched: broadcast::Receiver<i64>,
    visible: HashSet<i64>,
    service: Service,
    principal: Principal,
}

impl FolderWatch {
    /// Passes over the changes already waiting: the report about to be
    /// sent covers them (a burst is one report, not one per change).
    pub async fn skip_waiting(&mut self) -> Result<()> {
        let mut tree_changed = false;
        while !matches!(
            self.touched.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
        loop {
            match self.rx.try_recv() {
                Ok((_, itself)) => tree_changed |= itself,
                Err(broadcast::error::TryRecvError::Lagged(_)) => tree_changed = true,
                Err(_) => break,
            }
        }
        if tree_changed {
            self.visible = self.service.visible_ids(&self.principal).await?;
        }
        Ok(())
    }

    /// Waits for the next change to a visible mailbox.
    pub async fn next(&mut self) -> Result<()> {
        loop {
            let received = tokio::select! {
                r = self.rx.recv() => r,
                t = self.touched.recv() => match t {
                    Ok(id) if self.visible.contains(&id) => return Ok(()),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Ok(()),
                    Err(broadcast::error::RecvError::Closed) => Err(broadcast::error::RecvError::Closed),
                },
            };
            match received {
                Ok((id, itself)) => {
                    if itself {
                        // A mailbox appeared, went, or was shared: the
                        // tree may have changed whoever's it was.
                        self.visible = self.service.visible_ids(&self.principal).await?;
                        return Ok(());
                    }
                    if self.visible.contains(&id) {
                        return Ok(());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Ok(()),
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(Error::NotFound("the server is stopping".into()));
                }
            }
        }
    }
}

impl Service {
    /// The folder tree: the principal's own mailboxes, other accounts'
    /// mailboxes shared with it by name, and those it subscribed to (a
    /// mailbox open to `anyone` does not land in everybody's tree
    /// uninvited); with message and unseen counts where it may read them.
    pub async fn folders(&self, p: &Principal) -> Result<Vec<Folder>> {
        let subscribed: HashSet<String> = self.subscriptions(p).await?.into_iter().collect();
        let mut out = Vec::new();
        for info in self.list_mailboxes(p).await? {
            // A mailbox deleted or unshared since the listing is left out.
            let m = match self.open(p, &info.name).await {
                Err(Error::NotFound(_)) => continue,
                opened => opened?,
            };
            let own = info.owner == p.address;
            if !own && !subscribed.contains(&info.name) && !shared_by_name(&m, p) {
                continue;
            }
            let counts = if info.rights.contains(Right::Read) {
                let (messages, unseen) = self.store.count(m.mailbox.id, m.seen_reader()).await?;
                MailboxCounts { messages, unseen }
            } else {
                MailboxCounts::default()
            };
            let present = self.present_in(&m);
            out.push(Folder { info, counts, present });
        }
        Ok(out)
    }

    async fn visible_ids(&self, p: &Principal) -> Result<HashSet<i64>> {
        Ok(self.openable(p).await?.into_iter().map(|(_, m)| m.mailbox.id).collect())
    }

    /// Every mailbox the principal can see and open now, by name (one
    /// deleted meanwhile is left out).
    async fn openable(&self, p: &Principal) -> Result<Vec<(String, super::Opened)>> {
        let mut opened = Vec::new();
        for info in self.list_mailboxes(p).await? {
            if let Ok(m) = self.open(p, &info.name).await {
                opened.push((info.name, m));
            }
        }
        Ok(opened)
    }

    /// Every mailbox the principal may read, by id and name.
    async fn readable_mailboxes(&self, p: &Principal) -> Result<Vec<(i64, String)>> {
        Ok(self
            .openable(p)
            .await?
            .into_iter()
            .filter(|(_, m)| m.rights.contains(Right::Read))
            .map(|(name, m)| (m.mailbox.id, name))
            .collect())
    }

    /// Starts watching every mailbox the principal can see.
    pub async fn watch_folders(&self, p: &Principal) -> Result<FolderWatch> {
        let rx = self.feed.subscribe_any();
        Ok(FolderWatch {
            rx,
            touched: self.feed.subscribe_touched(),
            visible: self.visible_ids(p).await?,
            service: self.clone(),
            principal: p.clone(),
        })
    }

    /// One page of a mailbox (needs `r`), sorted, or the messages matching
    /// a search (newest first).
    pub async fn page(
        &self,
        p: &Principal,
        name: &str,
        sort: SortKey,
        at: PageAt,
        limit: u32,
        search: Option<&str>,
    ) -> Result<MessagePage> {
        let offset = at.offset;
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let reader = m.seen_reader();
        let query = search.map(Query::parse).filter(|q| !q.is_empty()).map(|mut q| {
            if q.mine && !p.address.is_empty() {
                q.assigned_keyword = Some(mailroom_shared::team::assignment_keyword(&p.address, &m.owner.domain));
            }
            q
        });
        let (total, more, messages) = match query {
            Some(q) if q.all_folders => {
                let readable = self.readable_mailboxes(p).await?;
                let ids: Vec<i64> = readable.iter().map(|(id, _)| *id).collect();
                let found = self.store.search(&ids, None, &q, sort, offset, limit).await?;
                let messages = found
                    .rows
                    .iter()
                    .map(|l| MessageSummary {
                        mailbox: readable
                            .iter()
                            .find(|(id, _)| *id == l.mailbox_id)
                            .map(|(_, n)| n.clone()),
                        ..listed(l)
                    })
                    .collect();
                (found.total, found.more, messages)
            }
            Some(q) => {
                let found = self
                    .store
                    .search(&[m.mailbox.id], reader, &q, sort, offset, limit)
                    .await?;
                (found.total, found.more, found.rows.iter().map(listed).collect())
            }
            None => {
                let (total, _) = self.store.count(m.mailbox.id, reader).await?;
                let rows = self.store.page(m.mailbox.id, reader, sort, at, limit).await?;
                (total, false, rows.iter().map(listed).collect())
            }
        };
        Ok(MessagePage {
            mailbox: m.info(),
            total,
            more,
            offset,
            messages,
            now: now(),
            now_local: Default::default(),
            present: self.present_in(&m),
            shared: m.is_team(),
        })
    }

    /// How the database runs the web list's queries on a folder (needs
    /// `r`): each sort's pages, its counts, and a search for each of
    /// `words`. For the plan tests, and for an operator whose list is slow.
    pub async fn query_plans(&self, p: &Principal, name: &str, words: &[&str]) -> Result<Vec<QueryPlan>> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        Ok(self.store.plans(m.mailbox.id, words).await?)
    }

    /// A message to read (needs `r`); opening it marks it `\Seen` where
    /// the principal has `s`.
    pub async fn read_message(
        &self,
        p: &Principal,
        name: &str,
        uid: u32,
        allow_remote: bool,
        mark_seen: bool,
    ) -> Result<MessageView> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        let gone = || Error::NotFound(format!("no message with UID {uid} in {name}"));
        let mut row = self
            .store
            .message(m.mailbox.id, uid, m.seen_reader())
            .await?
            .ok_or_else(gone)?;
        let raw = self.store.content(&row.blob_hash).await?.ok_or_else(gone)?;
        if mark_seen && !row.flags.contains(SystemFlag::Seen) && m.rights.contains(Right::Seen) {
            self.store_flags(p, name, &[uid], FlagOp::Add, &Flags::from(SystemFlag::Seen))
                .await?;
            row.flags.insert(SystemFlag::Seen);
        }
        let summary = summary_of(&row, &message::summarize(&raw));
        Ok(MessageView {
            rights: m.rights,
            team: self.team_view(&m, uid, &row.flags).await?,
            ..message::view(&raw, summary, allow_remote)
        })
    }

    /// The conversation a message belongs to, in order: the messages of
    /// its mailbox and of the reader's own Sent with its base subject (at
    /// most [`CONVERSATION`], the latest), each as the reader sees it.
    pub async fn conversation(&self, p: &Principal, name: &str, uid: u32) -> Result<Vec<MessageView>> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        let gone = || Error::NotFound(format!("no message with UID {uid} in {name}"));
        let row = self
            .store
            .message(m.mailbox.id, uid, m.seen_reader())
            .await?
            .ok_or_else(gone)?;
        let raw = self.store.content(&row.blob_hash).await?.ok_or_else(gone)?;
        let thread = conversation_of(&message::summarize(&raw).subject);
        let mut places = vec![(m.mailbox.id, name.to_owned(), m.seen_reader())];
        if let Some(sent) = self.special(p, "\\Sent").await?
            && sent != name
        {
            let s = self.open(p, &sent).await?;
            if s.rights.contains(Right::Read) {
                places.push((s.mailbox.id, sent, s.seen_reader()));
            }
        }
        let query = Query {
            subject: vec![thread.clone()],
            ..Query::default()
        };
        let mut found = Vec::new();
        for (id, folder, reader) in places {
            let rows = match thread.is_empty() {
                // No subject: the message alone.
                true => Vec::new(),
                false => {
                    self.store
                        .search(&[id], reader, &query, SortKey::Date, 0, MAX_PAGE)
                        .await?
                        .rows
                }
            };
            for l in rows.iter().filter(|l| conversation_of(&l.summary.subject) == thread) {
                let sent = l.summary.sent_at.unwrap_or(l.row.internal_date);
                found.push((sent, l.row.clone(), folder.clone()));
            }
        }
        if !found.iter().any(|(_, r, f)| r.uid == uid && f == name) {
            let sent = message::summarize(&raw).sent_at.unwrap_or(row.internal_date);
            found.push((sent, row, name.to_owned()));
        }
        // By the Date header, then arrival: replies filed together keep
        // the order they came in.
        found.sort_by_key(|(sent, r, _)| (*sent, r.internal_date, r.uid));
        let skip = found.len().saturating_sub(CONVERSATION);
        let mut out = Vec::new();
        for (_, row, folder) in found.into_iter().skip(skip) {
            let Some(raw) = self.store.content(&row.blob_hash).await? else {
                continue;
            };
            let summary = MessageSummary {
                mailbox: Some(folder),
                ..summary_of(&row, &message::summarize(&raw))
            };
            out.push(message::view(&raw, summary, false));
        }
        Ok(out)
    }

    /// One attachment: file name, content type and bytes (needs `r`).
    pub async fn attachment(
        &self,
        p: &Principal,
        name: &str,
        uid: u32,
        index: u32,
    ) -> Result<(String, String, Vec<u8>)> {
        let raw = self.fetch(p, name, uid).await?;
        message::attachment(&raw, index).ok_or_else(|| Error::NotFound(format!("message {uid} has no part {index}")))
    }

    /// The principal's own mailbox with a special use (`\Sent`, …).
    pub(super) async fn special(&self, p: &Principal, use_: &str) -> Result<Option<String>> {
        let Some(me) = self.store.account_by_id(p.account_id).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .mailboxes_of(me.id)
            .await?
            .into_iter()
            .find(|m| m.special_use.as_deref() == Some(use_))
            .map(|m| m.name))
    }

    /// Sends a message written in the browser: every recipient must be a
    /// local address (a relay for others arrives with delivery), each
    /// gets it in their INBOX, and the sender keeps a copy in Sent. With
    /// `answers`, that message is flagged `\Answered`.
    pub async fn send(&self, p: &Principal, draft: &Draft, answers: Option<(&str, u32)>) -> Result<Vec<String>> {
        let domain = self.primary_domain().await?;
        // Answering from a shared folder as its owner (the folder's
        // *send as* list), or as oneself.
        let team = match answers {
            Some((mailbox, _)) => self
                .team_identity(p, mailbox)
                .await?
                .filter(|t| !draft.from.trim().is_empty() && t.eq_ignore_ascii_case(draft.from.trim())),
            None => None,
        };
        let from = match &team {
            Some(address) => {
                let name = self.store.account_settings(p.account_id).await?.display_name;
                (name, address.clone())
            }
            None => self.sender_of(p, &draft.from).await?,
        };
        let composed = message::compose(&sender(&from), draft, now(), &domain).map_err(Error::BadInput)?;
        if composed.recipients.is_empty() {
            return Err(Error::BadInput("add at least one recipient".into()));
        }
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for to in &composed.recipients {
            match self.resolve_recipient(to).await {
                Ok(_) => local.push(to.clone()),
                Err(Error::NotFound(_)) if self.relay.is_some() && !self.is_local_domain(to).await? => {
                    remote.push(to.clone());
                }
                Err(Error::NotFound(_)) if self.relay.is_none() => {
                    return Err(Error::BadInput(format!(
                        "{to} is not an address on this server, and sending to other servers is not set up \
                         (start the server with --relay)"
                    )));
                }
                Err(Error::NotFound(_)) => {
                    return Err(Error::BadInput(format!(
                        "{to}: there is no such address on this server"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        // Other servers first: if the relay refuses, nothing was sent.
        let mut delivered = Vec::new();
        if let Some(relay) = &self.relay
            && !remote.is_empty()
        {
            relay.send(&from.1, &remote, &composed.bytes).await?;
            delivered.extend(remote);
        }
        for to in &local {
            delivered.push(self.deliver(to, composed.bytes.clone(), Some(&from.1)).await?.account);
        }
        // Offered again when they next write (a failure to note it is no
        // reason to report the mail unsent).
        if let Err(e) = self
            .store
            .remember_contacts(p.account_id, &composed.recipients, now())
            .await
        {
            tracing::warn!("contacts of {}: {e}", p.address());
        }
        match (&team, answers) {
            (Some(address), Some((mailbox, _))) => {
                self.file_team_copy(p, mailbox, composed.sent_copy, address).await?;
            }
            _ => {
                if let Some(sent) = self.special(p, "\\Sent").await? {
                    self.append(p, &sent, composed.sent_copy, &Flags::from(SystemFlag::Seen), None)
                        .await?;
                }
            }
        }
        if let Some((mailbox, uid)) = answers {
            // The reply went out; failing to flag the original is no reason
            // to report failure.
            let _ = self
                .store_flags(p, mailbox, &[uid], FlagOp::Add, &Flags::from(SystemFlag::Answered))
                .await;
        }
        Ok(delivered)
    }

    /// Whether the address's domain is one of ours (then an unknown name
    /// there is a mistake, not mail for another server).
    async fn is_local_domain(&self, address: &str) -> Result<bool> {
        let Some((_, domain)) = address.rsplit_once('@') else {
            return Ok(true);
        };
        Ok(self
            .store
            .domain_by_name_or_alias(&domain.to_ascii_lowercase())
            .await?
            .is_some())
    }

    /// The principal's Drafts folder.
    pub async fn drafts_folder(&self, p: &Principal) -> Result<String> {
        self.special(p, "\\Drafts")
            .await?
            .ok_or_else(|| Error::NotFound("you have no Drafts folder".into()))
    }

    /// Keeps an unfinished message in Drafts; `replaces` is the previous
    /// version's UID there, removed once the new one is stored. Returns
    /// the Drafts folder's name and the new version's UID.
    pub async fn save_draft(&self, p: &Principal, draft: &Draft, replaces: Option<u32>) -> Result<(String, u32)> {
        let drafts = self.drafts_folder(p).await?;
        let domain = self.primary_domain().await?;
        let from = self.sender_of(p, &draft.from).await?;
        let composed = message::compose_draft(&sender(&from), draft, now(), &domain).map_err(Error::BadInput)?;
        let mut flags = Flags::from(SystemFlag::Draft);
        flags.insert(SystemFlag::Seen);
        let (_, uid) = self.append(p, &drafts, composed.bytes, &flags, None).await?;
        if let Some(old) = replaces {
            self.discard_draft(p, old).await?;
        }
        Ok((drafts, uid))
    }

    /// Removes a draft from Drafts for good (it was sent, or saved anew);
    /// only a message flagged `\Draft` there, so a stale form cannot take
    /// anything else with it.
    pub async fn discard_draft(&self, p: &Principal, uid: u32) -> Result<()> {
        let drafts = self.drafts_folder(p).await?;
        let (_, rows) = self.messages(p, &drafts).await?;
        if !rows.iter().any(|r| r.uid == uid && r.flags.contains(SystemFlag::Draft)) {
            return Ok(());
        }
        self.store_flags(p, &drafts, &[uid], FlagOp::Add, &Flags::from(SystemFlag::Deleted))
            .await?;
        self.expunge(p, &drafts, Some(&[uid])).await.map(drop)
    }

    /// Deletes a folder the way a mail client does: the messages of the
    /// principal's own folder go to their Trash first; a folder of another
    /// account (or the Trash itself) loses its messages for good. Returns
    /// how many messages went to Trash.
    pub async fn delete_folder(&self, p: &Principal, name: &str) -> Result<usize> {
        self.deletable(p, name).await?;
        let trash = self.special(p, "\\Trash").await?;
        let moved = match trash {
            Some(trash) if !name.starts_with('~') && trash != name => {
                let (_, rows) = self.messages(p, name).await?;
                let uids: Vec<u32> = rows.iter().map(|r| r.uid).collect();
                if !uids.is_empty() {
                    self.move_messages(p, name, &uids, &trash).await?;
                }
                uids.len()
            }
            _ => 0,
        };
        self.delete_mailbox(p, name).await?;
        Ok(moved)
    }

    /// Deletes messages the way a mail client does: into the principal's
    /// Trash, or — in the Trash itself, or for a principal without one —
    /// flagged `\Deleted` and expunged, which only `forever` (a confirmed
    /// request) may do. Returns where they went and their UIDs there
    /// (`None`: gone for good).
    pub async fn delete_messages(
        &self,
        p: &Principal,
        name: &str,
        uids: &[u32],
        forever: bool,
    ) -> Result<Option<(String, Vec<u32>)>> {
        let trash = self.special(p, "\\Trash").await?;
        match trash {
            Some(trash) if trash != name => {
                let (_, pairs) = self.move_messages(p, name, uids, &trash).await?;
                Ok(Some((trash, pairs.into_iter().map(|(_, new)| new).collect())))
            }
            _ if !forever => Err(Error::BadInput(format!(
                "messages deleted from {name} are gone for good: use “Delete forever…” to confirm"
            ))),
            _ => {
                self.store_flags(p, name, uids, FlagOp::Add, &Flags::from(SystemFlag::Deleted))
                    .await?;
                self.expunge(p, name, Some(uids)).await?;
                Ok(None)
            }
        }
    }

    /// Starts a web session for an account's password: returns its id.
    pub async fn start_web_session(
        &self,
        login: &str,
        password: &str,
        client: std::net::IpAddr,
    ) -> Result<(String, Principal)> {
        let p = self.authenticate(login, password, client).await?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let now = now();
        self.store
            .insert_web_session(&id, p.account_id, now, now + WEB_SESSION_SECONDS)
            .await?;
        Ok((id, p))
    }

    /// The principal of a live web session (ended by sign-out, expiry, a
    /// password change or the account's deletion), and the time zone it
    /// chose in its settings (empty: the browser's).
    pub async fn web_session(&self, id: &str) -> Result<Option<(Principal, String)>> {
        let Some((account, zone)) = self.store.web_session_account(id, now()).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .account_by_id(account)
            .await?
            .map(|a| (Principal::of(&a).through(mailroom_shared::team::Via::Web), zone)))
    }

    pub async fn end_web_session(&self, id: &str) -> Result<()> {
        Ok(self.store.delete_web_session(id).await?)
    }

    /// The key web session tokens are signed with: made once, kept in the
    /// store so every node signs alike.
    pub async fn web_signing_key(&self) -> Result<Vec<u8>> {
        let hex_key = self
            .store
            .setting_or_insert("web_signing_key", || hex::encode(rand::random::<[u8; 32]>()))
            .await?;
        hex::decode(hex_key).map_err(|_| {
            Error::Internal(Box::new(crate::service::store::StoreError::Corrupt(
                "web signing key".into(),
            )))
        })
    }

    /// Summarises content stored before summaries existed; returns how
    /// many it did (0 when none are left).
    pub async fn summarise_old_messages(&self, batch: i64) -> Result<usize> {
        let hashes = self.store.unsummarised(batch).await?;
        for hash in &hashes {
            if let Some(raw) = self.store.content(hash).await? {
                self.store.add_summary(hash, &message::summarize(&raw)).await?;
            }
        }
        Ok(hashes.len())
    }
}
