//! The mailbox service: the only API the gateways (IMAP, POP3, web, LMTP,
//! CLI) use, and the one place that decides who may do what.
//!
//! Every call carries a [`Principal`], which only [`Service::authenticate`]
//! (or the trusted CLI) can make. Mailbox names are resolved here — personal
//! ones in the principal's account, `~name/…` through the router — and
//! rights are checked here, with [`mailroom_shared::effective_rights`]. A
//! mailbox the principal may not look up is reported exactly like one that
//! does not exist.

mod admin;
mod delivery;
mod directory;
mod external;
mod feed;
mod mailboxes;
mod messages;
mod presence;
mod quota;
pub mod router;
mod rules;
mod settings;
mod sharing;
mod storage;
mod store;
mod team;
mod throttle;
mod types;
mod verified;
mod views;
mod watch;
mod web;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use mailroom_shared::Action;
use mailroom_shared::acl::{AclEntry, Who};
use mailroom_shared::dto::MailboxInfo;
use mailroom_shared::team::Via;
use mailroom_shared::{MailboxName, MailboxPath, Right, Rights, effective_rights};

use crate::error::{Error, Result};

use crate::service::store::{AccountRow, MailboxRow, Store};

pub use admin::{Bootstrap, ExternalInbox, PUBLIC_ACCOUNT, random_password};
pub use delivery::{DeliveryReport, Recipient};
pub use feed::{Change, ChangeKind, Feed};
pub use messages::MAX_MESSAGE_SIZE;
pub use presence::Here;
pub use quota::{QuotaRoot, parse_size};
pub use store::{QueryPlan, SEARCH_COUNT, SQLITE_FILE, now};
pub use team::{ACTIVITY_PAGE, localised, localised_notes};
pub use types::{Account, AccountSettings, ChangedFlags, Domain, FlagRow, FlagRows, Incoming, Indexed, MessageMeta};
pub use watch::{MailboxesWatch, Watch};
pub use web::{FolderWatch, MAX_PAGE, WEB_SESSION_SECONDS};

/// Failed logins allowed in a burst, then one more per period, unless
/// [`Service::with_login_throttle`] says otherwise.
pub const DEFAULT_LOGIN_FAILURES: (u32, std::time::Duration) = (10, std::time::Duration::from_secs(6));

/// The client address of logins from this machine's own programs (the
/// command line, the demo seed).
pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// How long the caches of message bytes go unread before they are
/// emptied ([`Service::release_idle_memory`]).
const IDLE_CACHE: std::time::Duration = std::time::Duration::from_secs(60);

/// Who is acting. Not serialisable and not constructible outside this
/// crate: a gateway gets one only by authenticating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    account_id: i64,
    address: String,
    domain: String,
    server_admin: bool,
    /// The CLI run by the server's operator: every right everywhere.
    system: bool,
    /// A fingerprint of the password hash it logged in with: a changed
    /// password ends the sessions opened with the old one.
    credential: u64,
    /// Through what and from where it acts, for the activity trail.
    via: Via,
    client: Option<IpAddr>,
}

impl Principal {
    fn of(account: &AccountRow) -> Principal {
        Principal {
            account_id: account.id,
            address: account.address(),
            domain: account.domain.clone(),
            server_admin: account.is_admin,
            system: false,
            credential: credential_of(account.password_hash.as_deref()),
            via: Via::Server,
            client: None,
        }
    }

    /// The same principal acting through `via` (a gateway says which it
    /// is once it has a principal).
    pub fn through(mut self, via: Via) -> Principal {
        self.via = via;
        self
    }

    /// The same principal acting from `client`.
    pub fn from_client(mut self, client: IpAddr) -> Principal {
        self.client = Some(client);
        self
    }

    pub fn via(&self) -> Via {
        self.via
    }

    /// The operator at the command line, acting in `domain`.
    pub(crate) fn system(domain: &str) -> Principal {
        Principal {
            account_id: 0,
            address: String::new(),
            domain: domain.into(),
            server_admin: true,
            system: true,
            credential: 0,
            via: Via::Server,
            client: None,
        }
    }

    /// The account's canonical address (`name@domain`).
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn account_id(&self) -> i64 {
        self.account_id
    }

    pub fn is_server_admin(&self) -> bool {
        self.server_admin
    }

    fn who(&self) -> Who<'_> {
        Who {
            address: (!self.system).then_some(self.address.as_str()),
            server_admin: self.server_admin,
        }
    }

    /// The rights of this principal on a mailbox of `owner` with `acl`.
    fn rights_on(&self, owner: &AccountRow, acl: &[AclEntry]) -> Rights {
        if self.system {
            return Rights::ALL;
        }
        effective_rights(self.who(), &owner.address(), acl)
    }
}

/// A short fingerprint of a password hash (the hash itself stays out of
/// sessions).
fn credential_of(hash: Option<&str>) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(hash.unwrap_or("").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The mailbox service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    store: Store,
    feed: Arc<Feed>,
    /// The INBOXes kept in files outside Mailroom, met so far.
    mirrors: Arc<external::Mirrors>,
    /// Failed logins, counted per client address and per account.
    throttle: Arc<throttle::LoginThrottle>,
    /// Passwords that matched a moment ago (logins skip the hash).
    verified: Arc<verified::Verified>,
    /// The last flag view read of each big mailbox (SELECT starts there).
    views: Arc<views::Views>,
    /// What deliveries read of the directory, kept between them.
    directory: Arc<directory::Directory>,
    /// Where mail to other servers goes (`None`: it is refused).
    relay: Option<Arc<crate::relay::Relay>>,
    /// The directories a web administrator may put INBOX files in (the
    /// operator's `--external-inbox-root`).
    external_roots: Arc<Vec<std::path::PathBuf>>,
    /// Writes the activity trail of shared mailboxes.
    trail: Arc<team::Trail>,
    /// Who is present in which shared mailbox.
    presence: Arc<presence::Presence>,
}

/// A mailbox as resolved for one principal, which it carries: a gateway
/// keeps it open between commands but can neither look inside nor hand it
/// to another user (its fields are the service's alone).
pub(crate) struct Opened {
    principal: Principal,
    mailbox: MailboxRow,
    owner: AccountRow,
    acl: Vec<AclEntry>,
    rights: Rights,
    /// The name as the principal writes it.
    name: String,
    /// Where its messages are: the store, or a file outside Mailroom.
    storage: storage::Storage,
    /// The store's directory generation before this was resolved: when it
    /// moved, names and rights are resolved again ([`Service::current`]).
    generation: u64,
}

impl Opened {
    /// Whether the principal may do `action` here ([`Action::needs`]).
    fn require(&self, action: Action) -> Result<()> {
        let Some(right) = self.rights.missing_for(action) else {
            return Ok(());
        };
        Err(Error::NoPermission(format!(
            "you need the '{}' right ({}) on {} to {}",
            right.letter(),
            right.meaning(),
            self.name,
            action.described()
        )))
    }

    pub(crate) fn info(&self) -> MailboxInfo {
        info(&self.mailbox, &self.name, &self.owner, self.rights)
    }

    /// The session's principal as checked again ([`Service::recheck`]):
    /// the same account, perhaps with another server-admin right, so the
    /// rights are resolved again before the next use.
    /// Nothing changes (and nothing is read again) when the principal is
    /// the one it was: sessions call this before every command.
    pub(crate) fn renew(&mut self, p: &Principal) {
        if p.account_id == self.principal.account_id && *p != self.principal {
            self.principal = p.clone();
            self.generation = u64::MAX;
        }
    }
}

fn info(m: &MailboxRow, name: &str, owner: &AccountRow, rights: Rights) -> MailboxInfo {
    MailboxInfo {
        name: name.into(),
        owner: owner.address(),
        uidvalidity: m.uidvalidity,
        uidnext: m.uidnext,
        highest_modseq: m.highest_modseq,
        special_use: m.special_use.clone(),
        seen_mode: m.seen_mode,
        rights,
    }
}

fn cannot_open(e: store::StoreError) -> Error {
    Error::BadInput(format!("cannot open the database: {e}"))
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("no mailbox named {name}"))
}

impl Service {
    /// Opens the database at `url` (`sqlite://…` or `postgres://…`),
    /// brings its schema up to date and starts the change feed's follower
    /// (so it must be called inside a Tokio runtime).
    pub async fn connect(url: &str) -> Result<Service> {
        Ok(Service::new(Store::connect(url).await.map_err(cannot_open)?))
    }

    /// Brings the planner's statistics up to date after a big change
    /// (`mailroom import` of many messages). Not for a small database:
    /// SQLite would keep believing its tables tiny, and plan a lookup as
    /// a scan once they are not (an import of a million messages slowed
    /// to a crawl when statistics were taken of the empty database at
    /// its start).
    pub async fn refresh_statistics(&self) -> Result<()> {
        Ok(self.store.analyze().await?)
    }

    /// Opens (creating it when new) the embedded SQLite database in
    /// `data_dir`, as [`Service::connect`] does.
    pub async fn open_data_dir(data_dir: &std::path::Path) -> Result<Service> {
        Ok(Service::new(Store::open_data_dir(data_dir).await.map_err(cannot_open)?))
    }

    fn new(store: Store) -> Service {
        let feed = Arc::new(Feed::default());
        tokio::spawn(crate::service::feed::follow(store.clone(), Arc::downgrade(&feed)));
        tokio::spawn(crate::service::feed::follow_authority(
            store.clone(),
            Arc::downgrade(&feed),
        ));
        if let Some(url) = store.postgres_url() {
            tokio::spawn(crate::service::feed::listen(url.to_owned(), Arc::downgrade(&feed)));
        }
        let presence = Arc::new(presence::Presence::new(&feed));
        if store.postgres_url().is_some() {
            tokio::spawn(presence::share_across_nodes(store.clone(), Arc::downgrade(&presence)));
        }
        Service {
            trail: Arc::new(team::Trail::start(store.clone())),
            presence,
            verified: Arc::new(verified::Verified::new()),
            views: Arc::default(),
            directory: Arc::default(),
            throttle: Arc::new(throttle::LoginThrottle::new(
                store.clone(),
                DEFAULT_LOGIN_FAILURES.0,
                DEFAULT_LOGIN_FAILURES.1,
            )),
            store,
            feed,
            mirrors: Arc::default(),
            relay: None,
            external_roots: Arc::default(),
        }
    }

    /// Lets web administrators keep INBOX files under these directories.
    pub fn with_external_roots(mut self, roots: Vec<std::path::PathBuf>) -> Service {
        self.external_roots = Arc::new(roots);
        self
    }

    /// Allows `burst` failed logins per client address and per account,
    /// then one more every `per`.
    pub fn with_login_throttle(mut self, burst: u32, per: std::time::Duration) -> Service {
        self.throttle = Arc::new(throttle::LoginThrottle::new(self.store.clone(), burst, per));
        self
    }

    /// Sends mail to other servers through `relay` from now on.
    pub fn with_relay(mut self, relay: crate::relay::Relay) -> Service {
        self.relay = Some(Arc::new(relay));
        self
    }

    /// Closes the database's connections (before the process exits).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// This process's change feed (for tuning it; sessions use `watch`).
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Checks a login (`name` in the primary domain, `name@domain`, or an
    /// alias) and password from `client`. Every failure looks the same and
    /// costs the same; after too many, from that address or for that
    /// account, attempts are refused with [`Error::Throttled`] before the
    /// password is looked at.
    pub async fn authenticate(&self, login: &str, password: &str, client: IpAddr) -> Result<Principal> {
        let account = router::resolve(&self.store, login, &self.primary_domain().await?).await?;
        let attempt = throttle::Attempt::new(client, account.as_ref().map(|a| a.id), login);
        if let Some(wait) = self.throttle.wait(&attempt).await {
            return Err(Error::Throttled(wait));
        }
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let ok = match &hash {
            Some(h) if checkable(password) && self.verified.knows(h, password) => true,
            _ => {
                let ok = verify_password(password, hash.clone()).await?;
                if let (true, Some(h)) = (ok, &hash) {
                    self.verified.remember(h, password);
                }
                ok
            }
        };
        match account {
            Some(account) if ok => Ok(Principal::of(&account).from_client(client)),
            _ => {
                self.throttle.failed(&attempt).await;
                Err(Error::AuthFailed)
            }
        }
    }

    /// Moves whenever some account lost authority; a session that sees it
    /// move calls [`Service::recheck`].
    pub fn authority(&self) -> tokio::sync::watch::Receiver<i64> {
        self.feed.authority()
    }

    /// A logged-in principal as its account stands now: `None` when the
    /// account was deleted or its password changed since it logged in
    /// (the session must end); else the principal with its admin right as
    /// it is now (a demoted admin's session is downgraded).
    pub async fn recheck(&self, p: &Principal) -> Result<Option<Principal>> {
        let Some(account) = self.store.account_by_id(p.account_id).await? else {
            return Ok(None);
        };
        let now = Principal {
            via: p.via,
            client: p.client,
            ..Principal::of(&account)
        };
        Ok((now.credential == p.credential && now.address == p.address).then_some(now))
    }

    /// After this process took authority away: its own sessions learn of
    /// it at once, not at the next poll.
    pub(crate) async fn authority_changed(&self) {
        if let Ok(epoch) = self.store.authority_epoch().await {
            self.feed.authority_is(epoch);
        }
    }

    /// Gives back what the node's caches of message bytes hold once
    /// nothing has read them for [`IDLE_CACHE`]: they serve bursts of
    /// downloads, and a quiet server should not keep 32 MB for the next
    /// one. `serve` calls it every few seconds.
    pub fn release_idle_memory(&self) {
        let released = self.store.release_idle_contents(IDLE_CACHE);
        if released > 0 {
            tracing::debug!("released {released} bytes of cached messages nobody read for {IDLE_CACHE:?}");
        }
    }

    /// The domain bare names belong to: the first one created.
    pub async fn primary_domain(&self) -> Result<String> {
        let generation = self.store.directory_generation();
        if let Some(name) = self.directory.primary_domain().get(generation, &()) {
            return Ok(name);
        }
        let domains = self.store.domains().await?;
        let first = domains.iter().min_by_key(|d| d.id);
        let name = first.map_or_else(|| "localhost".to_owned(), |d| d.name.clone());
        self.directory.primary_domain().put(generation, (), name.clone());
        Ok(name)
    }

    /// Resolves an account name as typed after `~` (aliases and routing
    /// rules apply); bare names are in the principal's domain.
    async fn account(&self, p: &Principal, name: &str) -> Result<AccountRow> {
        router::resolve(&self.store, name, &p.domain)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account named {name}")))
    }

    /// Splits a mailbox name into its owning account and path.
    async fn owner_and_path(&self, p: &Principal, name: &str) -> Result<(AccountRow, MailboxPath)> {
        match MailboxName::parse(name).map_err(|e| Error::BadInput(e.to_string()))? {
            MailboxName::Personal(path) if !p.system => {
                let owner = self.store.account_by_id(p.account_id).await?;
                Ok((owner.ok_or(Error::AuthFailed)?, path))
            }
            MailboxName::Personal(_) => Err(Error::BadInput(format!("name the owner: ~account/{name}"))),
            MailboxName::Foreign { account, path } => Ok((self.account(p, &account).await?, path)),
        }
    }

    /// Finds a mailbox the principal may look up, with its rights on it.
    pub(crate) async fn open(&self, p: &Principal, name: &str) -> Result<Opened> {
        let generation = self.store.directory_generation();
        let (owner, path) = self.owner_and_path(p, name).await?;
        let mut mailbox = self
            .store
            .mailbox_by_name(owner.id, path.as_str())
            .await?
            .ok_or_else(|| not_found(name))?;
        let acl = self.store.acl_of(mailbox.id).await?;
        let storage = self.storage_of(&owner, &mailbox).await?;
        let rights = p.rights_on(&owner, &acl);
        if !rights.contains(Right::Lookup) {
            return Err(not_found(name));
        }
        // Another program may have changed the file since we last looked.
        if self.refresh_storage(&storage).await? {
            mailbox = self
                .store
                .mailbox_by_id(mailbox.id)
                .await?
                .ok_or_else(|| not_found(name))?;
        }
        Ok(Opened {
            principal: p.clone(),
            name: display_name(p, &owner, &mailbox.name),
            mailbox,
            owner,
            acl,
            rights,
            storage,
            generation,
        })
    }

    /// Brings a mailbox a session keeps open up to date before it is used
    /// again: resolved afresh (by id, so a rename is followed) when ACLs,
    /// names or routing changed since, and its external file re-read when
    /// another program changed it. Without such changes it costs no query:
    /// this is what lets a selected mailbox's commands skip the lookups.
    pub(crate) async fn current(&self, m: &mut Opened) -> Result<()> {
        let generation = self.store.directory_generation();
        if generation != m.generation {
            let p = m.principal.clone();
            let p = &p;
            let gone = || not_found(&m.name);
            let mailbox = self.store.mailbox_by_id(m.mailbox.id).await?.ok_or_else(gone)?;
            let owner = self.store.account_by_id(mailbox.account_id).await?.ok_or_else(gone)?;
            let acl = self.store.acl_of(mailbox.id).await?;
            let rights = p.rights_on(&owner, &acl);
            if !rights.contains(Right::Lookup) {
                return Err(gone());
            }
            *m = Opened {
                principal: p.clone(),
                name: display_name(p, &owner, &mailbox.name),
                storage: self.storage_of(&owner, &mailbox).await?,
                mailbox,
                owner,
                acl,
                rights,
                generation,
            };
        }
        self.refresh_storage(&m.storage).await?;
        Ok(())
    }
}

impl Service {
    /// One of `owner`'s own mailboxes, as the server opens it to deliver:
    /// every right, no ACL read (delivery into the recipient's own
    /// mailboxes is the server's act). `NotFound` when there is none.
    /// The row and ACL come from the node's [`directory::Directory`]: its
    /// counters (UIDNEXT, counts) may be old, and are not used.
    pub(crate) async fn open_own(&self, owner: &AccountRow, path: &str) -> Result<Opened> {
        let generation = self.store.directory_generation();
        let key = (owner.id, path.to_owned());
        let (mailbox, acl) = match self.directory.mailboxes().get(generation, &key) {
            Some(kept) => kept,
            None => {
                let mailbox = self
                    .store
                    .mailbox_by_name(owner.id, path)
                    .await?
                    .ok_or_else(|| not_found(path))?;
                // Read for the activity trail: it is kept for shared mailboxes.
                let acl = self.store.acl_of(mailbox.id).await?;
                self.directory
                    .mailboxes()
                    .put(generation, key, (mailbox.clone(), acl.clone()));
                (mailbox, acl)
            }
        };
        let storage = self.storage_of(owner, &mailbox).await?;
        Ok(Opened {
            principal: Principal::system(&owner.domain),
            name: mailbox.name.clone(),
            mailbox,
            owner: owner.clone(),
            acl,
            rights: Rights::ALL,
            storage,
            generation,
        })
    }
}

/// How `p` writes a mailbox of `owner`: plain for their own, `~name/…` in
/// their domain, `~name@domain/…` across domains.
fn display_name(p: &Principal, owner: &AccountRow, path: &str) -> String {
    if owner.id == p.account_id {
        path.into()
    } else if owner.domain == p.domain {
        format!("~{}/{path}", owner.name)
    } else {
        format!("~{}/{path}", owner.address())
    }
}

/// The longest password accepted (argon2 would hash anything; this keeps a
/// hostile client from making it hash megabytes).
const MAX_PASSWORD: usize = 1024;

/// Refuses a password that could not be stored.
pub(crate) fn check_password(password: &str) -> Result<()> {
    if !checkable(password) {
        return Err(Error::BadInput(format!(
            "a password must have 1 to {MAX_PASSWORD} bytes"
        )));
    }
    Ok(())
}

/// Hashes a password with argon2id, off the async threads.
pub(crate) async fn hash_password(password: &str) -> Result<String> {
    check_password(password)?;
    let password = password.to_owned();
    on_hasher(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|e| Error::Internal(format!("cannot hash a password: {e}").into()))
}

/// How many threads hash passwords.
const HASHERS: usize = 2;

/// Runs `job` on one of the password-hashing threads. Argon2 allocates
/// 19 MiB per hash: on Tokio's blocking threads (hundreds, each with its
/// own malloc arena) that memory would stay with every thread that ever
/// hashed, hundreds of MiB after a burst of logins; two dedicated threads
/// keep it to two arenas, and a burst of logins queues here instead of
/// taking every core — at most [`limits::HASH_QUEUE`] of them: past that
/// a login is told to come back rather than queued (a flood of logins
/// before anyone is known must not grow a queue without end).
async fn on_hasher<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> std::result::Result<T, Hasher> {
    type Job = Box<dyn FnOnce() + Send>;
    static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static QUEUE: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..HASHERS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("mailroom-hash-{i}"))
                .spawn(move || {
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        match next {
                            Ok(Ok(job)) => job(),
                            _ => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a password-hashing thread: {e}");
            }
        }
        std::sync::Mutex::new(tx)
    });
    use std::sync::atomic::Ordering::SeqCst;
    if WAITING.fetch_add(1, SeqCst) >= crate::limits::HASH_QUEUE {
        WAITING.fetch_sub(1, SeqCst);
        return Err(Hasher::Busy);
    }
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(job());
        WAITING.fetch_sub(1, SeqCst);
    });
    let sent = queue.lock().ok().and_then(|q| q.send(job).ok());
    if sent.is_none() {
        WAITING.fetch_sub(1, SeqCst);
        return Err(Hasher::Gone);
    }
    result.await.map_err(|_| Hasher::Gone)
}

/// Why a password could not be hashed or checked.
#[derive(Debug)]
enum Hasher {
    /// Too many waiting already.
    Busy,
    /// The hashing threads are gone.
    Gone,
}

impl From<Hasher> for Error {
    fn from(h: Hasher) -> Error {
        match h {
            Hasher::Busy => Error::InUse("too many logins at once; try again in a moment".into()),
            Hasher::Gone => {
                tracing::error!("the password-hashing threads are gone");
                Error::Internal("the password-hashing threads are gone".into())
            }
        }
    }
}

/// Whether a password may be one at all (1 to [`MAX_PASSWORD`] bytes):
/// others are never hashed, nor looked up among the verified.
fn checkable(password: &str) -> bool {
    !password.is_empty() && password.len() <= MAX_PASSWORD
}

/// Verifies a password against a stored hash. Without a hash (unknown
/// account, or one nobody logs in to) a dummy is verified, so a probe
/// cannot tell accounts apart by timing.
async fn verify_password(password: &str, hash: Option<String>) -> Result<bool> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if !checkable(password) {
        return Ok(false);
    }
    let known = hash.is_some();
    let password = password.to_owned();
    on_hasher(move || {
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    Argon2::default()
                        .hash_password(b"not a password")
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone()
        });
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
            && known
    })
    .await
    .map_err(Error::from)
}
