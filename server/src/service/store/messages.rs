//! Messages, their content (stored once by SHA-256), flags, and the
//! per-mailbox change log.

use mailroom_shared::{Flags, SystemFlag};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Backend, CHANGES_CHANNEL, Result, Store, StoreError};
use crate::service::types::{FlagRow, MessageMeta};

pub(super) type Tx = Transaction<'static, Any>;

/// This message as a new one elsewhere: same content (not stored again),
/// date and envelope sender, with `flags`.
pub fn copy_of(m: &MessageMeta, flags: Flags) -> NewMessage {
    NewMessage {
        content: Content::Stored {
            hash: m.blob_hash.clone(),
            size: m.size,
        },
        flags,
        internal_date: m.internal_date,
        envelope_from: m.envelope_from.clone(),
    }
}

/// Content of a message to add: new bytes, or content already stored
/// (a copy).
pub enum Content {
    New(Vec<u8>),
    Stored { hash: String, size: u32 },
}

pub struct NewMessage {
    pub content: Content,
    pub flags: Flags,
    pub internal_date: i64,
    pub envelope_from: Option<String>,
}

/// A message to add, hashed and (when new) summarized before the writer's
/// turn, so that other writers need not wait for the parsing.
pub(super) struct Ready {
    hash: String,
    size: i64,
    /// New content: its bytes and what the web's list and search show.
    pub(super) new: Option<(Vec<u8>, crate::message::Summary)>,
    flags: Flags,
    internal_date: i64,
    envelope_from: Option<String>,
}

pub(super) fn prepare(messages: Vec<NewMessage>) -> Vec<Ready> {
    messages
        .into_iter()
        .map(|message| {
            let (hash, size, new) = match message.content {
                Content::New(bytes) => {
                    let summary = crate::message::summarize(&bytes);
                    (content_hash(&bytes), bytes.len() as i64, Some((bytes, summary)))
                }
                Content::Stored { hash, size } => (hash, i64::from(size), None),
            };
            Ready {
                hash,
                size,
                new,
                flags: message.flags,
                internal_date: message.internal_date,
                envelope_from: message.envelope_from,
            }
        })
        .collect()
}

/// One row of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub id: i64,
    pub mailbox_id: i64,
    pub modseq: u64,
    pub kind: LogKind,
    pub uid: Option<u32>,
    pub flags: Option<Flags>,
    /// Set for a per-user `\Seen` change: only that account sees it.
    pub account_id: Option<i64>,
    /// The new name, for a rename.
    pub detail: Option<String>,
}

/// What one row of the change log says happened, stored as a small
/// integer. The numbers are in the database: never reuse or renumber one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    Added = 1,
    Flags = 2,
    Expunged = 3,
    MailboxCreated = 4,
    MailboxRenamed = 5,
    MailboxDeleted = 6,
    AclChanged = 7,
    /// Not a mailbox's (`mailbox_id` 0): the directory changed — domains,
    /// aliases, accounts, routing or delivery rules — and every node drops
    /// what it kept of it ([`super::Store::directory_generation`]).
    Directory = 8,
}

impl LogKind {
    pub const ALL: [LogKind; 8] = [
        LogKind::Added,
        LogKind::Flags,
        LogKind::Expunged,
        LogKind::MailboxCreated,
        LogKind::MailboxRenamed,
        LogKind::MailboxDeleted,
        LogKind::AclChanged,
        LogKind::Directory,
    ];

    pub fn code(self) -> i16 {
        self as i16
    }

    /// The kind stored as `code`; a code no version of Mailroom wrote is
    /// an inconsistency, reported, not guessed at.
    pub fn from_code(code: i64) -> Result<LogKind> {
        LogKind::ALL
            .into_iter()
            .find(|k| i64::from(k.code()) == code)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown change kind {code} in the change log")))
    }
}

/// Mailbox-level entries of the change log.
pub(super) enum ChangeKindTag<'a> {
    MailboxCreated,
    MailboxRenamed(&'a str),
    MailboxDeleted,
    AclChanged,
}

pub(super) async fn log_change(
    tx: &mut Tx,
    store: &Store,
    mailbox_id: i64,
    modseq: impl TryInto<i64>,
    kind: ChangeKindTag<'_>,
) -> Result<()> {
    let modseq = modseq.try_into().unwrap_or(i64::MAX);
    store.notify(tx, mailbox_id, modseq).await?;
    let (kind, detail) = match kind {
        ChangeKindTag::MailboxCreated => (LogKind::MailboxCreated, None),
        ChangeKindTag::MailboxRenamed(name) => (LogKind::MailboxRenamed, Some(name)),
        ChangeKindTag::MailboxDeleted => (LogKind::MailboxDeleted, None),
        ChangeKindTag::AclChanged => (LogKind::AclChanged, None),
    };
    sqlx::query("INSERT INTO changes (mailbox_id, modseq, kind, detail, origin) VALUES ($1, $2, $3, $4, $5)")
        .bind(mailbox_id)
        .bind(modseq)
        .bind(kind.code())
        .bind(detail)
        .bind(store.origin.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Notes a change of the directory in the writer's transaction, for every
/// node's [`LogKind::Directory`] follower (and this one's, at once, after
/// the commit: see [`super::Store::commit_directory`]).
pub(super) async fn log_directory_change(tx: &mut Tx, store: &Store) -> Result<()> {
    store.notify(tx, 0, 0).await?;
    sqlx::query("INSERT INTO changes (mailbox_id, modseq, kind, origin) VALUES (0, 0, $1, $2)")
        .bind(LogKind::Directory.code())
        .bind(store.origin.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) struct MessageChange<'a> {
    pub(super) mailbox_id: i64,
    pub(super) modseq: i64,
    pub(super) kind: LogKind,
    pub(super) uid: u32,
    pub(super) flags: Option<&'a Flags>,
    pub(super) account_id: Option<i64>,
    /// An expunged message's `blob_hash size internal_date`.
    pub(super) detail: Option<String>,
}

pub(super) async fn log_message_change(tx: &mut Tx, store: &Store, c: MessageChange<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO changes (mailbox_id, modseq, kind, uid, system_flags, keywords, account_id, origin, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(c.mailbox_id)
    .bind(c.modseq)
    .bind(c.kind.code())
    .bind(i64::from(c.uid))
    .bind(c.flags.map(Flags::system_bits))
    .bind(c.flags.map(Flags::keywords_text))
    .bind(c.account_id)
    .bind(store.origin.as_str())
    .bind(c.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A message row's flags as its reader sees them (`seen_by_reader`: the
/// reader's own `\Seen` in a per-user seen mailbox).
fn flags_from(row: &AnyRow) -> Result<Flags> {
    let keywords: &str = row.try_get("keywords")?;
    let mut flags = Flags::from_stored(row.try_get("system_flags")?, keywords);
    if row.try_get::<i64, _>("seen_by_reader")? != 0 {
        flags.insert(SystemFlag::Seen);
    }
    Ok(flags)
}

pub(super) fn message_from(row: &AnyRow) -> Result<MessageMeta> {
    let flags = flags_from(row)?;
    Ok(MessageMeta {
        uid: row.try_get::<i64, _>("uid")? as u32,
        modseq: row.try_get::<i64, _>("modseq")? as u64,
        flags,
        internal_date: row.try_get("internal_date")?,
        size: row.try_get::<i64, _>("size")? as u32,
        blob_hash: row.try_get("blob_hash")?,
        envelope_from: row.try_get("envelope_from")?,
    })
}

/// `$2` is the reader's account for per-user `\Seen` (any id that matches
/// no row, such as 0, in shared mode).
/// The columns `message_from` reads; `$2` is the reader of a per-user
/// seen mailbox.
macro_rules! message_columns {
    () => {
        "m.uid, m.modseq, m.system_flags, m.keywords, m.internal_date, m.size, m.blob_hash, m.envelope_from, \
         (SELECT COUNT(*) FROM seen_by r WHERE r.mailbox_id = m.mailbox_id AND r.uid = m.uid \
          AND r.account_id = $2) AS seen_by_reader"
    };
}
/// UIDs as an SQL list (`3, 5, 8`): numbers, written into the SQL as
/// numbers, never text from a client.
pub(super) fn uid_list(uids: &[u32]) -> String {
    let uids: Vec<String> = uids.iter().map(u32::to_string).collect();
    uids.join(", ")
}

pub(super) const MESSAGE_COLUMNS: &str = message_columns!();
pub(super) const MESSAGE_SELECT: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.mailbox_id = $1"
);

fn change_from(row: &AnyRow) -> Result<ChangeRow> {
    let system: Option<i64> = row.try_get("system_flags")?;
    let keywords: Option<String> = row.try_get("keywords")?;
    Ok(ChangeRow {
        id: row.try_get("id")?,
        mailbox_id: row.try_get("mailbox_id")?,
        modseq: row.try_get::<i64, _>("modseq")? as u64,
        kind: LogKind::from_code(row.try_get("kind")?)?,
        uid: row.try_get::<Option<i64>, _>("uid")?.map(|u| u as u32),
        flags: system.map(|s| Flags::from_stored(s, keywords.as_deref().unwrap_or(""))),
        account_id: row.try_get("account_id")?,
        detail: row.try_get("detail")?,
    })
}

/// A message's sort keys from its content's summary `s`: the first 64
/// characters of its sender and subject, in lower case (empty without a
/// summary). PostgreSQL's one-statement insert reads the same values
/// (`insert_one_statement`).
const SORT_KEYS: &str = "COALESCE(LOWER(SUBSTR(s.sender, 1, 64)), ''), COALESCE(LOWER(SUBSTR(s.subject, 1, 64)), '')";

/// Where a new message's UID and MODSEQ come from in its SQL.
enum Numbers {
    /// Bound (`$2`, `$3`).
    Bound,
    /// Read from its mailbox's row, updated by the statement before.
    FromMailbox,
}

fn vanished(mailbox_id: i64) -> StoreError {
    StoreError::Corrupt(format!("mailbox {mailbox_id} vanished"))
}

const CHANGE_COLUMNS: &str = "id, mailbox_id, modseq, kind, uid, system_flags, keywords, account_id, detail";

pub fn content_hash(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

impl Store {
    /// Adds `messages` to a mailbox under new UIDs and one new MODSEQ in
    /// `tx`; see [`Store::insert_messages`].
    pub(super) async fn tx_insert(
        &self,
        tx: &mut Tx,
        mailbox_id: i64,
        messages: &[Ready],
        seen_reader: Option<i64>,
    ) -> Result<super::appends::Inserted> {
        let postgres = self.backend == Backend::Postgres;
        if !postgres
            && let [ready] = messages
            && !(seen_reader.is_some() && ready.flags.contains(SystemFlag::Seen))
        {
            return self.sqlite_insert_one(tx, mailbox_id, ready, seen_reader).await;
        }
        let count = messages.len() as i64;
        // The mailbox's row first, then the content: the order every
        // writer takes them in (an expunge locks the mailbox, then the
        // content it may orphan), so two writers never wait on each other.
        // PostgreSQL's notification is sent from the same statement (at
        // the commit, as NOTIFY would be): a round trip less.
        let notify = match postgres {
            true => format!(", pg_notify('{CHANGES_CHANNEL}', id || ' ' || highest_modseq) IS NULL AS notified"),
            false => String::new(),
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mailboxes SET uidnext = uidnext + $2, highest_modseq = highest_modseq + 1 \
             WHERE id = $1 RETURNING uidnext, highest_modseq{notify}"
        )))
        .bind(mailbox_id)
        .bind(count)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| vanished(mailbox_id))?;
        let first_uid = row.try_get::<i64, _>("uidnext")? - count;
        let modseq: i64 = row.try_get("highest_modseq")?;
        if !postgres {
            self.notify(tx, mailbox_id, modseq).await?;
        }
        let mut uids = Vec::with_capacity(messages.len());
        for (i, ready) in messages.iter().enumerate() {
            let uid = first_uid + i as i64;
            if postgres && let Some((bytes, summary)) = &ready.new {
                super::web::insert_summary(tx, self, &ready.hash, summary, Some(bytes)).await?;
            }
            if let Some(reader) = seen_reader
                && ready.flags.contains(SystemFlag::Seen)
            {
                insert_seen(tx, mailbox_id, uid, reader).await?;
            }
            let sql = self.message_sql(ready, Numbers::Bound);
            self.bind_message(&sql, ready, seen_reader, (mailbox_id, uid, modseq))
                .execute(&mut **tx)
                .await?;
            uids.push(uid as u32);
        }
        Ok((uids, modseq as u64))
    }

    /// SQLite: one message (a delivery, an APPEND) in one query — the
    /// mailbox's row, the content, the message and its change-log row,
    /// its UID and MODSEQ read back at the end: one hop to SQLite's thread
    /// and back inside the writer's turn, where the mailbox's row took one
    /// of its own. The turn is what ten LMTP senders queue for.
    async fn sqlite_insert_one(
        &self,
        tx: &mut Tx,
        mailbox_id: i64,
        ready: &Ready,
        seen_reader: Option<i64>,
    ) -> Result<super::appends::Inserted> {
        let sql = format!(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1 WHERE id = $1; \
             {}; SELECT uidnext - 1 AS uid, highest_modseq FROM mailboxes WHERE id = $1",
            self.message_sql(ready, Numbers::FromMailbox)
        );
        // All of it: sqlx's `fetch_optional` on `Any` stops at the first
        // statement's result, and SQLite's thread then leaves the rest.
        let rows = self
            .bind_message(&sql, ready, seen_reader, (mailbox_id, 0, 0))
            .fetch_all(&mut **tx)
            .await?;
        let row = rows.first().ok_or_else(|| vanished(mailbox_id))?;
        let (uid, modseq): (i64, i64) = (row.try_get("uid")?, row.try_get("highest_modseq")?);
        Ok((vec![uid as u32], modseq as u64))
    }

    /// The statements that add one message and its change-log row (and,
    /// on SQLite, its new content first; see [`Store::bind_message`]).
    fn message_sql(&self, ready: &Ready, numbers: Numbers) -> String {
        let postgres = self.backend == Backend::Postgres;
        // The sort keys come from the content's summary, found once;
        // SQLite's messages keep its rowid too, for the walk of a common
        // word's search (migration 16).
        let (summary_column, summary_id) = match postgres {
            true => ("", ""),
            false => (", summary_id", ", s.rowid"),
        };
        let (uid, modseq, source) = match numbers {
            Numbers::Bound => ("$2", "$3", "(SELECT 1 AS one) AS k"),
            Numbers::FromMailbox => ("mb.uidnext - 1", "mb.highest_modseq", "mailboxes mb"),
        };
        let only = match numbers {
            Numbers::Bound => "",
            Numbers::FromMailbox => " WHERE mb.id = $1",
        };
        let insert = format!(
            "INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, internal_date, \
             size, blob_hash, envelope_from, sort_sender, sort_subject{summary_column}) \
             SELECT $1, {uid}, {modseq}, $4, $5, $6, $7, $8, $9, {SORT_KEYS}{summary_id} \
             FROM {source} LEFT JOIN summaries s ON s.hash = $8{only}"
        );
        // The change log's row is written in the same call: on PostgreSQL
        // by the same statement, on SQLite by the next one of the same
        // query, with new content's statements before them — one hop to
        // SQLite's thread and back for the lot, where each statement was
        // one. Both say what `log_message_change` would.
        if postgres {
            return format!(
                "WITH m AS ({insert} RETURNING mailbox_id, uid, modseq, system_flags, keywords) \
                 INSERT INTO changes (mailbox_id, modseq, kind, uid, system_flags, keywords, origin) \
                 SELECT mailbox_id, modseq, $10, uid, system_flags, keywords, $11 FROM m"
            );
        }
        let change = match numbers {
            Numbers::Bound => "VALUES ($1, $3, $10, $2, $4, $5, $11)",
            Numbers::FromMailbox => {
                "SELECT $1, highest_modseq, $10, uidnext - 1, $4, $5, $11 FROM mailboxes WHERE id = $1"
            }
        };
        let content = match ready.new {
            Some(_) => super::web::SQLITE_NEW_CONTENT.as_str(),
            None => "",
        };
        format!(
            "{content}{insert}; INSERT INTO changes (mailbox_id, modseq, kind, uid, system_flags, keywords, origin) \
             {change}"
        )
    }

    /// [`Store::message_sql`]'s query with its values: `$1` to `$3` the
    /// mailbox, UID and MODSEQ (the last two unused when read from the
    /// mailbox's row). With a reader of its own, `\Seen` is not among the
    /// flags every reader shares.
    fn bind_message<'q>(
        &self,
        sql: &'q str,
        ready: &'q Ready,
        seen_reader: Option<i64>,
        (mailbox_id, uid, modseq): (i64, i64, i64),
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        let mut shared_flags = ready.flags.clone();
        if seen_reader.is_some() {
            shared_flags.remove(SystemFlag::Seen);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(uid)
            .bind(modseq)
            .bind(shared_flags.system_bits())
            .bind(shared_flags.keywords_text())
            .bind(ready.internal_date)
            .bind(ready.size)
            .bind(ready.hash.as_str())
            .bind(ready.envelope_from.as_deref())
            .bind(LogKind::Added.code())
            .bind(self.origin.as_str());
        if self.backend == Backend::Sqlite
            && let Some((bytes, summary)) = &ready.new
        {
            query = super::web::bind_new_content(query, bytes, summary);
        }
        query
    }

    /// PostgreSQL: one message, in one statement — its own transaction,
    /// one round trip where `BEGIN`, the mailbox's row, the content, the
    /// message and `COMMIT` were five. `None` when it does not go alone
    /// (its reader's own `\Seen` goes to a table of its own): use
    /// [`Store::tx_insert`].
    pub(super) async fn insert_alone(
        &self,
        mailbox_id: i64,
        messages: &[Ready],
        seen_reader: Option<i64>,
    ) -> Option<Result<super::appends::Inserted>> {
        let [ready] = messages else { return None };
        if seen_reader.is_some() && ready.flags.contains(SystemFlag::Seen) {
            return None;
        }
        Some(self.insert_one_statement(mailbox_id, ready).await)
    }

    async fn insert_one_statement(&self, mailbox_id: i64, ready: &Ready) -> Result<super::appends::Inserted> {
        // The mailbox's row first (the CTEs that read `mb` run after it),
        // then the content: the order every writer takes them in, as in
        // `tx_insert`. A summary stored by this statement is not visible
        // to the message's row in it, so new content's sort keys come
        // from its summary's values ($10 on).
        let (content, sender, subject) = match &ready.new {
            Some(_) => (
                format!(
                    "{}, {},",
                    super::web::pg_blob(6, 19, "FROM mb"),
                    super::web::pg_summary(6, 10, "FROM mb")
                ),
                "$10",
                "$12",
            ),
            None => (String::new(), "''", "''"),
        };
        let sql = format!(
            "WITH mb AS (UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1 \
             WHERE id = $1 RETURNING uidnext - 1 AS uid, highest_modseq AS modseq, \
             pg_notify('{CHANGES_CHANNEL}', id || ' ' || highest_modseq) IS NULL AS notified), {content} \
             m AS (INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, internal_date, size, \
             blob_hash, envelope_from, sort_sender, sort_subject) SELECT $1, uid, modseq, $2, $3, $4, $5, $6, $7, \
             COALESCE((SELECT LOWER(SUBSTR(sender, 1, 64)) FROM summaries WHERE hash = $6), LOWER(SUBSTR({sender}, 1, 64))), \
             COALESCE((SELECT LOWER(SUBSTR(subject, 1, 64)) FROM summaries WHERE hash = $6), LOWER(SUBSTR({subject}, 1, 64))) \
             FROM mb RETURNING uid, modseq, system_flags, keywords), \
             c AS (INSERT INTO changes (mailbox_id, modseq, kind, uid, system_flags, keywords, origin) \
             SELECT $1, modseq, $8, uid, system_flags, keywords, $9 FROM m) \
             SELECT uid, modseq FROM m"
        );
        // Its reader's own `\Seen` would not be in these flags: see
        // `insert_alone`.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(ready.flags.system_bits())
            .bind(ready.flags.keywords_text())
            .bind(ready.internal_date)
            .bind(ready.size)
            .bind(ready.hash.as_str())
            .bind(ready.envelope_from.as_deref())
            .bind(LogKind::Added.code())
            .bind(self.origin.as_str());
        if let Some((bytes, summary)) = &ready.new {
            query = super::web::bind_summary(query, summary, Backend::Postgres).bind(bytes.as_slice());
        }
        let row = query
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("mailbox {mailbox_id} vanished")))?;
        let uid: i64 = row.try_get("uid")?;
        let modseq: i64 = row.try_get("modseq")?;
        Ok((vec![uid as u32], modseq as u64))
    }

    /// All messages of a mailbox by UID, with `\Seen` as `reader` sees it.
    pub async fn messages(&self, mailbox_id: i64, reader: Option<i64>) -> Result<Vec<MessageMeta>> {
        // Without a reader of their own (\Seen shared) nobody's read marks
        // are asked: a million messages would otherwise cost a million
        // lookups in seen_by (an IMAP SELECT of a big mailbox).
        let sql = match reader {
            Some(_) => format!("{MESSAGE_SELECT} ORDER BY m.uid"),
            None => "SELECT m.uid, m.modseq, m.system_flags, m.keywords, m.internal_date, m.size, m.blob_hash, \
                     m.envelope_from, CAST(0 AS BIGINT) AS seen_by_reader FROM messages m WHERE m.mailbox_id = $1 AND $2 = $2 \
                     ORDER BY m.uid"
                .to_owned(),
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(message_from)
            .collect()
    }

    /// The UID, MODSEQ and flags of every message of a mailbox in UID
    /// order (an IMAP SELECT), and the id of the mailbox's last change-log
    /// row as of the same moment (0: none). The rows are turned into
    /// [`FlagRow`]s as they come, so a million-message mailbox costs its
    /// view and not a million result rows besides; and no other column is
    /// read.
    pub async fn flag_rows(&self, mailbox_id: i64, reader: Option<i64>) -> Result<(Vec<FlagRow>, i64)> {
        use futures_util::TryStreamExt;
        // The last change is a constant subquery, computed once.
        let sql = match reader {
            Some(_) => {
                "SELECT m.uid, m.modseq, m.system_flags, m.keywords, \
                 (SELECT COUNT(*) FROM seen_by r WHERE r.mailbox_id = m.mailbox_id AND r.uid = m.uid \
                  AND r.account_id = $2) AS seen_by_reader, \
                 (SELECT MAX(c.id) FROM changes c WHERE c.mailbox_id = $1) AS last_change \
                 FROM messages m WHERE m.mailbox_id = $1 ORDER BY m.uid"
            }
            None => {
                "SELECT m.uid, m.modseq, m.system_flags, m.keywords, CAST(0 AS BIGINT) AS seen_by_reader, \
                 (SELECT MAX(c.id) FROM changes c WHERE c.mailbox_id = $1) AS last_change \
                 FROM messages m WHERE m.mailbox_id = $1 AND $2 = $2 ORDER BY m.uid"
            }
        };
        let mut rows = sqlx::query(sql)
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .fetch(&self.pool);
        let mut out = Vec::new();
        let mut last_change = 0;
        while let Some(row) = rows.try_next().await? {
            if out.is_empty() {
                last_change = row.try_get::<Option<i64>, _>("last_change")?.unwrap_or(0);
            }
            out.push(FlagRow {
                uid: row.try_get::<i64, _>("uid")? as u32,
                modseq: row.try_get::<i64, _>("modseq")? as u64,
                flags: flags_from(&row)?,
            });
        }
        Ok((out, last_change))
    }

    /// [`Store::messages`] of only these UIDs (those still there), in UID
    /// order: a FETCH of a few sizes need not read a million rows.
    pub async fn messages_with_uids(
        &self,
        mailbox_id: i64,
        reader: Option<i64>,
        uids: &[u32],
    ) -> Result<Vec<MessageMeta>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(500) {
            let sql = format!("{MESSAGE_SELECT} AND m.uid IN ({}) ORDER BY m.uid", uid_list(chunk));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .bind(mailbox_id)
                .bind(reader.unwrap_or(0))
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                out.push(message_from(row)?);
            }
        }
        Ok(out)
    }

    pub async fn message(&self, mailbox_id: i64, uid: u32, reader: Option<i64>) -> Result<Option<MessageMeta>> {
        let sql = format!("{MESSAGE_SELECT} AND m.uid = $3");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .bind(i64::from(uid))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(message_from)
            .transpose()
    }

    /// One message with its bytes, in one query (FETCH of a body, RETR).
    pub async fn message_with_content(
        &self,
        mailbox_id: i64,
        uid: u32,
        reader: Option<i64>,
    ) -> Result<Option<(MessageMeta, Vec<u8>)>> {
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            ", b.data FROM messages m JOIN blobs b ON b.hash = m.blob_hash \
             WHERE m.mailbox_id = $1 AND m.uid = $3"
        );
        let Some(row) = sqlx::query(sql)
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .bind(i64::from(uid))
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let (message, bytes): (MessageMeta, Vec<u8>) = (message_from(&row)?, row.try_get("data")?);
        self.remember_content(&message.blob_hash, &bytes);
        Ok(Some((message, bytes)))
    }

    /// The bytes of a stored message.
    pub async fn content(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT data FROM blobs WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sets one message's shared flags under `modseq` and logs the change.
    pub(super) async fn tx_set_flags(
        &self,
        tx: &mut Tx,
        mailbox_id: i64,
        uid: u32,
        flags: &Flags,
        modseq: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET system_flags = $1, keywords = $2, modseq = $3 \
             WHERE mailbox_id = $4 AND uid = $5",
        )
        .bind(flags.system_bits())
        .bind(flags.keywords_text())
        .bind(modseq)
        .bind(mailbox_id)
        .bind(i64::from(uid))
        .execute(&mut **tx)
        .await?;
        let change = MessageChange {
            mailbox_id,
            modseq,
            kind: LogKind::Flags,
            uid,
            flags: Some(flags),
            account_id: None,
            detail: None,
        };
        log_message_change(tx, self, change).await
    }

    /// Removes the messages flagged `\Deleted` (only those among `uids`
    /// when given). Returns the expunged UIDs and the MODSEQ.
    pub async fn expunge(&self, mailbox_id: i64, uids: Option<&[u32]>) -> Result<(Vec<u32>, u64)> {
        let (_turn, mut tx) = self.write().await?;
        let deleted: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM messages WHERE mailbox_id = $1 AND (system_flags & 8) <> 0 ORDER BY uid",
        )
        .bind(mailbox_id)
        .fetch_all(&mut *tx)
        .await?;
        let targets: Vec<u32> = deleted
            .into_iter()
            .map(|u| u as u32)
            .filter(|u| uids.is_none_or(|set| set.contains(u)))
            .collect();
        let modseq = self.tx_remove(&mut tx, mailbox_id, &targets).await?;
        tx.commit().await?;
        if !targets.is_empty() {
            self.removed_from(mailbox_id);
        }
        Ok((targets, modseq))
    }

    async fn tx_remove(&self, tx: &mut Tx, mailbox_id: i64, uids: &[u32]) -> Result<u64> {
        let modseq = self.bump_modseq(tx, mailbox_id).await?;
        let mut hashes = Vec::with_capacity(uids.len());
        for &uid in uids {
            let gone = sqlx::query(
                "DELETE FROM messages WHERE mailbox_id = $1 AND uid = $2 RETURNING blob_hash, size, internal_date",
            )
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .fetch_optional(&mut **tx)
            .await?;
            let mut detail = None;
            if let Some(row) = gone {
                let hash: String = row.try_get("blob_hash")?;
                let size: i64 = row.try_get("size")?;
                let date: i64 = row.try_get("internal_date")?;
                detail = Some(format!("{hash} {size} {date}"));
                hashes.push(hash);
            }
            let change = MessageChange {
                mailbox_id,
                modseq,
                kind: LogKind::Expunged,
                uid,
                flags: None,
                account_id: None,
                detail,
            };
            log_message_change(tx, self, change).await?;
        }
        hashes.sort_unstable();
        hashes.dedup();
        let now = super::now();
        for hash in hashes {
            sqlx::query(
                "UPDATE blobs SET orphaned_at = $2 WHERE hash = $1 \
                 AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_hash = $1)",
            )
            .bind(hash)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        // What lost its last message long enough ago goes now.
        sqlx::query(
            "DELETE FROM blobs WHERE orphaned_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = blobs.hash)",
        )
        .bind(now - EXPUNGED_KEPT_SECS)
        .execute(&mut **tx)
        .await?;
        Ok(modseq as u64)
    }

    /// Messages expunged from a mailbox after change-log row `after`, as
    /// they were (flags empty), for sessions not yet told: their content
    /// stays for [`EXPUNGED_KEPT_SECS`]. Only those whose content is still
    /// here.
    pub async fn expunged_after(
        &self,
        mailbox_id: i64,
        after: i64,
        uids: &[u32],
    ) -> Result<Vec<(MessageMeta, Vec<u8>)>> {
        let rows =
            sqlx::query("SELECT uid, modseq, detail FROM changes WHERE mailbox_id = $1 AND id > $2 AND kind = $3")
                .bind(mailbox_id)
                .bind(after)
                .bind(LogKind::Expunged.code())
                .fetch_all(&self.pool)
                .await?;
        let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        let mut out = Vec::new();
        for row in rows {
            let uid = row.try_get::<i64, _>("uid")? as u32;
            let detail: Option<String> = row.try_get("detail")?;
            let Some(detail) = detail.filter(|_| wanted.contains(&uid)) else {
                continue;
            };
            let mut parts = detail.split(' ');
            let (Some(hash), Some(size), Some(date)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Some(bytes) = self.content(hash).await? else {
                continue;
            };
            let message = MessageMeta {
                uid,
                modseq: row.try_get::<i64, _>("modseq")? as u64,
                flags: Flags::default(),
                internal_date: date.parse().unwrap_or(0),
                size: size.parse().unwrap_or(0),
                blob_hash: hash.to_owned(),
                envelope_from: None,
            };
            out.push((message, bytes));
        }
        Ok(out)
    }

    /// Brings a mailbox in line with a file it mirrors (an external INBOX),
    /// in one transaction: removes `gone`, sets the flags of `flags`
    /// exactly, and adds `new` in order. Returns the new UIDs.
    pub async fn sync_mirror(
        &self,
        mailbox_id: i64,
        gone: &[u32],
        flags: &[(u32, Flags)],
        new: Vec<NewMessage>,
    ) -> Result<Vec<u32>> {
        let new = prepare(new);
        let (_turn, mut tx) = self.write().await?;
        if !gone.is_empty() {
            self.tx_remove(&mut tx, mailbox_id, gone).await?;
        }
        if !flags.is_empty() {
            let modseq = self.bump_modseq(&mut tx, mailbox_id).await?;
            for (uid, new_flags) in flags {
                self.tx_set_flags(&mut tx, mailbox_id, *uid, new_flags, modseq).await?;
            }
        }
        let uids = if new.is_empty() {
            Vec::new()
        } else {
            self.tx_insert(&mut tx, mailbox_id, &new, None).await?.0
        };
        tx.commit().await?;
        if !gone.is_empty() {
            self.removed_from(mailbox_id);
        }
        Ok(uids)
    }

    /// Moves messages in one transaction: they are added to `to` and
    /// removed from `from`, so no crash can lose or double them. Returns
    /// the pairs (old UID, new UID).
    pub async fn move_messages(
        &self,
        from: i64,
        rows: &[MessageMeta],
        to: i64,
        seen_reader: Option<i64>,
    ) -> Result<Vec<(u32, u32)>> {
        let new = prepare(rows.iter().map(|r| copy_of(r, r.flags.clone())).collect());
        let (_turn, mut tx) = self.write().await?;
        let (new_uids, _) = self.tx_insert(&mut tx, to, &new, seen_reader).await?;
        let old_uids: Vec<u32> = rows.iter().map(|r| r.uid).collect();
        self.tx_remove(&mut tx, from, &old_uids).await?;
        tx.commit().await?;
        self.removed_from(from);
        Ok(old_uids.into_iter().zip(new_uids).collect())
    }

    /// The change log of one mailbox after `modseq`, in order.
    pub async fn changes_since(&self, mailbox_id: i64, modseq: u64) -> Result<Vec<ChangeRow>> {
        let sql =
            format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE mailbox_id = $1 AND modseq > $2 ORDER BY modseq, id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(modseq as i64)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_from)
            .collect()
    }

    /// The change log of one mailbox after log row `after`, in order.
    pub async fn mailbox_changes_after(&self, mailbox_id: i64, after: i64) -> Result<Vec<ChangeRow>> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE mailbox_id = $1 AND id > $2 ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_from)
            .collect()
    }

    /// A mailbox's message count and its changes after log row `after`
    /// (at most `limit`), read in one statement so both are of one moment:
    /// a view brought forward by the changes must then hold that many
    /// messages. `None` when the mailbox is gone.
    pub async fn count_and_changes_after(
        &self,
        mailbox_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Option<(u32, Vec<ChangeRow>)>> {
        let sql = format!(
            "SELECT b.message_count, c.* FROM mailboxes b LEFT JOIN \
             (SELECT {CHANGE_COLUMNS} FROM changes WHERE mailbox_id = $1 AND id > $2 ORDER BY id LIMIT $3) c ON TRUE \
             WHERE b.id = $1 ORDER BY c.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let count = first.try_get::<i64, _>("message_count")? as u32;
        let mut changes = Vec::new();
        for row in &rows {
            if row.try_get::<Option<i64>, _>("id")?.is_some() {
                changes.push(change_from(row)?);
            }
        }
        Ok(Some((count, changes)))
    }

    /// Up to `limit` changes after log row `after`, in log order.
    pub async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<ChangeRow>> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id > $1 ORDER BY id LIMIT $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_from)
            .collect()
    }

    /// The changes with log ids from `first` to `last`, in log order.
    pub async fn changes_between(&self, first: i64, last: i64) -> Result<Vec<ChangeRow>> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id >= $1 AND id <= $2 ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_from)
            .collect()
    }

    /// The id of the newest change-log row (0 for none).
    pub async fn last_change_id(&self) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM changes")
            .fetch_one(&self.pool)
            .await?
            .unwrap_or(0))
    }
}

async fn insert_seen(tx: &mut Tx, mailbox_id: i64, uid: i64, reader: i64) -> Result<()> {
    sqlx::query("INSERT INTO seen_by (mailbox_id, uid, account_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(mailbox_id)
        .bind(uid)
        .bind(reader)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) async fn set_seen(tx: &mut Tx, mailbox_id: i64, uid: u32, reader: i64, seen: bool) -> Result<()> {
    if seen {
        return insert_seen(tx, mailbox_id, i64::from(uid), reader).await;
    }
    sqlx::query("DELETE FROM seen_by WHERE mailbox_id = $1 AND uid = $2 AND account_id = $3")
        .bind(mailbox_id)
        .bind(i64::from(uid))
        .bind(reader)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How long the content of an expunged message stays for sessions that
/// still show it (RFC 2180 §4.1.1): longer than an IMAP session may sit
/// between two commands.
pub const EXPUNGED_KEPT_SECS: i64 = 3600;

/// Drops all content no message refers to any more (after deleting a
/// mailbox or an account: rare, so a scan is fine).
pub(super) async fn delete_orphan_blobs(tx: &mut Tx) -> Result<()> {
    sqlx::query("DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = blobs.hash)")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_kind_has_its_own_code_and_reads_back() {
        let mut codes = std::collections::HashSet::new();
        for kind in LogKind::ALL {
            assert!(codes.insert(kind.code()), "{kind:?} shares its code");
            assert_eq!(LogKind::from_code(i64::from(kind.code())).unwrap(), kind);
        }
        assert!(LogKind::from_code(0).is_err());
        assert!(LogKind::from_code(99).is_err());
    }

    /// Through the database: each kind written is the kind read, and a
    /// row of a kind nobody wrote is an error, not an ACL change.
    #[tokio::test]
    async fn change_kinds_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        for (modseq, kind) in LogKind::ALL.into_iter().enumerate() {
            sqlx::query("INSERT INTO changes (mailbox_id, modseq, kind, origin) VALUES (1, $1, $2, 'test')")
                .bind(modseq as i64 + 1)
                .bind(kind.code())
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let read: Vec<LogKind> = store
            .changes_since(1, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(read, LogKind::ALL);
        sqlx::query("INSERT INTO changes (mailbox_id, modseq, kind, origin) VALUES (1, 100, 42, 'test')")
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(matches!(store.changes_since(1, 0).await, Err(StoreError::Corrupt(_))));
    }
}
