//! Who has a shared mailbox open right now, through what, and what they
//! are doing in it (reading a message, replying to one).
//!
//! Each session present in a shared mailbox holds a [`Here`]; dropping it
//! (the session ends, its connection dropped, the page closed) takes it
//! away. A process keeps its own sessions in memory and tells its open
//! pages at once. On PostgreSQL, where several nodes serve one database,
//! each node also writes its sessions to one row of `presence` when they
//! change (and every [`HEARTBEAT`] anyway) and reads the other nodes'
//! rows every [`TICK`]; a row not rewritten for [`DEAD_AFTER`] belongs to
//! a node that died, and its sessions are no longer shown.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use mailroom_shared::team::{Doing, Present, Via};
use serde::{Deserialize, Serialize};

use super::feed::Feed;
use super::store::{Store, now};
use super::{Opened, Principal, Service};
use crate::error::Result;

/// How often a node publishes its changes and reads the others'.
const TICK: Duration = Duration::from_millis(200);
/// A node rewrites its row at least this often.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A row older than this is a dead node's.
const DEAD_AFTER: Duration = Duration::from_secs(5);

/// One present session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    mailbox_id: i64,
    account_id: i64,
    who: String,
    via: Via,
    doing: Doing,
    since: i64,
}

#[derive(Default)]
struct Sessions {
    next: u64,
    mine: HashMap<u64, Entry>,
    /// The other nodes' sessions, as last read.
    others: Vec<Entry>,
}

/// This process's view of who is present where.
pub(super) struct Presence {
    sessions: Mutex<Sessions>,
    feed: Weak<Feed>,
    /// This process's sessions changed since they were last published.
    dirty: AtomicBool,
    /// Bumped at each change, so publishing can tell it missed none.
    version: AtomicU64,
}

impl Presence {
    pub(super) fn new(feed: &Arc<Feed>) -> Presence {
        Presence {
            sessions: Mutex::default(),
            feed: Arc::downgrade(feed),
            dirty: AtomicBool::new(false),
            version: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self, mailbox_id: i64) {
        self.dirty.store(true, Ordering::Release);
        self.version.fetch_add(1, Ordering::AcqRel);
        if let Some(feed) = self.feed.upgrade() {
            feed.touch(mailbox_id);
        }
    }

    fn everyone_in(&self, mailbox_id: i64) -> Vec<Entry> {
        let sessions = self.lock();
        sessions
            .mine
            .values()
            .chain(sessions.others.iter())
            .filter(|e| e.mailbox_id == mailbox_id)
            .cloned()
            .collect()
    }
}

/// A session's presence in a mailbox; gone when dropped.
pub struct Here {
    presence: Arc<Presence>,
    key: u64,
    mailbox_id: i64,
}

impl Here {
    /// Says what the session does now (opened another message, started
    /// a reply).
    pub fn doing(&self, doing: Doing) {
        let mut sessions = self.presence.lock();
        let Some(e) = sessions.mine.get_mut(&self.key) else {
            return;
        };
        if e.doing == doing {
            return;
        }
        e.doing = doing;
        drop(sessions);
        self.presence.changed(self.mailbox_id);
    }
}

impl Drop for Here {
    fn drop(&mut self) {
        self.presence.lock().mine.remove(&self.key);
        self.presence.changed(self.mailbox_id);
    }
}

impl Service {
    /// Makes the principal present in an opened mailbox — if it is shared
    /// and the principal does not hide itself. `None`: nothing to show.
    pub(crate) async fn be_present(&self, m: &Opened, doing: Doing) -> Result<Option<Here>> {
        let p = &m.principal;
        if !m.is_team() || p.address.is_empty() || self.store.hides_presence(p.account_id).await? {
            return Ok(None);
        }
        Ok(Some(self.enter(m.mailbox.id, p, doing)))
    }

    fn enter(&self, mailbox_id: i64, p: &Principal, doing: Doing) -> Here {
        let entry = Entry {
            mailbox_id,
            account_id: p.account_id,
            who: p.address.clone(),
            via: p.via,
            doing,
            since: now(),
        };
        let key = {
            let mut sessions = self.presence.lock();
            sessions.next += 1;
            let key = sessions.next;
            sessions.mine.insert(key, entry);
            key
        };
        self.presence.changed(mailbox_id);
        Here {
            presence: Arc::clone(&self.presence),
            key,
            mailbox_id,
        }
    }

    /// Makes the principal present in the mailbox `name` (the web: a
    /// page showing it, a message or a reply to one).
    pub async fn be_present_in(&self, p: &Principal, name: &str, doing: Doing) -> Result<Option<Here>> {
        let m = self.open(p, name).await?;
        self.be_present(&m, doing).await
    }

    /// Who else is present in an opened mailbox (one session each: the
    /// busiest, reading before open, replying before reading).
    pub(super) fn present_in(&self, m: &Opened) -> Vec<Present> {
        let mut by_who: HashMap<(String, Via), Present> = HashMap::new();
        for e in self.presence.everyone_in(m.mailbox.id) {
            if e.account_id == m.principal.account_id {
                continue;
            }
            let rank = |d: Doing| match d {
                Doing::Open => 0,
                Doing::Reading(_) => 1,
                Doing::Replying(_) => 2,
            };
            let p = Present {
                who: e.who.clone(),
                via: e.via,
                doing: e.doing,
                since: e.since,
            };
            by_who
                .entry((e.who, e.via))
                .and_modify(|old| {
                    if rank(p.doing) > rank(old.doing) {
                        *old = p.clone();
                    }
                })
                .or_insert(p);
        }
        let mut out: Vec<Present> = by_who.into_values().collect();
        out.sort_by(|a, b| (a.since, &a.who).cmp(&(b.since, &b.who)));
        out
    }

    /// Who else is present in the mailbox `name`, for those who may look
    /// it up (to anyone else it does not exist).
    pub async fn present(&self, p: &Principal, name: &str) -> Result<Vec<Present>> {
        let m = self.open(p, name).await?;
        Ok(self.present_in(&m))
    }
}

/// Publishes this node's sessions and reads the other nodes' (PostgreSQL).
pub(super) async fn share_across_nodes(store: Store, presence: Weak<Presence>) {
    let node = store.node().to_owned();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published_at = tokio::time::Instant::now() - HEARTBEAT;
    let mut published_empty = true;
    loop {
        tick.tick().await;
        let Some(presence) = presence.upgrade() else {
            let _ = store.forget_presence(&node, 0).await;
            return;
        };
        let dirty = presence.dirty.swap(false, Ordering::AcqRel);
        let mine: Vec<Entry> = presence.lock().mine.values().cloned().collect();
        let due = published_at.elapsed() >= HEARTBEAT && !(mine.is_empty() && published_empty);
        if dirty || due {
            let json = serde_json::to_string(&mine).unwrap_or_else(|_| "[]".into());
            match store.publish_presence(&node, &json, now_ms()).await {
                Ok(()) => {
                    published_at = tokio::time::Instant::now();
                    published_empty = mine.is_empty();
                }
                Err(e) => {
                    presence.dirty.store(true, Ordering::Release);
                    tracing::warn!("presence: publishing failed: {e}");
                }
            }
        }
        let since = now_ms() - DEAD_AFTER.as_millis() as i64;
        match store.others_presence(&node, since).await {
            Ok(rows) => {
                let others: Vec<Entry> = rows
                    .iter()
                    .flat_map(|r| serde_json::from_str::<Vec<Entry>>(r).unwrap_or_default())
                    .collect();
                adopt(&presence, others);
            }
            Err(e) => tracing::warn!("presence: reading other nodes failed: {e}"),
        }
    }
}

/// Takes the other nodes' sessions as read, and tells this node's pages
/// about the mailboxes where they changed.
fn adopt(presence: &Presence, others: Vec<Entry>) {
    let changed: HashSet<i64> = {
        let mut sessions = presence.lock();
        if sessions.others == others {
            return;
        }
        let before: HashSet<(i64, String)> = sessions.others.iter().map(|e| (e.mailbox_id, key_of(e))).collect();
        let after: HashSet<(i64, String)> = others.iter().map(|e| (e.mailbox_id, key_of(e))).collect();
        sessions.others = others;
        before.symmetric_difference(&after).map(|(id, _)| *id).collect()
    };
    if let Some(feed) = presence.feed.upgrade() {
        for id in changed {
            feed.touch(id);
        }
    }
}

fn key_of(e: &Entry) -> String {
    format!("{} {:?} {:?} {}", e.who, e.via, e.doing, e.since)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
