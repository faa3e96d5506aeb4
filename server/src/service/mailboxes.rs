//! Mailbox operations: listing (own and shared with me), create, delete,
//! rename, ACLs (RFC 4314), subscriptions, seen mode.

use mailroom_shared::Action;
use mailroom_shared::acl::{AclEntry, Explanation, Identifier, explain_rights};
use mailroom_shared::dto::{MailboxInfo, SeenMode};
use mailroom_shared::team::What;
use mailroom_shared::{MailboxPath, Right, Rights};

use super::{Opened, Principal, Service, display_name, info, not_found};
use crate::error::{Error, Result};
use crate::service::store::{AccountRow, NewMailbox};

/// How SETACL changes an entry's rights (RFC 4314 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclChange {
    Replace,
    Add,
    Remove,
}

impl AclChange {
    /// Splits IMAP's `+lr` / `-lr` / `lr` into a change and the rights.
    pub fn parse(rights: &str) -> (AclChange, &str) {
        match rights.as_bytes().first() {
            Some(b'+') => (AclChange::Add, &rights[1..]),
            Some(b'-') => (AclChange::Remove, &rights[1..]),
            _ => (AclChange::Replace, rights),
        }
    }
}

impl Service {
    /// Every mailbox the principal may look up: its own, then those of
    /// other accounts shared with it (one indexed query, not a scan), each
    /// group by name.
    pub async fn list_mailboxes(&self, p: &Principal) -> Result<Vec<MailboxInfo>> {
        let mut out = Vec::new();
        if let Some(me) = self.store.account_by_id(p.account_id).await? {
            for m in self.store.mailboxes_of(me.id).await? {
                out.push(info(&m, &m.name, &me, Rights::ALL));
            }
        }
        let mut identifiers = vec!["anyone".to_owned(), "authenticated".to_owned()];
        identifiers.push(format!("anyone@{}", p.domain));
        identifiers.push(p.address.clone());
        let mut shared = Vec::new();
        for m in self.store.mailboxes_shared_with(&identifiers, p.account_id).await? {
            let Some(owner) = self.store.account_by_id(m.account_id).await? else {
                continue;
            };
            let rights = p.rights_on(&owner, &self.store.acl_of(m.id).await?);
            if rights.contains(Right::Lookup) {
                shared.push(info(&m, &display_name(p, &owner, &m.name), &owner, rights));
            }
        }
        shared.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(shared);
        Ok(out)
    }

    /// The mailboxes of one account (`bob`, `~bob`, an alias) that the
    /// principal may look up.
    pub async fn list_account_mailboxes(&self, p: &Principal, account: &str) -> Result<Vec<MailboxInfo>> {
        let owner = self.account(p, account.trim_start_matches('~')).await?;
        let mut out = Vec::new();
        for m in self.store.mailboxes_of(owner.id).await? {
            let rights = p.rights_on(&owner, &self.store.acl_of(m.id).await?);
            if rights.contains(Right::Lookup) {
                out.push(info(&m, &display_name(p, &owner, &m.name), &owner, rights));
            }
        }
        Ok(out)
    }

    /// Looks a mailbox up: its data and the principal's rights on it.
    pub async fn mailbox(&self, p: &Principal, name: &str) -> Result<MailboxInfo> {
        Ok(self.open(p, name).await?.info())
    }

    /// Creates a mailbox. In one's own account missing parents are created
    /// too; elsewhere the parent must exist and grant `k` (a top level in
    /// another account needs a server admin). A child starts with a copy
    /// of its parent's ACL.
    pub async fn create_mailbox(&self, p: &Principal, name: &str) -> Result<MailboxInfo> {
        let (owner, path) = self.owner_and_path(p, name).await?;
        let acl = self.acl_for_new(p, &owner, &path).await?;
        if self.store.mailbox_by_name(owner.id, path.as_str()).await?.is_some() {
            return Err(Error::AlreadyExists(format!("{name} exists already")));
        }
        let row = self
            .store
            .insert_mailbox(NewMailbox {
                account_id: owner.id,
                name: path.as_str(),
                special_use: None,
                seen_mode: SeenMode::Shared,
                acl: &acl,
            })
            .await?;
        self.feed.wake();
        let rights = p.rights_on(&owner, &acl);
        Ok(info(&row, &display_name(p, &owner, &row.name), &owner, rights))
    }

    /// Checks that `p` may create `path` in `owner`'s account and returns
    /// the ACL it starts with (a copy of its parent's). In one's own account
    /// missing parents are created (RFC 3501 §6.3.3); elsewhere the parent
    /// must exist and grant `k`, and a top level needs a server admin.
    async fn acl_for_new(&self, p: &Principal, owner: &AccountRow, path: &MailboxPath) -> Result<Vec<AclEntry>> {
        let own = owner.id == p.account_id;
        let Some(parent) = path.parent() else {
            if own || p.server_admin {
                return Ok(Vec::new());
            }
            return Err(not_found(&display_name(p, owner, path.as_str())));
        };
        let parent_name = display_name(p, owner, parent.as_str());
        let parent = match self.open(p, &parent_name).await {
            Err(Error::NotFound(_)) if own => {
                Box::pin(self.create_mailbox(p, &parent_name)).await?;
                self.open(p, &parent_name).await?
            }
            other => other?,
        };
        parent.require(Action::CreateChild)?;
        Ok(parent.acl)
    }

    /// Deletes a mailbox and its messages (needs `x`). INBOX stays, and a
    /// mailbox with sub-mailboxes must be emptied of them first.
    pub async fn delete_mailbox(&self, p: &Principal, name: &str) -> Result<()> {
        let m = self.deletable(p, name).await?;
        self.store.delete_mailbox(m.mailbox.id).await?;
        self.feed.wake();
        Ok(())
    }

    /// The mailbox, if `p` may delete it now: the right, not INBOX, no
    /// sub-mailboxes.
    pub(super) async fn deletable(&self, p: &Principal, name: &str) -> Result<Opened> {
        let m = self.open(p, name).await?;
        m.require(Action::DeleteMailbox)?;
        if m.mailbox.name == "INBOX" {
            return Err(Error::BadInput("INBOX cannot be deleted".into()));
        }
        let path = MailboxPath::parse(&m.mailbox.name).map_err(|e| Error::BadInput(e.to_string()))?;
        if self.children(&m, &path).await?.next().is_some() {
            return Err(Error::BadInput(format!(
                "{} has sub-mailboxes: delete them first",
                m.name
            )));
        }
        Ok(m)
    }

    pub(super) async fn children<'a>(
        &self,
        m: &Opened,
        path: &'a MailboxPath,
    ) -> Result<impl Iterator<Item = crate::service::store::MailboxRow> + 'a> {
        let all = self.store.mailboxes_of(m.owner.id).await?;
        let id = m.mailbox.id;
        Ok(all
            .into_iter()
            .filter(move |c| c.id != id && MailboxPath::parse(&c.name).is_ok_and(|cp| cp.is_within(path))))
    }

    /// Renames a mailbox and its sub-mailboxes within one account: `x` on
    /// it, `k` on the new parent.
    pub async fn rename_mailbox(&self, p: &Principal, from: &str, to: &str) -> Result<MailboxInfo> {
        let m = self.open(p, from).await?;
        m.require(Action::RenameMailbox)?;
        if m.mailbox.name == "INBOX" {
            return Err(Error::BadInput("INBOX cannot be renamed".into()));
        }
        let (to_owner, to_path) = self.owner_and_path(p, to).await?;
        if to_owner.id != m.owner.id {
            return Err(Error::BadInput("a mailbox cannot move to another account".into()));
        }
        let from_path = MailboxPath::parse(&m.mailbox.name).map_err(|e| Error::BadInput(e.to_string()))?;
        if to_path.is_within(&from_path) {
            return Err(Error::BadInput("a mailbox cannot move inside itself".into()));
        }
        if self
            .store
            .mailbox_by_name(m.owner.id, to_path.as_str())
            .await?
            .is_some()
        {
            return Err(Error::AlreadyExists(format!("{to} exists already")));
        }
        self.acl_for_new(p, &m.owner, &to_path).await?;
        let mut renames = vec![(m.mailbox.id, to_path.as_str().to_owned())];
        for child in self.children(&m, &from_path).await? {
            let rest = &child.name[from_path.as_str().len()..];
            renames.push((child.id, format!("{to_path}{rest}")));
        }
        self.store.rename_mailboxes(&renames).await?;
        self.feed.wake();
        self.record_mailbox(&m, What::Renamed, &format!("~{}/{to_path}", m.owner.name));
        self.mailbox(p, &display_name(p, &m.owner, to_path.as_str())).await
    }

    /// The ACL (RFC 4314 GETACL): needs `a`.
    pub async fn get_acl(&self, p: &Principal, name: &str) -> Result<Vec<AclEntry>> {
        let m = self.open(p, name).await?;
        m.require(Action::SeeSharing)?;
        Ok(m.acl)
    }

    /// SETACL: replaces, adds to (`+`) or takes from (`-`) one entry's
    /// rights; an entry left with no rights is removed. `-bob` names a
    /// negative entry. User names go through the router and are stored as
    /// `name@domain`. Needs `a`. Returns the entry as stored.
    pub async fn set_acl(&self, p: &Principal, name: &str, identifier: &str, rights: &str) -> Result<AclEntry> {
        let (change, letters) = AclChange::parse(rights);
        let mut entry = AclEntry::parse(identifier, letters).map_err(|e| Error::BadInput(e.to_string()))?;
        let m = self.open(p, name).await?;
        m.require(Action::Administer)?;
        if let Identifier::User(user) = &entry.identifier {
            entry.identifier = Identifier::User(self.account(p, user).await?.address());
        }
        let old = m
            .acl
            .iter()
            .find(|e| e.identifier == entry.identifier && e.negative == entry.negative)
            .map_or(Rights::NONE, |e| e.rights);
        entry.rights = match change {
            AclChange::Replace => entry.rights,
            AclChange::Add => old | entry.rights,
            AclChange::Remove => old.without(entry.rights),
        };
        self.store.put_acl_entry(m.mailbox.id, &entry).await?;
        self.feed.wake();
        let detail = format!(
            "{}{} ({})",
            if entry.negative { "-" } else { "" },
            entry.identifier,
            match entry.rights.is_empty() {
                true => "no rights".to_owned(),
                false => entry.rights.to_string(),
            }
        );
        self.record_mailbox(&m, What::AclChanged, &detail);
        Ok(entry)
    }

    /// DELETEACL: removes the entry for the identifier (`-bob` for the
    /// negative one). Needs `a`.
    pub async fn delete_acl(&self, p: &Principal, name: &str, identifier: &str) -> Result<()> {
        self.set_acl(p, name, identifier, "").await.map(drop)
    }

    /// MYRIGHTS.
    pub async fn my_rights(&self, p: &Principal, name: &str) -> Result<Rights> {
        Ok(self.open(p, name).await?.rights)
    }

    /// LISTRIGHTS (RFC 4314 §3.7): the rights always granted to
    /// `identifier` and those that may be granted, one by one. Needs `a`.
    pub async fn list_rights(&self, p: &Principal, name: &str, identifier: &str) -> Result<(Rights, Vec<Rights>)> {
        let entry = AclEntry::parse(identifier, "").map_err(|e| Error::BadInput(e.to_string()))?;
        let m = self.open(p, name).await?;
        m.require(Action::SeeSharing)?;
        if let Identifier::User(user) = &entry.identifier
            && self.account(p, user).await.is_ok_and(|a| a.id == m.owner.id)
        {
            return Ok((Rights::ALL, Vec::new()));
        }
        Ok((Rights::NONE, Right::ALL.into_iter().map(Rights::from).collect()))
    }

    /// Why `user` has the rights it has on a mailbox. Needs `a`.
    pub async fn explain_rights(&self, p: &Principal, name: &str, user: &str) -> Result<Explanation> {
        let m = self.open(p, name).await?;
        m.require(Action::SeeSharing)?;
        let account = self.account(p, user).await?;
        let who = super::Principal::of(&account);
        Ok(explain_rights(who.who(), &m.owner.address(), &m.acl))
    }

    /// Sets whether `\Seen` is shared or per user. Needs `a`.
    pub async fn set_seen_mode(&self, p: &Principal, name: &str, mode: SeenMode) -> Result<()> {
        let m = self.open(p, name).await?;
        m.require(Action::ChangeSeenMode)?;
        self.store.set_seen_mode(m.mailbox.id, mode).await?;
        let detail = match mode {
            SeenMode::PerUser => "each reader's own",
            _ => "shared by all",
        };
        self.record_mailbox(&m, What::SeenModeChanged, detail);
        Ok(())
    }

    /// The principal's subscribed mailbox names (as they wrote them).
    pub async fn subscriptions(&self, p: &Principal) -> Result<Vec<String>> {
        Ok(self.store.subscriptions(p.account_id).await?)
    }

    /// Subscribes to a mailbox the principal may look up.
    pub async fn subscribe(&self, p: &Principal, name: &str) -> Result<()> {
        let m = self.open(p, name).await?;
        Ok(self.store.subscribe(p.account_id, &m.name).await?)
    }

    /// Unsubscribes; the name need not exist any more (RFC 3501 §6.3.7).
    pub async fn unsubscribe(&self, p: &Principal, name: &str) -> Result<()> {
        mailroom_shared::MailboxName::parse(name).map_err(|e| Error::BadInput(e.to_string()))?;
        if self.store.unsubscribe(p.account_id, name).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("not subscribed to {name}")))
        }
    }
}
