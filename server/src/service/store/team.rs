//! What a team shares besides its mail: the activity trail, notes, the
//! nodes' presence rows, the mailbox's team settings, and who read what.

use mailroom_shared::team::{Activity, ActivityFilter, Note, Via, What};
use sqlx::Row;

use super::{Result, Store, StoreError};

/// A trail entry to be written.
#[derive(Clone, Debug)]
pub struct NewActivity {
    pub mailbox_id: i64,
    pub at: i64,
    pub actor: String,
    pub via: Via,
    pub client: String,
    pub what: What,
    pub uid: Option<u32>,
    pub detail: String,
}

/// A mailbox's team settings (the defaults when never saved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamSettings {
    /// Holders of `r` see the activity page too.
    pub activity_open: bool,
    /// Who may send as the mailbox's owner.
    pub send_as: Vec<String>,
}

/// Trail rows written by one statement at most.
const CHUNK: usize = 32;

/// The INSERT of `rows` (one, or a whole [`CHUNK`]).
fn insert_activity(rows: &[NewActivity]) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let values: Vec<String> = (0..rows.len())
        .map(|i| {
            let n: Vec<String> = (1..=8).map(|k| format!("${}", i * 8 + k)).collect();
            format!("({})", n.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO activity (mailbox_id, at, actor, via, client, action, uid, detail) VALUES {}",
        values.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for e in rows {
        query = query
            .bind(e.mailbox_id)
            .bind(e.at)
            .bind(e.actor.clone())
            .bind(e.via.code())
            .bind(e.client.clone())
            .bind(e.what.code())
            .bind(e.uid.map(i64::from))
            .bind(e.detail.clone());
    }
    query
}

fn activity_from(r: &sqlx::any::AnyRow) -> Result<Activity> {
    let via: String = r.try_get("via")?;
    let what: String = r.try_get("action")?;
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("unknown activity {what} {v:?}"));
    Ok(Activity {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        via: Via::from_code(&via).ok_or_else(|| corrupt("gateway", &via))?,
        client: r.try_get("client")?,
        what: What::from_code(&what).ok_or_else(|| corrupt("kind", &what))?,
        uid: r.try_get::<Option<i64>, _>("uid")?.map(|u| u as u32),
        detail: r.try_get("detail")?,
        local: Default::default(),
    })
}

impl Store {
    /// Writes trail entries in one transaction (unsynced on SQLite: the
    /// trail rides along with the next synced commit).
    pub async fn add_activity(&self, entries: &[NewActivity]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Rows go CHUNK at a time, in one statement each: a round trip
        // per chunk, not per row, and only two statements to prepare
        // (a whole chunk, one row), however the batches come.
        let (turn, mut tx) = self.write_unsynced().await?;
        let mut chunks = entries.chunks_exact(CHUNK);
        for chunk in chunks.by_ref() {
            insert_activity(chunk).execute(&mut *tx).await?;
        }
        for row in chunks.remainder() {
            insert_activity(std::slice::from_ref(row)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        drop(turn);
        Ok(())
    }

    /// A mailbox's trail, newest first, as filtered; at most `limit`.
    pub async fn activity(&self, mailbox_id: i64, f: &ActivityFilter, limit: i64) -> Result<Vec<Activity>> {
        let who = format!("%{}%", f.who.trim().to_lowercase().replace(['%', '_'], ""));
        let rows = sqlx::query(
            "SELECT id, at, actor, via, client, action, uid, detail FROM activity \
             WHERE mailbox_id = $1 AND id < $2 AND LOWER(actor) LIKE $3 \
             AND ($4 = '' OR action = $4) AND ($5 < 0 OR uid = $5) \
             ORDER BY id DESC LIMIT $6",
        )
        .bind(mailbox_id)
        .bind(f.before.unwrap_or(i64::MAX))
        .bind(who)
        .bind(f.what.trim())
        .bind(f.uid.map_or(-1, i64::from))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activity_from).collect()
    }

    /// Removes trail entries older than each domain's retention.
    pub async fn purge_activity(&self, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM activity WHERE id IN (SELECT a.id FROM activity a \
             JOIN mailboxes m ON m.id = a.mailbox_id JOIN accounts c ON c.id = m.account_id \
             JOIN domains d ON d.id = c.domain_id WHERE a.at < $1 - d.activity_days * 86400) \
             OR mailbox_id NOT IN (SELECT id FROM mailboxes) AND at < $1 - 90 * 86400",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// How many days a domain keeps its mailboxes' trail.
    pub async fn set_activity_days(&self, domain: &str, days: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE domains SET activity_days = $1 WHERE name = $2")
            .bind(days)
            .bind(domain)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn add_note(&self, mailbox_id: i64, uid: u32, author: &str, at: i64, body: &str) -> Result<()> {
        sqlx::query("INSERT INTO notes (mailbox_id, uid, author, at, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .bind(author)
            .bind(at)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A message's notes, oldest first.
    pub async fn notes(&self, mailbox_id: i64, uid: u32) -> Result<Vec<Note>> {
        let rows = sqlx::query("SELECT author, at, body FROM notes WHERE mailbox_id = $1 AND uid = $2 ORDER BY id")
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Note {
                    author: r.try_get("author")?,
                    at: r.try_get("at")?,
                    body: r.try_get("body")?,
                    local: Default::default(),
                })
            })
            .collect()
    }

    pub async fn team_settings(&self, mailbox_id: i64) -> Result<TeamSettings> {
        let row = sqlx::query("SELECT activity_open, send_as FROM team_settings WHERE mailbox_id = $1")
            .bind(mailbox_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else {
            return Ok(TeamSettings::default());
        };
        let send_as: String = r.try_get("send_as")?;
        Ok(TeamSettings {
            activity_open: r.try_get::<i64, _>("activity_open")? != 0,
            send_as: send_as
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    pub async fn set_team_settings(&self, mailbox_id: i64, s: &TeamSettings) -> Result<()> {
        sqlx::query(
            "INSERT INTO team_settings (mailbox_id, activity_open, send_as) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox_id) DO UPDATE SET activity_open = excluded.activity_open, \
             send_as = excluded.send_as",
        )
        .bind(mailbox_id)
        .bind(i64::from(s.activity_open))
        .bind(s.send_as.join(","))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the account hides its presence from others.
    pub async fn hides_presence(&self, account_id: i64) -> Result<bool> {
        let hidden: Option<i64> =
            sqlx::query_scalar("SELECT hide_presence FROM account_settings WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(hidden.unwrap_or(0) != 0)
    }

    pub async fn set_hide_presence(&self, account_id: i64, hide: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_settings (account_id, display_name, signature, time_zone, hide_presence) \
             VALUES ($1, '', '', '', $2) ON CONFLICT (account_id) DO UPDATE SET hide_presence = excluded.hide_presence",
        )
        .bind(account_id)
        .bind(i64::from(hide))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The addresses of those who read a message of a per-user seen mailbox.
    pub async fn read_by(&self, mailbox_id: i64, uid: u32) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT a.name, d.name AS domain FROM seen_by s JOIN accounts a ON a.id = s.account_id \
             JOIN domains d ON d.id = a.domain_id WHERE s.mailbox_id = $1 AND s.uid = $2 ORDER BY a.name",
        )
        .bind(mailbox_id)
        .bind(i64::from(uid))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(format!(
                    "{}@{}",
                    r.try_get::<String, _>("name")?,
                    r.try_get::<String, _>("domain")?
                ))
            })
            .collect()
    }

    /// Publishes this node's present sessions (JSON), stamped `now_ms`.
    pub async fn publish_presence(&self, node: &str, entries: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO presence (node, entries, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (node) DO UPDATE SET entries = excluded.entries, seen_at = excluded.seen_at",
        )
        .bind(node)
        .bind(entries)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Other nodes' present sessions published since `since_ms`.
    pub async fn others_presence(&self, node: &str, since_ms: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT entries FROM presence WHERE node <> $1 AND seen_at >= $2 ORDER BY node")
                .bind(node)
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Removes this node's row (it stops), and rows of nodes long dead.
    pub async fn forget_presence(&self, node: &str, dead_before_ms: i64) -> Result<()> {
        sqlx::query("DELETE FROM presence WHERE node = $1 OR seen_at < $2")
            .bind(node)
            .bind(dead_before_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// This process's name among the nodes (as in the change log).
    pub fn node(&self) -> &str {
        &self.origin
    }
}
