//! What the web interface needs of the store: message summaries for paged
//! lists, full-text search (SQLite FTS5, PostgreSQL tsvector), counts, and
//! browser sessions.

use mailroom_shared::dto::SortKey;
use mailroom_shared::{Flags, SystemFlag};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::messages::{MESSAGE_COLUMNS, Tx, message_from};
use super::{Backend, MessageRow, Result, Store};
use crate::message::Summary;

/// A message of a list page: its row and its summary.
pub struct ListedMessage {
    pub row: MessageRow,
    pub summary: Summary,
}

/// Stores the summary (and search words) of new content, once.
pub(super) async fn insert_summary(tx: &mut Tx, store: &Store, hash: &str, s: &Summary) -> Result<()> {
    let sent_at = s.sent_at.unwrap_or(0);
    match store.backend {
        Backend::Sqlite => {
            let added = sqlx::query(
                "INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (hash) DO NOTHING",
            )
            .bind(hash)
            .bind(s.sender.as_str())
            .bind(s.recipients.as_str())
            .bind(s.subject.as_str())
            .bind(sent_at)
            .bind(i64::from(s.has_attachments))
            .bind(s.preview.as_str())
            .execute(&mut **tx)
            .await?;
            if added.rows_affected() == 0 {
                return Ok(()); // the same content was stored before
            }
            sqlx::query(
                "INSERT INTO message_text (rowid, sender, recipients, subject, body) \
                 SELECT rowid, $2, $3, $4, $5 FROM summaries WHERE hash = $1",
            )
            .bind(hash)
            .bind(s.sender.as_str())
            .bind(s.recipients.as_str())
            .bind(s.subject.as_str())
            .bind(s.text.as_str())
            .execute(&mut **tx)
            .await?;
        }
        Backend::Postgres => {
            sqlx::query(
                "INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview, words) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 to_tsvector('simple', $2 || ' ' || $3 || ' ' || $4 || ' ' || $8)) ON CONFLICT (hash) DO NOTHING",
            )
            .bind(hash)
            .bind(s.sender.as_str())
            .bind(s.recipients.as_str())
            .bind(s.subject.as_str())
            .bind(sent_at)
            .bind(i64::from(s.has_attachments))
            .bind(s.preview.as_str())
            // tsvector has a size limit (1 MB of positions); the index
            // needs the words, not the whole of a long text.
            .bind(s.text.chars().take(200_000).collect::<String>())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

const SUMMARY_COLUMNS: &str = "COALESCE(s.sender, '') AS sender, COALESCE(s.recipients, '') AS recipients, \
     COALESCE(s.subject, '') AS subject, COALESCE(s.sent_at, 0) AS sent_at, \
     COALESCE(s.has_attachments, 0) AS has_attachments, COALESCE(s.preview, '') AS preview";

fn listed_from(row: &AnyRow) -> Result<ListedMessage> {
    let sent_at: i64 = row.try_get("sent_at")?;
    Ok(ListedMessage {
        row: message_from(row)?,
        summary: Summary {
            sender: row.try_get("sender")?,
            recipients: row.try_get("recipients")?,
            subject: row.try_get("subject")?,
            sent_at: (sent_at != 0).then_some(sent_at),
            has_attachments: row.try_get::<i64, _>("has_attachments")? != 0,
            preview: row.try_get("preview")?,
            text: String::new(),
        },
    })
}

fn order_by(sort: SortKey) -> &'static str {
    match sort {
        SortKey::Date => "m.internal_date DESC, m.uid DESC",
        SortKey::Sender => "LOWER(s.sender), m.internal_date DESC",
        SortKey::Subject => "LOWER(s.subject), m.internal_date DESC",
        SortKey::Size => "m.size DESC, m.uid DESC",
    }
}

/// SQLite's FTS5 query for the words of `text`: each word quoted (so
/// nothing in it is an operator), all required, the last one as a prefix.
fn fts5_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.' && c != '-' && c != '_')
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!("{}*", words.join(" ")))
}

impl Store {
    /// One page of a mailbox's messages with their summaries.
    pub async fn page(
        &self,
        mailbox_id: i64,
        reader: Option<i64>,
        sort: SortKey,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<ListedMessage>> {
        // The page's UIDs first, then their columns: PostgreSQL would
        // otherwise compute every column of the rows OFFSET skips.
        let order = order_by(sort);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS} FROM \
             (SELECT m.uid AS page_uid FROM messages m LEFT JOIN summaries s ON s.hash = m.blob_hash \
              WHERE m.mailbox_id = $1 ORDER BY {order} LIMIT $3 OFFSET $4) p \
             JOIN messages m ON m.mailbox_id = $1 AND m.uid = p.page_uid \
             LEFT JOIN summaries s ON s.hash = m.blob_hash ORDER BY {order}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(listed_from)
            .collect()
    }

    /// The messages of a mailbox whose sender, recipients, subject or text
    /// contain every word of `text`, newest first, and how many there are.
    pub async fn search(
        &self,
        mailbox_id: i64,
        reader: Option<i64>,
        text: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(u32, Vec<ListedMessage>)> {
        // Driven from the word index: a rare word touches a handful of
        // rows, not the whole mailbox. On SQLite, CROSS JOIN keeps that
        // order and the unary `+` stops it from reaching the messages
        // through the mailbox's primary key (every message of the mailbox
        // per hit) instead of the blob index. PostgreSQL plans it from the
        // GIN index by itself.
        let (from, query) = match self.backend {
            Backend::Sqlite => match fts5_query(text) {
                Some(q) => (
                    "FROM message_text t CROSS JOIN summaries s ON s.rowid = t.rowid \
                     CROSS JOIN messages m ON m.blob_hash = s.hash \
                     WHERE message_text MATCH $3 AND +m.mailbox_id = $1",
                    q,
                ),
                None => return Ok((0, Vec::new())),
            },
            Backend::Postgres => (
                "FROM messages m JOIN summaries s ON s.hash = m.blob_hash \
                 WHERE m.mailbox_id = $1 AND s.words @@ plainto_tsquery('simple', $3)",
                text.to_owned(),
            ),
        };
        let count_sql = format!("SELECT COUNT(*) {from} AND $2 = $2");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .bind(query.as_str())
            .fetch_one(&self.pool)
            .await?;
        let newest_first = "m.internal_date DESC, m.uid DESC";
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS} FROM \
             (SELECT m.uid AS page_uid {from} ORDER BY {newest_first} LIMIT $4 OFFSET $5) p \
             JOIN messages m ON m.mailbox_id = $1 AND m.uid = p.page_uid \
             LEFT JOIN summaries s ON s.hash = m.blob_hash ORDER BY {newest_first}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(reader.unwrap_or(0))
            .bind(query.as_str())
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(listed_from)
            .collect::<Result<_>>()?;
        Ok((total as u32, rows))
    }

    /// How many messages a mailbox holds and how many of them `reader`
    /// (or everyone, in a shared-seen mailbox) has not seen.
    pub async fn count(&self, mailbox_id: i64, reader: Option<i64>) -> Result<(u32, u32)> {
        let mut seen = Flags::default();
        seen.insert(SystemFlag::Seen);
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, \
             COALESCE(SUM(CASE WHEN (system_flags & $2) = 0 THEN 1 ELSE 0 END), 0) AS unseen \
             FROM messages WHERE mailbox_id = $1",
        )
        .bind(mailbox_id)
        .bind(seen.system_bits())
        .fetch_one(&self.pool)
        .await?;
        let total: i64 = row.try_get("total")?;
        let unseen: i64 = match reader {
            None => row.try_get("unseen")?,
            Some(account) => {
                let seen: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM seen_by WHERE mailbox_id = $1 AND account_id = $2")
                        .bind(mailbox_id)
                        .bind(account)
                        .fetch_one(&self.pool)
                        .await?;
                total - seen
            }
        };
        Ok((total as u32, unseen.max(0) as u32))
    }

    /// Content stored before summaries existed (up to `limit` hashes).
    pub async fn unsummarised(&self, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT b.hash FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE s.hash = b.hash) LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds the summary of already stored content.
    pub async fn add_summary(&self, hash: &str, summary: &Summary) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        insert_summary(&mut tx, self, hash, summary).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A server-wide setting, created with `make` on first use (by
    /// whichever node comes first).
    pub async fn setting_or_insert(&self, name: &str, make: impl FnOnce() -> String) -> Result<String> {
        let candidate = make();
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(candidate.as_str())
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn insert_web_session(&self, id: &str, account_id: i64, created: i64, expires: i64) -> Result<()> {
        sqlx::query("INSERT INTO web_sessions (id, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(account_id)
            .bind(created)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The account of a live web session.
    pub async fn web_session_account(&self, id: &str, now: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT account_id FROM web_sessions WHERE id = $1 AND expires_at > $2")
                .bind(id)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn delete_web_session(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fts5_query;

    #[test]
    fn search_words_are_quoted() {
        assert_eq!(
            fts5_query("budget NEAR(x\" OR y)").as_deref(),
            Some("\"budget\" \"NEAR\" \"x\" \"OR\" \"y\"*")
        );
        assert_eq!(fts5_query("  ;; "), None);
    }
}
