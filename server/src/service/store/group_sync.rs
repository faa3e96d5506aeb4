//! Group commit for SQLite: many commits, one `fsync`.
//!
//! With `synchronous = FULL` SQLite syncs its write-ahead log at every
//! commit, inside the one writer's turn: on this kind of disk ~2 ms, so
//! ten LMTP senders queue behind ten syncs in a row. Instead, message
//! writes commit on a connection that does not sync (`NORMAL`), release
//! the turn, and then wait here: one caller syncs the WAL file while the
//! others queue, and every commit made before that sync began is covered
//! by it — the next writer's statements run while the disk works. The
//! commit is acknowledged (an LMTP 250, an APPEND's OK) only after its
//! sync, so it is as durable as with `FULL`. sqlx has no group commit and
//! SQLite leaves it to the application; this is the small part written
//! here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Result, StoreError};

pub(super) struct GroupSync {
    wal: PathBuf,
    /// Commits that asked to be made durable, counted.
    committed: AtomicU64,
    /// How many of them a finished sync covered; held while syncing.
    synced: tokio::sync::Mutex<u64>,
}

impl GroupSync {
    /// For the database file `database` (its WAL is `database-wal`).
    pub(super) fn new(database: &Path) -> GroupSync {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        GroupSync {
            wal: wal.into(),
            committed: AtomicU64::new(0),
            synced: tokio::sync::Mutex::new(0),
        }
    }

    /// Returns once the WAL is on disk with every commit that finished
    /// before this call; call it after the commit, outside the turn.
    pub(super) async fn after_commit(&self) -> Result<()> {
        let ticket = self.committed.fetch_add(1, Ordering::AcqRel) + 1;
        let mut synced = self.synced.lock().await;
        if *synced >= ticket {
            return Ok(()); // a sync that began after this commit is done
        }
        let covers = self.committed.load(Ordering::Acquire);
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || sync_file(&wal))
            .await
            .map_err(|e| StoreError::Sync(std::io::Error::other(e)))?
            .map_err(StoreError::Sync)?;
        *synced = covers;
        Ok(())
    }
}

/// Syncs the file's data. Opened anew each time: SQLite deletes the WAL
/// when its last connection closes and makes a new one later; a kept
/// descriptor would sync the deleted file.
fn sync_file(path: &Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        // No WAL: it was checkpointed into the database file (which the
        // checkpoint synced) and removed.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::GroupSync;

    #[tokio::test]
    async fn one_sync_covers_every_commit_made_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(dir.path().join("db-wal"), b"frames").unwrap();
        let sync = std::sync::Arc::new(GroupSync::new(&db));
        // The first caller syncs; while it holds the lock, later commits
        // queue, and the first of them syncs once for all of them.
        let guard = sync.synced.lock().await;
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let sync = sync.clone();
                tokio::spawn(async move { sync.after_commit().await })
            })
            .collect();
        while sync.committed.load(std::sync::atomic::Ordering::Acquire) < 5 {
            tokio::task::yield_now().await;
        }
        drop(guard);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(*sync.synced.lock().await, 5);
    }

    #[tokio::test]
    async fn a_missing_wal_needs_no_sync() {
        let dir = tempfile::tempdir().unwrap();
        let sync = GroupSync::new(&dir.path().join("db"));
        sync.after_commit().await.unwrap();
    }
}
