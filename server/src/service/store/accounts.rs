//! Domains, accounts, aliases and routing rules.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRow {
    pub id: i64,
    pub name: String,
    /// A path template such as `/var/mail/{user}` (external INBOXes).
    pub external_inbox: Option<String>,
    pub lock_methods: Option<String>,
    /// Seconds to wait for another program's lock on such a file.
    pub lock_timeout: Option<i64>,
    /// The most bytes of mail its accounts may hold together.
    pub quota_bytes: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    pub id: i64,
    pub domain_id: i64,
    pub name: String,
    pub domain: String,
    /// An argon2 PHC string; `None` for accounts nobody logs in to
    /// (such as `public`).
    pub password_hash: Option<String>,
    pub is_admin: bool,
    /// The most bytes of mail it may hold, and its domain's for all its
    /// accounts together (`None`: no limit).
    pub quota_bytes: Option<i64>,
    pub domain_quota_bytes: Option<i64>,
    /// Its INBOX is a file, where its domain keeps such files.
    pub external_inbox: bool,
}

impl AccountRow {
    /// `name@domain`, the canonical address.
    pub fn address(&self) -> String {
        format!("{}@{}", self.name, self.domain)
    }
}

/// `pattern` → `target`, applied to full addresses before aliases: a `*`
/// in the pattern matches any text, and a `*` in the target is replaced
/// by what it matched (`*@old.example` → `*@example.com`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRule {
    pub id: i64,
    pub priority: i64,
    pub pattern: String,
    pub target: String,
}

fn domain_from(row: &AnyRow) -> Result<DomainRow> {
    Ok(DomainRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        external_inbox: row.try_get("external_inbox")?,
        lock_methods: row.try_get("lock_methods")?,
        lock_timeout: row.try_get("lock_timeout")?,
        quota_bytes: row.try_get("quota_bytes")?,
    })
}

fn account_from(row: &AnyRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        name: row.try_get("name")?,
        domain: row.try_get("domain")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        quota_bytes: row.try_get("quota_bytes")?,
        domain_quota_bytes: row.try_get("domain_quota_bytes")?,
        external_inbox: row.try_get::<i64, _>("external_inbox")? != 0,
    })
}

const ACCOUNT_COLUMNS: &str = "SELECT a.id, a.domain_id, a.name, d.name AS domain, a.password_hash, a.is_admin, \
     a.quota_bytes, d.quota_bytes AS domain_quota_bytes, a.external_inbox \
     FROM accounts a JOIN domains d ON d.id = a.domain_id";

impl Store {
    pub async fn insert_domain(&self, name: &str) -> Result<DomainRow> {
        let (_turn, mut tx) = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO domains (name, created_at) VALUES ($1, $2) \
             RETURNING id, name, external_inbox, lock_methods, lock_timeout, quota_bytes",
        )
        .bind(name)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        self.commit_directory(tx).await?;
        domain_from(&row)
    }

    pub async fn domains(&self) -> Result<Vec<DomainRow>> {
        sqlx::query(
            "SELECT id, name, external_inbox, lock_methods, lock_timeout, quota_bytes FROM domains ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(domain_from)
        .collect()
    }

    /// The domain called `name`, or the one `name` is an alias of.
    pub async fn domain_by_name_or_alias(&self, name: &str) -> Result<Option<DomainRow>> {
        sqlx::query(
            "SELECT id, name, external_inbox, lock_methods, lock_timeout, quota_bytes FROM domains WHERE name = $1 \
             UNION ALL \
             SELECT d.id, d.name, d.external_inbox, d.lock_methods, d.lock_timeout, d.quota_bytes \
             FROM domain_aliases x JOIN domains d ON d.id = x.domain_id WHERE x.name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(domain_from)
        .transpose()
    }

    /// Where the domain's INBOXes live outside Mailroom (`None`: inside)
    /// and how their files are locked.
    pub async fn set_domain_external(
        &self,
        id: i64,
        template: Option<&str>,
        lock_methods: Option<&str>,
        lock_timeout: Option<i64>,
    ) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("UPDATE domains SET external_inbox = $1, lock_methods = $2, lock_timeout = $3 WHERE id = $4")
            .bind(template)
            .bind(lock_methods)
            .bind(lock_timeout)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    pub async fn insert_domain_alias(&self, alias: &str, domain_id: i64) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("INSERT INTO domain_aliases (name, domain_id) VALUES ($1, $2)")
            .bind(alias)
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    /// Every domain alias, as (alias, domain id).
    pub async fn domain_aliases(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT name, domain_id FROM domain_aliases ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("domain_id")?)))
            .collect()
    }

    pub async fn delete_domain_alias(&self, alias: &str) -> Result<bool> {
        let (_turn, mut tx) = self.write().await?;
        let done = sqlx::query("DELETE FROM domain_aliases WHERE name = $1")
            .bind(alias)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn insert_account(
        &self,
        domain_id: i64,
        name: &str,
        password_hash: Option<&str>,
        is_admin: bool,
    ) -> Result<i64> {
        let (_turn, mut tx) = self.write().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO accounts (domain_id, name, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(domain_id)
        .bind(name)
        .bind(password_hash)
        .bind(i64::from(is_admin))
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        self.commit_directory(tx).await?;
        Ok(id)
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<AccountRow>> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE a.id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from)
            .transpose()
    }

    /// The account `name` in domain `domain_id` — by its own name only.
    pub async fn account_by_name(&self, domain_id: i64, name: &str) -> Result<Option<AccountRow>> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE a.domain_id = $1 AND a.name = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(domain_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from)
            .transpose()
    }

    /// The account an alias `name` in domain `domain_id` stands for.
    pub async fn account_by_alias(&self, domain_id: i64, name: &str) -> Result<Option<AccountRow>> {
        let sql = format!(
            "{ACCOUNT_COLUMNS} JOIN account_aliases x ON x.account_id = a.id \
             WHERE x.domain_id = $1 AND x.name = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(domain_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from)
            .transpose()
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRow>> {
        let sql = format!("{ACCOUNT_COLUMNS} ORDER BY d.name, a.name");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(account_from)
            .collect()
    }

    /// Deletes the account and, through the schema's cascades, its
    /// mailboxes, messages, aliases and subscriptions, in one transaction.
    /// Message contents no other mailbox refers to go too.
    ///
    /// The ACL entries that name it go as well: an account made later
    /// under the same name must not inherit what was shared with this one.
    pub async fn delete_account(&self, id: i64) -> Result<()> {
        let Some(account) = self.account_by_id(id).await? else {
            return Ok(());
        };
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM acl WHERE identifier = $1")
            .bind(account.address())
            .execute(&mut *tx)
            .await?;
        bump_authority(&mut tx).await?;
        super::messages::delete_orphan_blobs(&mut tx).await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    /// Sets a new password and ends the account's web sessions, but for
    /// `keep` (the one changing it, when given).
    pub async fn set_password_hash(&self, id: i64, hash: &str, keep: Option<&str>) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM web_sessions WHERE account_id = $1 AND id <> $2")
            .bind(id)
            .bind(keep.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        bump_authority(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A number that grows whenever an account loses authority (deleted,
    /// its password changed, its admin right taken): open sessions on
    /// every node watch it and check their principal again.
    pub async fn authority_epoch(&self) -> Result<i64> {
        let value: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'authority'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.unwrap_or(0))
    }

    pub async fn insert_account_alias(&self, domain_id: i64, name: &str, account_id: i64) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("INSERT INTO account_aliases (domain_id, name, account_id) VALUES ($1, $2, $3)")
            .bind(domain_id)
            .bind(name)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    /// Every account alias, as (`name@domain`, account id).
    pub async fn account_aliases(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT x.name, d.name AS domain, x.account_id FROM account_aliases x \
             JOIN domains d ON d.id = x.domain_id ORDER BY d.name, x.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let (name, domain): (String, String) = (r.try_get("name")?, r.try_get("domain")?);
                Ok((format!("{name}@{domain}"), r.try_get("account_id")?))
            })
            .collect()
    }

    pub async fn delete_account_alias(&self, domain_id: i64, name: &str) -> Result<bool> {
        let (_turn, mut tx) = self.write().await?;
        let done = sqlx::query("DELETE FROM account_aliases WHERE domain_id = $1 AND name = $2")
            .bind(domain_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the account's INBOX is a file (where its domain keeps them).
    pub async fn set_account_external(&self, id: i64, external: bool) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("UPDATE accounts SET external_inbox = $1 WHERE id = $2")
            .bind(i64::from(external))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    pub async fn set_admin(&self, id: i64, admin: bool) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("UPDATE accounts SET is_admin = $1 WHERE id = $2")
            .bind(i64::from(admin))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        bump_authority(&mut tx).await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    pub async fn delete_routing_rule(&self, id: i64) -> Result<bool> {
        let (_turn, mut tx) = self.write().await?;
        let done = sqlx::query("DELETE FROM routing_rules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn insert_routing_rule(&self, priority: i64, pattern: &str, target: &str) -> Result<i64> {
        let (_turn, mut tx) = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO routing_rules (priority, pattern, target) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(priority)
        .bind(pattern)
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        self.commit_directory(tx).await?;
        Ok(id)
    }

    /// Routing rules, in the order they apply.
    pub async fn routing_rules(&self) -> Result<Vec<RoutingRule>> {
        sqlx::query("SELECT id, priority, pattern, target FROM routing_rules ORDER BY priority, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(RoutingRule {
                    id: r.try_get("id")?,
                    priority: r.try_get("priority")?,
                    pattern: r.try_get("pattern")?,
                    target: r.try_get("target")?,
                })
            })
            .collect()
    }

    /// Counts one failed login against each key (GCRA: its arrival time
    /// moves `per_ms` later, from now at the earliest), atomically, so
    /// failures on several nodes add up.
    pub async fn login_failed(&self, keys: &[String], now_ms: i64, per_ms: i64) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO login_throttle (key, tat) VALUES ($1, $2 + $3) ON CONFLICT (key) DO UPDATE \
                 SET tat = (CASE WHEN login_throttle.tat > $2 THEN login_throttle.tat ELSE $2 END) + $3",
            )
            .bind(key)
            .bind(now_ms)
            .bind(per_ms)
            .execute(&mut *tx)
            .await?;
        }
        // Forgiven keys are forgotten.
        sqlx::query("DELETE FROM login_throttle WHERE tat < $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest arrival time of `keys` (0 when none failed lately).
    pub async fn login_debt(&self, keys: &[String]) -> Result<i64> {
        let mut latest = 0;
        for key in keys {
            let tat: Option<i64> = sqlx::query_scalar("SELECT tat FROM login_throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
            latest = latest.max(tat.unwrap_or(0));
        }
        Ok(latest)
    }
}

/// Moves [`Store::authority_epoch`] on, in the transaction that took
/// authority away.
async fn bump_authority(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES ('authority', 1) \
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Bytes of mail in the account's mailboxes (every copy counted).
    pub async fn account_usage(&self, account_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id \
             WHERE b.account_id = $1",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Bytes of mail in all the domain's accounts together.
    pub async fn domain_usage(&self, domain_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id \
             JOIN accounts a ON a.id = b.account_id WHERE a.domain_id = $1",
        )
        .bind(domain_id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_account_quota(&self, account_id: i64, bytes: Option<i64>) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("UPDATE accounts SET quota_bytes = $1 WHERE id = $2")
            .bind(bytes)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(())
    }

    pub async fn set_domain_quota(&self, domain_id: i64, bytes: Option<i64>) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("UPDATE domains SET quota_bytes = $1 WHERE id = $2")
            .bind(bytes)
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(())
    }
}
