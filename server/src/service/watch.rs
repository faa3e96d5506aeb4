//! Watching a mailbox: the changes other sessions make, as they happen,
//! and a catch-up from the change log when the watcher fell behind.

use std::collections::HashMap;
use std::sync::Arc;

use mailroom_shared::Action;
use mailroom_shared::Right;
use tokio::sync::broadcast;

use super::{Opened, Principal, Service};
use crate::error::{Error, Result};
use crate::service::feed::{Change, ChangeKind, group_changes};
use crate::service::store::Store;
use crate::service::types::{FlagRow, FlagRows};
use crate::service::views::{self, View};

/// How long a session waits for the follower to publish this process's
/// commits before it reads the log itself.
const PUBLISH_PATIENCE: std::time::Duration = std::time::Duration::from_millis(20);

/// A principal's live view of one mailbox's changes.
pub struct Watch {
    rx: broadcast::Receiver<Arc<Change>>,
    store: Store,
    principal: Principal,
    mailbox_id: i64,
    /// The highest MODSEQ handed out so far.
    seen: u64,
    /// The change-log id of the last change handed out (or skipped).
    last_log_id: i64,
}

/// Drops the per-user `\Seen` changes of other accounts.
pub(super) fn visible_to(p: &Principal, changes: Vec<Change>) -> Vec<Change> {
    changes
        .into_iter()
        .filter(|c| match &c.kind {
            ChangeKind::FlagsChanged {
                only_for: Some(account),
                ..
            } => *account == p.account_id,
            _ => true,
        })
        .collect()
}

impl Service {
    /// Starts watching a mailbox (needs `r`). The watch reports every
    /// change committed after this call began; the mailbox's
    /// HIGHESTMODSEQ at that moment is returned too. A caller that reads
    /// the mailbox's state next may see a change it already has: apply
    /// them idempotently.
    pub async fn watch(&self, p: &Principal, name: &str) -> Result<(Watch, u64)> {
        let mut m = self.open(p, name).await?;
        let watch = self.watch_in(&mut m).await?;
        let modseq = watch.seen;
        Ok((watch, modseq))
    }

    /// SELECT: a mailbox — `kept`, the one the session had open, brought
    /// up to date, or else resolved by name — with a watch started before
    /// its messages are read, and the messages; the returned handle has
    /// the mailbox's state as the watch began.
    pub(crate) async fn select(
        &self,
        p: &Principal,
        name: &str,
        kept: Option<Opened>,
    ) -> Result<(Opened, Watch, FlagRows)> {
        let mut m = match kept {
            Some(mut m) => {
                self.current(&mut m).await?;
                m
            }
            None => self.open(p, name).await?,
        };
        let watch = self.watch_in(&mut m).await?;
        let reader = m.seen_reader();
        let (id, uidvalidity) = (m.mailbox.id, m.mailbox.uidvalidity);
        if reader.is_none()
            && let Some(rows) = self.kept_view(id, uidvalidity).await?
        {
            return Ok((m, watch, rows));
        }
        let (rows, last_change) = self.store.flag_rows(id, reader).await?;
        let rows = FlagRows::from(rows);
        if reader.is_none() && rows.len() >= views::KEPT_FROM {
            // The mailbox's own last change as the rows were read: its
            // later changes come after it in the log (a mailbox's changes
            // are logged in the order they commit).
            let view = View {
                rows: rows.clone(),
                log_id: last_change,
                uidvalidity,
            };
            let _ = self.views.keep(id, view);
        }
        Ok((m, watch, rows))
    }

    /// Reads the views of the biggest mailboxes into the node's kept
    /// views, the biggest first, as many as their memory bound holds: so
    /// the first SELECT of one after a start costs what later ones do
    /// (milliseconds for a million messages, not seconds). Run in the
    /// background after a start; returns how many it read.
    pub async fn warm_views(&self) -> Result<usize> {
        let big = self.store.big_mailboxes(views::KEPT_FROM as i64, 64).await?;
        let mut budget = views::KEPT_BYTES;
        let mut read = 0;
        for (id, uidvalidity, count) in big {
            // A row's size: what a view of that many plain rows takes.
            let bytes = count as usize * std::mem::size_of::<FlagRow>();
            if bytes > budget {
                continue;
            }
            budget -= bytes;
            if self.views.get(id, uidvalidity).is_some() {
                continue; // a SELECT was quicker
            }
            let warming = self.views.warming(id);
            let (rows, last_change) = self.store.flag_rows(id, None).await?;
            let view = View {
                rows: FlagRows::from(rows),
                log_id: last_change,
                uidvalidity,
            };
            let room = self.views.keep(id, view);
            drop(warming);
            read += 1;
            if !room {
                // Keywords made the views bigger than their rows: the
                // bound is reached, and reading more would only push out
                // the biggest, read first.
                break;
            }
        }
        Ok(read)
    }

    /// The view this node kept of a big mailbox, brought forward by the
    /// changes logged since; `None` when none is kept or it could not be
    /// brought forward (then it is forgotten).
    async fn kept_view(&self, id: i64, uidvalidity: u32) -> Result<Option<FlagRows>> {
        self.views.warmed(id).await;
        let Some(view) = self.views.get(id, uidvalidity) else {
            return Ok(None);
        };
        // Many changes since: reading it whole costs about the same, and
        // holds no pile of change rows.
        let limit = (view.rows.len() / 4).min(views::CHANGES_APPLIED) as i64;
        let Some((count, rows)) = self.store.count_and_changes_after(id, view.log_id, limit).await? else {
            self.views.forget(id);
            return Ok(None);
        };
        // A per-user \Seen change (the mailbox was per-user a while, or a
        // session still thinks it is) carries its reader's own \Seen,
        // which the shared view must not take: read whole.
        if rows.len() as i64 >= limit || rows.iter().any(|r| r.account_id.is_some()) {
            self.views.forget(id);
            return Ok(None);
        }
        let changes = group_changes(&rows);
        let mut now = view.rows;
        views::apply(&mut now, &changes);
        if now.len() != count as usize {
            tracing::warn!(
                mailbox = id,
                "a kept view held {} messages after its changes where the mailbox has {count}; read again",
                now.len()
            );
            self.views.forget(id);
            return Ok(None);
        }
        if let Some(last) = changes.last() {
            let forward = View {
                rows: now.clone(),
                log_id: last.log_id.max(view.log_id),
                uidvalidity,
            };
            let _ = self.views.keep(id, forward);
        }
        self.views.reused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(now))
    }

    /// How many big mailboxes' views this node keeps.
    pub fn views_kept(&self) -> usize {
        self.views.len()
    }

    /// How many SELECTs started from the view this node kept of a big
    /// mailbox rather than reading it whole (tests and benches ask).
    pub fn views_reused(&self) -> u64 {
        self.views.reused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Brings a session's watch up to the committed log. On SQLite, where
    /// this process is the only writer sessions wait on, the broadcast
    /// holds everything once the follower has published every local commit
    /// made so far, which it does within a read of the log: the session
    /// waits for that rather than reading the log itself. Otherwise — the
    /// follower slow, or PostgreSQL, where another node may have committed
    /// — from the log itself.
    ///
    /// `since`: a [`Service::commits_so_far`] mark taken when the command
    /// began; what was committed after that may come with the next one.
    pub(crate) async fn refresh(&self, watch: &mut Watch, since: u64) -> Result<Vec<Change>> {
        if self.store.backend() == crate::service::store::Backend::Sqlite
            && self.feed.until_published(since, PUBLISH_PATIENCE).await
        {
            watch.drain().await
        } else {
            watch.refresh().await
        }
    }

    /// A mark of this process's commits so far, for [`Service::refresh`].
    pub(crate) fn commits_so_far(&self) -> u64 {
        self.feed.commits_so_far()
    }

    /// Claims `\Recent` for a session that has `m` selected read-write
    /// and knows of the messages below `upto`: returns the first UID that
    /// is recent for it (see [`crate::service::store::Store::claim_recent`]).
    /// With `claim` false, only looks (EXAMINE).
    pub(crate) async fn claim_recent(&self, m: &Opened, upto: u32, claim: bool) -> Result<u32> {
        Ok(self.store.claim_recent(m.mailbox.id, upto, claim).await?)
    }

    /// STATUS RECENT: the messages no session has seen yet (needs `r`).
    pub async fn recent_count(&self, p: &Principal, name: &str) -> Result<u32> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        Ok(self.store.recent_count(m.mailbox.id).await?)
    }

    /// Whether a mailbox kept open was resolved after the last change to
    /// rights or names: then what its session knows of it still holds.
    pub(crate) fn is_current(&self, m: &Opened) -> bool {
        m.generation == self.store.directory_generation()
    }

    /// SELECT again of the mailbox a session has selected, whose view
    /// its watch keeps up to date: checks the right to read, refreshes the
    /// mailbox's own row (UIDNEXT, HIGHESTMODSEQ) and returns the changes
    /// committed before now that the watch had not handed out yet, so the
    /// view can be brought up to this moment.
    pub(crate) async fn reselect(&self, m: &mut Opened, watch: &mut Watch) -> Result<Vec<Change>> {
        self.current(m).await?;
        m.require(Action::Read)?;
        let (row, last) = self
            .store
            .mailbox_and_its_last_change(m.mailbox.id)
            .await?
            .ok_or_else(gone)?;
        m.mailbox = row;
        // What was broadcast first (nearly always all of it); the log
        // only for a change committed but not yet broadcast.
        let mut missed = watch.drain().await?;
        if watch.last_log_id < last {
            let rows = watch.catch_up().await?;
            missed.extend(watch.accept(rows));
        }
        Ok(missed)
    }

    /// Subscribes first, then reads the mailbox row and the log's end, so
    /// no change falls between; `m` gets the fresh row.
    async fn watch_in(&self, m: &mut Opened) -> Result<Watch> {
        m.require(Action::Read)?;
        let rx = self.feed.subscribe(m.mailbox.id);
        let (row, last_log_id) = self
            .store
            .mailbox_and_last_change(m.mailbox.id)
            .await?
            .ok_or_else(gone)?;
        let seen = row.highest_modseq;
        m.mailbox = row;
        Ok(Watch {
            rx,
            store: self.store.clone(),
            principal: m.principal.clone(),
            mailbox_id: m.mailbox.id,
            seen,
            last_log_id,
        })
    }
}

fn gone() -> Error {
    Error::NotFound("the mailbox is gone".into())
}

impl Watch {
    /// Waits for the next changes. After falling behind, reads what it
    /// missed from the change log, so nothing is lost. Ends with
    /// `NotFound` once the mailbox is deleted and that was reported.
    pub async fn next(&mut self) -> Result<Vec<Change>> {
        loop {
            let changes = match self.rx.recv().await {
                Ok(change) => vec![(*change).clone()],
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await?,
                Err(broadcast::error::RecvError::Closed) => return Err(gone()),
            };
            let visible = self.accept(changes);
            if !visible.is_empty() {
                return Ok(visible);
            }
        }
    }

    /// The changes that arrived since the last call, without waiting
    /// (possibly none): what a session reports between commands.
    pub async fn drain(&mut self) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        loop {
            let changes = match self.rx.try_recv() {
                Ok(change) => vec![(*change).clone()],
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.catch_up().await?,
                Err(broadcast::error::TryRecvError::Empty) => return Ok(out),
                Err(broadcast::error::TryRecvError::Closed) => {
                    return if out.is_empty() { Err(gone()) } else { Ok(out) };
                }
            };
            out.extend(self.accept(changes));
        }
    }

    /// Everything committed before now that was not handed out yet:
    /// what the broadcast has delivered, then the rest from the change
    /// log (an indexed range read of this mailbox's rows after the last
    /// one seen). A session calls it at command boundaries, so what
    /// another session's finished command changed — on this node or
    /// another — is never reported a command late.
    pub async fn refresh(&mut self) -> Result<Vec<Change>> {
        let mut out = self.drain().await?;
        let rows = self.catch_up().await?;
        out.extend(self.accept(rows));
        Ok(out)
    }

    async fn catch_up(&self) -> Result<Vec<Change>> {
        let rows = self
            .store
            .mailbox_changes_after(self.mailbox_id, self.last_log_id)
            .await?;
        Ok(group_changes(&rows))
    }

    /// Keeps the changes not handed out yet that this principal may see.
    fn accept(&mut self, changes: Vec<Change>) -> Vec<Change> {
        let fresh: Vec<Change> = changes.into_iter().filter(|c| c.log_id > self.last_log_id).collect();
        if let Some(last) = fresh.last() {
            self.last_log_id = last.log_id;
            self.seen = self.seen.max(last.modseq);
        }
        visible_to(&self.principal, fresh)
    }

    /// The change-log id of the last change this watch handed out.
    pub fn last_log_id(&self) -> i64 {
        self.last_log_id
    }

    /// The highest MODSEQ this watch has reported.
    pub fn modseq(&self) -> u64 {
        self.seen
    }
}

/// A principal's watch on some mailboxes by name (IMAP NOTIFY): which of
/// them changed, and whether a change was to the mailbox itself (created,
/// renamed, deleted, its ACL) rather than to its messages.
pub struct MailboxesWatch {
    rx: broadcast::Receiver<(i64, bool)>,
    names: HashMap<i64, String>,
}

impl Service {
    /// Starts watching the named mailboxes the principal may read; the
    /// others are left out.
    pub async fn watch_mailboxes(&self, p: &Principal, names: &[String]) -> Result<MailboxesWatch> {
        let rx = self.feed.subscribe_any();
        let mut watched = HashMap::new();
        for name in names {
            if let Ok(m) = self.open(p, name).await
                && m.rights.contains(Right::Read)
            {
                watched.insert(m.mailbox.id, name.clone());
            }
        }
        Ok(MailboxesWatch { rx, names: watched })
    }
}

impl MailboxesWatch {
    /// The watched mailboxes that changed since the last call, without
    /// waiting (after falling behind: all of them).
    pub fn drain(&mut self) -> Vec<(String, bool)> {
        let mut changed: HashMap<String, bool> = HashMap::new();
        loop {
            match self.rx.try_recv() {
                Ok((id, itself)) => {
                    if let Some(name) = self.names.get(&id) {
                        *changed.entry(name.clone()).or_default() |= itself;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    changed.extend(self.names.values().map(|n| (n.clone(), true)));
                }
                Err(_) => break,
            }
        }
        let mut out: Vec<(String, bool)> = changed.into_iter().collect();
        out.sort();
        out
    }

    /// Waits until a watched mailbox changes; returns what changed.
    pub async fn next(&mut self) -> Result<Vec<(String, bool)>> {
        loop {
            let first = match self.rx.recv().await {
                Ok((id, itself)) => self.names.get(&id).map(|n| (n.clone(), itself)),
                Err(broadcast::error::RecvError::Lagged(_)) => self.names.values().next().map(|n| (n.clone(), true)),
                Err(broadcast::error::RecvError::Closed) => return Err(gone()),
            };
            if let Some(first) = first {
                let mut out = self.drain();
                if !out.iter().any(|(n, _)| *n == first.0) {
                    out.push(first);
                }
                return Ok(out);
            }
        }
    }
}
