//! What users set for themselves on the settings page: their name in the
//! mail they send, a signature, the time zone dates are shown in, their
//! password, and the two rules people look for among settings rather
//! than among rules — a vacation auto-reply and forwarding. Those two are
//! ordinary rules of the account's own scope, so the rules page shows
//! and edits them too.

use mailroom_shared::dto::{ComposeDefaults, Forwarding, Settings, Vacation};
use mailroom_shared::rules::{Action, RuleSpec, Scope};

use super::{Principal, Service, hash_password, verify_password};
use crate::error::{Error, Result};
use crate::message::Sender;
use crate::service::store::RuleRow;
use crate::service::types::AccountSettings;

/// The names the settings page gives the rules it keeps.
const VACATION_RULE: &str = "Vacation auto-reply";
const FORWARDING_RULE: &str = "Forwarding";
const MAX_NAME: usize = 200;
const MAX_SIGNATURE: usize = 10_000;

/// A rule of the account's own, as the settings page reads it.
struct OwnRule {
    id: i64,
    spec: RuleSpec,
}

impl Service {
    /// The settings page of `p`.
    pub async fn settings(&self, p: &Principal) -> Result<Settings> {
        let saved = self.store.account_settings(p.account_id).await?;
        let own = self.own_rules(p).await?;
        let vacation = own.iter().find_map(|r| {
            r.spec.actions.iter().find_map(|a| match a {
                Action::Vacation { days, text } => Some(Vacation {
                    days: *days,
                    text: text.clone(),
                }),
                _ => None,
            })
        });
        let forwarding = own.iter().filter(|r| r.spec.name == FORWARDING_RULE).find_map(|r| {
            let to = r.spec.actions.iter().find_map(|a| match a {
                Action::Redirect(to) => Some(to.clone()),
                _ => None,
            })?;
            let keep = r
                .spec
                .actions
                .iter()
                .any(|a| matches!(a, Action::CopyTo(m) if m == "INBOX"));
            Some(Forwarding { to, keep })
        });
        Ok(Settings {
            address: p.address().to_owned(),
            display_name: saved.display_name,
            signature: saved.signature,
            time_zone: saved.time_zone,
            zones: jiff::tz::db().available().map(|z| z.as_str().to_owned()).collect(),
            identities: self.identities(p).await?,
            vacation,
            forwarding,
            storage: self.my_quota(p).await?.map(|q| mailroom_shared::dto::StorageUse {
                used: q.used,
                limit: q.limit,
            }),
            hide_presence: self.store.hides_presence(p.account_id).await?,
        })
    }

    /// Keeps `p`'s name, signature and time zone (empty: the browser's).
    pub async fn save_profile(&self, p: &Principal, profile: AccountSettings) -> Result<()> {
        let name = profile.display_name.trim();
        if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::BadInput(format!(
                "a display name is one line of at most {MAX_NAME} characters"
            )));
        }
        if profile.signature.len() > MAX_SIGNATURE {
            return Err(Error::BadInput(format!(
                "a signature may have at most {MAX_SIGNATURE} bytes"
            )));
        }
        let zone = profile.time_zone.trim();
        if !zone.is_empty() && jiff::tz::TimeZone::get(zone).is_err() {
            return Err(Error::BadInput(format!(
                "{zone:?} is not a time zone this server knows"
            )));
        }
        let saved = AccountSettings {
            display_name: name.to_owned(),
            signature: profile.signature.replace("\r\n", "\n").trim_end().to_owned(),
            time_zone: zone.to_owned(),
        };
        Ok(self.store.set_account_settings(p.account_id, &saved).await?)
    }

    /// Changes `p`'s own password, given the current one, and ends every
    /// other web sign-in of theirs (`session` stays).
    pub async fn change_password(&self, p: &Principal, session: &str, current: &str, new: &str) -> Result<()> {
        let account = self.store.account_by_id(p.account_id).await?.ok_or(Error::AuthFailed)?;
        if !verify_password(current, account.password_hash.clone()).await? {
            return Err(Error::BadInput("the current password is not right".into()));
        }
        if new == current {
            return Err(Error::BadInput("the new password is the one you have".into()));
        }
        let hash = hash_password(new).await?;
        self.store.set_password_hash(account.id, &hash, Some(session)).await?;
        self.authority_changed().await;
        Ok(())
    }

    /// What a compose form of `p` starts with: the addresses they may send
    /// from, their signature, and the addresses to offer as recipients.
    pub async fn compose_defaults(&self, p: &Principal) -> Result<ComposeDefaults> {
        Ok(ComposeDefaults {
            identities: self.identities(p).await?,
            signature: self.store.account_settings(p.account_id).await?.signature,
            known: self.known_addresses(p).await?,
        })
    }

    /// Addresses to offer while `p` types a recipient: those they wrote
    /// to (most recent first), then the accounts of their domain.
    async fn known_addresses(&self, p: &Principal) -> Result<Vec<String>> {
        let mut known = self.store.contacts(p.account_id, 500).await?;
        for address in self.addresses_in_domain(p).await? {
            if !known.contains(&address) {
                known.push(address);
            }
        }
        known.retain(|a| a != p.address());
        Ok(known)
    }

    /// The addresses `p` may send from: their own, then their aliases.
    pub async fn identities(&self, p: &Principal) -> Result<Vec<String>> {
        let mut all = vec![p.address().to_owned()];
        all.extend(
            self.store
                .account_aliases()
                .await?
                .into_iter()
                .filter(|(_, id)| *id == p.account_id)
                .map(|(alias, _)| alias),
        );
        Ok(all)
    }

    /// Who mail from `p` is from: `chosen` (one of their identities;
    /// empty for their own address) with their display name.
    pub(super) async fn sender_of(&self, p: &Principal, chosen: &str) -> Result<(String, String)> {
        let chosen = chosen.trim();
        let address = match chosen.is_empty() {
            true => p.address().to_owned(),
            false => self
                .identities(p)
                .await?
                .into_iter()
                .find(|a| a.eq_ignore_ascii_case(chosen))
                .ok_or_else(|| Error::BadInput(format!("you cannot send mail as {chosen}")))?,
        };
        let name = self.store.account_settings(p.account_id).await?.display_name;
        Ok((name, address))
    }

    /// Turns the vacation auto-reply on (with how many days pass before a
    /// sender is answered again, and the text) or off.
    pub async fn set_vacation(&self, p: &Principal, vacation: Option<Vacation>) -> Result<()> {
        let action = vacation.map(|v| Action::new("vacation", &format!("{} {}", v.days, v.text.trim())));
        let action = action.transpose().map_err(Error::BadInput)?;
        let existing = self
            .own_rules(p)
            .await?
            .into_iter()
            .find(|r| r.spec.actions.iter().any(|a| matches!(a, Action::Vacation { .. })));
        self.keep_own_rule(p, existing, VACATION_RULE, 0, action.map(|a| vec![a]))
            .await
    }

    /// Forwards incoming mail to another local address (keeping a copy in
    /// the INBOX if asked), or stops forwarding.
    pub async fn set_forwarding(&self, p: &Principal, forwarding: Option<Forwarding>) -> Result<()> {
        let actions = match forwarding {
            None => None,
            Some(f) => {
                let to = f.to.trim();
                let resolved = self.resolve_recipient(to).await.map_err(|_| {
                    Error::BadInput(format!(
                        "{to} is not an address on this server (forwarding is to local addresses)"
                    ))
                })?;
                if resolved.0.id == p.account_id {
                    return Err(Error::BadInput("forwarding to yourself would loop".into()));
                }
                let mut actions = vec![Action::new("redirect", to).map_err(Error::BadInput)?];
                if f.keep {
                    actions.push(Action::CopyTo("INBOX".into()));
                }
                Some(actions)
            }
        };
        let existing = self
            .own_rules(p)
            .await?
            .into_iter()
            .find(|r| r.spec.name == FORWARDING_RULE);
        self.keep_own_rule(p, existing, FORWARDING_RULE, 1, actions).await
    }

    /// Saves (or, with no actions, deletes) the settings page's rule.
    async fn keep_own_rule(
        &self,
        p: &Principal,
        existing: Option<OwnRule>,
        name: &str,
        priority: i64,
        actions: Option<Vec<Action>>,
    ) -> Result<()> {
        match (existing, actions) {
            (Some(rule), None) => self.delete_rule(p, rule.id).await,
            (None, None) => Ok(()),
            (existing, Some(actions)) => {
                let spec = RuleSpec {
                    name: name.to_owned(),
                    priority,
                    any: true,
                    conditions: Vec::new(),
                    actions,
                };
                let scope = Scope::Account(p.address().to_owned());
                self.save_rule(p, &scope, existing.map(|r| r.id), spec).await.map(drop)
            }
        }
    }

    async fn own_rules(&self, p: &Principal) -> Result<Vec<OwnRule>> {
        if p.system {
            return Ok(Vec::new());
        }
        let rows: Vec<RuleRow> = self.store.rules_of_scope(None, Some(p.account_id)).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let spec = serde_json::from_str(&row.spec).ok()?;
                Some(OwnRule { id: row.id, spec })
            })
            .collect())
    }
}

/// The [`Sender`] of a name and address pair from [`Service::sender_of`].
pub(super) fn sender((name, address): &(String, String)) -> Sender<'_> {
    Sender { name, address }
}
