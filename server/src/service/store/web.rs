//! What the web interface needs of the store: message summaries for paged
//! lists, full-text search (SQLite FTS5, PostgreSQL tsvector), counts, and
//! browser sessions.

use mailroom_shared::dto::SortKey;
use mailroom_shared::search::Query;
use mailroom_shared::{Flags, SystemFlag};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::messages::{MESSAGE_COLUMNS, Tx, message_from};
use super::{Backend, Result, Store};
use crate::message::Summary;
use crate::service::types::MessageMeta;

/// A message of a list page: its row and its summary.
pub struct ListedMessage {
    pub row: MessageMeta,
    pub summary: Summary,
    /// The mailbox it is in (a search may span several).
    pub mailbox_id: i64,
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
            .bind(s.sender_words.as_str())
            .bind(s.recipient_words.as_str())
            .bind(s.subject.as_str())
            .bind(s.text.as_str())
            .execute(&mut **tx)
            .await?;
        }
        Backend::Postgres => {
            sqlx::query(
                "INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview, words) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 setweight(to_tsvector('simple', $9), 'A') || setweight(to_tsvector('simple', $10), 'B') \
                 || setweight(to_tsvector('simple', $4), 'C') || to_tsvector('simple', $8)) \
                 ON CONFLICT (hash) DO NOTHING",
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
            .bind(s.sender_words.as_str())
            .bind(s.recipient_words.as_str())
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
            ..Summary::default()
        },
        mailbox_id: row.try_get("mailbox_id")?,
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

/// The words of a search term as the index splits them.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.' && c != '-' && c != '_')
        .filter(|w| !w.is_empty())
}

/// SQLite's FTS5 query for a search's words: each quoted (so nothing in
/// it is an operator), all required, the last free word as a prefix;
/// `from:`, `to:` and `subject:` as phrases in their column.
fn fts5_query(q: &Query) -> Option<String> {
    let quoted = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
    let mut parts: Vec<String> = q.words.iter().flat_map(|w| tokens(w)).map(quoted).collect();
    if let Some(last) = parts.last_mut() {
        last.push('*');
    }
    for (column, values) in [("sender", &q.from), ("recipients", &q.to), ("subject", &q.subject)] {
        parts.extend(
            values
                .iter()
                .filter(|v| tokens(v).next().is_some())
                .map(|v| format!("{column} : {}", quoted(v))),
        );
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// PostgreSQL's `to_tsquery` text for a search's words: the same, with
/// `from:`, `to:` and `subject:` as the weights their words were indexed
/// with (A, B, C).
fn tsquery(q: &Query) -> Option<String> {
    let lexeme = |w: &str| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"));
    let mut parts: Vec<String> = q.words.iter().flat_map(|w| tokens(w)).map(lexeme).collect();
    if let Some(last) = parts.last_mut() {
        last.push_str(":*");
    }
    for (weight, values) in [("A", &q.from), ("B", &q.to), ("C", &q.subject)] {
        for value in values {
            parts.extend(tokens(value).map(|w| format!("{}:{weight}", lexeme(w))));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" & "))
}

/// A search's conditions besides its words, as SQL on `m` and `s` (every
/// value a number written here, never text from the user).
fn filters(q: &Query, reader: Option<i64>) -> String {
    let bits = |f: SystemFlag| Flags::from(f).system_bits();
    let mut sql = String::new();
    if q.has_attachment {
        sql.push_str(" AND s.has_attachments = 1");
    }
    if q.unread {
        match reader {
            None => sql.push_str(&format!(" AND (m.system_flags & {}) = 0", bits(SystemFlag::Seen))),
            Some(_) => sql.push_str(
                " AND NOT EXISTS (SELECT 1 FROM seen_by r WHERE r.mailbox_id = m.mailbox_id \
                 AND r.uid = m.uid AND r.account_id = $2)",
            ),
        }
    }
    if q.flagged {
        sql.push_str(&format!(" AND (m.system_flags & {}) <> 0", bits(SystemFlag::Flagged)));
    }
    team_filters(q, &mut sql);
    if let Some(t) = q.before {
        sql.push_str(&format!(" AND m.internal_date < {t}"));
    }
    if let Some(t) = q.after {
        sql.push_str(&format!(" AND m.internal_date >= {t}"));
    }
    sql
}

/// A keyword among a message's stored keywords (any case), as SQL: the
/// keyword is a valid IMAP atom, quoted here as a literal with `'`
/// doubled and LIKE's wildcards escaped.
fn has_keyword(keyword: &str) -> String {
    let k = keyword
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
        .replace('\'', "''");
    format!("(' ' || LOWER(m.keywords) || ' ') LIKE '% {k} %' ESCAPE '\\'")
}

/// `is:mine`, `is:unassigned` and the statuses, on the keywords that
/// say them (`mailroom_shared::team`).
fn team_filters(q: &Query, sql: &mut String) {
    use mailroom_shared::team::{ASSIGNED_PREFIX, Status};
    if q.mine {
        // No keyword (the searcher has no address): nothing is theirs.
        match &q.assigned_keyword {
            Some(k) => sql.push_str(&format!(" AND {}", has_keyword(k))),
            None => sql.push_str(" AND 1 = 0"),
        }
    }
    if q.unassigned {
        let prefix = ASSIGNED_PREFIX.to_lowercase();
        sql.push_str(&format!(" AND (' ' || LOWER(m.keywords)) NOT LIKE '% {prefix}%'"));
    }
    match q.status {
        None => {}
        Some(Status::Open) => {
            for s in [Status::Waiting, Status::Done] {
                sql.push_str(&format!(" AND NOT {}", has_keyword(s.keyword().unwrap_or_default())));
            }
        }
        Some(s) => sql.push_str(&format!(" AND {}", has_keyword(s.keyword().unwrap_or_default()))),
    }
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
            "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS}, m.mailbox_id FROM \
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

    /// The messages of the given mailboxes that match a search, in the
    /// order asked for, and how many there are.
    pub async fn search(
        &self,
        mailboxes: &[i64],
        reader: Option<i64>,
        q: &Query,
        sort: SortKey,
        offset: u32,
        limit: u32,
    ) -> Result<(u32, Vec<ListedMessage>)> {
        if mailboxes.is_empty() {
            return Ok((0, Vec::new()));
        }
        let ids: Vec<String> = mailboxes.iter().map(i64::to_string).collect();
        let ids = ids.join(", ");
        // Driven from the word index when there are words: a rare word
        // touches a handful of rows, not the whole mailbox. On SQLite,
        // CROSS JOIN keeps that order and the unary `+` stops it from
        // reaching the messages through the mailbox's primary key (every
        // message of the mailbox per hit) instead of the blob index.
        // PostgreSQL plans it from the GIN index by itself.
        let text = match self.backend {
            Backend::Sqlite => fts5_query(q),
            Backend::Postgres => tsquery(q),
        };
        let from = match (self.backend, &text) {
            (Backend::Sqlite, Some(_)) => format!(
                "FROM message_text t CROSS JOIN summaries s ON s.rowid = t.rowid \
                 CROSS JOIN messages m ON m.blob_hash = s.hash \
                 WHERE message_text MATCH $1 AND +m.mailbox_id IN ({ids})"
            ),
            (Backend::Postgres, Some(_)) => format!(
                "FROM messages m JOIN summaries s ON s.hash = m.blob_hash \
                 WHERE m.mailbox_id IN ({ids}) AND s.words @@ to_tsquery('simple', $1)"
            ),
            (_, None) if q.has_text() => return Ok((0, Vec::new())),
            (_, None) => format!(
                "FROM messages m LEFT JOIN summaries s ON s.hash = m.blob_hash \
                 WHERE m.mailbox_id IN ({ids}) AND $1 = $1"
            ),
        };
        let from = format!("{from}{}", filters(q, reader));
        let text = text.unwrap_or_default();
        let count_sql = format!("SELECT COUNT(*) {from} AND $2 = $2");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(text.as_str())
            .bind(reader.unwrap_or(0))
            .fetch_one(&self.pool)
            .await?;
        let order = order_by(sort);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS}, m.mailbox_id FROM \
             (SELECT m.mailbox_id AS page_box, m.uid AS page_uid {from} ORDER BY {order} LIMIT $3 OFFSET $4) p \
             JOIN messages m ON m.mailbox_id = p.page_box AND m.uid = p.page_uid \
             LEFT JOIN summaries s ON s.hash = m.blob_hash ORDER BY {order}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(text.as_str())
            .bind(reader.unwrap_or(0))
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
        let seen = Flags::from(SystemFlag::Seen);
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

    /// Starts a web session; the account's expired ones go at the same
    /// time (sign-ins are what makes them, so they never pile up).
    pub async fn insert_web_session(&self, id: &str, account_id: i64, created: i64, expires: i64) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE account_id = $1 AND expires_at <= $2")
            .bind(account_id)
            .bind(created)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO web_sessions (id, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(account_id)
            .bind(created)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many web sessions the account has, live or expired.
    pub async fn web_sessions_of(&self, account_id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM web_sessions WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The account of a live web session, and the time zone it chose
    /// (empty: none), in one read: every request asks.
    pub async fn web_session_account(&self, id: &str, now: i64) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT w.account_id, COALESCE(s.time_zone, '') AS time_zone FROM web_sessions w \
             LEFT JOIN account_settings s ON s.account_id = w.account_id WHERE w.id = $1 AND w.expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("account_id")?, r.try_get("time_zone")?)))
            .transpose()
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
    use super::{Query, fts5_query, tsquery};

    fn fts(text: &str) -> Option<String> {
        fts5_query(&Query::parse(text))
    }

    #[test]
    fn search_words_are_quoted() {
        assert_eq!(
            fts("budget NEAR(x\" OR y)").as_deref(),
            Some("\"budget\" \"NEAR\" \"x\" \"OR\" \"y\"*")
        );
        assert_eq!(fts("  ;; "), None);
    }

    #[test]
    fn fields_are_columns_and_weights() {
        assert_eq!(
            fts("plan from:\"Carol Jones\" subject:Q3").as_deref(),
            Some("\"plan\"* sender : \"Carol Jones\" subject : \"Q3\"")
        );
        assert_eq!(
            tsquery(&Query::parse("plan to:bob@example.com from:o'brien")).as_deref(),
            Some("'plan':* & 'o':A & 'brien':A & 'bob@example.com':B")
        );
        assert_eq!(fts("has:attachment"), None, "no words: no index lookup");
    }
}
