//! Working as a team on a shared mailbox: the activity trail (who did
//! what, when, through which gateway, from where), assignment and status
//! (IMAP keywords, `mailroom_shared::team`), internal notes, the team
//! settings of a mailbox, and the reader's side of it all.
//!
//! The trail is written by one task per process, in batches: a change
//! hands its entries over a channel and goes on, so an IMAP STORE does
//! not wait for a second write; the writer lets entries gather for
//! [`GATHER`] and writes them in one transaction. Entries not yet written
//! when the process dies are lost; the change itself is not.

use mailroom_shared::acl::Identifier;
use mailroom_shared::dto::SeenMode;
use mailroom_shared::team::{
    ASSIGNED_PREFIX, Activity, ActivityFilter, ActivityPage, Note, Status, TeamView, Via, What, assignee,
    assignment_keyword,
};
use mailroom_shared::{Action, FlagOp, Flags, Right, SystemFlag};
use tokio::sync::mpsc;

use super::admin::PUBLIC_ACCOUNT;
use super::store::{NewActivity, Store, now};
use super::types::ChangedFlags;
use super::{Opened, Principal, Service};
use crate::error::{Error, Result};

/// Entries on one Activity page.
pub const ACTIVITY_PAGE: i64 = 100;
/// Entries in one export (the newest).
const EXPORT_LIMIT: i64 = 100_000;
/// Entries written in one transaction at most.
const BATCH: usize = 2000;
/// How long the writer lets entries gather after the first: the changes
/// of the next moment join its one write, so the trail takes the
/// database's writer turn rarely, however fast the changes come.
const GATHER: std::time::Duration = std::time::Duration::from_millis(50);
/// How often old entries are purged.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The sending half of the trail's writer.
pub(super) struct Trail {
    tx: mpsc::UnboundedSender<NewActivity>,
}

impl Trail {
    /// Starts the writer (and the purge of old entries) of `store`.
    pub(super) fn start(store: Store) -> Trail {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_trail(store.clone(), rx));
        tokio::spawn(purge_trail(store));
        Trail { tx }
    }
}

/// Writes entries as they come, everything waiting in one transaction.
async fn write_trail(store: Store, mut rx: mpsc::UnboundedReceiver<NewActivity>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        tokio::time::sleep(GATHER).await;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        if let Err(e) = store.add_activity(&batch).await {
            tracing::error!("activity trail: {} entries not written: {e}", batch.len());
        }
        batch.clear();
    }
}

async fn purge_trail(store: Store) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        match store.purge_activity(now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("activity trail: {n} entries past their domain's retention removed"),
            Err(e) => tracing::warn!("activity trail: purge failed: {e}"),
        }
    }
}

impl Opened {
    /// Whether others share it: a public mailbox, or one whose ACL grants
    /// anything to anyone but its owner. Only these keep a trail and
    /// show presence.
    pub(super) fn is_team(&self) -> bool {
        // Asked at every change: compared without building the address.
        let is_owner = |id: &Identifier| match id {
            Identifier::User(u) => u.split_once('@') == Some((self.owner.name.as_str(), self.owner.domain.as_str())),
            _ => false,
        };
        self.owner.name == PUBLIC_ACCOUNT
            || self
                .acl
                .iter()
                .any(|e| !e.negative && !e.rights.is_empty() && !is_owner(&e.identifier))
    }

    /// Its name as anyone in its owner's domain writes it: `~alice/Team`.
    pub(super) fn shared_name(&self) -> String {
        format!("~{}/{}", self.owner.name, self.mailbox.name)
    }

    fn actor(&self) -> String {
        match self.principal.address.is_empty() {
            true => "the server".into(),
            false => self.principal.address.clone(),
        }
    }

    /// Whether the principal sees the trail: `a`, or `r` where the
    /// administrator opened it to readers.
    async fn may_see_activity(&self, store: &Store) -> Result<bool> {
        if self.rights.contains(Right::Administer) {
            return Ok(true);
        }
        Ok(self.rights.contains(Right::Read) && store.team_settings(self.mailbox.id).await?.activity_open)
    }
}

/// What one flag change says in the trail, if anything.
fn flag_entry(flag: &str, added: bool, seen_mode: SeenMode, domain: &str) -> Option<(What, String)> {
    let system = |f: SystemFlag| f.name().eq_ignore_ascii_case(flag);
    let plain = |what: What| Some((what, String::new()));
    if system(SystemFlag::Seen) {
        // Per-user read marks are each reader's own business.
        return match seen_mode {
            SeenMode::PerUser => None,
            _ => plain(if added { What::Read } else { What::Unread }),
        };
    }
    if system(SystemFlag::Flagged) {
        return plain(if added { What::Flagged } else { What::Unflagged });
    }
    if system(SystemFlag::Deleted) {
        return plain(if added { What::Deleted } else { What::Undeleted });
    }
    if system(SystemFlag::Answered) && added {
        return plain(What::Answered);
    }
    if let Ok(flags) = Flags::parse([flag])
        && let Some(who) = assignee(&flags, domain)
    {
        return Some((if added { What::Assigned } else { What::Unassigned }, who));
    }
    match Status::of(&Flags::parse([flag]).unwrap_or_default()) {
        Status::Open => None,
        status if added => Some((What::Status, status.code().into())),
        _ => Some((What::Status, Status::Open.code().into())),
    }
}

impl Service {
    /// Records `what` by the mailbox's principal, once per message of
    /// `uids` (once for the mailbox when none), if the mailbox is shared.
    pub(super) fn record(&self, m: &Opened, what: What, uids: &[u32], detail: &str) {
        let actor = m.actor();
        self.record_as(m, (&actor, m.principal.via), what, uids, detail);
    }

    /// [`Service::record`] with another actor (a delivery's sender).
    pub(super) fn record_as(&self, m: &Opened, (actor, via): (&str, Via), what: What, uids: &[u32], detail: &str) {
        if !m.is_team() {
            return;
        }
        match uids.is_empty() {
            true => self.write_entry(m, (actor, via), what, None, detail),
            false => {
                for uid in uids {
                    self.write_entry(m, (actor, via), what, Some(*uid), detail);
                }
            }
        }
    }

    /// Hands one entry to the trail's writer.
    fn write_entry(&self, m: &Opened, (actor, via): (&str, Via), what: What, uid: Option<u32>, detail: &str) {
        let entry = NewActivity {
            mailbox_id: m.mailbox.id,
            at: now(),
            actor: actor.to_owned(),
            via,
            client: m.principal.client.map(|c| c.to_string()).unwrap_or_default(),
            what,
            uid,
            detail: detail.to_owned(),
        };
        // The writer stops only with the runtime: nothing to do then.
        let _ = self.trail.tx.send(entry);
    }

    /// Records messages leaving `src` for `dst` (old UID, new UID) on both
    /// sides: "moved to ~alice/Done", "moved here from ~public/Support".
    pub(super) fn record_transfer(&self, src: &Opened, dst: &Opened, pairs: &[(u32, u32)], (out, into): (What, What)) {
        let old: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let new: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        self.record(src, out, &old, &dst.shared_name());
        self.record(dst, into, &new, &src.shared_name());
    }

    /// Records a change to the mailbox itself (sharing, read marks, name)
    /// whether or not it is shared yet: the change may be what shares it.
    pub(super) fn record_mailbox(&self, m: &Opened, what: What, detail: &str) {
        self.write_entry(m, (&m.actor(), m.principal.via), what, None, detail);
    }

    /// Records a flag change on the messages it changed.
    pub(super) fn record_flags(&self, m: &Opened, op: FlagOp, flags: &Flags, changed: &[ChangedFlags]) {
        if changed.is_empty() || !m.is_team() {
            return;
        }
        let uids: Vec<u32> = changed.iter().map(|c| c.uid).collect();
        if op == FlagOp::Replace {
            self.record(m, What::FlagsSet, &uids, &flags.to_string());
            return;
        }
        let names = flags
            .system_flags()
            .map(|f| f.name().to_owned())
            .chain(flags.keywords().map(str::to_owned));
        let mut said = Vec::new();
        for name in names {
            let Some((what, detail)) = flag_entry(&name, op == FlagOp::Add, m.mailbox.seen_mode, &m.owner.domain)
            else {
                continue;
            };
            // Taking away both status keywords is one "open".
            if !said.contains(&(what, detail.clone())) {
                self.record(m, what, &uids, &detail);
                said.push((what, detail));
            }
        }
    }

    /// A folder's Activity page (`a`, or `r` where opened to readers).
    pub async fn activity(&self, p: &Principal, name: &str, filter: ActivityFilter) -> Result<ActivityPage> {
        let m = self.open(p, name).await?;
        if !m.may_see_activity(&self.store).await? {
            return Err(Error::NoPermission(format!(
                "the activity of {name} is for its administrators (the 'a' right)"
            )));
        }
        let mut entries = self.store.activity(m.mailbox.id, &filter, ACTIVITY_PAGE + 1).await?;
        let more = entries.len() as i64 > ACTIVITY_PAGE;
        entries.truncate(ACTIVITY_PAGE as usize);
        Ok(ActivityPage {
            mailbox: m.info(),
            filter,
            entries,
            more,
            admin: m.rights.contains(Right::Administer),
            open_to_readers: self.store.team_settings(m.mailbox.id).await?.activity_open,
        })
    }

    /// The trail of a mailbox as CSV or JSON (`a` only), newest first.
    pub async fn export_activity(&self, p: &Principal, name: &str, json: bool) -> Result<String> {
        let m = self.open(p, name).await?;
        m.require(Action::Administer)?;
        let all = self
            .store
            .activity(m.mailbox.id, &ActivityFilter::default(), EXPORT_LIMIT)
            .await?;
        if json {
            return serde_json::to_string_pretty(&all).map_err(|e| Error::Internal(Box::new(e)));
        }
        let mut out = String::from("id,at,actor,via,client,what,uid,detail\r\n");
        for a in &all {
            let fields = [
                a.id.to_string(),
                a.at.to_string(),
                a.actor.clone(),
                a.via.code().into(),
                a.client.clone(),
                a.what.code().into(),
                a.uid.map(|u| u.to_string()).unwrap_or_default(),
                a.detail.clone(),
            ];
            let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&quoted.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }

    /// Lets holders of `r` see the Activity page or not, and says who may
    /// answer as the mailbox's owner (needs `a`); `None` keeps a setting.
    pub async fn set_team_settings(
        &self,
        p: &Principal,
        name: &str,
        activity_open: Option<bool>,
        send_as: Option<&[String]>,
    ) -> Result<()> {
        let m = self.open(p, name).await?;
        m.require(Action::Administer)?;
        let mut settings = self.store.team_settings(m.mailbox.id).await?;
        if let Some(open) = activity_open {
            settings.activity_open = open;
        }
        if let Some(send_as) = send_as {
            let mut accounts = Vec::new();
            for a in send_as.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
                accounts.push(self.resolve_account(a, &m.owner.domain).await?);
            }
            accounts.sort();
            accounts.dedup();
            settings.send_as = accounts;
        }
        self.store.set_team_settings(m.mailbox.id, &settings).await?;
        let detail = format!(
            "activity {}; send as {}: {}",
            if settings.activity_open {
                "open to readers"
            } else {
                "for administrators"
            },
            m.owner.address(),
            if settings.send_as.is_empty() {
                "nobody".to_owned()
            } else {
                settings.send_as.join(", ")
            }
        );
        self.record_mailbox(&m, What::AclChanged, &detail);
        Ok(())
    }

    /// The address `p` may answer as from the mailbox `name`: its owner's,
    /// when the administrator put `p` on its *send as* list.
    pub async fn team_identity(&self, p: &Principal, name: &str) -> Result<Option<String>> {
        let m = self.open(p, name).await?;
        if m.owner.id == p.account_id || !m.is_team() {
            return Ok(None);
        }
        let allowed = self.store.team_settings(m.mailbox.id).await?.send_as;
        Ok(allowed.contains(&p.address).then(|| m.owner.address()))
    }

    /// Files the copy of a message sent as the team beside the
    /// conversation it answers (else in the sender's own Sent), and
    /// records who sent it.
    pub(super) async fn file_team_copy(&self, p: &Principal, mailbox: &str, copy: Vec<u8>, from: &str) -> Result<()> {
        let seen = Flags::from(SystemFlag::Seen);
        let filed = self.append(p, mailbox, copy.clone(), &seen, None).await;
        let m = self.open(p, mailbox).await?;
        match filed {
            Ok((_, uid)) => self.record(&m, What::Sent, &[uid], from),
            Err(Error::NoPermission(_)) => {
                if let Some(sent) = self.special(p, "\\Sent").await? {
                    self.append(p, &sent, copy, &seen, None).await?;
                }
                self.record(&m, What::Sent, &[], from);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The team's side of a message for its reader (needs `r`).
    pub(super) async fn team_view(&self, m: &Opened, uid: u32, flags: &Flags) -> Result<TeamView> {
        if !m.is_team() {
            return Ok(TeamView::default());
        }
        let domain = &m.owner.domain;
        let history = match m.may_see_activity(&self.store).await? {
            true => {
                let filter = ActivityFilter {
                    uid: Some(uid),
                    ..ActivityFilter::default()
                };
                self.store.activity(m.mailbox.id, &filter, ACTIVITY_PAGE).await?
            }
            false => Vec::new(),
        };
        let read_by = match m.mailbox.seen_mode {
            SeenMode::PerUser => self.store.read_by(m.mailbox.id, uid).await?,
            _ => Vec::new(),
        };
        Ok(TeamView {
            shared: true,
            present: self
                .present_in(m)
                .into_iter()
                .filter(|p| p.doing.message() == Some(uid))
                .collect(),
            assignee: assignee(flags, domain),
            status: Status::of(flags),
            assignable: self.readers_of(m).await?,
            may_assign: m.rights.contains(Right::Write),
            notes: self.store.notes(m.mailbox.id, uid).await?,
            history,
            read_by,
        })
    }

    /// The accounts with `r` on a mailbox (whom its messages may be
    /// assigned to), its owner first.
    async fn readers_of(&self, m: &Opened) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if m.owner.name != PUBLIC_ACCOUNT {
            out.push(m.owner.address());
        }
        for account in self.store.accounts().await? {
            let address = account.address();
            if account.domain != m.owner.domain || account.name == PUBLIC_ACCOUNT || out.contains(&address) {
                continue;
            }
            let who = mailroom_shared::Who {
                address: Some(&address),
                server_admin: account.is_admin,
            };
            if mailroom_shared::effective_rights(who, &m.owner.address(), &m.acl).contains(Right::Read) {
                out.push(address);
            }
        }
        Ok(out)
    }

    /// Assigns messages to `who` (one with `r` on the mailbox), or to
    /// nobody: the `$Assigned-…` keyword (needs `w`).
    pub async fn assign(&self, p: &Principal, name: &str, uids: &[u32], who: Option<&str>) -> Result<()> {
        let mut m = self.open(p, name).await?;
        m.require(Action::Read)?;
        self.require_write(&m)?;
        let who = match who.map(str::trim).filter(|w| !w.is_empty()) {
            Some(w) => {
                let account = self.resolve_account(w, &m.owner.domain).await?;
                if !self.readers_of(&m).await?.contains(&account) {
                    return Err(Error::BadInput(format!(
                        "{account} cannot read {name}, so cannot take it on"
                    )));
                }
                Some(account)
            }
            None => None,
        };
        let old = self.assignment_keywords(&m, uids).await?;
        if old.keywords().next().is_some() {
            self.store_flags_in(&mut m, uids, FlagOp::Remove, &old).await?;
        }
        if let Some(account) = who {
            let keyword = assignment_keyword(&account, &m.owner.domain);
            let flags = Flags::parse([keyword.as_str()]).map_err(|e| Error::BadInput(e.to_string()))?;
            self.store_flags_in(&mut m, uids, FlagOp::Add, &flags).await?;
        }
        Ok(())
    }

    /// The assignment keywords the messages carry now.
    async fn assignment_keywords(&self, m: &Opened, uids: &[u32]) -> Result<Flags> {
        let rows = self.rows(m, uids).await?;
        let names: Vec<String> = rows
            .iter()
            .flat_map(|r| r.flags.keywords().map(str::to_owned).collect::<Vec<_>>())
            .filter(|k| k.to_lowercase().starts_with(&ASSIGNED_PREFIX.to_lowercase()))
            .collect();
        Flags::parse(names.iter().map(String::as_str)).map_err(|e| Error::BadInput(e.to_string()))
    }

    /// Sets the messages' status: `$Waiting`, `$Done`, or neither (needs `w`).
    pub async fn set_status(&self, p: &Principal, name: &str, uids: &[u32], status: Status) -> Result<()> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        self.require_write(&m)?;
        let others: Vec<&str> = Status::ALL
            .into_iter()
            .filter(|s| *s != status)
            .filter_map(Status::keyword)
            .collect();
        let others = Flags::parse(others).map_err(|e| Error::BadInput(e.to_string()))?;
        let quiet = self
            .set_flags(&m, (uids, FlagOp::Remove, &others), m.flag_permissions(), None)
            .await?;
        let changed = match status.keyword() {
            Some(k) => {
                let flags = Flags::parse([k]).map_err(|e| Error::BadInput(e.to_string()))?;
                self.set_flags(&m, (uids, FlagOp::Add, &flags), m.flag_permissions(), None)
                    .await?
            }
            None => quiet,
        };
        self.feed.wake();
        let uids: Vec<u32> = changed.iter().map(|c| c.uid).collect();
        if !uids.is_empty() {
            self.record(&m, What::Status, &uids, status.code());
        }
        Ok(())
    }

    /// Adds an internal note to a message (needs `r`): kept here, never
    /// sent, seen by those who may read the mailbox.
    pub async fn add_note(&self, p: &Principal, name: &str, uid: u32, body: &str) -> Result<()> {
        let m = self.open(p, name).await?;
        m.require(Action::Read)?;
        let body = body.trim();
        if body.is_empty() {
            return Err(Error::BadInput("a note needs some text".into()));
        }
        if body.len() > mailroom_shared::limits::MAX_NOTE {
            return Err(Error::BadInput(format!(
                "a note may hold at most {} bytes",
                mailroom_shared::limits::MAX_NOTE
            )));
        }
        if self.store.message(m.mailbox.id, uid, None).await?.is_none() {
            return Err(Error::NotFound(format!("no message {uid} in {name}")));
        }
        self.store.add_note(m.mailbox.id, uid, &m.actor(), now(), body).await?;
        let short: String = body.chars().take(80).collect();
        self.record(&m, What::Note, &[uid], &short);
        self.feed.touch(m.mailbox.id);
        Ok(())
    }

    fn require_write(&self, m: &Opened) -> Result<()> {
        match m.rights.contains(Right::Write) {
            true => Ok(()),
            false => Err(Error::NoPermission(format!(
                "you need the 'w' right (write flags) on {} to assign messages or set their status",
                m.name
            ))),
        }
    }

    /// An account named as `bob` (in `domain`) or `bob@example.com`.
    async fn resolve_account(&self, who: &str, domain: &str) -> Result<String> {
        let address = match who.contains('@') {
            true => who.to_lowercase(),
            false => format!("{}@{domain}", who.to_lowercase()),
        };
        match super::router::resolve(&self.store, &address, domain).await? {
            Some(a) => Ok(a.address()),
            None => Err(Error::NotFound(format!("no account {address}"))),
        }
    }

    /// Whether the account hides its presence from others.
    pub async fn hides_presence(&self, p: &Principal) -> Result<bool> {
        Ok(self.store.hides_presence(p.account_id).await?)
    }

    pub async fn set_hide_presence(&self, p: &Principal, hide: bool) -> Result<()> {
        Ok(self.store.set_hide_presence(p.account_id, hide).await?)
    }

    /// How many days a domain keeps its trail (operator or server admin).
    pub async fn set_activity_days(&self, p: &Principal, domain: &str, days: i64) -> Result<()> {
        if !p.server_admin {
            return Err(Error::NoPermission(
                "only server administrators set the trail's retention".into(),
            ));
        }
        if !(1..=3650).contains(&days) {
            return Err(Error::BadInput("keep the activity trail from 1 to 3650 days".into()));
        }
        match self.store.set_activity_days(domain, days).await? {
            true => Ok(()),
            false => Err(Error::NotFound(format!("no domain {domain}"))),
        }
    }
}

/// A CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`,
/// `-` or `@` is prefixed with `'` so a spreadsheet does not run it.
fn csv_field(f: &str) -> String {
    let f = match f.starts_with(['=', '+', '-', '@']) {
        true => format!("'{f}"),
        false => f.to_owned(),
    };
    match f.contains([',', '"', '\r', '\n']) {
        true => format!("\"{}\"", f.replace('"', "\"\"")),
        false => f,
    }
}

impl Service {
    /// Removes the trail entries past their domain's retention now (the
    /// server does it every hour by itself); how many went.
    pub async fn purge_activity(&self) -> Result<u64> {
        Ok(self.store.purge_activity(now()).await?)
    }
}

/// Entries as the reader reads them: dates on their clock.
pub fn localised(mut entries: Vec<Activity>, local: impl Fn(i64) -> mailroom_shared::dates::Local) -> Vec<Activity> {
    for e in &mut entries {
        e.local = local(e.at);
    }
    entries
}

/// Notes as the reader reads them.
pub fn localised_notes(mut notes: Vec<Note>, local: impl Fn(i64) -> mailroom_shared::dates::Local) -> Vec<Note> {
    for n in &mut notes {
        n.local = local(n.at);
    }
    notes
}
