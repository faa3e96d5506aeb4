//! LIST and LSUB (RFC 3501 §6.3.8, RFC 5258 LIST-EXTENDED, RFC 6154
//! SPECIAL-USE, RFC 3348 CHILDREN) over the mailboxes the service says
//! a principal may look up: its own, `~user/…` and `~public/…`.

use std::collections::{BTreeMap, HashSet};

use mailroom_shared::dto::MailboxInfo;
use mailroom_shared::name::DELIMITER;

use super::pattern;
use super::response;
use crate::error::Result;
use crate::service::{Principal, Service};

pub struct Query<'a> {
    pub reference: &'a str,
    pub patterns: &'a [String],
    pub selection: &'a [String],
    pub returns: &'a [String],
    pub lsub: bool,
}

impl Query<'_> {
    fn selects(&self, option: &str) -> bool {
        self.selection.iter().any(|o| o == option)
    }

    fn returns(&self, option: &str) -> bool {
        self.returns.iter().any(|o| o == option)
    }
}

/// Writes the LIST or LSUB responses for `q`.
pub async fn list(service: &Service, p: &Principal, q: &Query<'_>, out: &mut Vec<u8>) -> Result<()> {
    let verb = if q.lsub { "LSUB" } else { "LIST" };
    if !q.lsub && q.patterns.iter().all(String::is_empty) {
        // The hierarchy delimiter and root (RFC 3501 §6.3.8).
        out.extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
        return Ok(());
    }
    let names = visible(service, p, q).await?;
    let subscribed_only = q.lsub || q.selects("SUBSCRIBED");
    let want_subscribed = subscribed_only || q.returns("SUBSCRIBED");
    let subscriptions: HashSet<String> = if want_subscribed {
        service.subscriptions(p).await?.into_iter().collect()
    } else {
        HashSet::new()
    };
    let mut candidates: BTreeMap<String, Option<&MailboxInfo>> = BTreeMap::new();
    for (name, info) in &names {
        candidates.insert(name.clone(), Some(info));
        let mut parent = name.as_str();
        while let Some((up, _)) = parent.rsplit_once(DELIMITER) {
            candidates.entry(up.to_owned()).or_insert(None);
            parent = up;
        }
    }
    if subscribed_only {
        for name in &subscriptions {
            candidates.entry(name.clone()).or_insert(None);
        }
    }
    let mut written = HashSet::new();
    for raw in q.patterns {
        let full = pattern::join(q.reference, raw);
        for (name, info) in &candidates {
            if !pattern::matches(&full, name) || written.contains(name) {
                continue;
            }
            let subscribed = subscriptions.contains(name);
            // Not subscribed itself, but with a subscribed descendant: LSUB
            // shows it as \Noselect for `%` (RFC 3501 §6.3.9), and
            // RECURSIVEMATCH when that descendant is not listed itself
            // (RFC 5258 §3.5: CHILDINFO).
            let below = format!("{name}{DELIMITER}");
            let mut descendants = subscriptions.iter().filter(|s| s.starts_with(&below));
            let childinfo = q.selects("RECURSIVEMATCH")
                && descendants.clone().any(|s| {
                    !q.patterns
                        .iter()
                        .any(|p| pattern::matches(&pattern::join(q.reference, p), s))
                });
            let lsub_parent = q.lsub && !subscribed && full.contains('%') && descendants.next().is_some();
            if subscribed_only && !subscribed && !childinfo && !lsub_parent {
                continue;
            }
            if q.selects("SPECIAL-USE") && info.is_none_or(|i| i.special_use.is_none()) {
                continue;
            }
            let children = candidates
                .range(format!("{name}{DELIMITER}")..)
                .next()
                .is_some_and(|(other, _)| other.starts_with(&format!("{name}{DELIMITER}")));
            let mut attributes = Vec::new();
            match info {
                _ if lsub_parent => attributes.push("\\Noselect"),
                None if subscribed_only && !children => attributes.push("\\NonExistent"),
                None => attributes.push("\\Noselect"),
                Some(_) => {}
            }
            if !q.lsub {
                attributes.push(if children { "\\HasChildren" } else { "\\HasNoChildren" });
            }
            if let Some(special) = info.and_then(|i| i.special_use.as_deref()) {
                attributes.push(special);
            }
            if want_subscribed && subscribed && !q.lsub {
                attributes.push("\\Subscribed");
            }
            let mut line = format!("* {verb} ({}) \"/\" ", attributes.join(" ")).into_bytes();
            response::mailbox(&mut line, name);
            if childinfo && !q.lsub {
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
            written.insert(name.clone());
        }
    }
    Ok(())
}

/// The names the principal may look up, as it writes them. A pattern
/// naming an account (`~bob/*`, `~alias/%`) also lists that account's
/// mailboxes under the name the client used, which may be an alias.
async fn visible(service: &Service, p: &Principal, q: &Query<'_>) -> Result<Vec<(String, MailboxInfo)>> {
    let mut names: BTreeMap<String, MailboxInfo> = service
        .list_mailboxes(p)
        .await?
        .into_iter()
        .map(|i| (i.name.clone(), i))
        .collect();
    for raw in q.patterns {
        let full = pattern::join(q.reference, raw);
        let Some(rest) = full.strip_prefix('~') else {
            continue;
        };
        let account = rest.split(DELIMITER).next().unwrap_or_default();
        if account.is_empty() || account.contains(['*', '%']) {
            continue;
        }
        let Ok(theirs) = service.list_account_mailboxes(p, account).await else {
            continue;
        };
        for info in theirs {
            let path = match info.name.strip_prefix('~') {
                Some(foreign) => foreign.split_once(DELIMITER).map_or("", |(_, path)| path),
                None => info.name.as_str(),
            };
            let as_typed = format!("~{account}{DELIMITER}{path}");
            names.entry(as_typed).or_insert(info);
        }
    }
    Ok(names.into_iter().collect())
}
