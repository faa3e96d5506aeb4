//! The change feed: typed changes of each mailbox, fanned out to the
//! sessions watching it.
//!
//! Every mutation writes its change to the store's change log in the same
//! transaction as the data. One follower task per process reads the log in
//! order and publishes what it finds, so subscribers see each mailbox's
//! changes once, in MODSEQ order, whether they were made by this process,
//! by a CLI command on the same database, or by another node on the same
//! PostgreSQL. The follower is woken at once after a local commit, by
//! PostgreSQL's NOTIFY after another node's commit ([`listen`]), and polls
//! otherwise (SQLite's other processes; a notification lost while the
//! LISTEN connection was down).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailroom_shared::Flags;
use tokio::sync::{Notify, broadcast};

use crate::service::store::{CHANGES_CHANNEL, ChangeRow, LogKind, Store};

/// What happened to a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// New messages, with their flags.
    Added(Vec<(u32, Flags)>),
    /// New flags of messages. With `only_for`, a per-user `\Seen` change
    /// that only that account's sessions should see.
    FlagsChanged {
        messages: Vec<(u32, Flags)>,
        only_for: Option<i64>,
    },
    Expunged(Vec<u32>),
    MailboxCreated,
    MailboxRenamed(String),
    MailboxDeleted,
    AclChanged,
    /// Domains, aliases, accounts, routing or delivery rules changed
    /// (no mailbox's: `mailbox_id` is 0); never published.
    DirectoryChanged,
}

/// One operation's change of one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub mailbox_id: i64,
    pub modseq: u64,
    /// The change log's id of the last row this change was made from:
    /// within one mailbox, log ids grow in commit order.
    pub log_id: i64,
    pub kind: ChangeKind,
}

/// Turns change-log rows (in log order) into changes: the rows one
/// operation wrote for one mailbox become one change.
pub fn group_changes(rows: &[ChangeRow]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for row in rows {
        let message = |r: &ChangeRow| (r.uid.unwrap_or(0), r.flags.clone().unwrap_or_default());
        let kind = match row.kind {
            LogKind::Added => ChangeKind::Added(vec![message(row)]),
            LogKind::Flags => ChangeKind::FlagsChanged {
                messages: vec![message(row)],
                only_for: row.account_id,
            },
            LogKind::Expunged => ChangeKind::Expunged(vec![row.uid.unwrap_or(0)]),
            LogKind::MailboxCreated => ChangeKind::MailboxCreated,
            LogKind::MailboxRenamed => ChangeKind::MailboxRenamed(row.detail.clone().unwrap_or_default()),
            LogKind::MailboxDeleted => ChangeKind::MailboxDeleted,
            LogKind::AclChanged => ChangeKind::AclChanged,
            LogKind::Directory => ChangeKind::DirectoryChanged,
        };
        if let Some(last) = out.last_mut()
            && last.mailbox_id == row.mailbox_id
            && last.modseq == row.modseq
            && merge(&mut last.kind, &kind)
        {
            last.log_id = row.id;
            continue;
        }
        out.push(Change {
            mailbox_id: row.mailbox_id,
            modseq: row.modseq,
            log_id: row.id,
            kind,
        });
    }
    out
}

/// Folds `next` into `into` when both are per-message changes of one kind.
fn merge(into: &mut ChangeKind, next: &ChangeKind) -> bool {
    match (into, next) {
        (ChangeKind::Added(a), ChangeKind::Added(b)) => {
            a.extend(b.iter().cloned());
            true
        }
        (ChangeKind::Expunged(a), ChangeKind::Expunged(b)) => {
            a.extend(b);
            true
        }
        (
            ChangeKind::FlagsChanged {
                messages: a,
                only_for: x,
            },
            ChangeKind::FlagsChanged {
                messages: b,
                only_for: y,
            },
        ) if x == y => {
            a.extend(b.iter().cloned());
            true
        }
        _ => false,
    }
}

/// Subscribers per mailbox, and to every mailbox at once.
pub struct Feed {
    channels: Mutex<HashMap<i64, broadcast::Sender<Arc<Change>>>>,
    /// Which mailbox changed, and whether the mailbox itself (created,
    /// renamed, deleted, its ACL): what a folder tree needs to know.
    any: broadcast::Sender<(i64, bool)>,
    /// Mailboxes whose presence or notes changed: pages reload, but
    /// nothing in the mailbox itself did (IMAP NOTIFY does not hear it).
    touched: broadcast::Sender<i64>,
    wake: Arc<Notify>,
    /// How long a hole in the log's ids may stay open before the follower
    /// decides it was a rolled-back transaction rather than a slow commit.
    gap_patience: Mutex<Duration>,
    /// Local commits announced ([`Feed::wake`]), and how many of them the
    /// follower had been told of when it last published all it read: when
    /// the two are equal, every local commit is in the broadcast already.
    committed: AtomicU64,
    published: tokio::sync::watch::Sender<u64>,
    /// The store's authority epoch as last read: it moves when an account
    /// loses authority, here or on another node ([`follow_authority`]).
    authority: tokio::sync::watch::Sender<i64>,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed {
            channels: Mutex::default(),
            any: broadcast::channel(CHANNEL_CAPACITY).0,
            touched: broadcast::channel(CHANNEL_CAPACITY).0,
            wake: Arc::default(),
            gap_patience: Mutex::new(GAP_PATIENCE),
            committed: AtomicU64::new(0),
            published: tokio::sync::watch::Sender::new(0),
            authority: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// How many changes a slow subscriber may fall behind before it is told
/// it lagged (and catches up from the change log).
const CHANNEL_CAPACITY: usize = 256;

impl Feed {
    pub fn subscribe(&self, mailbox_id: i64) -> broadcast::Receiver<Arc<Change>> {
        let mut channels = self.channels.lock().expect("feed lock");
        channels
            .entry(mailbox_id)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// Every mailbox's changes, as (mailbox id, whether the mailbox itself
    /// changed). A lagging receiver should assume anything changed.
    pub fn subscribe_any(&self) -> broadcast::Receiver<(i64, bool)> {
        self.any.subscribe()
    }

    fn publish(&self, change: Change) {
        let itself = !matches!(
            change.kind,
            ChangeKind::Added(_) | ChangeKind::FlagsChanged { .. } | ChangeKind::Expunged(_)
        );
        let _ = self.any.send((change.mailbox_id, itself));
        let mut channels = self.channels.lock().expect("feed lock");
        let id = change.mailbox_id;
        if let Some(sender) = channels.get(&id)
            && sender.send(Arc::new(change)).is_err()
        {
            channels.remove(&id);
        }
    }

    /// Tells open pages that something about a mailbox besides its
    /// messages changed (who is present, a note): on this node only.
    pub fn touch(&self, mailbox_id: i64) {
        let _ = self.touched.send(mailbox_id);
    }

    /// The mailboxes [`Feed::touch`]ed from now on.
    pub fn subscribe_touched(&self) -> broadcast::Receiver<i64> {
        self.touched.subscribe()
    }

    /// Asks the follower to read the change log now (after a commit).
    pub fn wake(&self) {
        self.committed.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// How many commits this process has announced so far (a mark for
    /// [`Feed::until_published`]).
    pub fn commits_so_far(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Waits (up to `patience`) until the first `target` commits this
    /// process announced have been published; `false` if that took longer. Another
    /// process's or node's commits are not counted. Many sessions waiting
    /// share the follower's one read of the log, where each reading the
    /// log itself would queue for the database.
    pub async fn until_published(&self, target: u64, patience: Duration) -> bool {
        let mut published = self.published.subscribe();
        tokio::time::timeout(patience, published.wait_for(|p| *p >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Changes whenever some account lost authority (deleted, its
    /// password changed, its admin right taken): a session seeing it
    /// checks its principal again.
    pub fn authority(&self) -> tokio::sync::watch::Receiver<i64> {
        self.authority.subscribe()
    }

    /// Takes a newer authority epoch (this process's own change: known
    /// at once, without waiting for the poll).
    pub fn authority_is(&self, epoch: i64) {
        self.authority.send_if_modified(|e| {
            let newer = epoch > *e;
            *e = (*e).max(epoch);
            newer
        });
    }

    /// Waits `patience` for holes in the log's ids from now on (10 s by
    /// default): a slow machine's tests make it longer than they wait.
    pub fn set_gap_patience(&self, patience: Duration) {
        *self.gap_patience.lock().expect("feed lock") = patience;
    }

    fn gap_patience(&self) -> Duration {
        *self.gap_patience.lock().expect("feed lock")
    }
}

/// How often the follower looks for changes nobody woke it for (those
/// made by other processes).
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The feed's default patience with a hole in the log's ids.
const GAP_PATIENCE: Duration = Duration::from_secs(10);

/// How many new log rows the follower reads at a time.
const BATCH: i64 = 1000;
/// A hole in the log's ids wider than this is not waited for (a sequence
/// that jumped, not transactions in flight).
const MAX_GAP: i64 = 10_000;

/// How often the store's authority epoch is read: the longest an open
/// session on any node keeps an authority taken away elsewhere.
const AUTHORITY_POLL: Duration = Duration::from_millis(250);

/// Reads the store's authority epoch every [`AUTHORITY_POLL`] and
/// publishes it: one small read per process, whatever the number of
/// sessions, and it sees the CLI's and other nodes' changes alike. Runs
/// until the feed is dropped.
pub async fn follow_authority(store: Store, feed: std::sync::Weak<Feed>) {
    loop {
        let Some(f) = feed.upgrade() else { return };
        match store.authority_epoch().await {
            Ok(epoch) => f.authority_is(epoch),
            Err(e) => tracing::warn!("authority watch: {e}"),
        }
        drop(f);
        tokio::time::sleep(AUTHORITY_POLL).await;
    }
}

/// Reads the change log in order and publishes it: runs until the feed is
/// dropped. Log ids can commit out of order on PostgreSQL (two
/// transactions on different mailboxes), so ids skipped over are looked
/// for again for a while rather than taken as missing; reading new rows
/// goes on meanwhile. Within one mailbox ids commit in order (writers hold
/// its row lock), so a late row is never older than one its watchers saw.
pub async fn follow(store: Store, feed: std::sync::Weak<Feed>) {
    let mut last = match store.last_change_id().await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!("change feed cannot start: {e}");
            return;
        }
    };
    let mut gaps: BTreeMap<i64, Instant> = BTreeMap::new();
    let Some(wake) = feed.upgrade().map(|f| f.wake.clone()) else {
        return;
    };
    loop {
        let Some(feed) = feed.upgrade() else { return };
        // Commits announced before the read are in what it finds.
        let announced = feed.committed.load(Ordering::SeqCst);
        match read_log(&store, &mut last, &mut gaps, feed.gap_patience()).await {
            Ok(rows) => {
                for change in group_changes(&rows) {
                    if matches!(change.kind, ChangeKind::Expunged(_) | ChangeKind::MailboxDeleted) {
                        // Possibly another node's: listings of it re-check.
                        store.removed_from(change.mailbox_id);
                    }
                    if !matches!(
                        change.kind,
                        ChangeKind::Added(_) | ChangeKind::FlagsChanged { .. } | ChangeKind::Expunged(_)
                    ) {
                        // Possibly another node's or the CLI's: open
                        // mailboxes re-check their names and rights.
                        store.directory_changed();
                    }
                    if change.kind != ChangeKind::DirectoryChanged {
                        feed.publish(change);
                    }
                }
                if gaps.is_empty() {
                    feed.published.send_if_modified(|p| {
                        let newer = announced > *p;
                        *p = (*p).max(announced);
                        newer
                    });
                }
            }
            Err(e) => tracing::warn!("change feed: {e}"),
        }
        drop(feed);
        let _ = tokio::time::timeout(POLL_INTERVAL, wake.notified()).await;
    }
}

/// The log rows not published yet: those that filled a gap, then the new
/// ones (all of them, a batch at a time). Updates `last` and the gaps.
async fn read_log(
    store: &Store,
    last: &mut i64,
    gaps: &mut BTreeMap<i64, Instant>,
    gap_patience: Duration,
) -> crate::service::store::Result<Vec<ChangeRow>> {
    let mut out = Vec::new();
    if let (Some(&first), Some(&newest)) = (gaps.keys().next(), gaps.keys().next_back()) {
        for row in store.changes_between(first, newest).await? {
            if gaps.remove(&row.id).is_some() {
                out.push(row);
            }
        }
        gaps.retain(|_, since| since.elapsed() < gap_patience);
    }
    loop {
        let rows = store.changes_after(*last, BATCH).await?;
        let full = rows.len() as i64 == BATCH;
        for row in rows {
            if row.id - *last - 1 > MAX_GAP {
                tracing::warn!(
                    "change feed: log ids jumped from {} to {}; not waiting for those between",
                    *last,
                    row.id
                );
            } else {
                for missing in *last + 1..row.id {
                    gaps.insert(missing, Instant::now());
                }
            }
            *last = row.id;
            out.push(row);
        }
        if !full {
            return Ok(out);
        }
    }
}

/// How long the listener waits for a notification before it checks that
/// the feed is still wanted.
const LISTEN_CHECK: Duration = Duration::from_secs(5);
/// How long to wait before connecting again after a failed connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Wakes the follower whenever another node commits a change: PostgreSQL's
/// LISTEN on [`CHANGES_CHANNEL`] (payloads `"MAILBOX_ID MODSEQ"`; the log
/// has the rest). Notifications sent while the connection is down are
/// lost, so after every (re)connect the follower is woken to read the log
/// from where it stopped: nothing is missed, at worst learned later. Runs
/// until the feed is dropped.
pub async fn listen(url: String, feed: std::sync::Weak<Feed>) {
    let mut failing = false;
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        let mut listener = match connected {
            Ok(l) => l,
            Err(e) => {
                if !failing {
                    tracing::warn!("change feed: cannot LISTEN for other nodes' changes: {e}; retrying");
                    failing = true;
                }
                if feed.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(LISTEN_RETRY).await;
                continue;
            }
        };
        if failing {
            tracing::info!("change feed: listening for other nodes' changes again");
            failing = false;
        }
        loop {
            // Caught up after every (re)connect, and at each notification.
            match feed.upgrade() {
                Some(f) => f.wake(),
                None => return,
            }
            let received = loop {
                match tokio::time::timeout(LISTEN_CHECK, listener.try_recv()).await {
                    Ok(r) => break r,
                    Err(_) if feed.strong_count() == 0 => return,
                    Err(_) => continue,
                }
            };
            match received {
                Ok(Some(n)) => tracing::trace!("change notified: {}", n.payload()),
                // Lost: the next call reconnects and listens again.
                Ok(None) => tracing::warn!("change feed: the LISTEN connection was lost; reconnecting"),
                Err(e) => {
                    tracing::warn!("change feed: {e}; reconnecting");
                    break;
                }
            }
        }
    }
}
