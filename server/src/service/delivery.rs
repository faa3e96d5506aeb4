//! Delivery: mail for a local address (from LMTP, `mailroom deliver` or
//! the web's compose) found its account through the router, then the
//! automated rules of the server, the account's domain and the account
//! decide where it is stored.
//!
//! A rule's copies into other accounts' mailboxes use its owner's rights
//! (`p` or `i` needed), checked at every delivery; what a rule could not
//! do is logged and noted on the rule, and the message is then kept in the
//! INBOX rather than lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use mailroom_shared::acl::{Who, effective_rights};
use mailroom_shared::rules::{Action, RuleSpec};
use mailroom_shared::team::{Via, What};
use mailroom_shared::{Flags, MailboxName, Right};

use super::messages::canonical_content;
use super::{Opened, Principal, Service, router};
use crate::error::{Error, Result};
use crate::limits;
use crate::service::store::{AccountRow, Content, NewMessage, RuleRow, now};

/// Where a delivered message went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The recipient's canonical address.
    pub account: String,
    /// Each stored copy: the mailbox (as the recipient writes it) and UID.
    pub stored: Vec<(String, u32)>,
    /// Local addresses rules sent it on to, with what happened there.
    pub redirected: Vec<DeliveryReport>,
}

impl DeliveryReport {
    /// The first stored copy's mailbox (normally the INBOX), if any.
    pub fn mailbox(&self) -> Option<&str> {
        self.stored.first().map(|(m, _)| m.as_str())
    }

    /// The first stored copy's UID (0 when rules stored none here).
    pub fn uid(&self) -> u32 {
        self.stored.first().map_or(0, |&(_, uid)| uid)
    }

    /// Where copies went: `INBOX (UID 4), ~public@example.com/Support (UID 9)`,
    /// and where rules sent it on.
    pub fn places(&self) -> String {
        let mut parts: Vec<String> = self.stored.iter().map(|(m, uid)| format!("{m} (UID {uid})")).collect();
        parts.extend(
            self.redirected
                .iter()
                .map(|r| format!("redirected to {}: {}", r.account, r.summary())),
        );
        parts.join(", ")
    }

    /// What happened, in a few words (LMTP replies say it).
    pub fn summary(&self) -> String {
        match self.stored.is_empty() && self.redirected.is_empty() {
            true => "discarded by a rule".into(),
            false => format!("delivered to {}", self.places()),
        }
    }
}

/// The accounts one incoming message has reached, over every hop.
#[derive(Default)]
struct RedirectBudget {
    reached: Mutex<Vec<i64>>,
}

enum Claim {
    Taken,
    Reached,
    Spent,
}

impl RedirectBudget {
    fn reached(&self, account: i64) {
        let mut reached = self.reached.lock().unwrap_or_else(|e| e.into_inner());
        if !reached.contains(&account) {
            reached.push(account);
        }
    }

    /// Takes `account` as a redirect's target, if the message has not
    /// reached it and the budget allows one more (the first account, the
    /// recipient, is not counted).
    fn claim(&self, account: i64) -> Claim {
        let mut reached = self.reached.lock().unwrap_or_else(|e| e.into_inner());
        if reached.contains(&account) {
            Claim::Reached
        } else if reached.len() > limits::REDIRECTED_DELIVERIES {
            Claim::Spent
        } else {
            reached.push(account);
            Claim::Taken
        }
    }
}

/// What the rules decided for one message.
#[derive(Default)]
struct Plan {
    /// Mailboxes to store it in, besides the INBOX if `keep`, each with
    /// the rule that chose it (for the activity trail).
    targets: Vec<(Opened, String)>,
    /// Whether it still goes to the INBOX (or the `+detail` mailbox).
    keep: bool,
    flags: Flags,
    redirects: Vec<(i64, String)>,
    /// Vacation replies to send: the rule, its days and text.
    replies: Vec<(i64, u32, String)>,
}

/// A rule as it runs: its row and what it says.
struct Loaded {
    row: RuleRow,
    spec: RuleSpec,
}

/// A recipient found by [`Service::recipient`]: opaque to the gateways
/// (the account row stays inside the service).
pub struct Recipient {
    account: AccountRow,
    detail: Option<String>,
}

impl Service {
    /// Finds where mail for `recipient` goes (LMTP's RCPT), to be
    /// delivered a moment later with [`Service::deliver_resolved`].
    pub async fn recipient(&self, recipient: &str) -> Result<Recipient> {
        let (account, detail) = self.resolve_recipient(recipient).await?;
        Ok(Recipient { account, detail })
    }

    /// Finds the account mail for `recipient` goes to (aliases and routing
    /// rules apply), and the `+detail` of its address if it had one
    /// (`alice+lists@example.com`; an account whose name has a `+` wins).
    pub(super) async fn resolve_recipient(&self, recipient: &str) -> Result<(AccountRow, Option<String>)> {
        let domain = self.primary_domain().await?;
        if let Some(account) = self.route(recipient, &domain).await? {
            return Ok((account, None));
        }
        let unknown = || Error::NotFound(format!("no mailbox here for {recipient}"));
        let (local, at_domain) = match recipient.split_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (recipient, None),
        };
        let (user, detail) = local.split_once('+').ok_or_else(unknown)?;
        let base = match at_domain {
            Some(d) => format!("{user}@{d}"),
            None => user.to_owned(),
        };
        let account = self.route(&base, &domain).await?.ok_or_else(unknown)?;
        Ok((account, Some(detail.to_owned()).filter(|d| !d.is_empty())))
    }

    /// [`router::resolve`] for a delivery, from the node's
    /// [`super::directory::Directory`] when it went there a moment ago.
    async fn route(&self, address: &str, domain: &str) -> Result<Option<AccountRow>> {
        let generation = self.store.directory_generation();
        let key = format!("{domain}\n{address}");
        if let Some(account) = self.directory.recipients().get(generation, &key) {
            return Ok(Some(account));
        }
        let found = router::resolve(&self.store, address, domain).await?;
        if let Some(account) = &found {
            self.directory.recipients().put(generation, key, account.clone());
        }
        Ok(found)
    }

    /// The rules that run on mail to `account`, in order (kept per node
    /// like the rest of what delivery reads).
    async fn rules_for(&self, account: &AccountRow) -> Result<Arc<Vec<RuleRow>>> {
        let generation = self.store.directory_generation();
        let key = (account.domain_id, account.id);
        if let Some(rules) = self.directory.rules().get(generation, &key) {
            return Ok(rules);
        }
        let rules = Arc::new(self.store.rules_for_delivery(account.domain_id, account.id).await?);
        self.directory.rules().put(generation, key, rules.clone());
        Ok(rules)
    }

    /// Delivers a message for `recipient` (any address the router knows:
    /// aliases and routing rules apply). Delivery is the server's own act,
    /// so no ACL is consulted for the recipient's own mailboxes;
    /// `user+detail` files into the account's mailbox `detail` when that
    /// mailbox lets anyone post to it (`p` for `anyone`, RFC 4314), else
    /// into the INBOX. Then the automated rules have their say.
    pub async fn deliver(
        &self,
        recipient: &str,
        content: Vec<u8>,
        envelope_from: Option<&str>,
    ) -> Result<DeliveryReport> {
        self.deliver_resolved(recipient, None, content, envelope_from).await
    }

    /// [`Service::deliver`], to a recipient that [`Service::recipient`]
    /// resolved a moment ago (LMTP's RCPT, just before DATA), when given:
    /// not looked up again.
    pub async fn deliver_resolved(
        &self,
        recipient: &str,
        resolved: Option<Recipient>,
        content: Vec<u8>,
        envelope_from: Option<&str>,
    ) -> Result<DeliveryReport> {
        let content = canonical_content(content)?;
        let budget = RedirectBudget::default();
        let resolved = resolved.map(|r| (r.account, r.detail));
        let report = self
            .deliver_hop(recipient, resolved, &content, envelope_from, &[], &budget)
            .await?;
        self.feed.wake();
        Ok(report)
    }

    /// One delivery, redirected through the accounts in `path` on its
    /// way here (boxed: a redirect delivers again).
    fn deliver_hop<'a>(
        &'a self,
        recipient: &'a str,
        resolved: Option<(AccountRow, Option<String>)>,
        content: &'a [u8],
        envelope_from: Option<&'a str>,
        path: &'a [i64],
        budget: &'a RedirectBudget,
    ) -> Pin<Box<dyn Future<Output = Result<DeliveryReport>> + Send + 'a>> {
        Box::pin(async move {
            let (account, detail) = match resolved {
                Some(resolved) => resolved,
                None => self.resolve_recipient(recipient).await?,
            };
            let mut path = path.to_vec();
            path.push(account.id);
            budget.reached(account.id);
            let keep_in = match detail {
                Some(detail) if self.postable(&account, &detail).await? => detail,
                _ => "INBOX".to_owned(),
            };
            let mut plan = self.plan(&account, recipient, content, envelope_from).await?;
            let mut report = DeliveryReport {
                account: account.address(),
                stored: Vec::new(),
                redirected: Vec::new(),
            };
            for (rule_id, to) in std::mem::take(&mut plan.redirects) {
                let hop = match self.may_redirect(&to, &path, budget).await {
                    Ok(target) => {
                        self.deliver_hop(&to, Some(target), content, envelope_from, &path, budget)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match hop {
                    Ok(r) => report.redirected.push(r),
                    Err(e @ (Error::NotFound(_) | Error::BadInput(_) | Error::NoPermission(_))) => {
                        let what = format!("redirect to {to} failed ({e}); kept here");
                        self.rule_problem(rule_id, recipient, &what).await;
                        plan.keep = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            if plan.keep {
                let inbox = self.open_own(&account, &keep_in).await?;
                plan.targets.insert(0, (inbox, String::new()));
            }
            let mut seen = Vec::new();
            for (target, rule) in plan.targets {
                if seen.contains(&target.mailbox.id) {
                    continue;
                }
                seen.push(target.mailbox.id);
                let message = NewMessage {
                    content: Content::New(content.to_vec()),
                    flags: plan.flags.clone(),
                    internal_date: now(),
                    envelope_from: envelope_from.map(str::to_owned),
                };
                let uids = self.insert(&target, vec![message], None).await?;
                let uid = uids
                    .first()
                    .copied()
                    .ok_or_else(|| Error::InUse("the message was not stored".into()))?;
                let sender = envelope_from.filter(|f| !f.is_empty()).unwrap_or("an unknown sender");
                self.record_as(&target, (sender, Via::Delivery), What::Delivered, &[uid], &rule);
                report.stored.push((display_for(&account, &target), uid));
            }
            for (rule_id, days, text) in plan.replies {
                self.vacation_reply(&account, rule_id, days, &text, content, envelope_from)
                    .await;
            }
            Ok(report)
        })
    }

    /// Resolves a redirect's target and says whether the message may go
    /// there: never back to an account on its way here (a loop), never to
    /// one it reached already by another way, at most
    /// [`limits::REDIRECT_HOPS`] in a row and to
    /// [`limits::REDIRECTED_DELIVERIES`] accounts in all — so no rule,
    /// however written, multiplies one message.
    async fn may_redirect(
        &self,
        to: &str,
        path: &[i64],
        budget: &RedirectBudget,
    ) -> Result<(AccountRow, Option<String>)> {
        let target = self.resolve_recipient(to).await?;
        let refuse = |why: &str| Err(Error::BadInput(why.to_owned()));
        if path.contains(&target.0.id) {
            return refuse("it would come back to an account it has already reached (a loop)");
        }
        if path.len() > limits::REDIRECT_HOPS {
            return refuse(&format!("more than {} redirects in a row", limits::REDIRECT_HOPS));
        }
        match budget.claim(target.0.id) {
            Claim::Taken => Ok(target),
            Claim::Reached => refuse("the message reached that account already"),
            Claim::Spent => refuse(&format!(
                "one message may be redirected to at most {} accounts",
                limits::REDIRECTED_DELIVERIES
            )),
        }
    }

    /// Whether the account's mailbox `name` exists and lets anyone post.
    async fn postable(&self, account: &AccountRow, name: &str) -> Result<bool> {
        let Some(mailbox) = self.store.mailbox_by_name(account.id, name).await? else {
            return Ok(false);
        };
        let acl = self.store.acl_of(mailbox.id).await?;
        let anonymous = Who {
            address: None,
            server_admin: false,
        };
        let rights = effective_rights(anonymous, &account.address(), &acl);
        Ok(rights.contains(Right::Post))
    }

    /// Runs the rules for mail to `account` and says what they decided.
    async fn plan(&self, account: &AccountRow, recipient: &str, content: &[u8], from: Option<&str>) -> Result<Plan> {
        let mut plan = Plan {
            keep: true,
            ..Plan::default()
        };
        let rules = self.rules_for(account).await?;
        if rules.is_empty() {
            return Ok(plan);
        }
        let facts = crate::message::facts(content, from, &[recipient.to_owned(), account.address()]);
        for row in rules.iter() {
            let Some(rule) = self.load_rule(row.clone(), recipient).await else {
                continue;
            };
            if !rule.spec.matches(&facts) {
                continue;
            }
            for action in &rule.spec.actions {
                match action {
                    Action::FileInto(name) | Action::CopyTo(name) => {
                        match self.rule_target(&rule, account, name).await? {
                            Ok(target) => {
                                let by = match rule.spec.name.trim() {
                                    "" => format!("rule {}", rule.row.id),
                                    name => format!("rule \"{name}\""),
                                };
                                plan.targets.push((target, by));
                                if matches!(action, Action::FileInto(_)) {
                                    plan.keep = false;
                                }
                            }
                            Err(why) => {
                                let what = format!("{action} not done for mail to {}: {why}", account.address());
                                self.rule_problem(rule.row.id, recipient, &what).await;
                            }
                        }
                    }
                    Action::AddFlag(flag) => {
                        // Checked when the rule was saved.
                        if let Ok(flags) = Flags::parse([flag.as_str()]) {
                            plan.flags = plan.flags.union(&flags);
                        }
                    }
                    Action::Redirect(to) => {
                        plan.redirects.push((rule.row.id, to.clone()));
                        plan.keep = false;
                    }
                    Action::Vacation { days, text } => plan.replies.push((rule.row.id, *days, text.clone())),
                    Action::Discard => plan.keep = false,
                    Action::Stop => return Ok(plan),
                }
            }
        }
        Ok(plan)
    }

    async fn load_rule(&self, row: RuleRow, recipient: &str) -> Option<Loaded> {
        match serde_json::from_str::<RuleSpec>(&row.spec) {
            Ok(spec) => Some(Loaded { row, spec }),
            Err(e) => {
                self.rule_problem(
                    row.id,
                    recipient,
                    &format!("the stored rule cannot be read ({e}); skipped"),
                )
                .await;
                None
            }
        }
    }

    /// The mailbox a rule's `fileinto`/`copy` names, or why it may not be
    /// used. A plain name is the recipient's own mailbox; `~owner/…` is
    /// looked up as the rule's owner, who needs `p` or `i` there.
    async fn rule_target(&self, rule: &Loaded, recipient: &AccountRow, name: &str) -> Result<Result<Opened, String>> {
        let parsed = MailboxName::parse(name).map_err(|e| Error::BadInput(e.to_string()));
        if let Ok(MailboxName::Personal(path)) = parsed {
            return Ok(match self.open_own(recipient, path.as_str()).await {
                Ok(m) => Ok(m),
                Err(Error::NotFound(_)) => Err(format!("{} has no mailbox {name}", recipient.address())),
                Err(e) => return Err(e),
            });
        }
        let owner = match (rule.row.owner_id, rule.row.by_operator) {
            (_, true) => Principal::system(&recipient.domain),
            (Some(id), false) => match self.store.account_by_id(id).await? {
                Some(a) => Principal::of(&a),
                None => return Ok(Err("the rule's author no longer exists".into())),
            },
            (None, false) => return Ok(Err("the rule's author no longer exists".into())),
        };
        let who = match owner.system {
            true => "the operator".to_owned(),
            false => owner.address().to_owned(),
        };
        Ok(match self.open(&owner, name).await {
            Ok(m) if m.rights.contains(Right::Post) || m.rights.contains(Right::Insert) => Ok(m),
            Ok(_) => Err(format!(
                "the rule's owner {who} has neither the 'p' (post) nor the 'i' (insert) right on {name}"
            )),
            Err(Error::NotFound(_)) => Err(format!("{who} cannot see a mailbox {name}")),
            Err(e) => return Err(e),
        })
    }

    /// Answers the message for a vacation rule, unless its sender must
    /// not be answered (robots, lists, automatic mail, the account
    /// itself) or was answered in the last `days` days. The message was
    /// delivered already, so a failure is only noted on the rule.
    async fn vacation_reply(
        &self,
        account: &AccountRow,
        rule_id: i64,
        days: u32,
        text: &str,
        content: &[u8],
        envelope_from: Option<&str>,
    ) {
        let Some(to) = crate::message::auto_reply::answerable(content, envelope_from) else {
            return;
        };
        if to.eq_ignore_ascii_case(&account.address()) {
            return;
        }
        let result = async {
            let since = now() - i64::from(days) * 86_400;
            if !self.store.claim_vacation_reply(rule_id, &to, now(), since).await? {
                return Ok(());
            }
            let settings = self.store.account_settings(account.id).await?;
            let from = crate::message::Sender {
                name: &settings.display_name,
                address: &account.address(),
            };
            let domain = self.primary_domain().await?;
            let reply = crate::message::auto_reply::reply(&from, &to, content, text, now(), &domain)
                .map_err(Error::BadInput)?;
            // From the null sender, so nothing answers the answer.
            let budget = RedirectBudget::default();
            match self.resolve_recipient(&to).await {
                Ok(resolved) => self
                    .deliver_hop(&to, Some(resolved), &canonical_content(reply)?, None, &[], &budget)
                    .await
                    .map(drop),
                Err(Error::NotFound(_)) => match &self.relay {
                    Some(relay) => relay.send("", std::slice::from_ref(&to), &reply).await,
                    None => Ok(()),
                },
                Err(e) => Err(e),
            }
        }
        .await;
        if let Err(e) = result {
            let what = format!("the vacation reply to {to} was not sent ({e})");
            self.rule_problem(rule_id, &account.address(), &what).await;
        }
    }

    /// Logs why a rule did less than it says, and keeps the reason on the
    /// rule for its editors. Failing to keep the note is only logged: the
    /// delivery goes on.
    async fn rule_problem(&self, rule_id: i64, recipient: &str, what: &str) {
        tracing::warn!(rule = rule_id, recipient, "rule: {what}");
        if let Err(e) = self.store.add_rule_problem(rule_id, what).await {
            tracing::warn!(rule = rule_id, "cannot note the rule's problem: {e}");
        }
    }
}

/// How the recipient writes a mailbox a copy went to.
fn display_for(recipient: &AccountRow, target: &Opened) -> String {
    super::display_name(&Principal::of(recipient), &target.owner, &target.mailbox.name)
}
