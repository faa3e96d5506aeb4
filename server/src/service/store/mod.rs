//! The store: every byte Mailroom keeps, in SQLite (embedded, the default)
//! or PostgreSQL (several nodes on one database).
//!
//! Both databases are reached through sqlx's `Any` driver, so each query is
//! written once: sqlx-sqlite binds `$1, $2` by number like PostgreSQL, and
//! the schema sticks to types both share (64-bit integers, text, bytes).
//! What differs — the schema's spelling, how a write transaction starts —
//! is chosen by [`Backend`]. Nothing above this module writes SQL.

mod accounts;
mod appends;
mod contents;
mod flags;
mod group_sync;
mod mailboxes;
mod messages;
mod migrate;
mod rules;
mod settings;
mod team;
mod web;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};

pub use accounts::{AccountRow, DomainRow, RoutingRule};
pub use mailboxes::{MailboxRow, NewMailbox};
pub use messages::{ChangeRow, Content, LogKind, NewMessage, content_hash, copy_of};
pub use rules::RuleRow;
pub use team::NewActivity;
pub use web::{ListedMessage, QueryPlan, SEARCH_COUNT};

/// Which database is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?} (use sqlite:… or postgres://…)")]
    UnsupportedUrl(String),
    #[error("the stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("syncing the database to disk: {0}")]
    Sync(std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A writer's turn on SQLite (see [`Store::write`]); `None` on PostgreSQL.
pub(crate) type Turn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Tags this process's rows in the change log: which node or command
    /// made a change.
    origin: String,
    /// The PostgreSQL URL, for the change feed's LISTEN connection.
    postgres_url: Option<String>,
    /// Counts the commits that change who may open which mailbox (ACLs,
    /// mailboxes created, renamed or deleted, aliases, external INBOXes)
    /// — here, and as the change feed reads them, elsewhere. A session
    /// that keeps a mailbox open re-resolves it when this moved.
    directory: Arc<AtomicU64>,
    /// SQLite: this process's writers, one at a time (see [`Store::write`]).
    writers: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: the connection whose commits are not synced to disk, for
    /// [`Store::write_unsynced`] and new messages (one: see `connect`).
    unsynced: Option<AnyPool>,
    /// SQLite on a file: syncs the message writes' commits (see `appends`).
    group_sync: Option<Arc<group_sync::GroupSync>>,
    /// SQLite: flag changes waiting to be written together (see `flags`).
    flag_queue: Arc<flags::FlagQueue>,
    /// SQLite: new messages waiting to be written together (see `appends`).
    insert_queue: Arc<appends::InsertQueue>,
    contents: Arc<contents::Contents>,
}

/// The PostgreSQL channel each commit that changes a mailbox notifies,
/// with `"MAILBOX_ID MODSEQ"` as payload.
pub const CHANGES_CHANNEL: &str = "mailroom_changes";

/// The file name of the embedded database inside the data directory.
pub const SQLITE_FILE: &str = "mailroom.sqlite3";

impl Store {
    /// Opens the SQLite database in `data_dir`, creating and migrating it on
    /// first use.
    ///
    /// The directory is made 0700 and the database 0600 (SQLite gives its
    /// WAL files the database's mode): they hold every message, password
    /// hashes and the web's signing key, and other local users must not
    /// read them. Wider ones made by hand are warned about, not changed.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Store> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let failed = |what: &str, path: &Path, e: std::io::Error| {
            StoreError::Database(sqlx::Error::Configuration(
                format!("cannot {what} {}: {e}", path.display()).into(),
            ))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|e| failed("create data directory", data_dir, e))?;
        let file = data_dir.join(SQLITE_FILE);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&file)
            .map_err(|e| failed("create database", &file, e))?;
        for path in [data_dir, file.as_path()] {
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    "{} can be read by other local users (mode {:o}); chmod go-rwx it",
                    path.display(),
                    meta.permissions().mode() & 0o777
                );
            }
        }
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Store::connect(&url).await
    }

    /// Connects to `url` (`sqlite:…` or `postgres://…`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.into()));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let (pool, unsynced) = match backend {
            Backend::Sqlite => (
                sqlite_pool(&options, 3, "FULL").await?,
                // One connection for the writes that take turns: SQLite
                // drops a connection's whole page cache when another one
                // wrote since, so two taking turns read their pages again
                // at every write.
                Some(sqlite_pool(&options, 1, "NORMAL").await?),
            ),
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| Box::pin(async move { serial_plans(conn).await }))
                    .connect_with(options)
                    .await?;
                (pool, None)
            }
        };
        let store = Store {
            pool,
            backend,
            origin: format!("{:016x}", rand::random::<u64>()),
            postgres_url: (backend == Backend::Postgres).then(|| url.to_owned()),
            directory: Arc::default(),
            writers: Arc::default(),
            unsynced,
            group_sync: None,
            flag_queue: Arc::default(),
            insert_queue: Arc::default(),
            contents: Arc::default(),
        };
        migrate::run(&store).await?;
        Ok(Store {
            group_sync: store
                .database_file()
                .await?
                .map(|f| Arc::new(group_sync::GroupSync::new(&f))),
            ..store
        })
    }

    /// How many directory changes this process has seen; see
    /// [`Store::directory_changed`].
    pub fn directory_generation(&self) -> u64 {
        self.directory.load(Ordering::Acquire)
    }

    /// Notes a committed change to ACLs, mailbox names or routing; called
    /// after the commit, so that a reader that saw the old generation
    /// re-reads what changed.
    pub(crate) fn directory_changed(&self) {
        self.directory.fetch_add(1, Ordering::AcqRel);
    }

    /// Commits a change of domains, aliases, accounts, routing or rules,
    /// logged in the change log first so that other nodes (and other
    /// processes: the CLI) drop what they kept of the directory too.
    pub(super) async fn commit_directory(&self, mut tx: messages::Tx) -> Result<()> {
        messages::log_directory_change(&mut tx, self).await?;
        tx.commit().await?;
        self.directory_changed();
        Ok(())
    }

    /// After a big import: the planner's statistics of every table now
    /// (on PostgreSQL, whose autovacuum takes its time, plans made
    /// meanwhile think the new rows are not there).
    /// On SQLite, the word index's segments merged too (see
    /// [`Store::merge_word_index`]).
    pub async fn analyze(&self) -> Result<()> {
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA optimize = 0x10002",
            Backend::Postgres => "ANALYZE",
        };
        sqlx::query(sql).execute(&self.pool).await?;
        if self.backend == Backend::Sqlite {
            self.merge_word_index().await?;
        }
        Ok(())
    }

    /// Merges SQLite's word index into one segment. An import leaves it
    /// in many (one per transaction, merged only in part as it goes), and
    /// each word looked up is looked up in each: a word in one message of
    /// a million took 28 ms to find, 0.1 ms merged (30 s of merging after
    /// the 15 minutes of that import). In steps of its own transaction
    /// each, as FTS5's `merge` command allows (the longest took 2.4 s):
    /// a running server's writers wait for a step, never the whole of
    /// it. Done when a step changed (next to) nothing, as FTS5's
    /// documentation says to tell.
    async fn merge_word_index(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        loop {
            let _turn = self.sqlite_turn().await;
            let before: i64 = sqlx::query_scalar("SELECT total_changes()")
                .fetch_one(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO message_text (message_text, rank) VALUES ('merge', -2000)")
                .execute(&mut *conn)
                .await?;
            let after: i64 = sqlx::query_scalar("SELECT total_changes()")
                .fetch_one(&mut *conn)
                .await?;
            if after - before < 2 {
                return Ok(());
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where to LISTEN for other nodes' changes (PostgreSQL only).
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres_url.as_deref()
    }

    /// Tells the nodes listening on [`CHANGES_CHANNEL`] that a mailbox
    /// reached `modseq`. PostgreSQL delivers it at commit (never for a
    /// rolled-back transaction); the payload carries numbers only, far
    /// under its 8,000-byte limit. SQLite has no other nodes: nothing.
    pub(super) async fn notify(&self, tx: &mut Transaction<'static, Any>, mailbox_id: i64, modseq: i64) -> Result<()> {
        if self.backend == Backend::Postgres {
            // NOTIFY takes no bind parameters; both values are integers.
            let sql = format!("NOTIFY {CHANGES_CHANNEL}, '{mailbox_id} {modseq}'");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Starts a write transaction; keep the turn until it ends. On SQLite
    /// the process's writers first queue for their turn here, then take
    /// the database's write lock at once (`BEGIN IMMEDIATE`, so two
    /// writers never deadlock upgrading a read lock): the lock is then
    /// only contended by other processes, and SQLite's busy handler —
    /// which sleeps a millisecond and more between tries — stays out of
    /// the way of this one. PostgreSQL locks the rows each statement
    /// touches; it needs no turn.
    pub(crate) async fn write(&self) -> Result<(Turn, Transaction<'static, Any>)> {
        self.begin_write(&self.pool).await
    }

    /// A write transaction for changes that may be lost in a power cut
    /// (flags): on SQLite its commit is not synced to disk (the next
    /// synced commit or checkpoint takes it along); after a crash of the
    /// process alone nothing is lost. New messages are written on its
    /// connections too (`appends`), and wait for [`Store::synced`] before
    /// they are acknowledged.
    pub(crate) async fn write_unsynced(&self) -> Result<(Turn, Transaction<'static, Any>)> {
        self.begin_write(self.unsynced_pool()).await
    }

    /// The connections of [`Store::write_unsynced`] (PostgreSQL: the pool).
    fn unsynced_pool(&self) -> &AnyPool {
        self.unsynced.as_ref().unwrap_or(&self.pool)
    }

    /// Returns once every commit this process finished so far is on disk
    /// (commits of [`Store::write_unsynced`]; see `group_sync`).
    async fn synced(&self) -> Result<()> {
        match &self.group_sync {
            Some(sync) => sync.after_commit().await,
            None => Ok(()),
        }
    }

    /// SQLite: the main database file, unless it lives in memory.
    async fn database_file(&self) -> Result<Option<std::path::PathBuf>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(file).filter(|f| !f.is_empty()).map(Into::into))
    }

    async fn begin_write(&self, pool: &AnyPool) -> Result<(Turn, Transaction<'static, Any>)> {
        let turn = match self.backend {
            Backend::Sqlite => Some(self.sqlite_turn().await),
            Backend::Postgres => None,
        };
        Ok((turn, self.begin_in_turn(pool).await?))
    }

    /// SQLite: waits for this process's turn to write.
    async fn sqlite_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.writers.clone().lock_owned().await
    }

    /// A write transaction on `pool`, for a writer that has its turn.
    async fn begin_in_turn(&self, pool: &AnyPool) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(pool) = &self.unsynced {
            pool.close().await;
        }
    }
}

/// Connections to the SQLite file. WAL lets readers go on while one
/// writer writes; the busy timeout makes writers of other processes (the
/// CLI) queue, not fail; `synchronous`: FULL syncs the WAL at each commit,
/// so what was acknowledged (an LMTP 250) survives power loss; NORMAL
/// leaves that to the next FULL commit or checkpoint.
async fn sqlite_pool(options: &AnyConnectOptions, size: u32, synchronous: &'static str) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(size)
        // A local file does not drop connections; the ping before each
        // hand-out would cost a round trip to the connection's thread for
        // every query.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                let sql = format!(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};"
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await?;
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await?)
}

/// No parallel plans on Mailroom's PostgreSQL sessions. What users wait
/// on are index walks that stop at a page or a count's cap; a parallel
/// plan starts a worker process first, which costs more than the walk it
/// shares (the few whole reads, such as a search of every folder, lose a
/// little): a search of a common word in a big mailbox took 48–58 ms with
/// one worker and 23–27 ms without, sorted by sender 38–47 ms and 7 ms
/// (EXPLAIN ANALYZE and psql, 100,000 messages). And a mail server's
/// cores are its many sessions' to share, not one query's.
async fn serial_plans(conn: &mut sqlx::AnyConnection) -> std::result::Result<(), sqlx::Error> {
    sqlx::raw_sql("SET max_parallel_workers_per_gather = 0")
        .execute(conn)
        .await?;
    Ok(())
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> crate::Error {
        if let StoreError::Database(sqlx::Error::Database(db)) = &e
            && db.is_unique_violation()
        {
            return crate::Error::AlreadyExists("it exists already".into());
        }
        tracing::error!("store: {e}");
        crate::Error::Internal(Box::new(e))
    }
}
