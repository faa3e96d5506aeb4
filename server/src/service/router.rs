//! The router: turns what someone typed — a login, a recipient, the name
//! after `~` — into an account, through routing rules, domain aliases and
//! account aliases, in that order.

use mailroom_shared::acl::normalize_address;

use crate::service::store::{AccountRow, RoutingRule, Store};

/// Rewrites beyond this many are taken for a loop in the routing rules.
const MAX_HOPS: usize = 8;

/// Applies one rule to an address: `None` when it does not match.
/// A `*` in the pattern matches any run of characters; the same text
/// replaces a `*` in the target.
pub fn rewrite(rule: &RoutingRule, address: &str) -> Option<String> {
    match rule.pattern.split_once('*') {
        None => (rule.pattern == address).then(|| rule.target.clone()),
        Some((prefix, suffix)) => {
            let middle = address
                .strip_prefix(prefix)?
                .strip_suffix(suffix)
                .filter(|_| address.len() >= prefix.len() + suffix.len())?;
            Some(rule.target.replacen('*', middle, 1))
        }
    }
}

/// Resolves `input` (`name` or `name@domain`; a bare name is taken in
/// `default_domain`) to an account, or `None`.
pub async fn resolve(
    store: &Store,
    input: &str,
    default_domain: &str,
) -> crate::service::store::Result<Option<AccountRow>> {
    let Some(mut address) = normalize_address(input) else {
        return Ok(None);
    };
    if !address.contains('@') {
        address = format!("{address}@{default_domain}");
    }
    let rules = store.routing_rules().await?;
    for _ in 0..MAX_HOPS {
        match rules.iter().find_map(|rule| rewrite(rule, &address)) {
            Some(next) if next != address => address = next,
            _ => return lookup(store, &address).await,
        }
    }
    tracing::warn!("routing rules loop on {input:?}");
    Ok(None)
}

/// Looks `name@domain` up after the rules: the domain may be an alias, and
/// the name an account or an alias of one.
async fn lookup(store: &Store, address: &str) -> crate::service::store::Result<Option<AccountRow>> {
    let Some((name, domain)) = address.split_once('@') else {
        return Ok(None);
    };
    let Some(domain) = store.domain_by_name_or_alias(domain).await? else {
        return Ok(None);
    };
    if let Some(account) = store.account_by_name(domain.id, name).await? {
        return Ok(Some(account));
    }
    store.account_by_alias(domain.id, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, target: &str) -> RoutingRule {
        RoutingRule {
            id: 1,
            priority: 0,
            pattern: pattern.into(),
            target: target.into(),
        }
    }

    #[test]
    fn wildcard_rules_carry_the_matched_part() {
        let r = rule("*@old.example", "*@example.com");
        assert_eq!(rewrite(&r, "bob@old.example").as_deref(), Some("bob@example.com"));
        assert_eq!(rewrite(&r, "bob@example.com"), None);
        let r = rule("sales-*@example.com", "*@example.com");
        assert_eq!(rewrite(&r, "sales-eu@example.com").as_deref(), Some("eu@example.com"));
    }

    #[test]
    fn exact_rules_match_exactly() {
        let r = rule("sales@example.com", "public@example.com");
        assert_eq!(rewrite(&r, "sales@example.com").as_deref(), Some("public@example.com"));
        assert_eq!(rewrite(&r, "xsales@example.com"), None);
    }

    #[test]
    fn prefix_and_suffix_may_not_overlap() {
        let r = rule("ab*ba", "x*");
        assert_eq!(rewrite(&r, "aba"), None);
        assert_eq!(rewrite(&r, "abba").as_deref(), Some("x"));
    }
}
