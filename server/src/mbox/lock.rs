//! Locking an mbox file the way the other programs sharing it do, so that
//! Mailroom, mutt, procmail and an MTA's local delivery never write it at
//! the same time.
//!
//! Three methods, taken in the configured order: `fcntl` (a POSIX record
//! lock on the whole file — as an open-file-description lock, so two
//! threads of this process exclude each other too and closing another
//! descriptor does not drop it), `flock` (BSD whole-file lock) and
//! `dotlock` (`FILE.lock`, created with the link() trick that works on
//! NFS). Debian's mutt and procmail use `fcntl` and `dotlock`. Each lock
//! is tried without blocking and, when one is busy, the ones already
//! taken are released before trying again after a pause, so programs that
//! take the same locks in another order cannot deadlock with us. The
//! dot-lock is written here: no crate does the link() trick with stale
//! detection that interoperates with liblockfile.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

/// One way of locking an mbox file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMethod {
    Fcntl,
    Flock,
    Dotlock,
}

impl LockMethod {
    pub fn parse(s: &str) -> Option<LockMethod> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fcntl" | "filerange" => Some(LockMethod::Fcntl),
            "flock" | "filelevel" => Some(LockMethod::Flock),
            "dotlock" => Some(LockMethod::Dotlock),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LockMethod::Fcntl => "fcntl",
            LockMethod::Flock => "flock",
            LockMethod::Dotlock => "dotlock",
        }
    }
}

/// What Debian's mutt and procmail use.
pub const DEFAULT_METHODS: [LockMethod; 2] = [LockMethod::Fcntl, LockMethod::Dotlock];

/// Parses a list such as `fcntl,dotlock` (order kept, no repeats).
pub fn parse_methods(s: &str) -> Result<Vec<LockMethod>, String> {
    let mut out = Vec::new();
    for word in s.split([',', ' ']).filter(|w| !w.trim().is_empty()) {
        let method =
            LockMethod::parse(word).ok_or_else(|| format!("unknown lock method {word:?} (fcntl, flock, dotlock)"))?;
        if out.contains(&method) {
            return Err(format!("lock method {word} named twice"));
        }
        out.push(method);
    }
    if out.is_empty() {
        return Err("name at least one lock method".into());
    }
    Ok(out)
}

/// How to lock the mbox files of a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockSettings {
    pub methods: Vec<LockMethod>,
    /// How long to wait for a lock another program holds.
    pub timeout: Duration,
    /// A dot-lock older than this is left over from a crashed program.
    pub stale_after: Duration,
}

impl Default for LockSettings {
    fn default() -> LockSettings {
        LockSettings {
            methods: DEFAULT_METHODS.to_vec(),
            timeout: Duration::from_secs(10),
            stale_after: Duration::from_secs(300),
        }
    }
}

/// Reading takes shared locks and no dot-lock (a dot-lock is always
/// exclusive, and holding one would stall deliveries); writing takes all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Read,
    Write,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path} is locked by another program ({method} lock held for longer than {waited:?})")]
    Busy {
        path: String,
        method: &'static str,
        waited: Duration,
    },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_error(path: &Path, source: io::Error) -> LockError {
    LockError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A held lock on an mbox file; released (in reverse order) when dropped.
/// Blocking: call it from `spawn_blocking`.
#[derive(Debug)]
pub struct MboxLock {
    /// The open file the fcntl and flock locks belong to.
    pub file: File,
    dotlock: Option<PathBuf>,
}

impl MboxLock {
    /// Opens `path` (read-write for [`LockMode::Write`]) and takes the
    /// configured locks, waiting up to the settings' timeout.
    pub fn acquire(path: &Path, settings: &LockSettings, mode: LockMode) -> Result<MboxLock, LockError> {
        // Never through a symbolic link: whoever may write the directory
        // could point it at any file the server may write.
        let file = OpenOptions::new()
            .read(true)
            .write(mode == LockMode::Write)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(path)
            .map_err(|e| io_error(path, e))?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match try_all(path, &file, settings, mode)? {
                Ok(dotlock) => return Ok(MboxLock { file, dotlock }),
                Err(method) if started.elapsed() >= settings.timeout => {
                    return Err(LockError::Busy {
                        path: path.display().to_string(),
                        method: method.as_str(),
                        waited: settings.timeout,
                    });
                }
                Err(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(25));
                }
            }
        }
    }
}

impl Drop for MboxLock {
    fn drop(&mut self) {
        if let Some(dotlock) = self.dotlock.take() {
            let _ = fs::remove_file(dotlock);
        }
        // The fcntl and flock locks go with the file's descriptor.
    }
}

/// Tries every method once. `Ok(Err(method))`: `method` is busy, and
/// whatever had been taken was released again.
fn try_all(
    path: &Path,
    file: &File,
    settings: &LockSettings,
    mode: LockMode,
) -> Result<Result<Option<PathBuf>, LockMethod>, LockError> {
    let mut dotlock = None;
    for &method in &settings.methods {
        let taken = match method {
            LockMethod::Fcntl => try_fcntl(file, mode).map_err(|e| io_error(path, e))?,
            LockMethod::Flock => try_flock(file, mode).map_err(|e| io_error(path, e))?,
            LockMethod::Dotlock if mode == LockMode::Read => true,
            LockMethod::Dotlock => match try_dotlock(path, settings.stale_after)? {
                Some(lock) => {
                    dotlock = Some(lock);
                    true
                }
                None => false,
            },
        };
        if !taken {
            release(file, dotlock.take());
            return Ok(Err(method));
        }
    }
    Ok(Ok(dotlock))
}

fn release(file: &File, dotlock: Option<PathBuf>) {
    let _ = set_fcntl(file, libc::F_UNLCK as libc::c_short);
    let _ = file.unlock();
    if let Some(dotlock) = dotlock {
        let _ = fs::remove_file(dotlock);
    }
}

fn set_fcntl(file: &File, kind: libc::c_short) -> nix::Result<libc::c_int> {
    let lock = libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0, // to the end of the file, however long it grows
        l_pid: 0, // must be 0 for open-file-description locks
    };
    fcntl(file, FcntlArg::F_OFD_SETLK(&lock))
}

/// An open-file-description fcntl lock on the whole file.
fn try_fcntl(file: &File, mode: LockMode) -> io::Result<bool> {
    let kind = match mode {
        LockMode::Read => libc::F_RDLCK,
        LockMode::Write => libc::F_WRLCK,
    };
    match set_fcntl(file, kind as libc::c_short) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(io::Error::from(e)),
    }
}

fn try_flock(file: &File, mode: LockMode) -> io::Result<bool> {
    let result = match mode {
        LockMode::Read => file.try_lock_shared(),
        LockMode::Write => file.try_lock(),
    };
    match result {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The dot-lock of `path`: `path.lock`.
pub fn dotlock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Creates `path.lock` with the link() trick: write a uniquely named file
/// beside it, hard-link it to the lock name, and own the lock if the link
/// worked (or the unique file now has two links — NFS may report a failed
/// link that happened). A stale lock is removed and the attempt repeated
/// on the next round. `None`: someone else holds it.
fn try_dotlock(path: &Path, stale_after: Duration) -> Result<Option<PathBuf>, LockError> {
    let lock = dotlock_path(path);
    let unique = {
        let mut name = lock.as_os_str().to_owned();
        name.push(format!(".{}.{}", std::process::id(), rand::random::<u32>()));
        PathBuf::from(name)
    };
    let mut temp = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&unique)
        .map_err(|e| io_error(&unique, e))?;
    // liblockfile writes the holder's pid, which lets others see a
    // crashed holder; so do we.
    let _ = writeln!(temp, "{}", std::process::id());
    drop(temp);
    let linked = fs::hard_link(&unique, &lock).is_ok() || fs::metadata(&unique).is_ok_and(|m| m.nlink() == 2);
    let _ = fs::remove_file(&unique);
    if linked {
        return Ok(Some(lock));
    }
    if is_stale(&lock, stale_after) {
        tracing::warn!("removing the stale dot-lock {}", lock.display());
        let _ = fs::remove_file(&lock);
    }
    Ok(None)
}

/// A dot-lock is stale when it is older than `stale_after`, or names a
/// process of this machine that no longer runs.
fn is_stale(lock: &Path, stale_after: Duration) -> bool {
    let Ok(meta) = fs::metadata(lock) else {
        return false;
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if age > stale_after {
        return true;
    }
    let pid = fs::read_to_string(lock)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|&pid| pid > 0);
    pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(methods: &[LockMethod], timeout_ms: u64) -> LockSettings {
        LockSettings {
            methods: methods.to_vec(),
            timeout: Duration::from_millis(timeout_ms),
            stale_after: Duration::from_secs(300),
        }
    }

    fn mbox() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice");
        fs::write(&path, b"").unwrap();
        (dir, path)
    }

    #[test]
    fn methods_parse_in_order() {
        assert_eq!(parse_methods("fcntl,dotlock").unwrap(), DEFAULT_METHODS);
        assert_eq!(
            parse_methods("dotlock flock").unwrap(),
            [LockMethod::Dotlock, LockMethod::Flock]
        );
        assert!(parse_methods("fcntl,fcntl").is_err());
        assert!(parse_methods("lockf").is_err());
        assert!(parse_methods("").is_err());
    }

    #[test]
    fn writers_exclude_each_other_and_readers_share() {
        let (_dir, path) = mbox();
        for method in [LockMethod::Fcntl, LockMethod::Flock, LockMethod::Dotlock] {
            let s = settings(&[method], 50);
            let held = MboxLock::acquire(&path, &s, LockMode::Write).unwrap();
            let busy = MboxLock::acquire(&path, &s, LockMode::Write).unwrap_err();
            assert!(
                matches!(busy, LockError::Busy { method: m, .. } if m == method.as_str()),
                "{busy}"
            );
            drop(held);
            MboxLock::acquire(&path, &s, LockMode::Write).expect("released on drop");
        }
        let s = settings(&[LockMethod::Fcntl, LockMethod::Flock], 50);
        let a = MboxLock::acquire(&path, &s, LockMode::Read).unwrap();
        let b = MboxLock::acquire(&path, &s, LockMode::Read).expect("readers share");
        assert!(MboxLock::acquire(&path, &s, LockMode::Write).is_err());
        drop((a, b));
        MboxLock::acquire(&path, &s, LockMode::Write).unwrap();
    }

    #[test]
    fn a_busy_second_lock_releases_the_first() {
        let (_dir, path) = mbox();
        let dot = settings(&[LockMethod::Dotlock], 50);
        let held = MboxLock::acquire(&path, &dot, LockMode::Write).unwrap();
        let both = settings(&[LockMethod::Fcntl, LockMethod::Dotlock], 50);
        assert!(MboxLock::acquire(&path, &both, LockMode::Write).is_err());
        // The fcntl lock taken before the dot-lock failed is free again.
        let fcntl_only = settings(&[LockMethod::Fcntl], 0);
        MboxLock::acquire(&path, &fcntl_only, LockMode::Write).expect("fcntl lock leaked");
        drop(held);
        assert!(!dotlock_path(&path).exists());
    }

    #[test]
    fn stale_dotlocks_are_taken_over() {
        let (_dir, path) = mbox();
        // A pid that cannot be running (above the kernel's maximum).
        fs::write(dotlock_path(&path), b"4999999\n").unwrap();
        let s = settings(&[LockMethod::Dotlock], 2000);
        MboxLock::acquire(&path, &s, LockMode::Write).expect("stale lock not taken over");
        // A fresh lock of a running process is respected.
        fs::write(dotlock_path(&path), format!("{}\n", std::process::id())).unwrap();
        assert!(MboxLock::acquire(&path, &settings(&[LockMethod::Dotlock], 50), LockMode::Write).is_err());
        let old = LockSettings {
            stale_after: Duration::ZERO,
            ..settings(&[LockMethod::Dotlock], 2000)
        };
        std::thread::sleep(Duration::from_millis(20));
        MboxLock::acquire(&path, &old, LockMode::Write).expect("an old lock is stale");
    }
}
