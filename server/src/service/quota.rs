//! Storage quotas (RFC 9208's STORAGE resource): the most bytes of mail
//! an account may hold, and all the accounts of a domain together. Every
//! way mail comes in — APPEND, COPY, MOVE between accounts, delivery,
//! import, the web — goes through `Service::insert`, which asks here
//! first; over the limit nothing is stored (IMAP `NO [OVERQUOTA]`, LMTP
//! `552 5.2.2`). Without a quota nothing is counted, so an unlimited
//! site pays nothing for the feature.
//!
//! The check and the insert are not one transaction: mail arriving at
//! the same moment may pass a quota by one message each, never more.

use mailroom_shared::limits::human_size;

use super::admin::require_admin;
use super::{Principal, Service};
use crate::error::{Error, Result};
use crate::service::store::AccountRow;

/// One quota root as IMAP reports it: its name, bytes used and limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaRoot {
    /// `alice@example.com` for an account, `@example.com` for a domain.
    pub name: String,
    pub used: u64,
    pub limit: u64,
}

impl Service {
    /// Refuses `adding` more bytes for `owner` past its quota or its
    /// domain's.
    pub(super) async fn check_quota(&self, owner: &AccountRow, adding: i64) -> Result<()> {
        if let Some(limit) = owner.quota_bytes {
            let used = self.store.account_usage(owner.id).await?;
            if used + adding > limit {
                return Err(over(&owner.address(), used, limit));
            }
        }
        if let Some(limit) = owner.domain_quota_bytes {
            let used = self.store.domain_usage(owner.domain_id).await?;
            if used + adding > limit {
                return Err(over(&owner.domain, used, limit));
            }
        }
        Ok(())
    }

    /// The quota roots of the mailbox `name` (GETQUOTAROOT): its owner's
    /// and its owner's domain's, those that have a limit.
    pub async fn quota_roots(&self, p: &Principal, name: &str) -> Result<Vec<QuotaRoot>> {
        let m = self.open(p, name).await?;
        self.roots_of(&m.owner).await
    }

    /// One quota root by name (GETQUOTA): an account's own, its domain's,
    /// or — for a server admin — anyone's.
    pub async fn quota_root(&self, p: &Principal, root: &str) -> Result<QuotaRoot> {
        let unknown = || Error::NotFound(format!("no quota root {root}"));
        let me = self.store.account_by_id(p.account_id).await?.ok_or(Error::AuthFailed)?;
        let roots = match root.strip_prefix('@') {
            Some(domain) if domain.eq_ignore_ascii_case(&me.domain) || p.is_server_admin() => {
                let owner = match domain.eq_ignore_ascii_case(&me.domain) {
                    true => me,
                    false => self.domain_member(domain).await?.ok_or_else(unknown)?,
                };
                self.roots_of(&owner).await?
            }
            Some(_) => return Err(unknown()),
            None => {
                let owner = self.account(p, root).await.map_err(|_| unknown())?;
                if owner.id != me.id && !p.is_server_admin() {
                    return Err(unknown());
                }
                self.roots_of(&owner).await?
            }
        };
        let wanted = match root.strip_prefix('@') {
            Some(_) => root.to_owned(),
            None => self.account(p, root).await?.address(),
        };
        roots
            .into_iter()
            .find(|r| r.name.eq_ignore_ascii_case(&wanted))
            .ok_or_else(unknown)
    }

    /// What the settings page shows: the account's own root, if it has a
    /// limit, else its domain's.
    pub async fn my_quota(&self, p: &Principal) -> Result<Option<QuotaRoot>> {
        let me = self.store.account_by_id(p.account_id).await?.ok_or(Error::AuthFailed)?;
        Ok(self.roots_of(&me).await?.into_iter().next())
    }

    async fn roots_of(&self, owner: &AccountRow) -> Result<Vec<QuotaRoot>> {
        let mut roots = Vec::new();
        if let Some(limit) = owner.quota_bytes {
            let used = self.store.account_usage(owner.id).await?;
            roots.push(QuotaRoot {
                name: owner.address(),
                used: used.max(0) as u64,
                limit: limit.max(0) as u64,
            });
        }
        if let Some(limit) = owner.domain_quota_bytes {
            let used = self.store.domain_usage(owner.domain_id).await?;
            roots.push(QuotaRoot {
                name: format!("@{}", owner.domain),
                used: used.max(0) as u64,
                limit: limit.max(0) as u64,
            });
        }
        Ok(roots)
    }

    /// Any account of `domain`, to read the domain's quota through.
    async fn domain_member(&self, domain: &str) -> Result<Option<AccountRow>> {
        let Some(d) = self.store.domain_by_name_or_alias(domain).await? else {
            return Ok(None);
        };
        Ok(self.store.accounts().await?.into_iter().find(|a| a.domain_id == d.id))
    }

    /// Sets (or with `None` lifts) an account's quota. Server admins only.
    pub async fn set_quota(&self, p: &Principal, address: &str, bytes: Option<u64>) -> Result<()> {
        require_admin(p)?;
        let account = self.account(p, address).await?;
        Ok(self.store.set_account_quota(account.id, bytes.map(clamp)).await?)
    }

    /// Sets (or lifts) the quota of a domain's accounts together.
    pub async fn set_domain_quota(&self, p: &Principal, domain: &str, bytes: Option<u64>) -> Result<()> {
        require_admin(p)?;
        let domain = self
            .store
            .domain_by_name_or_alias(domain)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no domain {domain}")))?;
        Ok(self.store.set_domain_quota(domain.id, bytes.map(clamp)).await?)
    }
}

fn clamp(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

fn over(whose: &str, used: i64, limit: i64) -> Error {
    Error::OverQuota(format!(
        "{whose} holds {} of its {} quota; this does not fit",
        human_size(used.max(0) as u64),
        human_size(limit.max(0) as u64)
    ))
}

/// `500M`, `2G`, `1048576`, `none` as a number of bytes (`None`: no limit).
pub fn parse_size(text: &str) -> std::result::Result<Option<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") || t.is_empty() {
        return Ok(None);
    }
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 500M or 2G"))?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(format!("{text:?} is not a size like 500M or 2G")),
    };
    n.checked_mul(factor)
        .map(Some)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500M"), Ok(Some(500 << 20)));
        assert_eq!(parse_size("2g"), Ok(Some(2 << 30)));
        assert_eq!(parse_size("1024"), Ok(Some(1024)));
        assert_eq!(parse_size("none"), Ok(None));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
