//! Access control lists (RFC 4314) and the one function that computes a
//! principal's effective rights on a mailbox.
//!
//! Every gateway and the web UI use [`effective_rights`]; the server uses it to
//! decide, the UI to grey out what the server would refuse anyway.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rights::{BadRight, Right, Rights};

/// Who an ACL entry speaks of.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Identifier {
    /// Everybody, signed in or not.
    Anyone,
    /// Everybody who signed in.
    Authenticated,
    /// Everybody with an account in this domain (`anyone@example.com`).
    AnyoneAt(String),
    /// One account: `bob@example.com`; a bare `bob` means the account of
    /// that name in the mailbox owner's domain. The service stores the
    /// canonical `name@domain` form.
    User(String),
}

/// One ACL line: a positive entry grants rights, a negative one (`-bob`)
/// takes them away from what the positive entries gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub identifier: Identifier,
    pub negative: bool,
    pub rights: Rights,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("empty identifier")]
    Empty,
    #[error("identifier {0:?} is not an account name, anyone, authenticated or anyone@domain")]
    BadIdentifier(String),
    #[error(transparent)]
    BadRight(#[from] BadRight),
}

/// The longest identifier accepted (an address's legal maximum).
const MAX_IDENTIFIER: usize = 254;

/// Checks an account name or domain: ASCII letters, digits, `.`, `-`, `_`,
/// `+`, not starting or ending with a dot. Returns it lower-cased, since
/// account names are case-insensitive (`~Boss` and `~boss` are one account).
pub fn normalize_name(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_IDENTIFIER
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    ok.then(|| s.to_ascii_lowercase())
}

/// Checks `name` or `name@domain` and lower-cases it.
pub fn normalize_address(s: &str) -> Option<String> {
    match s.split_once('@') {
        None => normalize_name(s),
        Some((local, domain)) => Some(format!("{}@{}", normalize_name(local)?, normalize_name(domain)?)),
    }
}

impl Identifier {
    /// Parses an identifier (without a leading `-`).
    pub fn parse(s: &str) -> Result<Identifier, AclError> {
        if s.is_empty() {
            return Err(AclError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        if lower == "anyone" {
            return Ok(Identifier::Anyone);
        }
        if lower == "authenticated" {
            return Ok(Identifier::Authenticated);
        }
        if let Some(domain) = lower.strip_prefix("anyone@") {
            return normalize_name(domain)
                .map(Identifier::AnyoneAt)
                .ok_or_else(|| AclError::BadIdentifier(s.into()));
        }
        normalize_address(s)
            .map(Identifier::User)
            .ok_or_else(|| AclError::BadIdentifier(s.into()))
    }

    /// Whether this identifier speaks of `who`; `owner_domain` gives bare
    /// user names their domain.
    fn matches(&self, who: &Who<'_>, owner_domain: &str) -> bool {
        match (self, who.address) {
            (Identifier::Anyone, _) => true,
            (_, None) => false,
            (Identifier::Authenticated, Some(_)) => true,
            (Identifier::AnyoneAt(domain), Some(address)) => domain_of(address) == domain,
            (Identifier::User(name), Some(address)) => match name.split_once('@') {
                Some(_) => name == address,
                None => address.split_once('@') == Some((name.as_str(), owner_domain)),
            },
        }
    }
}

fn domain_of(address: &str) -> &str {
    address.split_once('@').map_or("", |(_, d)| d)
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Anyone => f.write_str("anyone"),
            Identifier::Authenticated => f.write_str("authenticated"),
            Identifier::AnyoneAt(d) => write!(f, "anyone@{d}"),
            Identifier::User(u) => f.write_str(u),
        }
    }
}

impl AclEntry {
    /// Parses an identifier as IMAP SETACL gives it (`-bob` is negative)
    /// and a rights string.
    pub fn parse(identifier: &str, rights: &str) -> Result<AclEntry, AclError> {
        let (negative, name) = match identifier.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, identifier),
        };
        Ok(AclEntry {
            identifier: Identifier::parse(name)?,
            negative,
            rights: Rights::parse(rights)?,
        })
    }

    /// The identifier as IMAP GETACL shows it (`-` for negative entries).
    pub fn identifier_string(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}", self.identifier)
    }
}

/// Who is asking: a signed-in account (`address` is its canonical
/// `name@domain`) or nobody (`None`, e.g. an anonymous poster).
#[derive(Clone, Copy, Debug)]
pub struct Who<'a> {
    pub address: Option<&'a str>,
    pub server_admin: bool,
}

/// Why a principal has the rights it has on one mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub rights: Rights,
    pub is_owner: bool,
    pub is_server_admin: bool,
    /// Positive entries that matched, in ACL order.
    pub granted_by: Vec<AclEntry>,
    /// Negative entries that matched, in ACL order.
    pub denied_by: Vec<AclEntry>,
}

/// Rights a server administrator has on every mailbox, whatever its ACL.
pub const SERVER_ADMIN_RIGHTS: Rights = Rights::of(&[Right::Lookup, Right::Administer]);

/// The effective rights of `who` on a mailbox owned by the account `owner`
/// (canonical address) with the ACL `acl`: the owner has all rights; else
/// the union of matching positive entries minus the union of matching
/// negative ones; a server admin has `l a` on top of that.
pub fn effective_rights(who: Who<'_>, owner: &str, acl: &[AclEntry]) -> Rights {
    explain_rights(who, owner, acl).rights
}

/// [`effective_rights`], with the entries that produced them.
pub fn explain_rights(who: Who<'_>, owner: &str, acl: &[AclEntry]) -> Explanation {
    let owner_domain = domain_of(owner);
    let is_owner = who.address == Some(owner);
    let matching = |negative: bool| -> Vec<AclEntry> {
        acl.iter()
            .filter(|e| e.negative == negative && e.identifier.matches(&who, owner_domain))
            .cloned()
            .collect()
    };
    let granted_by = matching(false);
    let denied_by = matching(true);
    let union = |entries: &[AclEntry]| entries.iter().fold(Rights::NONE, |r, e| r | e.rights);
    let mut rights = union(&granted_by).without(union(&denied_by));
    if is_owner {
        rights = Rights::ALL;
    }
    if who.server_admin {
        rights = rights | SERVER_ADMIN_RIGHTS;
    }
    Explanation {
        rights,
        is_owner,
        is_server_admin: who.server_admin,
        granted_by,
        denied_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "alice@example.com";

    fn user(address: &str) -> Who<'_> {
        Who {
            address: Some(address),
            server_admin: false,
        }
    }

    fn acl(entries: &[(&str, &str)]) -> Vec<AclEntry> {
        entries.iter().map(|(id, r)| AclEntry::parse(id, r).unwrap()).collect()
    }

    fn rights_of(who: Who<'_>, entries: &[(&str, &str)]) -> String {
        effective_rights(who, OWNER, &acl(entries)).to_string()
    }

    #[test]
    fn each_right_granted_alone_is_granted_alone() {
        for r in Right::ALL {
            let letter = r.letter().to_string();
            assert_eq!(
                rights_of(user("bob@example.com"), &[("bob@example.com", &letter)]),
                letter
            );
        }
    }

    #[test]
    fn owner_has_everything_even_with_an_empty_acl() {
        assert_eq!(rights_of(user(OWNER), &[]), "lrswipkxtea");
        assert_eq!(rights_of(user(OWNER), &[("-alice", "lr")]), "lrswipkxtea");
    }

    #[test]
    fn stranger_has_nothing_with_an_empty_acl() {
        assert_eq!(rights_of(user("bob@example.com"), &[]), "");
    }

    #[test]
    fn server_admin_gets_lookup_and_administer_on_top() {
        let admin = Who {
            address: Some("root@example.com"),
            server_admin: true,
        };
        assert_eq!(rights_of(admin, &[]), "la");
        assert_eq!(rights_of(admin, &[("anyone", "r")]), "lra");
        assert_eq!(rights_of(admin, &[("-root@example.com", "la")]), "la");
    }

    #[test]
    fn bare_name_means_the_owners_domain() {
        let entries = [("bob", "lr")];
        assert_eq!(rights_of(user("bob@example.com"), &entries), "lr");
        assert_eq!(rights_of(user("bob@other.example"), &entries), "");
    }

    #[test]
    fn full_address_matches_across_domains() {
        let entries = [("bob@other.example", "lr")];
        assert_eq!(rights_of(user("bob@other.example"), &entries), "lr");
        assert_eq!(rights_of(user("bob@example.com"), &entries), "");
    }

    #[test]
    fn anyone_includes_the_anonymous_authenticated_does_not() {
        let nobody = Who {
            address: None,
            server_admin: false,
        };
        assert_eq!(rights_of(nobody, &[("anyone", "p")]), "p");
        assert_eq!(rights_of(nobody, &[("authenticated", "lr")]), "");
        assert_eq!(rights_of(user("x@y.example"), &[("authenticated", "lr")]), "lr");
        assert_eq!(rights_of(user("x@y.example"), &[("anyone", "lr")]), "lr");
    }

    #[test]
    fn anyone_at_domain_matches_that_domain_only() {
        let entries = [("anyone@example.com", "lrs")];
        assert_eq!(rights_of(user("carol@example.com"), &entries), "lrs");
        assert_eq!(rights_of(user("carol@other.example"), &entries), "");
    }

    #[test]
    fn positive_entries_add_up_negative_ones_take_away() {
        let entries = [
            ("anyone", "lr"),
            ("bob", "sw"),
            ("-bob", "r"),
            ("-anyone@other.example", "w"),
        ];
        assert_eq!(rights_of(user("bob@example.com"), &entries), "lsw");
        assert_eq!(rights_of(user("carol@example.com"), &entries), "lr");
        assert_eq!(rights_of(user("dave@other.example"), &entries), "lr");
    }

    #[test]
    fn negative_entry_for_anyone_beats_a_grant_to_the_user() {
        assert_eq!(
            rights_of(user("bob@example.com"), &[("bob", "lrs"), ("-anyone", "s")]),
            "lr"
        );
    }

    #[test]
    fn explanation_names_the_entries() {
        let entries = acl(&[("anyone", "l"), ("bob", "r"), ("carol", "w"), ("-bob", "l")]);
        let e = explain_rights(user("bob@example.com"), OWNER, &entries);
        assert_eq!(e.rights.to_string(), "r");
        assert_eq!(e.granted_by, vec![entries[0].clone(), entries[1].clone()]);
        assert_eq!(e.denied_by, vec![entries[3].clone()]);
        assert!(!e.is_owner);
    }

    #[test]
    fn identifiers_parse_and_print() {
        for (input, shown) in [
            ("anyone", "anyone"),
            ("Authenticated", "authenticated"),
            ("anyone@Example.COM", "anyone@example.com"),
            ("Bob", "bob"),
            ("-bob@other.example", "-bob@other.example"),
        ] {
            assert_eq!(AclEntry::parse(input, "l").unwrap().identifier_string(), shown);
        }
    }

    #[test]
    fn bad_identifiers_and_rights_are_rejected() {
        for bad in ["", "-", "bo b", "a@b@c", "../x", "bob@", "@x", "anyone@", "x\u{7}y"] {
            assert!(AclEntry::parse(bad, "l").is_err(), "{bad:?} accepted");
        }
        assert!(AclEntry::parse(&"b".repeat(300), "l").is_err());
        assert_eq!(AclEntry::parse("bob", "lrq"), Err(AclError::BadRight(BadRight('q'))));
    }
}
