//! Editing automated rules: every account keeps its own; server admins
//! also keep the server's and each domain's. The rules run at delivery
//! (`delivery.rs`).

use mailroom_shared::dates::{Local, long_date};
use mailroom_shared::rules::{Action, RuleSpec, RuleView, RulesPage, Scope};

use super::admin::require_admin;
use super::{Principal, Service};
use crate::error::{Error, Result};
use crate::limits;
use crate::service::store::RuleRow;

/// The ids a scope is stored under: `(domain_id, account_id)`.
type ScopeIds = (Option<i64>, Option<i64>);

impl Service {
    /// The scopes whose rules `p` may edit: their own account, and for
    /// server admins the server and every domain.
    pub async fn rule_scopes(&self, p: &Principal) -> Result<Vec<Scope>> {
        let mut scopes = Vec::new();
        if !p.system {
            scopes.push(Scope::Account(p.address().to_owned()));
        }
        if p.server_admin {
            scopes.push(Scope::Server);
            for d in self.store.domains().await? {
                scopes.push(Scope::Domain(d.name));
            }
        }
        Ok(scopes)
    }

    /// The rules of one scope, in the order they run, with their problems.
    pub async fn rules(&self, p: &Principal, scope: &Scope) -> Result<Vec<RuleView>> {
        let (scope, ids) = self.rule_scope(p, scope).await?;
        self.rules_in(scope, ids).await
    }

    /// The rules page for `p`: the scopes they may edit and the rules of
    /// `scope` (their own account's when `None`).
    pub async fn rules_page(&self, p: &Principal, scope: Option<Scope>) -> Result<RulesPage> {
        let scopes = self.rule_scopes(p).await?;
        let scope = match scope {
            Some(s) => s,
            None => scopes
                .first()
                .cloned()
                .ok_or_else(|| Error::BadInput("name the rules' scope".into()))?,
        };
        let (scope, ids) = self.rule_scope(p, &scope).await?;
        let rules = self.rules_in(scope.clone(), ids).await?;
        Ok(RulesPage { scopes, scope, rules })
    }

    /// The rules stored under a scope already checked.
    async fn rules_in(&self, scope: Scope, (domain_id, account_id): ScopeIds) -> Result<Vec<RuleView>> {
        let mut views = Vec::new();
        for row in self.store.rules_of_scope(domain_id, account_id).await? {
            views.push(self.rule_view(scope.clone(), row).await?);
        }
        Ok(views)
    }

    /// Saves a rule in a scope `p` may edit: a new one (`id` `None`) or
    /// a change to one of that scope. The rule's copies will use `p`'s
    /// rights. Returns its id.
    pub async fn save_rule(&self, p: &Principal, scope: &Scope, id: Option<i64>, spec: RuleSpec) -> Result<i64> {
        let (_, (domain_id, account_id)) = self.rule_scope(p, scope).await?;
        spec.check().map_err(Error::BadInput)?;
        let mut targets = Vec::new();
        for action in &spec.actions {
            if let Action::Redirect(to) = action {
                let (target, _) = self.resolve_recipient(to).await.map_err(|_| {
                    Error::BadInput(format!(
                        "redirect: {to} is not an address on this server (rules redirect to local addresses)"
                    ))
                })?;
                if Some(target.id) == account_id {
                    return Err(Error::BadInput(format!("redirect: {to} is this account's own address")));
                }
                if targets.contains(&target.id) {
                    return Err(Error::BadInput(format!("redirect: {to} is named twice")));
                }
                targets.push(target.id);
            }
        }
        if id.is_none() && self.store.rules_of_scope(domain_id, account_id).await?.len() >= limits::RULES_PER_SCOPE {
            return Err(Error::BadInput(format!(
                "there may be at most {} rules here; delete one first",
                limits::RULES_PER_SCOPE
            )));
        }
        let mut row = RuleRow {
            id: id.unwrap_or(0),
            domain_id,
            account_id,
            owner_id: (!p.system).then_some(p.account_id),
            by_operator: p.system,
            priority: spec.priority,
            spec: serde_json::to_string(&spec).map_err(|e| Error::BadInput(e.to_string()))?,
        };
        match id {
            None => row.id = self.store.insert_rule(&row).await?,
            Some(id) => {
                let old = self
                    .store
                    .rule(id)
                    .await?
                    .filter(|r| (r.domain_id, r.account_id) == (domain_id, account_id));
                if old.is_none() || !self.store.update_rule(&row).await? {
                    return Err(no_rule(id));
                }
            }
        }
        Ok(row.id)
    }

    /// Deletes a rule from a scope `p` may edit.
    pub async fn delete_rule(&self, p: &Principal, id: i64) -> Result<()> {
        let row = self.store.rule(id).await?.ok_or_else(|| no_rule(id))?;
        let own = row.account_id == Some(p.account_id) && !p.system;
        if !own && !p.server_admin {
            return Err(no_rule(id));
        }
        self.store.delete_rule(id).await?;
        Ok(())
    }

    /// Checks that `p` may edit `scope`'s rules; returns the scope
    /// spelled canonically and its ids.
    async fn rule_scope(&self, p: &Principal, scope: &Scope) -> Result<(Scope, ScopeIds)> {
        match scope {
            Scope::Server => {
                require_admin(p)?;
                Ok((Scope::Server, (None, None)))
            }
            Scope::Domain(name) => {
                require_admin(p)?;
                let d = self
                    .store
                    .domain_by_name_or_alias(name)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("no domain {name}")))?;
                Ok((Scope::Domain(d.name), (Some(d.id), None)))
            }
            Scope::Account(address) => {
                let account = self.account(p, address).await?;
                if account.id != p.account_id || p.system {
                    require_admin(p)?;
                }
                Ok((Scope::Account(account.address()), (None, Some(account.id))))
            }
        }
    }

    async fn rule_view(&self, scope: Scope, row: RuleRow) -> Result<RuleView> {
        let owner = match row.owner_id {
            Some(id) => self.store.account_by_id(id).await?.map(|a| a.address()),
            None if row.by_operator => None,
            None => Some("(deleted account)".into()),
        };
        let spec = serde_json::from_str(&row.spec).unwrap_or_else(|e| RuleSpec {
            name: format!("(unreadable rule: {e})"),
            ..RuleSpec::default()
        });
        let problems = self
            .store
            .rule_problems(row.id)
            .await?
            .into_iter()
            .map(|(at, message)| format!("{}: {message}", long_date(at, &Local::default())))
            .collect();
        Ok(RuleView {
            id: row.id,
            scope,
            spec,
            owner,
            problems,
        })
    }
}

fn no_rule(id: i64) -> Error {
    Error::NotFound(format!("no rule {id} that you may change"))
}
