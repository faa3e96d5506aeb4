//! Automated rules and the problems they met, as rows. The rule's
//! conditions and actions are one JSON text; the service reads it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, now};

/// A stored rule. Scope: neither id (server), `domain_id`, or `account_id`.
#[derive(Clone, Debug)]
pub struct RuleRow {
    pub id: i64,
    pub domain_id: Option<i64>,
    pub account_id: Option<i64>,
    /// The account whose rights the rule's copies use.
    pub owner_id: Option<i64>,
    /// Saved by the operator at the command line (who has every right).
    pub by_operator: bool,
    pub priority: i64,
    pub spec: String,
}

/// How many problems are kept per rule.
const PROBLEMS_KEPT: i64 = 20;

const COLUMNS: &str = "id, domain_id, account_id, owner_id, by_operator, priority, spec";

fn rule_row(r: &AnyRow) -> Result<RuleRow> {
    Ok(RuleRow {
        id: r.try_get("id")?,
        domain_id: r.try_get("domain_id")?,
        account_id: r.try_get("account_id")?,
        owner_id: r.try_get("owner_id")?,
        by_operator: r.try_get::<i64, _>("by_operator")? != 0,
        priority: r.try_get("priority")?,
        spec: r.try_get("spec")?,
    })
}

impl Store {
    /// Stores a new rule (its `id` is ignored) and returns its id.
    pub async fn insert_rule(&self, rule: &RuleRow) -> Result<i64> {
        let (_turn, mut tx) = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rules (domain_id, account_id, owner_id, by_operator, priority, spec) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(rule.domain_id)
        .bind(rule.account_id)
        .bind(rule.owner_id)
        .bind(i64::from(rule.by_operator))
        .bind(rule.priority)
        .bind(&rule.spec)
        .fetch_one(&mut *tx)
        .await?;
        self.commit_directory(tx).await?;
        Ok(id)
    }

    /// Replaces what a rule says and who saved it (its scope stays).
    pub async fn update_rule(&self, rule: &RuleRow) -> Result<bool> {
        let (_turn, mut tx) = self.write().await?;
        let done =
            sqlx::query("UPDATE rules SET owner_id = $1, by_operator = $2, priority = $3, spec = $4 WHERE id = $5")
                .bind(rule.owner_id)
                .bind(i64::from(rule.by_operator))
                .bind(rule.priority)
                .bind(&rule.spec)
                .bind(rule.id)
                .execute(&mut *tx)
                .await?;
        self.commit_directory(tx).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_rule(&self, id: i64) -> Result<bool> {
        let (_turn, mut tx) = self.write().await?;
        let done = sqlx::query("DELETE FROM rules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit_directory(tx).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn rule(&self, id: i64) -> Result<Option<RuleRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM rules WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rule_row)
        .transpose()
    }

    /// The rules of exactly one scope, in the order they run.
    pub async fn rules_of_scope(&self, domain_id: Option<i64>, account_id: Option<i64>) -> Result<Vec<RuleRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM rules WHERE COALESCE(domain_id, 0) = $1 AND COALESCE(account_id, 0) = $2 \
             ORDER BY priority, id"
        )))
        .bind(domain_id.unwrap_or(0))
        .bind(account_id.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rule_row)
        .collect()
    }

    /// The rules for mail to one account: the server's, then its domain's,
    /// then its own, each level by priority.
    pub async fn rules_for_delivery(&self, domain_id: i64, account_id: i64) -> Result<Vec<RuleRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM rules \
             WHERE (domain_id IS NULL AND account_id IS NULL) OR domain_id = $1 OR account_id = $2 \
             ORDER BY CASE WHEN account_id IS NOT NULL THEN 2 WHEN domain_id IS NOT NULL THEN 1 ELSE 0 END, \
             priority, id"
        )))
        .bind(domain_id)
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rule_row)
        .collect()
    }

    /// Notes why a rule did less than it says, keeping the latest few.
    pub async fn add_rule_problem(&self, rule_id: i64, message: &str) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        sqlx::query("INSERT INTO rule_problems (rule_id, at, message) VALUES ($1, $2, $3)")
            .bind(rule_id)
            .bind(now())
            .bind(message)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM rule_problems WHERE rule_id = $1 AND id NOT IN \
             (SELECT id FROM rule_problems WHERE rule_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(rule_id)
        .bind(PROBLEMS_KEPT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A rule's problems, newest first, as `(unix time, message)`.
    pub async fn rule_problems(&self, rule_id: i64) -> Result<Vec<(i64, String)>> {
        sqlx::query("SELECT at, message FROM rule_problems WHERE rule_id = $1 ORDER BY id DESC")
            .bind(rule_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("message")?)))
            .collect()
    }
}
