//! Server administration: domains, accounts, aliases, routing rules. Only
//! server admins (and the operator's CLI) may call these, except that an
//! account may change its own password.

use mailroom_shared::acl::{normalize_address, normalize_name};
use mailroom_shared::dto::{AccountView, AdminView, DomainView, RoutingRuleView, SeenMode, StorageUse};

use super::{Principal, Service, check_password, display_name, hash_password};
use crate::error::{Error, Result};
use crate::mbox::lock::parse_methods;
use crate::service::store::{AccountRow, DomainRow, NewMailbox};
use crate::service::types::{Account, Domain};

/// The account every domain has for its public mailboxes (`~public/…`).
pub const PUBLIC_ACCOUNT: &str = "public";

/// Names that would read as ACL identifiers, not accounts.
const RESERVED_NAMES: [&str; 2] = ["anyone", "authenticated"];

/// The mailboxes a new account starts with, and their RFC 6154 use.
const STANDARD_MAILBOXES: [(&str, Option<&str>); 5] = [
    ("INBOX", None),
    ("Sent", Some("\\Sent")),
    ("Drafts", Some("\\Drafts")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
];

pub(super) fn require_admin(p: &Principal) -> Result<()> {
    if p.server_admin {
        return Ok(());
    }
    Err(Error::NoPermission("only a server administrator may do this".into()))
}

fn domain_name(name: &str) -> Result<String> {
    normalize_name(name).ok_or_else(|| Error::BadInput(format!("{name:?} is not a domain name")))
}

impl Service {
    /// Creates a domain, with its `public` account, and its aliases.
    pub async fn add_domain(&self, p: &Principal, name: &str, aliases: &[String]) -> Result<Domain> {
        require_admin(p)?;
        let name = domain_name(name)?;
        let aliases = aliases.iter().map(|a| domain_name(a)).collect::<Result<Vec<_>>>()?;
        for candidate in std::iter::once(&name).chain(&aliases) {
            if self.store.domain_by_name_or_alias(candidate).await?.is_some() {
                return Err(Error::AlreadyExists(format!("domain {candidate} exists already")));
            }
        }
        let domain = self.store.insert_domain(&name).await?;
        for alias in &aliases {
            self.store.insert_domain_alias(alias, domain.id).await?;
        }
        let public = self
            .store
            .insert_account(domain.id, PUBLIC_ACCOUNT, None, false)
            .await?;
        self.create_standard_mailboxes(public, &STANDARD_MAILBOXES[..1]).await?;
        Ok(domain.into())
    }

    /// Lets a domain keep INBOXes in mbox files outside Mailroom (or, with
    /// `None`, keeps them all in its store again): the path template and
    /// locks. A domain that had none moves every existing account's INBOX
    /// into its file (refused while one still holds messages in the store,
    /// which the file would not have); accounts added later keep theirs
    /// in the store unless made otherwise
    /// ([`Service::set_account_external_inbox`]).
    pub async fn set_external_inbox(
        &self,
        p: &Principal,
        domain: &str,
        external: Option<&ExternalInbox>,
    ) -> Result<()> {
        require_admin(p)?;
        let domain = self.domain(domain).await?;
        let accounts: Vec<AccountRow> = self
            .store
            .accounts()
            .await?
            .into_iter()
            .filter(|a| a.domain_id == domain.id && a.name != PUBLIC_ACCOUNT)
            .collect();
        let Some(external) = external else {
            self.store.set_domain_external(domain.id, None, None, None).await?;
            self.forget_mirrors();
            return Ok(());
        };
        let locks = match external.locks.as_deref() {
            Some(text) => Some(
                parse_methods(text)
                    .map_err(Error::BadInput)?
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            None => None,
        };
        let template = external.template.trim();
        if !template.starts_with('/') || !template.contains("{user}") {
            return Err(Error::BadInput(format!(
                "{template:?} must be an absolute path with {{user}} in it, such as /var/mail/{{user}}"
            )));
        }
        self.may_keep_inboxes_in(p, template)?;
        if domain.external_inbox.is_none() {
            for account in &accounts {
                self.inbox_may_become_a_file(account).await?;
            }
        }
        let timeout = external.lock_timeout.map(|t| t.min(3600) as i64);
        self.store
            .set_domain_external(domain.id, Some(template), locks.as_deref(), timeout)
            .await?;
        self.forget_mirrors();
        let newly = domain.external_inbox.is_none();
        for account in accounts.iter().filter(|a| newly || a.external_inbox) {
            create_inbox_file(
                &super::external::inbox_path(template, &account.name, &domain.name),
                &account.name,
            )?;
            if !account.external_inbox {
                self.store.set_account_external(account.id, true).await?;
            }
        }
        self.forget_mirrors();
        Ok(())
    }

    /// Whether one account's INBOX is a file of its domain's (which must
    /// keep INBOX files). On: the INBOX must hold nothing in the store,
    /// and its file is made (or an existing one checked). Off: the INBOX
    /// goes back into the store as the file last was; the file is left.
    pub async fn set_account_external_inbox(&self, p: &Principal, address: &str, on: bool) -> Result<()> {
        require_admin(p)?;
        let account = self.account(p, address).await?;
        if account.name == PUBLIC_ACCOUNT {
            return Err(Error::BadInput(
                "the public account's INBOX is the domain's, in the store".into(),
            ));
        }
        if on == account.external_inbox {
            return Ok(());
        }
        if on {
            let domain = self.domain(&account.domain).await?;
            let Some(template) = domain.external_inbox.as_deref() else {
                return Err(Error::BadInput(format!(
                    "{} keeps no INBOX files: give the domain a path first",
                    account.domain
                )));
            };
            self.inbox_may_become_a_file(&account).await?;
            create_inbox_file(
                &super::external::inbox_path(template, &account.name, &domain.name),
                &account.name,
            )?;
        }
        self.store.set_account_external(account.id, on).await?;
        self.forget_mirrors();
        Ok(())
    }

    /// Refuses to make an INBOX a file while it holds messages in the
    /// store, which the file would not have.
    async fn inbox_may_become_a_file(&self, account: &AccountRow) -> Result<()> {
        if let Some(inbox) = self.store.mailbox_by_name(account.id, "INBOX").await?
            && !self.store.messages(inbox.id, None).await?.is_empty()
        {
            return Err(Error::BadInput(format!(
                "{}'s INBOX has messages in Mailroom's store: move them out before its INBOX becomes a file",
                account.address()
            )));
        }
        Ok(())
    }

    /// [`Service::add_account`] with its INBOX in a file of its domain's;
    /// if the file cannot be used the account is not made at all.
    pub async fn add_account_with_inbox_file(
        &self,
        p: &Principal,
        address: &str,
        password: Option<&str>,
        admin: bool,
    ) -> Result<Account> {
        let account = self.add_account(p, address, password, admin).await?;
        if let Err(e) = self.set_account_external_inbox(p, &account.address(), true).await {
            self.store.delete_account(account.id).await?;
            return Err(e);
        }
        self.account_view(account.id).await
    }

    /// Whether `p` may point INBOX files at `template`: the operator at
    /// the command line anywhere; a web administrator only under one of
    /// the directories the operator listed (`--external-inbox-root`), so
    /// a web form cannot make the server write `/etc/{user}`.
    fn may_keep_inboxes_in(&self, p: &Principal, template: &str) -> Result<()> {
        use std::path::{Component, Path};
        let path = Path::new(template);
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(Error::BadInput(format!("{template:?} may not contain '..'")));
        }
        if p.system {
            return Ok(());
        }
        let fixed = &template[..template.find('{').unwrap_or(template.len())];
        let dir = Path::new(fixed);
        let dir = if fixed.ends_with('/') {
            dir
        } else {
            dir.parent().unwrap_or(dir)
        };
        if self.external_roots.iter().any(|root| dir.starts_with(root)) {
            return Ok(());
        }
        let allowed: Vec<String> = self.external_roots.iter().map(|r| r.display().to_string()).collect();
        Err(Error::NoPermission(match allowed.is_empty() {
            true => "INBOX files can be set up only at the command line here (the server was started without --external-inbox-root)".into(),
            false => format!("INBOX files may be kept only under {}", allowed.join(", ")),
        }))
    }

    pub async fn add_domain_alias(&self, p: &Principal, domain: &str, alias: &str) -> Result<()> {
        require_admin(p)?;
        let alias = domain_name(alias)?;
        let domain = self.domain(domain).await?;
        if self.store.domain_by_name_or_alias(&alias).await?.is_some() {
            return Err(Error::AlreadyExists(format!("domain {alias} exists already")));
        }
        Ok(self.store.insert_domain_alias(&alias, domain.id).await?)
    }

    pub async fn domains(&self, p: &Principal) -> Result<Vec<Domain>> {
        require_admin(p)?;
        Ok(self.store.domains().await?.into_iter().map(Domain::from).collect())
    }

    async fn domain(&self, name: &str) -> Result<DomainRow> {
        self.store
            .domain_by_name_or_alias(&domain_name(name)?)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no domain named {name}")))
    }

    /// Splits `name@domain` (or a bare name, in the principal's domain)
    /// into a checked name and an existing domain.
    async fn new_address(&self, p: &Principal, address: &str) -> Result<(String, DomainRow)> {
        let bad = || Error::BadInput(format!("{address:?} is not an account address"));
        let address = normalize_address(address).ok_or_else(bad)?;
        let (name, domain) = address.split_once('@').unwrap_or((&address, &p.domain));
        if RESERVED_NAMES.contains(&name) {
            return Err(Error::BadInput(format!("{name} is reserved for access control lists")));
        }
        Ok((name.to_owned(), self.domain(domain).await?))
    }

    /// Refuses a name an account or an alias already has in the domain.
    async fn ensure_name_free(&self, name: &str, domain: &DomainRow) -> Result<()> {
        if self.store.account_by_name(domain.id, name).await?.is_some()
            || self.store.account_by_alias(domain.id, name).await?.is_some()
        {
            return Err(Error::AlreadyExists(format!("{name}@{} exists already", domain.name)));
        }
        Ok(())
    }

    /// Creates an account with its standard mailboxes (INBOX, Sent,
    /// Drafts, Trash, Junk). Without a password nobody can log in to it.
    pub async fn add_account(
        &self,
        p: &Principal,
        address: &str,
        password: Option<&str>,
        admin: bool,
    ) -> Result<Account> {
        require_admin(p)?;
        let (name, domain) = self.new_address(p, address).await?;
        self.ensure_name_free(&name, &domain).await?;
        let hash = match password {
            Some(pw) => Some(hash_password(pw).await?),
            None => None,
        };
        let id = self
            .store
            .insert_account(domain.id, &name, hash.as_deref(), admin)
            .await?;
        self.create_standard_mailboxes(id, &STANDARD_MAILBOXES).await?;
        self.account_view(id).await
    }

    async fn account_view(&self, id: i64) -> Result<Account> {
        let row = self.store.account_by_id(id).await?;
        row.map(Account::from)
            .ok_or_else(|| Error::NotFound("account vanished".into()))
    }

    async fn create_standard_mailboxes(&self, account_id: i64, which: &[(&str, Option<&str>)]) -> Result<()> {
        for (name, special_use) in which {
            self.store
                .insert_mailbox(NewMailbox {
                    account_id,
                    name,
                    special_use: *special_use,
                    seen_mode: SeenMode::Shared,
                    acl: &[],
                })
                .await?;
        }
        Ok(())
    }

    /// Finds an existing account by address (aliases apply).
    pub async fn find_account(&self, p: &Principal, address: &str) -> Result<Account> {
        Ok(self.account(p, address).await?.into())
    }

    /// Deletes an account and everything in its mailboxes.
    pub async fn delete_account(&self, p: &Principal, address: &str) -> Result<()> {
        require_admin(p)?;
        let account = self.account(p, address).await?;
        if account.name == PUBLIC_ACCOUNT {
            return Err(Error::BadInput("the public account belongs to its domain".into()));
        }
        if account.id == p.account_id {
            return Err(Error::BadInput("you cannot delete your own account".into()));
        }
        self.store.delete_account(account.id).await?;
        self.authority_changed().await;
        Ok(())
    }

    /// Sets a password: a server admin for anyone, an account for itself.
    pub async fn set_password(&self, p: &Principal, address: &str, password: &str) -> Result<()> {
        let account = self.account(p, address).await?;
        if account.id != p.account_id {
            require_admin(p)?;
        }
        let hash = hash_password(password).await?;
        self.store.set_password_hash(account.id, &hash, None).await?;
        self.authority_changed().await;
        Ok(())
    }

    pub async fn accounts(&self, p: &Principal) -> Result<Vec<Account>> {
        require_admin(p)?;
        Ok(self.store.accounts().await?.into_iter().map(Account::from).collect())
    }

    /// Makes `alias` (a name, or `name@domain` in a local domain) another
    /// name of the account `target`.
    pub async fn add_alias(&self, p: &Principal, alias: &str, target: &str) -> Result<()> {
        require_admin(p)?;
        let account = self.account(p, target).await?;
        let (name, domain) = self.new_address(p, alias).await?;
        self.ensure_name_free(&name, &domain).await?;
        Ok(self.store.insert_account_alias(domain.id, &name, account.id).await?)
    }

    /// Adds a routing rule (`*@old.example` → `*@example.com`); lower
    /// priorities apply first.
    pub async fn add_routing_rule(&self, p: &Principal, pattern: &str, target: &str, priority: i64) -> Result<i64> {
        require_admin(p)?;
        for (what, text) in [("pattern", pattern), ("target", target)] {
            let plain = text.replacen('*', "x", 1).to_ascii_lowercase();
            if normalize_address(&plain).is_none() || !plain.contains('@') {
                return Err(Error::BadInput(format!(
                    "routing {what} {text:?} must be an address, with at most one '*'"
                )));
            }
        }
        Ok(self
            .store
            .insert_routing_rule(priority, &pattern.to_ascii_lowercase(), &target.to_ascii_lowercase())
            .await?)
    }

    /// Everything the administration page shows.
    pub async fn admin_view(&self, p: &Principal) -> Result<AdminView> {
        require_admin(p)?;
        let domain_aliases = self.store.domain_aliases().await?;
        let account_aliases = self.store.account_aliases().await?;
        let accounts = self.store.accounts().await?;
        let mut domains = Vec::new();
        for d in self.store.domains().await? {
            let mut public_mailboxes = Vec::new();
            if let Some(public) = accounts
                .iter()
                .find(|a| a.domain_id == d.id && a.name == PUBLIC_ACCOUNT)
            {
                for m in self.store.mailboxes_of(public.id).await? {
                    public_mailboxes.push(display_name(p, public, &m.name));
                }
            }
            domains.push(DomainView {
                aliases: domain_aliases
                    .iter()
                    .filter(|(_, id)| *id == d.id)
                    .map(|(a, _)| a.clone())
                    .collect(),
                name: d.name,
                external_inbox: d.external_inbox,
                lock_methods: d.lock_methods,
                lock_timeout: d.lock_timeout,
                quota: match d.quota_bytes {
                    Some(limit) => Some(StorageUse {
                        used: self.store.domain_usage(d.id).await?.max(0) as u64,
                        limit: limit.max(0) as u64,
                    }),
                    None => None,
                },
                public_mailboxes,
            });
        }
        let mut views = Vec::new();
        for a in &accounts {
            // Counted only where there is a quota to compare with.
            let quota = match a.quota_bytes {
                Some(limit) => Some(StorageUse {
                    used: self.store.account_usage(a.id).await?.max(0) as u64,
                    limit: limit.max(0) as u64,
                }),
                None => None,
            };
            views.push(AccountView {
                address: a.address(),
                server_admin: a.is_admin,
                can_sign_in: a.password_hash.is_some(),
                aliases: account_aliases
                    .iter()
                    .filter(|(_, id)| *id == a.id)
                    .map(|(alias, _)| alias.clone())
                    .collect(),
                quota,
                external_inbox: a.external_inbox,
            });
        }
        let accounts = views;
        let routing_rules = self
            .store
            .routing_rules()
            .await?
            .into_iter()
            .map(|r| RoutingRuleView {
                id: r.id,
                priority: r.priority,
                pattern: r.pattern,
                target: r.target,
            })
            .collect();
        Ok(AdminView {
            domains,
            accounts,
            routing_rules,
        })
    }

    pub async fn remove_domain_alias(&self, p: &Principal, alias: &str) -> Result<()> {
        require_admin(p)?;
        if self.store.delete_domain_alias(&domain_name(alias)?).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no domain alias {alias}")))
        }
    }

    /// Removes an account alias (`name@domain`, or a name in the admin's
    /// domain).
    pub async fn remove_alias(&self, p: &Principal, alias: &str) -> Result<()> {
        require_admin(p)?;
        let (name, domain) = self.new_address(p, alias).await?;
        if self.store.delete_account_alias(domain.id, &name).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no alias {name}@{}", domain.name)))
        }
    }

    /// Makes an account a server admin or an ordinary one. An admin cannot
    /// demote themselves (someone must be left to undo mistakes).
    pub async fn set_server_admin(&self, p: &Principal, address: &str, admin: bool) -> Result<()> {
        require_admin(p)?;
        let account = self.account(p, address).await?;
        if account.id == p.account_id && !admin {
            return Err(Error::BadInput(
                "you cannot take away your own administration rights".into(),
            ));
        }
        if account.name == PUBLIC_ACCOUNT {
            return Err(Error::BadInput("the public account cannot sign in".into()));
        }
        self.store.set_admin(account.id, admin).await?;
        self.authority_changed().await;
        Ok(())
    }

    pub async fn delete_routing_rule(&self, p: &Principal, id: i64) -> Result<()> {
        require_admin(p)?;
        if self.store.delete_routing_rule(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no routing rule {id}")))
        }
    }

    /// Whether [`Service::bootstrap`] has run: a server administrator
    /// exists.
    pub async fn is_set_up(&self) -> Result<bool> {
        Ok(self.store.accounts().await?.iter().any(|a| a.is_admin))
    }

    /// On a database without a server admin (a new one): creates `domain`
    /// (with its public account) unless it exists, and the server admin
    /// `admin@domain` with `admin_password` or a generated one. The password
    /// is checked before anything is created, and a start that failed half
    /// way is completed by the next one.
    pub async fn bootstrap(&self, domain: &str, admin_password: Option<String>) -> Result<Bootstrap> {
        if self.is_set_up().await? {
            return Ok(Bootstrap::AlreadyDone);
        }
        let generated = admin_password.is_none();
        let password = admin_password.unwrap_or_else(random_password);
        check_password(&password)?;
        let system = Principal::system(domain);
        if self
            .store
            .domain_by_name_or_alias(&domain_name(domain)?)
            .await?
            .is_none()
        {
            self.add_domain(&system, domain, &[]).await?;
        }
        let admin = self
            .add_account(&system, &format!("admin@{domain}"), Some(&password), true)
            .await?;
        Ok(Bootstrap::Created {
            admin: admin.address(),
            generated_password: generated.then_some(password),
        })
    }
}

/// What [`Service::bootstrap`] did.
#[derive(Debug)]
pub enum Bootstrap {
    AlreadyDone,
    /// `generated_password` is shown once, then only its hash is kept.
    Created {
        admin: String,
        generated_password: Option<String>,
    },
}

/// Where a domain keeps its INBOXes when outside Mailroom.
#[derive(Clone, Debug)]
pub struct ExternalInbox {
    /// A path with `{user}` (and optionally `{domain}`).
    pub template: String,
    /// Lock methods in order, such as `fcntl,dotlock`.
    pub locks: Option<String>,
    /// Seconds to wait for another program's lock.
    pub lock_timeout: Option<u64>,
}

/// Creates an account's INBOX file unless it exists: never through a
/// symbolic link (`O_EXCL`, `O_NOFOLLOW`), mode 0600, and given — through
/// the open descriptor, not the path — to the system user of the same
/// name when there is one and we may (running as root). An existing file
/// is taken only if it is a plain file of that owner. Deleting the
/// account leaves the file.
fn create_inbox_file(path: &std::path::Path, user: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let owner = super::external::expected_owner(user);
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .mode(0o600)
        .open(path);
    let refused = |why: String| Error::BadInput(format!("cannot use {} as {user}'s INBOX: {why}", path.display()));
    match created {
        Ok(file) => {
            if nix::unistd::geteuid().is_root() {
                std::os::unix::fs::fchown(&file, Some(owner.uid), Some(owner.gid))
                    .map_err(|e| refused(e.to_string()))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(path).map_err(|e| refused(e.to_string()))?;
            super::external::check_inbox_file(&meta, owner.uid).map_err(|why| {
                tracing::error!("{}: {why}", path.display());
                refused(why)
            })
        }
        Err(e) => Err(refused(e.to_string())),
    }
}

/// A password of 16 letters and digits.
pub fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
