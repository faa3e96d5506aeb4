//! Locks on mbox files against the real programs that share them:
//! liblockfile's `dotlockfile` (what mutt and procmail's dot-locks look
//! like) and a POSIX `fcntl` lock held by another process (what mutt and
//! procmail take). `scripts/install-legacy-mailers` installs them; outside
//! CI a machine without them skips these tests with a message.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailroom::mbox::lock::{LockError, LockMethod, LockMode, LockSettings, MboxLock, dotlock_path};
use mailroom_tests::have_program;

fn settings(timeout_ms: u64) -> LockSettings {
    LockSettings {
        timeout: Duration::from_millis(timeout_ms),
        ..LockSettings::default()
    }
}

fn dotlockfile(args: &[&str], lock: &Path) -> bool {
    Command::new("dotlockfile")
        .args(args)
        .arg(lock)
        .status()
        .expect("run dotlockfile")
        .success()
}

#[test]
fn a_dotlockfile_lock_makes_mailroom_wait_then_fail_and_ours_makes_it_wait() {
    if !have_program("dotlockfile") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("alice");
    fs::write(&mbox, b"").unwrap();
    let lock = dotlock_path(&mbox);

    assert!(dotlockfile(&["-l"], &lock));
    let started = Instant::now();
    let err = MboxLock::acquire(&mbox, &settings(300), LockMode::Write).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300), "did not wait");
    assert!(matches!(err, LockError::Busy { method: "dotlock", .. }), "{err}");
    // Readers do not take the dot-lock: a delivery holding it does not
    // stop mail being read.
    MboxLock::acquire(&mbox, &settings(300), LockMode::Read).expect("read blocked by a dot-lock");
    assert!(dotlockfile(&["-u"], &lock));
    let held = MboxLock::acquire(&mbox, &settings(300), LockMode::Write).expect("lock after release");

    // Ours is respected by liblockfile: one quick retry fails.
    assert!(!dotlockfile(&["-l", "-r", "0"], &lock), "dotlockfile ignored our lock");
    drop(held);
    assert!(!lock.exists(), "our dot-lock was left behind");
    assert!(dotlockfile(&["-l", "-r", "0"], &lock));
    assert!(dotlockfile(&["-u"], &lock));
}

/// A process holding a POSIX fcntl write lock on `path` (Python's
/// `fcntl.lockf`, the classic kind mutt and procmail take) until it is
/// told to let go.
fn fcntl_holder(path: &Path) -> Child {
    let script = "import fcntl, sys\n\
                  f = open(sys.argv[1], 'r+')\n\
                  fcntl.lockf(f, fcntl.LOCK_EX)\n\
                  print('locked', flush=True)\n\
                  sys.stdin.read()\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn another_process_fcntl_lock_excludes_us_and_only_that_mailbox() {
    if !have_program("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    let bob = dir.path().join("bob");
    fs::write(&alice, b"").unwrap();
    fs::write(&bob, b"").unwrap();
    let mut holder = fcntl_holder(&alice);

    let fcntl_only = LockSettings {
        methods: vec![LockMethod::Fcntl],
        ..settings(300)
    };
    for mode in [LockMode::Write, LockMode::Read] {
        let err = MboxLock::acquire(&alice, &fcntl_only, mode).unwrap_err();
        assert!(matches!(err, LockError::Busy { method: "fcntl", .. }), "{err}");
    }
    // With the default methods the failed fcntl attempt leaves no
    // dot-lock behind, and other mailboxes are not held up.
    assert!(MboxLock::acquire(&alice, &settings(200), LockMode::Write).is_err());
    assert!(!dotlock_path(&alice).exists());
    MboxLock::acquire(&bob, &settings(200), LockMode::Write).expect("an unrelated mailbox was blocked");

    holder.stdin.take().unwrap().write_all(b"").unwrap();
    holder.wait().unwrap();
    MboxLock::acquire(&alice, &settings(300), LockMode::Write).expect("lock after the holder left");
}
