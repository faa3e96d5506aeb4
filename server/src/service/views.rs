//! The flag views of big mailboxes, kept per node for the next SELECT.
//!
//! SELECT hands a session the UID, MODSEQ and flags of every message.
//! Read from the database that costs about two seconds for a million
//! messages, however few columns are read (each row passes through the
//! driver). A node keeps the last view it read of each big mailbox, with
//! the change-log row it is up to; the next SELECT of that mailbox takes
//! it (a persistent vector: the session shares its rows) and applies the
//! log's changes since, which takes milliseconds. A
//! view brought forward must then hold as many messages as the mailbox
//! counts (read in the same statement as the changes), or it is dropped
//! and the mailbox read whole.
//!
//! Only mailboxes whose `\Seen` is shared are kept: a per-user one's
//! flag changes carry each actor's own `\Seen`, which another reader's
//! view must not take.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mailroom_shared::Flags;

use crate::service::feed::{Change, ChangeKind};
use crate::service::types::{FlagRow, FlagRows};

/// Mailboxes with fewer messages are read whole: that is fast, and
/// keeping them would cost memory for nothing.
pub(crate) const KEPT_FROM: usize = 10_000;
/// The most memory all views together may take (about 48 bytes a
/// message, more with keywords).
pub(crate) const KEPT_BYTES: usize = 256 * 1024 * 1024;
/// The most logged changes a kept view is brought forward by; beyond,
/// the mailbox is read whole.
pub(crate) const CHANGES_APPLIED: usize = 20_000;

/// A mailbox's messages as of one change-log row.
pub(crate) struct View {
    pub rows: FlagRows,
    /// Every change up to this log row is in `rows` (and maybe some
    /// after it: applying those again changes nothing).
    pub log_id: i64,
    pub uidvalidity: u32,
}

#[derive(Default)]
pub(crate) struct Views {
    /// Each view, when it was last used, and its size in bytes.
    kept: Mutex<HashMap<i64, (View, Instant, usize)>>,
    /// How many SELECTs started from a kept view.
    pub(crate) reused: std::sync::atomic::AtomicU64,
    /// The mailboxes whose views are being read at start, each with a
    /// lock held until its view is kept: a SELECT of one waits for it
    /// rather than read the whole mailbox a second time beside it.
    warming: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Views {
    /// The view kept of mailbox `id`, if one is and it is of the same
    /// mailbox (`uidvalidity`: SQLite may give a deleted mailbox's id to
    /// a new one).
    pub(crate) fn get(&self, id: i64, uidvalidity: u32) -> Option<View> {
        let mut kept = self.kept.lock().ok()?;
        let (view, used, _) = kept.get_mut(&id)?;
        if view.uidvalidity != uidvalidity {
            kept.remove(&id);
            return None;
        }
        *used = Instant::now();
        Some(View {
            rows: view.rows.clone(),
            log_id: view.log_id,
            uidvalidity,
        })
    }

    /// Keeps `view` of mailbox `id` (if big enough), dropping the least
    /// recently used views beyond [`KEPT_BYTES`]. Returns whether it was
    /// kept without dropping another (the warm-up stops when not).
    pub(crate) fn keep(&self, id: i64, view: View) -> bool {
        let bytes = bytes_of(&view.rows);
        let Ok(mut kept) = self.kept.lock() else { return false };
        if view.rows.len() < KEPT_FROM || bytes > KEPT_BYTES {
            kept.remove(&id);
            return false;
        }
        kept.insert(id, (view, Instant::now(), bytes));
        let mut room = true;
        while kept.values().map(|(_, _, bytes)| bytes).sum::<usize>() > KEPT_BYTES {
            let Some(oldest) = kept.iter().min_by_key(|(_, (_, used, _))| *used).map(|(id, _)| *id) else {
                break;
            };
            kept.remove(&oldest);
            room = false;
        }
        room
    }

    /// Notes that mailbox `id`'s view is being read at start; until the
    /// returned guard is dropped, [`Views::warmed`] waits.
    pub(crate) fn warming(&self, id: i64) -> Option<Warming<'_>> {
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let guard = lock.clone().try_lock_owned().ok()?;
        self.warming.lock().ok()?.insert(id, lock);
        Some(Warming {
            views: self,
            id,
            _guard: guard,
        })
    }

    /// Waits until a view of mailbox `id` being read at start is kept.
    pub(crate) async fn warmed(&self, id: i64) {
        let lock = self.warming.lock().ok().and_then(|w| w.get(&id).cloned());
        if let Some(lock) = lock {
            drop(lock.lock().await);
        }
    }

    /// How many views are kept.
    pub(crate) fn len(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.len())
    }

    /// Forgets mailbox `id`'s view (its view could not be brought
    /// forward).
    pub(crate) fn forget(&self, id: i64) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.remove(&id);
        }
    }
}

/// A view being read at start; see [`Views::warming`].
pub(crate) struct Warming<'a> {
    views: &'a Views,
    id: i64,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Warming<'_> {
    fn drop(&mut self) {
        if let Ok(mut warming) = self.views.warming.lock() {
            warming.remove(&self.id);
        }
    }
}

/// About how much memory a view takes: its rows, and for a message
/// with keywords their set's node and strings.
fn bytes_of(rows: &FlagRows) -> usize {
    // Chunk by chunk: the vector's own iterator, row by row, costs
    // milliseconds for a million, and this runs at each SELECT that
    // brings a view forward.
    let keywords: usize = rows
        .leaves()
        .flat_map(|chunk| chunk.iter())
        .map(|r| {
            let mut k = r.flags.keywords().peekable();
            match k.peek() {
                None => 0,
                Some(_) => 300 + k.map(|w| w.len() + 24).sum::<usize>(),
            }
        })
        .sum();
    rows.len() * std::mem::size_of::<FlagRow>() + keywords
}

/// Applies changes (in log order) to a view, idempotently: a message
/// added twice is there once, flags older than the view's are not taken,
/// an expunged message that is not there stays away.
pub(crate) fn apply(rows: &mut FlagRows, changes: &[Change]) {
    // Expunges are taken out at the end (UIDs are never given again, so
    // nothing is added back after its expunge).
    let mut gone = std::collections::HashSet::new();
    for change in changes {
        match &change.kind {
            ChangeKind::Added(added) => {
                for (uid, flags) in added {
                    if let Err(at) = rows.binary_search_by_key(uid, |r| r.uid) {
                        rows.insert(
                            at,
                            FlagRow {
                                uid: *uid,
                                modseq: change.modseq,
                                flags: flags.clone(),
                            },
                        );
                    }
                }
            }
            ChangeKind::FlagsChanged { messages, .. } => {
                for (uid, flags) in messages {
                    set_flags(rows, *uid, flags, change.modseq);
                }
            }
            ChangeKind::Expunged(uids) => gone.extend(uids.iter().copied()),
            _ => {}
        }
    }
    // A few taken out one by one: the rows before and after stay shared
    // (a pass over all of them copies every chunk after the first gone).
    if gone.len() <= REMOVED_ONE_BY_ONE {
        for uid in gone {
            if let Ok(at) = rows.binary_search_by_key(&uid, |r| r.uid) {
                rows.remove(at);
            }
        }
    } else {
        rows.retain(|r| !gone.contains(&r.uid));
    }
}

/// Up to this many expunged messages are taken out of a view one by one;
/// more, in one pass.
const REMOVED_ONE_BY_ONE: usize = 256;

fn set_flags(rows: &mut FlagRows, uid: u32, flags: &Flags, modseq: u64) {
    if let Ok(at) = rows.binary_search_by_key(&uid, |r| r.uid)
        && rows[at].modseq <= modseq
    {
        let row = &mut rows[at];
        row.flags = flags.clone();
        row.modseq = modseq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailroom_shared::SystemFlag;

    fn change(modseq: u64, kind: ChangeKind) -> Change {
        Change {
            mailbox_id: 1,
            modseq,
            log_id: modseq as i64,
            kind,
        }
    }

    fn uids(rows: &FlagRows) -> Vec<u32> {
        rows.iter().map(|r| r.uid).collect()
    }

    #[test]
    fn changes_apply_once_and_in_order() {
        let seen = Flags::from(SystemFlag::Seen);
        let mut rows: FlagRows = (1..=3)
            .map(|uid| FlagRow {
                uid,
                modseq: 5,
                flags: Flags::default(),
            })
            .collect();
        let changes = [
            change(6, ChangeKind::Added(vec![(4, Flags::default()), (5, seen.clone())])),
            change(
                7,
                ChangeKind::FlagsChanged {
                    messages: vec![(2, seen.clone())],
                    only_for: None,
                },
            ),
            change(8, ChangeKind::Expunged(vec![1, 5])),
            // Older than what the view has: not taken.
            change(
                4,
                ChangeKind::FlagsChanged {
                    messages: vec![(3, seen.clone())],
                    only_for: None,
                },
            ),
        ];
        apply(&mut rows, &changes);
        let once = rows.clone();
        // The same changes again (read from the view and the log both).
        apply(&mut rows, &changes);
        for r in [&once, &rows] {
            assert_eq!(uids(r), [2, 3, 4]);
            assert!(r[0].flags.contains(SystemFlag::Seen) && r[0].modseq == 7);
            assert!(!r[1].flags.contains(SystemFlag::Seen) && r[1].modseq == 5);
            assert_eq!(r[2].modseq, 6);
        }
    }

    #[test]
    fn sessions_share_a_kept_view_until_one_changes_it() {
        let views = Views::default();
        let rows: FlagRows = (1..=KEPT_FROM as u32)
            .map(|uid| FlagRow {
                uid,
                modseq: 1,
                flags: Flags::default(),
            })
            .collect();
        views.keep(
            1,
            View {
                rows,
                log_id: 3,
                uidvalidity: 7,
            },
        );
        let one = views.get(1, 7).expect("kept").rows;
        let mut other = views.get(1, 7).expect("kept").rows;
        assert!(one.ptr_eq(&other), "taken without a copy");
        let seen = Flags::from(SystemFlag::Seen);
        let flagged = ChangeKind::FlagsChanged {
            messages: vec![(5, seen)],
            only_for: None,
        };
        apply(&mut other, &[change(2, flagged)]);
        assert!(other[4].flags.contains(SystemFlag::Seen));
        assert!(!one[4].flags.contains(SystemFlag::Seen), "the other's view is its own");
        assert!(!views.get(1, 7).expect("kept").rows[4].flags.contains(SystemFlag::Seen));

        // Expunges, a few (one by one) and many (in one pass).
        apply(&mut other, &[change(3, ChangeKind::Expunged(vec![2, 4]))]);
        let many: Vec<u32> = (100..400).collect();
        apply(&mut other, &[change(4, ChangeKind::Expunged(many))]);
        assert_eq!(other.len(), KEPT_FROM - 302);
        assert_eq!(uids(&other)[..4], [1, 3, 5, 6]);
        assert_eq!(other[96].uid, 99);
        assert_eq!(other[97].uid, 400);
        assert_eq!(one.len(), KEPT_FROM, "the other's view is its own");
    }

    #[test]
    fn small_views_are_not_kept_and_another_mailbox_is_not_taken() {
        let views = Views::default();
        let rows = |n: u32| {
            (1..=n)
                .map(|uid| FlagRow {
                    uid,
                    modseq: 1,
                    flags: Flags::default(),
                })
                .collect::<FlagRows>()
        };
        views.keep(
            1,
            View {
                rows: rows(10),
                log_id: 3,
                uidvalidity: 7,
            },
        );
        assert!(views.get(1, 7).is_none());
        views.keep(
            1,
            View {
                rows: rows(KEPT_FROM as u32),
                log_id: 3,
                uidvalidity: 7,
            },
        );
        assert_eq!(views.get(1, 7).map(|v| (v.rows.len(), v.log_id)), Some((KEPT_FROM, 3)));
        assert!(views.get(1, 8).is_none(), "a new mailbox under the same id");
        assert!(views.get(1, 7).is_none(), "and the old view is dropped");
    }
}
