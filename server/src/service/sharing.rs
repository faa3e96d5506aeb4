//! What the web's sharing pages ask of the service: a mailbox's ACL as
//! its administrator edits it, copying it to sub-folders (planned first,
//! then done), why someone has the rights they have, and another
//! account's folders to open and subscribe to. The rights checks are the
//! ones IMAP's ACL commands go through (`open`, `require`).

use mailroom_shared::Action;
use mailroom_shared::MailboxPath;
use mailroom_shared::Right;
use mailroom_shared::dto::{AccountFolder, AclPlan, RightsWhy, Sharing};

use super::admin::PUBLIC_ACCOUNT;
use super::{Opened, Principal, Service, display_name};
use crate::error::{Error, Result};

impl Service {
    /// A mailbox's sharing page: everybody sees their own rights; only an
    /// administrator (`a`) gets the ACL and the accounts to add.
    pub async fn sharing(&self, p: &Principal, name: &str) -> Result<Sharing> {
        let m = self.open(p, name).await?;
        let admin = m.rights.contains(Right::Administer);
        let (sub_folders, accounts) = if admin {
            let subs = self.sub_folders(p, &m).await?;
            (
                subs.into_iter().map(|c| c.name).collect(),
                self.addresses_in_domain(p).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Sharing {
            mailbox: m.info(),
            acl: admin.then(|| m.acl.clone()),
            sub_folders,
            accounts,
            send_as: match admin {
                true => self.store.team_settings(m.mailbox.id).await?.send_as,
                false => Vec::new(),
            },
        })
    }

    /// The sub-folders of `m` the principal may look up (the others are
    /// not its business, not even their names).
    async fn sub_folders(&self, p: &Principal, m: &Opened) -> Result<Vec<Opened>> {
        let path = MailboxPath::parse(&m.mailbox.name).map_err(|e| Error::BadInput(e.to_string()))?;
        let mut out = Vec::new();
        for child in self.children(m, &path).await? {
            match self.open(p, &display_name(p, &m.owner, &child.name)).await {
                Ok(opened) => out.push(opened),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The addresses of the accounts in the principal's domain, for
    /// completing names on the sharing form (the public account is not
    /// someone to share with).
    pub(super) async fn addresses_in_domain(&self, p: &Principal) -> Result<Vec<String>> {
        Ok(self
            .store
            .accounts()
            .await?
            .into_iter()
            .filter(|a| a.domain == p.domain && a.name != PUBLIC_ACCOUNT)
            .map(|a| a.address())
            .collect())
    }

    /// What copying a mailbox's ACL to each of its sub-folders would
    /// change. Needs `a` on the mailbox; sub-folders the principal may not
    /// administer are listed as refused.
    pub async fn plan_acl_for_sub_folders(&self, p: &Principal, name: &str) -> Result<Vec<AclPlan>> {
        let m = self.open(p, name).await?;
        m.require(Action::Administer)?;
        let mut plans = Vec::new();
        for child in self.sub_folders(p, &m).await? {
            let refused = (!child.rights.contains(Right::Administer))
                .then(|| format!("you may not change who may use {}", child.name));
            if child.acl != m.acl {
                plans.push(AclPlan {
                    mailbox: child.name,
                    before: child.acl,
                    after: m.acl.clone(),
                    refused,
                });
            }
        }
        Ok(plans)
    }

    /// Copies a mailbox's ACL to every sub-folder the principal may
    /// administer; returns how many changed.
    pub async fn apply_acl_to_sub_folders(&self, p: &Principal, name: &str) -> Result<usize> {
        let plans = self.plan_acl_for_sub_folders(p, name).await?;
        let mut changed = 0;
        for plan in plans.iter().filter(|plan| plan.refused.is_none()) {
            let child = self.open(p, &plan.mailbox).await?;
            self.store.replace_acl(child.mailbox.id, &plan.after).await?;
            changed += 1;
        }
        if changed > 0 {
            self.feed.wake();
        }
        Ok(changed)
    }

    /// Why `user` has the rights they have on a mailbox. Needs `a`.
    pub async fn why(&self, p: &Principal, name: &str, user: &str) -> Result<RightsWhy> {
        let explanation = self.explain_rights(p, name, user).await?;
        let user = self.account(p, user.trim()).await?.address();
        Ok(RightsWhy { user, explanation })
    }

    /// The folders of another account (`~bob`, `bob@example.com`, an
    /// alias) that the principal may look up, and which are subscribed.
    pub async fn account_folders(&self, p: &Principal, account: &str) -> Result<Vec<AccountFolder>> {
        let subscribed = self.subscriptions(p).await?;
        Ok(self
            .list_account_mailboxes(p, account.trim())
            .await?
            .into_iter()
            .map(|info| AccountFolder {
                subscribed: subscribed.contains(&info.name),
                info,
            })
            .collect())
    }
}
