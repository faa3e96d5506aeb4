//! INBOXes kept outside Mailroom, as mbox files that legacy programs —
//! mail, mutt, procmail, an MTA's local delivery — read and change too.
//!
//! The file is the truth; the store holds an index of it (UIDs, flags,
//! MODSEQs, the content under its hash) so that everything above the
//! store — IMAP, POP3, the web, ACLs, the change feed — works unchanged.
//! UIDs are keyed on the content's hash (without the status headers, so a
//! program that only rewrites flags keeps them) and, for identical
//! copies, on their order: a rewrite by another program cannot mix them up.
//!
//! Reading (every `open` of the mailbox, and a watcher for sessions that
//! wait) re-reads the file under the configured read locks when its size,
//! modification time or inode changed, and publishes what another program
//! did as changes. Writing takes the write locks, catches up with the file
//! first, then: new messages are appended to the file and indexed from it;
//! flag changes and expunges are applied to the index and written back
//! into the file in place (never by rename: a program waiting for our lock
//! on the old file would then append to a file nobody reads).

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailroom_shared::{FlagOp, FlagPermissions, Flags};

use super::Service;
use crate::error::{Error, Result};
use crate::limits;
use crate::mbox::lock::{LockError, LockMode, LockSettings, MboxLock, parse_methods};
use crate::mbox::shared_file::{self, Entry};
use crate::service::store::{AccountRow, Content, DomainRow, MailboxRow, NewMessage, content_hash, now};
use crate::service::types::ChangedFlags;

/// How often every file is checked for other programs' changes besides
/// what inotify reports (it reports nothing on some network file systems).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of a file: a program that changed it
/// changed one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    inode: (u64, u64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            inode: (meta.dev(), meta.ino()),
        }
    }
}

/// One external INBOX: its file, its locks, and the file version the
/// index was last brought in line with. The async mutex makes one task at
/// a time compare and update the index (the file locks keep out other
/// programs and other nodes).
pub(crate) struct Mirror {
    mailbox_id: i64,
    path: PathBuf,
    settings: LockSettings,
    /// Who must own the file.
    owner: u32,
    synced: tokio::sync::Mutex<Option<Stamp>>,
}

/// The external INBOXes this process has met, by mailbox id.
#[derive(Default)]
pub(crate) struct Mirrors {
    by_mailbox: Mutex<HashMap<i64, Arc<Mirror>>>,
    /// Told when a mirror is added, so the watcher watches its directory.
    added: tokio::sync::Notify,
}

/// Who must own an account's INBOX file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// The system user of the account's name when there is one, else the
/// server itself: a file of anyone else is not this account's INBOX.
pub(crate) fn expected_owner(account: &str) -> Owner {
    match nix::unistd::User::from_name(account) {
        Ok(Some(user)) => Owner {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        },
        _ => Owner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        },
    }
}

/// Refuses what must not be taken for an INBOX file: anything but a
/// plain file (a symbolic link to `/etc/passwd`), a file of another
/// owner, a second name of another file (a hard link), or a file larger
/// than Mailroom reads ([`limits::EXTERNAL_INBOX_SIZE`]).
pub(crate) fn check_inbox_file(meta: &Metadata, owner: u32) -> std::result::Result<(), String> {
    if !meta.file_type().is_file() {
        return Err("it is not a plain file (a symbolic link, a directory or a device)".into());
    }
    if meta.uid() != owner {
        return Err(format!("it belongs to user id {}, not {owner}", meta.uid()));
    }
    if meta.nlink() != 1 {
        return Err("it has other names (hard links)".into());
    }
    if meta.len() > limits::EXTERNAL_INBOX_SIZE {
        return Err(format!(
            "it holds {} bytes, more than the {} an INBOX file may",
            meta.len(),
            limits::EXTERNAL_INBOX_SIZE
        ));
    }
    Ok(())
}

/// The file of `account`'s INBOX in a domain whose INBOXes are external:
/// the template with `{user}` (and `{domain}`) filled in.
pub fn inbox_path(template: &str, account: &str, domain: &str) -> PathBuf {
    PathBuf::from(template.replace("{user}", account).replace("{domain}", domain))
}

/// The lock settings a domain asks for.
pub fn lock_settings(domain: &DomainRow) -> LockSettings {
    let mut settings = LockSettings::default();
    if let Some(methods) = domain.lock_methods.as_deref().and_then(|m| parse_methods(m).ok()) {
        settings.methods = methods;
    }
    if let Some(seconds) = domain.lock_timeout.filter(|s| *s >= 0) {
        settings.timeout = Duration::from_secs(seconds as u64);
    }
    settings
}

fn lock_error(e: LockError) -> Error {
    match e {
        LockError::Busy { .. } => Error::InUse(format!("{e}; try again shortly")),
        LockError::Io { ref source, .. } if source.raw_os_error() == Some(nix::libc::ELOOP) => {
            tracing::error!("external INBOX: refused: {e}");
            Error::InUse("the mailbox file is not usable: it is a symbolic link".into())
        }
        LockError::Io { .. } => {
            tracing::error!("external INBOX: {e}");
            Error::InUse("the mailbox file cannot be opened right now; try again later".into())
        }
    }
}

/// Takes the locks (blocking, so off the async threads), and checks
/// the file opened is one to use ([`check_inbox_file`]).
async fn lock(mirror: &Mirror, mode: LockMode) -> Result<MboxLock> {
    let (path, settings, owner) = (mirror.path.clone(), mirror.settings.clone(), mirror.owner);
    let lock = tokio::task::spawn_blocking(move || MboxLock::acquire(&path, &settings, mode))
        .await
        .map_err(|e| Error::InUse(format!("locking failed: {e}")))?
        .map_err(lock_error)?;
    let meta = lock
        .file
        .metadata()
        .map_err(|e| Error::InUse(format!("the mailbox file cannot be read: {e}")))?;
    if let Err(why) = check_inbox_file(&meta, owner) {
        tracing::error!("external INBOX {}: refused: {why}", mirror.path.display());
        return Err(Error::InUse(format!("the mailbox file is not usable: {why}")));
    }
    Ok(lock)
}

/// The whole file and its version, read through the locked descriptor.
/// The size is checked again here, and the read bounded: a file may grow
/// between the lock's check and the read (another program writing, or
/// someone making it huge), and nothing past the limit is read.
async fn read_locked(lock: MboxLock) -> Result<(MboxLock, Vec<u8>, Stamp)> {
    tokio::task::spawn_blocking(move || {
        let mut lock = lock;
        let meta = lock.file.metadata()?;
        let too_big = |len: u64| {
            std::io::Error::other(format!(
                "it holds {len} bytes, more than the {} an INBOX file may",
                limits::EXTERNAL_INBOX_SIZE
            ))
        };
        if meta.len() > limits::EXTERNAL_INBOX_SIZE {
            return Err(too_big(meta.len()));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        lock.file.seek(SeekFrom::Start(0))?;
        (&lock.file)
            .take(limits::EXTERNAL_INBOX_SIZE + 1)
            .read_to_end(&mut data)?;
        if data.len() as u64 > limits::EXTERNAL_INBOX_SIZE {
            return Err(too_big(data.len() as u64));
        }
        Ok::<_, std::io::Error>((lock, data, Stamp::of(&meta)))
    })
    .await
    .map_err(|e| Error::InUse(format!("reading failed: {e}")))?
    .map_err(|e| Error::InUse(format!("the mailbox file cannot be read: {e}")))
}

/// Writes through the locked descriptor: `Append(bytes)` at the end, or
/// `Replace(bytes)` in place. Returns the file's new version.
enum FileWrite {
    Append(Vec<u8>),
    Replace(Vec<u8>),
}

async fn write_locked(lock: MboxLock, write: FileWrite) -> Result<(MboxLock, Stamp)> {
    tokio::task::spawn_blocking(move || {
        let mut lock = lock;
        match write {
            FileWrite::Append(bytes) => {
                lock.file.seek(SeekFrom::End(0))?;
                lock.file.write_all(&bytes)?;
            }
            FileWrite::Replace(bytes) => {
                lock.file.seek(SeekFrom::Start(0))?;
                lock.file.write_all(&bytes)?;
                lock.file.set_len(bytes.len() as u64)?;
            }
        }
        lock.file.sync_all()?;
        let stamp = Stamp::of(&lock.file.metadata()?);
        Ok::<_, std::io::Error>((lock, stamp))
    })
    .await
    .map_err(|e| Error::InUse(format!("writing failed: {e}")))?
    .map_err(|e| {
        tracing::error!("external INBOX write: {e}");
        Error::InUse(format!("the mailbox file cannot be written: {e}"))
    })
}

/// What a flag change or expunge does to the index, under the file lock.
pub(crate) enum IndexChange<'a> {
    Flags {
        uids: &'a [u32],
        op: FlagOp,
        flags: &'a Flags,
        may: FlagPermissions,
    },
    Expunge {
        uids: Option<&'a [u32]>,
    },
}

/// The result of an [`IndexChange`]: changed flags, or expunged UIDs.
pub(crate) enum IndexChanged {
    Flags(Vec<ChangedFlags>),
    Expunged(Vec<u32>),
}

impl Service {
    /// The mirror of `mailbox` when it is an INBOX its owner's domain keeps
    /// outside Mailroom.
    pub(crate) async fn mirror_of(&self, owner: &AccountRow, mailbox: &MailboxRow) -> Result<Option<Arc<Mirror>>> {
        // The public account's INBOX is the domain's, in the store: it
        // has no system user and no file.
        if mailbox.name != "INBOX" || owner.name == super::admin::PUBLIC_ACCOUNT || !owner.external_inbox {
            return Ok(None);
        }
        if let Some(m) = self.mirrors.by_mailbox.lock().expect("mirrors").get(&mailbox.id) {
            return Ok(Some(m.clone()));
        }
        let Some(domain) = self.store.domain_by_name_or_alias(&owner.domain).await? else {
            return Ok(None);
        };
        let Some(template) = domain.external_inbox.as_deref() else {
            return Ok(None);
        };
        let mirror = Arc::new(Mirror {
            mailbox_id: mailbox.id,
            path: inbox_path(template, &owner.name, &domain.name),
            settings: lock_settings(&domain),
            owner: expected_owner(&owner.name).uid,
            synced: tokio::sync::Mutex::new(None),
        });
        let mirror = {
            let mut all = self.mirrors.by_mailbox.lock().expect("mirrors");
            all.entry(mailbox.id).or_insert(mirror).clone()
        };
        self.mirrors.added.notify_one();
        Ok(Some(mirror))
    }

    /// Brings the index in line with the file if the file changed since
    /// the last time; returns whether anything changed.
    pub(crate) async fn refresh_mirror(&self, mirror: &Mirror) -> Result<bool> {
        let mut synced = mirror.synced.lock().await;
        let current = tokio::fs::metadata(&mirror.path).await.ok().map(|m| Stamp::of(&m));
        if current.is_some() && current == *synced {
            return Ok(false);
        }
        let (lock, data, stamp) = read_locked(lock(mirror, LockMode::Read).await?).await?;
        drop(lock);
        let (_, changed) = self.index_file(mirror.mailbox_id, &data).await?;
        *synced = Some(stamp);
        if changed {
            self.feed.wake();
        }
        Ok(changed)
    }

    /// Compares the file's messages with the index and updates the index:
    /// new messages get UIDs (in file order), vanished ones are expunged,
    /// changed flags are taken. Returns each entry with its UID, and
    /// whether anything changed.
    async fn index_file(&self, mailbox_id: i64, data: &[u8]) -> Result<(Vec<(Entry, u32)>, bool)> {
        let entries = shared_file::parse(data);
        let rows = self.store.messages(mailbox_id, None).await?;
        // The index's messages by content hash, each hash's in UID order.
        let mut by_hash: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            by_hash.entry(row.blob_hash.as_str()).or_default().push_back(i);
        }
        let mut matched = vec![None; entries.len()];
        let mut kept = vec![false; rows.len()];
        let mut flags = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            let hash = content_hash(&entry.content);
            if let Some(i) = by_hash.get_mut(hash.as_str()).and_then(|q| q.pop_front()) {
                matched[e] = Some(rows[i].uid);
                kept[i] = true;
                if rows[i].flags != entry.flags {
                    flags.push((rows[i].uid, entry.flags.clone()));
                }
            }
        }
        let gone: Vec<u32> = rows
            .iter()
            .zip(&kept)
            .filter(|(_, k)| !**k)
            .map(|(r, _)| r.uid)
            .collect();
        let new: Vec<NewMessage> = entries
            .iter()
            .zip(&matched)
            .filter(|(_, m)| m.is_none())
            .map(|(entry, _)| NewMessage {
                content: Content::New(entry.content.clone()),
                flags: entry.flags.clone(),
                internal_date: entry.date.unwrap_or_else(now),
                envelope_from: Some(entry.sender.clone()).filter(|s| !s.is_empty()),
            })
            .collect();
        let changed = !(gone.is_empty() && flags.is_empty() && new.is_empty());
        let mut new_uids = if changed {
            self.store
                .sync_mirror(mailbox_id, &gone, &flags, new)
                .await?
                .into_iter()
        } else {
            Vec::new().into_iter()
        };
        let paired = entries
            .into_iter()
            .zip(matched)
            .map(|(entry, uid)| {
                let uid = uid.or_else(|| new_uids.next()).unwrap_or_default();
                (entry, uid)
            })
            .collect();
        Ok((paired, changed))
    }

    /// Adds messages to an external INBOX: appended to the file under the
    /// write locks, then indexed from it. Returns their UIDs.
    pub(crate) async fn insert_into_mirror(&self, mirror: &Mirror, messages: Vec<NewMessage>) -> Result<Vec<u32>> {
        let mut synced = mirror.synced.lock().await;
        let (lock, data, _) = read_locked(lock(mirror, LockMode::Write).await?).await?;
        self.index_file(mirror.mailbox_id, &data).await?;
        let mut tail = shared_file::separator_before_append(&data).to_vec();
        for message in messages {
            let content = match message.content {
                Content::New(bytes) => bytes,
                Content::Stored { hash, .. } => self
                    .store
                    .content(&hash)
                    .await?
                    .ok_or_else(|| Error::NotFound("the message to copy is gone".into()))?,
            };
            let sender = message.envelope_from.as_deref().unwrap_or("MAILER-DAEMON");
            tail.extend(shared_file::new_entry(
                sender,
                message.internal_date,
                &content,
                &message.flags,
            ));
        }
        let old_len = data.len();
        let mut whole = data;
        whole.extend_from_slice(&tail);
        let (lock, stamp) = write_locked(lock, FileWrite::Append(tail)).await?;
        let (paired, _) = self.index_file(mirror.mailbox_id, &whole).await?;
        drop(lock);
        *synced = Some(stamp);
        self.feed.wake();
        Ok(paired
            .into_iter()
            .filter(|(entry, _)| entry.start >= old_len)
            .map(|(_, uid)| uid)
            .collect())
    }

    /// Changes flags or expunges in an external INBOX: under the write
    /// locks, the index catches up with the file, takes the change, and
    /// the file is rewritten to match.
    pub(crate) async fn change_mirror(&self, mirror: &Mirror, change: IndexChange<'_>) -> Result<IndexChanged> {
        let mut synced = mirror.synced.lock().await;
        let (lock, data, stamp) = read_locked(lock(mirror, LockMode::Write).await?).await?;
        let (paired, _) = self.index_file(mirror.mailbox_id, &data).await?;
        let id = mirror.mailbox_id;
        let result = match change {
            IndexChange::Flags { uids, op, flags, may } => {
                let changed = self.store.update_flags(id, uids, op, flags, may, None).await?;
                IndexChanged::Flags(changed)
            }
            IndexChange::Expunge { uids } => IndexChanged::Expunged(self.store.expunge(id, uids).await?.0),
        };
        let rows: HashMap<u32, Flags> = self
            .store
            .messages(id, None)
            .await?
            .into_iter()
            .map(|r| (r.uid, r.flags))
            .collect();
        let mut out = Vec::with_capacity(data.len());
        out.extend_from_slice(&data[..paired.first().map_or(data.len(), |(e, _)| e.start)]);
        for (entry, uid) in &paired {
            match rows.get(uid) {
                None => {}
                Some(flags) if *flags != entry.flags => out.extend(shared_file::with_flags(&data, entry, flags)),
                Some(_) => out.extend_from_slice(&data[entry.start..entry.end]),
            }
        }
        let (lock, stamp) = if out == data {
            (lock, stamp)
        } else {
            write_locked(lock, FileWrite::Replace(out)).await?
        };
        drop(lock);
        *synced = Some(stamp);
        self.feed.wake();
        Ok(result)
    }

    /// Drops what is known of external INBOXes (a domain's settings
    /// changed): they are looked up again when next opened.
    pub(crate) fn forget_mirrors(&self) {
        self.mirrors.by_mailbox.lock().expect("mirrors").clear();
    }

    /// Watches the external INBOXes met so far for other programs'
    /// changes, so waiting sessions hear of them: inotify on their
    /// directories (a file replaced by rename is seen too) reports them at
    /// once, and every file is checked each [`WATCH_INTERVAL`] as well;
    /// until `stopped`.
    pub async fn watch_mirrors(&self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        use notify::Watcher;
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let mut inotify = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            for path in event.map(|e| e.paths).unwrap_or_default() {
                let _ = tx.send(path);
            }
        })
        .map_err(|e| tracing::warn!("no inotify for external INBOXes ({e}): checking them every second"))
        .ok();
        let mut watched = std::collections::HashSet::new();
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        loop {
            let changed: Option<PathBuf> = tokio::select! {
                _ = stopped.changed() => return,
                _ = tick.tick() => None,
                () = self.mirrors.added.notified() => None,
                Some(path) = events.recv() => Some(path),
            };
            let mirrors: Vec<Arc<Mirror>> = self
                .mirrors
                .by_mailbox
                .lock()
                .expect("mirrors")
                .values()
                .cloned()
                .collect();
            for mirror in mirrors {
                if let (Some(inotify), Some(dir)) = (inotify.as_mut(), mirror.path.parent())
                    && watched.insert(dir.to_path_buf())
                    && let Err(e) = inotify.watch(dir, notify::RecursiveMode::NonRecursive)
                {
                    tracing::warn!("cannot watch {}: {e}", dir.display());
                }
                if changed.as_ref().is_some_and(|p| *p != mirror.path) {
                    continue;
                }
                if let Err(e) = self.refresh_mirror(&mirror).await {
                    tracing::debug!("external INBOX {}: {e}", mirror.path.display());
                }
            }
        }
    }
}
