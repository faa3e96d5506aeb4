//! Mailboxes, their ACLs, and subscriptions.

use mailroom_shared::acl::{AclEntry, Identifier};
use mailroom_shared::dto::SeenMode;
use mailroom_shared::{Right, Rights};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::messages::{ChangeKindTag, log_change};
use super::{Backend, Result, Store, StoreError, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    pub special_use: Option<String>,
    pub seen_mode: SeenMode,
}

const MAILBOX_COLUMNS: &str = "id, account_id, name, uidvalidity, uidnext, highest_modseq, special_use, seen_mode";

fn mailbox_from(row: &AnyRow) -> Result<MailboxRow> {
    let seen_mode: String = row.try_get("seen_mode")?;
    Ok(MailboxRow {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        uidvalidity: row.try_get::<i64, _>("uidvalidity")? as u32,
        uidnext: row.try_get::<i64, _>("uidnext")? as u32,
        highest_modseq: row.try_get::<i64, _>("highest_modseq")? as u64,
        special_use: row.try_get("special_use")?,
        seen_mode: SeenMode::parse(&seen_mode)
            .ok_or_else(|| StoreError::Corrupt(format!("seen mode {seen_mode:?}")))?,
    })
}

/// How an ACL entry's identifier is stored: its display form.
fn identifier_key(id: &Identifier) -> String {
    id.to_string()
}

/// What a new mailbox starts with.
pub struct NewMailbox<'a> {
    pub account_id: i64,
    pub name: &'a str,
    pub special_use: Option<&'a str>,
    pub seen_mode: SeenMode,
    pub acl: &'a [AclEntry],
}

impl Store {
    /// Creates a mailbox with a fresh UIDVALIDITY and the given ACL.
    pub async fn insert_mailbox(&self, new: NewMailbox<'_>) -> Result<MailboxRow> {
        let (_turn, mut tx) = self.write().await?;
        let uidvalidity = next_uidvalidity(&mut tx).await?;
        let sql = format!(
            "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use, seen_mode) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {MAILBOX_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.account_id)
            .bind(new.name)
            .bind(uidvalidity)
            .bind(new.special_use)
            .bind(new.seen_mode.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let mailbox = mailbox_from(&row)?;
        for entry in new.acl {
            upsert_acl(&mut tx, mailbox.id, entry).await?;
        }
        log_change(
            &mut tx,
            self,
            mailbox.id,
            mailbox.highest_modseq,
            ChangeKindTag::MailboxCreated,
        )
        .await?;
        tx.commit().await?;
        self.directory_changed();
        Ok(mailbox)
    }

    pub async fn mailbox_by_name(&self, account_id: i64, name: &str) -> Result<Option<MailboxRow>> {
        let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(mailbox_from)
            .transpose()
    }

    /// The ids and UIDVALIDITYs of the biggest mailboxes whose `\Seen` is
    /// shared, of at least `from` messages each, the biggest first, with
    /// their message counts.
    pub async fn big_mailboxes(&self, from: i64, most: i64) -> Result<Vec<(i64, u32, i64)>> {
        let rows = sqlx::query(
            "SELECT id, uidvalidity, message_count FROM mailboxes WHERE message_count >= $1 \
             AND seen_mode = 'shared' ORDER BY message_count DESC LIMIT $2",
        )
        .bind(from)
        .bind(most)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let uidvalidity: i64 = r.try_get("uidvalidity")?;
                Ok((r.try_get("id")?, uidvalidity as u32, r.try_get("message_count")?))
            })
            .collect()
    }

    pub async fn mailbox_by_id(&self, id: i64) -> Result<Option<MailboxRow>> {
        let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(mailbox_from)
            .transpose()
    }

    /// A mailbox with the change log's last id, read together: where a
    /// watch that starts now takes up the log.
    pub async fn mailbox_and_last_change(&self, id: i64) -> Result<Option<(MailboxRow, i64)>> {
        let sql = format!(
            "SELECT {MAILBOX_COLUMNS}, (SELECT MAX(c.id) FROM changes c) AS last_change FROM mailboxes WHERE id = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let last: Option<i64> = row.try_get("last_change")?;
        Ok(Some((mailbox_from(&row)?, last.unwrap_or(0))))
    }

    /// A mailbox with the id of its own last change-log row (0: none):
    /// how far a watch on it must have read to be up to date. (Within a
    /// mailbox, log ids grow with its MODSEQ, which the index orders.)
    pub async fn mailbox_and_its_last_change(&self, id: i64) -> Result<Option<(MailboxRow, i64)>> {
        let sql = format!(
            "SELECT {MAILBOX_COLUMNS}, (SELECT c.id FROM changes c WHERE c.mailbox_id = $1 \
             ORDER BY c.modseq DESC, c.id DESC LIMIT 1) AS last_change FROM mailboxes WHERE id = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let last: Option<i64> = row.try_get("last_change")?;
        Ok(Some((mailbox_from(&row)?, last.unwrap_or(0))))
    }

    /// All mailboxes of one account, by name.
    pub async fn mailboxes_of(&self, account_id: i64) -> Result<Vec<MailboxRow>> {
        let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(mailbox_from)
            .collect()
    }

    /// Mailboxes of accounts other than `except_account` on which one of
    /// `identifiers` holds a positive entry with the lookup right: the
    /// candidates a principal may see under `~`. One indexed query; the
    /// caller still applies negative entries.
    pub async fn mailboxes_shared_with(&self, identifiers: &[String], except_account: i64) -> Result<Vec<MailboxRow>> {
        let placeholders: Vec<String> = (0..identifiers.len()).map(|i| format!("${}", i + 2)).collect();
        let columns = MAILBOX_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT DISTINCT {columns} FROM acl x JOIN mailboxes m ON m.id = x.mailbox_id \
             WHERE x.grants_lookup = 1 AND x.identifier IN ({}) AND m.account_id <> $1 \
             ORDER BY m.account_id, m.name",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(except_account);
        for id in identifiers {
            query = query.bind(id.as_str());
        }
        query.fetch_all(&self.pool).await?.iter().map(mailbox_from).collect()
    }

    /// Renames mailboxes: each `(id, new name)` pair, in one transaction.
    pub async fn rename_mailboxes(&self, renames: &[(i64, String)]) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        for (id, name) in renames {
            sqlx::query("UPDATE mailboxes SET name = $1 WHERE id = $2")
                .bind(name.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let modseq = self.bump_modseq(&mut tx, *id).await?;
            log_change(&mut tx, self, *id, modseq, ChangeKindTag::MailboxRenamed(name)).await?;
        }
        tx.commit().await?;
        self.directory_changed();
        Ok(())
    }

    /// Deletes a mailbox with its messages and ACL.
    pub async fn delete_mailbox(&self, id: i64) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        let modseq = self.bump_modseq(&mut tx, id).await?;
        sqlx::query("DELETE FROM mailboxes WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::messages::delete_orphan_blobs(&mut tx).await?;
        log_change(&mut tx, self, id, modseq, ChangeKindTag::MailboxDeleted).await?;
        tx.commit().await?;
        self.removed_from(id);
        self.directory_changed();
        Ok(())
    }

    pub async fn set_seen_mode(&self, id: i64, mode: SeenMode) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET seen_mode = $1 WHERE id = $2")
            .bind(mode.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.directory_changed();
        Ok(())
    }

    pub async fn acl_of(&self, mailbox_id: i64) -> Result<Vec<AclEntry>> {
        let rows = sqlx::query(
            "SELECT identifier, negative, rights FROM acl WHERE mailbox_id = $1 \
             ORDER BY negative, identifier",
        )
        .bind(mailbox_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("identifier")?;
                let rights: String = r.try_get("rights")?;
                let negative = r.try_get::<i64, _>("negative")? != 0;
                let corrupt = |what: &str| StoreError::Corrupt(format!("ACL {what} {id:?} {rights:?}"));
                Ok(AclEntry {
                    identifier: Identifier::parse(&id).map_err(|_| corrupt("identifier"))?,
                    negative,
                    rights: Rights::parse(&rights).map_err(|_| corrupt("rights"))?,
                })
            })
            .collect()
    }

    /// Replaces the entry for the identifier (and sign), or removes it when
    /// its rights are empty; publishes an ACL change.
    pub async fn put_acl_entry(&self, mailbox_id: i64, entry: &AclEntry) -> Result<u64> {
        let (_turn, mut tx) = self.write().await?;
        if entry.rights.is_empty() {
            sqlx::query("DELETE FROM acl WHERE mailbox_id = $1 AND identifier = $2 AND negative = $3")
                .bind(mailbox_id)
                .bind(identifier_key(&entry.identifier))
                .bind(i64::from(entry.negative))
                .execute(&mut *tx)
                .await?;
        } else {
            upsert_acl(&mut tx, mailbox_id, entry).await?;
        }
        let modseq = self.bump_modseq(&mut tx, mailbox_id).await?;
        log_change(&mut tx, self, mailbox_id, modseq, ChangeKindTag::AclChanged).await?;
        tx.commit().await?;
        self.directory_changed();
        Ok(modseq as u64)
    }

    /// Replaces a mailbox's whole ACL in one transaction (for *apply to
    /// sub-folders*); publishes an ACL change.
    pub async fn replace_acl(&self, mailbox_id: i64, acl: &[AclEntry]) -> Result<u64> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("DELETE FROM acl WHERE mailbox_id = $1")
            .bind(mailbox_id)
            .execute(&mut *tx)
            .await?;
        for entry in acl.iter().filter(|e| !e.rights.is_empty()) {
            upsert_acl(&mut tx, mailbox_id, entry).await?;
        }
        let modseq = self.bump_modseq(&mut tx, mailbox_id).await?;
        log_change(&mut tx, self, mailbox_id, modseq, ChangeKindTag::AclChanged).await?;
        tx.commit().await?;
        self.directory_changed();
        Ok(modseq as u64)
    }

    pub async fn subscriptions(&self, account_id: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name")
                .bind(account_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn subscribe(&self, account_id: i64, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn unsubscribe(&self, account_id: i64, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM subscriptions WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn upsert_acl(tx: &mut Transaction<'static, Any>, mailbox_id: i64, entry: &AclEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO acl (mailbox_id, identifier, negative, rights, grants_lookup) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (mailbox_id, identifier, negative) \
         DO UPDATE SET rights = excluded.rights, grants_lookup = excluded.grants_lookup",
    )
    .bind(mailbox_id)
    .bind(identifier_key(&entry.identifier))
    .bind(i64::from(entry.negative))
    .bind(entry.rights.to_string())
    .bind(i64::from(!entry.negative && entry.rights.contains(Right::Lookup)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A UIDVALIDITY never handed out before: the current time, or one more
/// than the last one if that is later (two mailboxes created in one second,
/// or a clock set back).
async fn next_uidvalidity(tx: &mut Transaction<'static, Any>) -> Result<i64> {
    let now = now() & 0xFFFF_FFFF;
    Ok(sqlx::query_scalar(
        "UPDATE counters SET value = CASE WHEN value + 1 > $1 THEN value + 1 ELSE $1 END \
         WHERE name = 'uidvalidity' RETURNING value",
    )
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}

impl Store {
    /// Claims `\Recent` for the messages below `upto` that no session has
    /// claimed yet, and returns the first UID claimed now: the caller's
    /// recent messages are those from it to `upto` (none when it is `upto`).
    /// With `claim` false, only looks.
    pub async fn claim_recent(&self, mailbox_id: i64, upto: u32, claim: bool) -> Result<u32> {
        let first = |row: Option<i64>| row.map_or(upto, |f| (f as u32).min(upto));
        let look = sqlx::query_scalar("SELECT first_recent_uid FROM mailboxes WHERE id = $1")
            .bind(mailbox_id)
            .fetch_optional(&self.pool)
            .await?;
        if !claim || first(look) == upto {
            return Ok(first(look)); // only a look, or nothing new: no write
        }
        let (_turn, mut tx) = self.write_unsynced().await?;
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT first_recent_uid FROM mailboxes WHERE id = $1{lock}");
        let old = first(
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(mailbox_id)
                .fetch_optional(&mut *tx)
                .await?,
        );
        if old < upto {
            sqlx::query("UPDATE mailboxes SET first_recent_uid = $2 WHERE id = $1")
                .bind(mailbox_id)
                .bind(i64::from(upto))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(old)
    }

    /// How many messages no session has claimed as `\Recent` yet (STATUS
    /// RECENT).
    pub async fn recent_count(&self, mailbox_id: i64) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE mailbox_id = $1 \
             AND uid >= (SELECT first_recent_uid FROM mailboxes WHERE id = $1)",
        )
        .bind(mailbox_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u32)
    }

    /// Gives the mailbox its next MODSEQ and returns it (and tells the
    /// other nodes, at commit).
    pub(super) async fn bump_modseq(&self, tx: &mut Transaction<'static, Any>, mailbox_id: i64) -> Result<i64> {
        let modseq = sqlx::query_scalar(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq",
        )
        .bind(mailbox_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("mailbox {mailbox_id} vanished")))?;
        self.notify(tx, mailbox_id, modseq).await?;
        Ok(modseq)
    }
}
