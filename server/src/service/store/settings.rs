//! What users chose for themselves (name, signature, time zone), and
//! whom their vacation rules answered when.

use sqlx::Row;

use super::{Result, Store};
use crate::service::types::AccountSettings;

impl Store {
    pub async fn account_settings(&self, account_id: i64) -> Result<AccountSettings> {
        let row = sqlx::query("SELECT display_name, signature, time_zone FROM account_settings WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else {
            return Ok(AccountSettings::default());
        };
        Ok(AccountSettings {
            display_name: r.try_get("display_name")?,
            signature: r.try_get("signature")?,
            time_zone: r.try_get("time_zone")?,
        })
    }

    pub async fn set_account_settings(&self, account_id: i64, s: &AccountSettings) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_settings (account_id, display_name, signature, time_zone) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id) DO UPDATE SET display_name = excluded.display_name, \
             signature = excluded.signature, time_zone = excluded.time_zone",
        )
        .bind(account_id)
        .bind(&s.display_name)
        .bind(&s.signature)
        .bind(&s.time_zone)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims the vacation rule's reply to `sender` at `now` if it last
    /// answered them before `since` (or never): true when the reply is
    /// to be sent. One statement, so two deliveries at once (or two
    /// nodes) answer once.
    pub async fn claim_vacation_reply(&self, rule_id: i64, sender: &str, now: i64, since: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO vacation_replies (rule_id, sender, sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT (rule_id, sender) DO UPDATE SET sent_at = excluded.sent_at \
             WHERE vacation_replies.sent_at < $4",
        )
        .bind(rule_id)
        .bind(sender)
        .bind(now)
        .bind(since)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Remembers that the account wrote to these addresses.
    pub async fn remember_contacts(&self, account_id: i64, addresses: &[String], now: i64) -> Result<()> {
        for address in addresses {
            sqlx::query(
                "INSERT INTO contacts (account_id, address, used_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, address) DO UPDATE SET used_at = excluded.used_at",
            )
            .bind(account_id)
            .bind(address.to_lowercase())
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The addresses the account wrote to, most recent first.
    pub async fn contacts(&self, account_id: i64, limit: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT address FROM contacts WHERE account_id = $1 ORDER BY used_at DESC LIMIT $2")
                .bind(account_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
