//! INBOXes kept as mbox files shared with legacy programs, through the
//! real server: procmail appending while an IMAP session idles, flags set
//! over IMAP written as `Status:`/`X-Status:`, expunges rewriting the file
//! and leaving every other byte alone, a held dot-lock answered with
//! `NO [INUSE]` / `-ERR [IN-USE]` without blocking other mailboxes, and the
//! file's life with its account — on SQLite and PostgreSQL.
//! `scripts/install-legacy-mailers` installs procmail and dotlockfile.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mailroom::service::ExternalInbox;
use mailroom_tests::net::{Pop, Server};
use mailroom_tests::{Backend, World, have_program, legacy_program, server_test};

/// Makes example.com keep its INBOXes in `dir/{user}` (the accounts
/// made so far move into their files). The server waits
/// as long as a test waits for a lock the other side holds: on a busy
/// machine a legacy program (or the server's own re-reading of the file)
/// can hold it for seconds, and that must not fail a write.
async fn external(server: &Server, dir: &Path) {
    external_waiting(server, dir, mailroom_tests::PATIENCE.as_secs()).await;
}

async fn external_waiting(server: &Server, dir: &Path, lock_timeout: u64) {
    let settings = ExternalInbox {
        template: format!("{}/{{user}}", dir.display()),
        locks: None,
        lock_timeout: Some(lock_timeout),
    };
    server
        .service()
        .set_external_inbox(&server.world.admin, "example.com", Some(&settings))
        .await
        .expect("external INBOXes");
}

/// procmail delivering one message into `mbox` under its own locks (a
/// dot-lock and fcntl, as Debian's procmail does), with a home directory
/// of its own beside the file and its log shown if it fails.
fn procmail(mbox: &Path, subject: &str, body: &str) {
    let home = mbox.with_extension("procmail-home");
    std::fs::create_dir_all(&home).unwrap();
    let rc = home.join("procmailrc");
    let log = home.join("log");
    // procmail waits 8 s between tries of a busy lock unless told less.
    std::fs::write(
        &rc,
        format!(
            "MAILDIR={home}\nLOGFILE={log}\nLOCKSLEEP=1\n:0:\n{mbox}\n",
            home = home.display(),
            log = log.display(),
            mbox = mbox.display()
        ),
    )
    .unwrap();
    let mut child = legacy_program("procmail", &home)
        .args(["-f", "sender@example.org", "-m"])
        .arg(&rc)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("procmail");
    use std::io::Write;
    let message = format!("From: Sender <sender@example.org>\nSubject: {subject}\n\n{body}\n");
    child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
    // Waiting must not hold up the server's tasks on this worker thread.
    let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    assert!(
        out.status.success(),
        "procmail failed ({}): {}\nits log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn file(path: &Path) -> String {
    String::from_utf8(std::fs::read(path).unwrap()).unwrap()
}

server_test!(
    procmail_appends_reach_idle_and_imap_flags_reach_the_file,
    |server: Server| async move {
        if !have_program("procmail") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        server.user("alice").await;
        external(&server, dir.path()).await;
        let mbox: PathBuf = dir.path().join("alice");
        assert!(mbox.exists(), "creating the account did not create its INBOX file");

        procmail(&mbox, "First", "one");
        let mut imap = server.login("alice").await;
        let select = imap.ok("SELECT INBOX").await;
        assert!(select.iter().any(|l| l == "* 1 EXISTS"), "{select:?}");

        imap.send_raw(b"i IDLE\r\n").await;
        assert!(imap.line().await.unwrap().starts_with('+'));
        procmail(&mbox, "Second", "two\nFrom the body");
        let delivered = std::time::Instant::now();
        assert_eq!(imap.line().await.unwrap(), "* 2 EXISTS");
        eprintln!("IDLE heard of procmail's delivery after {:?}", delivered.elapsed());
        imap.send_raw(b"DONE\r\n").await;
        let (_, done) = imap.until_tagged("i").await;
        assert!(done.starts_with("OK"), "{done}");

        let body = imap.ok("UID FETCH 2 BODY.PEEK[TEXT]").await.join("\n");
        assert!(
            body.contains("two\r\nFrom the body"),
            "the From line was not unquoted: {body}"
        );

        // Flags set over IMAP are the file's Status and X-Status headers.
        imap.ok("UID STORE 1 +FLAGS (\\Seen \\Flagged)").await;
        let text = file(&mbox);
        assert!(text.contains("Subject: First\nStatus: RO\nX-Status: F\n"), "{text}");
        assert!(text.contains(">From the body"), "the quoting changed: {text}");

        // An expunge rewrites the file without the message, the rest byte
        // for byte.
        let second_start = text.rfind("\nFrom sender@example.org").unwrap() + 1;
        let second = text[second_start..].to_owned();
        imap.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
        imap.ok("EXPUNGE").await;
        assert_eq!(file(&mbox), second, "the remaining message changed");

        // Mail delivered by Mailroom lands in the file too.
        server
            .service()
            .deliver(
                "alice",
                b"Subject: Third\r\n\r\nthree\r\n".to_vec(),
                Some("x@example.net"),
            )
            .await
            .unwrap();
        let text = file(&mbox);
        assert!(text.contains("\n\nFrom x@example.net "), "{text}");
        assert!(text.ends_with("Subject: Third\nStatus: O\n\nthree\n\n"), "{text}");
        let status = imap.ok("STATUS INBOX (MESSAGES)").await;
        assert!(status.iter().any(|l| l.contains("MESSAGES 2")), "{status:?}");

        // Deleting the account leaves the file.
        server
            .service()
            .delete_account(&server.world.admin, "alice")
            .await
            .unwrap();
        assert!(mbox.exists(), "deleting the account deleted the INBOX file");
    }
);

server_test!(
    a_held_lock_is_answered_in_use_and_blocks_nothing_else,
    |server: Server| async move {
        if !have_program("dotlockfile") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // A short lock timeout, so the held lock is answered quickly.
        server.user("alice").await;
        server.user("bob").await;
        external_waiting(&server, dir.path(), 1).await;
        let mbox = dir.path().join("alice");
        let mut imap = server.login("alice").await;
        imap.ok("SELECT INBOX").await;
        imap.ok("APPEND INBOX {12+}\r\nSubject: a\r\n").await;

        let lock = dir.path().join("alice.lock");
        assert!(
            Command::new("dotlockfile")
                .arg("-l")
                .arg(&lock)
                .status()
                .unwrap()
                .success()
        );
        let refused = imap.fails("APPEND INBOX {12+}\r\nSubject: b\r\n", "NO").await;
        assert!(refused.contains("[INUSE]"), "{refused}");
        let refused = imap.fails("UID STORE 1 +FLAGS (\\Flagged)", "NO").await;
        assert!(refused.contains("[INUSE]"), "{refused}");
        // Reading takes no dot-lock, and bob's INBOX is another file.
        imap.ok("UID FETCH 1 FLAGS").await;
        let mut bob = server.login("bob").await;
        bob.ok("SELECT INBOX").await;
        bob.ok("APPEND INBOX {12+}\r\nSubject: c\r\n").await;
        let mut pop = Pop::login(server.pop3, "alice").await;
        pop.ok("DELE 1").await;
        let quit = pop.command("QUIT").await;
        assert!(quit.starts_with("-ERR [IN-USE]"), "{quit}");
        assert!(
            Command::new("dotlockfile")
                .arg("-u")
                .arg(&lock)
                .status()
                .unwrap()
                .success()
        );

        assert_eq!(file(&mbox).matches("Subject: a").count(), 1);
        assert!(!file(&mbox).contains("Subject: b"), "a refused APPEND was stored");
        assert!(!file(&mbox).contains("X-Status"), "a refused STORE was written");
        // An APPEND is answered once the message is in the file.
        imap.ok("APPEND INBOX {12+}\r\nSubject: b\r\n").await;
        assert!(file(&mbox).contains("Subject: b"));
    }
);

/// mutt's settings for a test: every folder it may touch in `home` (so
/// no first-start question about creating `~/Mail`), and every question it
/// would otherwise ask answered ahead (create, append, purge, move, quit),
/// so the pushed keys only ever drive the index.
fn muttrc(home: &Path) -> String {
    let home = home.display();
    format!(
        "set folder={home}/Mail spoolfile={home}/Mail/spool mbox={home}/Mail/mbox\n\
         set record='' postponed={home}/Mail/postponed tmpdir={home}\n\
         set header_cache='' alias_file={home}/aliases history_file={home}/history save_history=0\n\
         set delete=yes quit=yes move=no confirmcreate=no confirmappend=no\n\
         set wait_key=no sleep_time=0 beep=no mark_old=no mbox_type=mbox\n"
    )
}

/// Runs mutt on `mbox` with `keys` pushed, in a pseudo-terminal (mutt
/// wants one), as a user at the keyboard would — with a home directory and
/// settings of its own, nothing read from or written to the real `~`.
/// Returns what mutt showed, for failure messages; fails (with it) if mutt
/// does not exit successfully within a minute.
fn mutt(mbox: &Path, keys: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("Mail")).unwrap();
    let rc = home.path().join("muttrc");
    std::fs::write(&rc, muttrc(home.path())).unwrap();
    let command = format!("mutt -n -F {} -f {} -e 'push \"{keys}\"'", rc.display(), mbox.display());
    let typescript = home.path().join("typescript");
    // mutt runs while the server goes on: this worker thread's other
    // tasks move elsewhere (the server may hold a lock mutt waits for).
    let status = tokio::task::block_in_place(|| {
        legacy_program("timeout", home.path())
            .args(["60", "script", "-qec", &command])
            .arg(&typescript)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("mutt")
    });
    let shown = std::fs::read(&typescript).unwrap_or_default();
    let shown = String::from_utf8_lossy(&strip_ansi_escapes::strip(shown)).into_owned();
    assert!(status.success(), "mutt failed ({status}); it showed:\n{shown}");
    shown
}

/// POP3 `UIDL` as (message number, unique id) pairs.
async fn uidls(server: &Server) -> Vec<(String, String)> {
    let mut pop = Pop::login(server.pop3, "alice").await;
    let (_, listing) = pop.multi("UIDL").await;
    pop.ok("QUIT").await;
    String::from_utf8(listing)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(n, u)| (n.to_owned(), u.to_owned())))
        .collect()
}

server_test!(mutt_deletes_and_reads_back_imap_flags, |server: Server| async move {
    if !(have_program("mutt") && have_program("script")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    server.user("alice").await;
    external(&server, dir.path()).await;
    let mbox = dir.path().join("alice");
    for subject in ["one", "two", "three"] {
        let message = format!("Subject: {subject}\r\n\r\n{subject}\r\n");
        server
            .service()
            .deliver("alice", message.into_bytes(), Some("x@example.net"))
            .await
            .unwrap();
    }
    let before = uidls(&server).await;
    assert_eq!(before.len(), 3, "{before:?}");

    let mut imap = server.login("alice").await;
    imap.ok("SELECT INBOX").await;
    imap.send_raw(b"i IDLE\r\n").await;
    assert!(imap.line().await.unwrap().starts_with('+'));
    let shown = mutt(&mbox, "D~stwo<enter><sync-mailbox><quit>");
    // Said apart from a slow server: mutt did rewrite the file.
    let rewritten = file(&mbox);
    assert!(
        !rewritten.contains("Subject: two"),
        "mutt kept message two: {rewritten}\nmutt showed:\n{shown}"
    );
    assert_eq!(imap.line().await.unwrap(), "* 2 EXPUNGE");
    imap.send_raw(b"DONE\r\n").await;
    imap.until_tagged("i").await;

    let after = uidls(&server).await;
    assert_eq!(
        after.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>(),
        [before[0].1.as_str(), before[2].1.as_str()],
        "POP3 UIDLs changed when mutt rewrote the file"
    );

    // A flag set over IMAP is what mutt sees: it copies the flagged
    // message, and only that one.
    imap.ok("UID STORE 3 +FLAGS (\\Flagged)").await;
    let out = dir.path().join("flagged");
    let shown = mutt(
        &mbox,
        &format!(
            "<tag-pattern>~F<enter><tag-prefix><copy-message>{}<enter><quit>",
            out.display()
        ),
    );
    let copied = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(copied.contains("Subject: three"), "{copied}\nmutt showed:\n{shown}");
    assert!(!copied.contains("Subject: one"), "{copied}\nmutt showed:\n{shown}");
    let uids = imap.ok("UID SEARCH ALL").await;
    assert!(uids.iter().any(|l| l == "* SEARCH 1 3"), "{uids:?}");
});

/// Runs `command`, retrying while the file is locked by the other side
/// (`NO [INUSE]` is a correct answer under contention, not a failure).
async fn ok_unless_in_use(imap: &mut mailroom_tests::net::Client, command: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + mailroom_tests::PATIENCE;
    loop {
        let (untagged, done) = imap.command(command).await;
        if done.starts_with("OK") {
            return untagged;
        }
        assert!(done.contains("[INUSE]"), "{command} → {done}");
        assert!(
            std::time::Instant::now() < deadline,
            "{command}: the file stayed locked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn uids_of(search: &[String]) -> Vec<u32> {
    search
        .iter()
        .filter_map(|l| l.strip_prefix("* SEARCH"))
        .flat_map(|rest| rest.split_whitespace().filter_map(|u| u.parse().ok()))
        .collect()
}

server_test!(
    a_minute_of_legacy_appends_against_imap_flags_and_expunges_loses_nothing,
    |server: Server| async move {
        if !have_program("procmail") {
            return;
        }
        let seconds: u64 = std::env::var("MAILROOM_STRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60);
        let dir = tempfile::tempdir().unwrap();
        server.user("alice").await;
        external(&server, dir.path()).await;
        let mbox = dir.path().join("alice");
        for kind in ["expunge", "flag"] {
            for i in 0..10 {
                let message = format!("Subject: {kind}-{i:02}\r\n\r\n{kind} {i}\r\n");
                server
                    .service()
                    .deliver("alice", message.into_bytes(), Some("x@example.net"))
                    .await
                    .unwrap();
            }
        }

        // The legacy writer: procmail under its own locks, a delivery every
        // few milliseconds — a busy mail server.
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        let writer = {
            let mbox = mbox.clone();
            tokio::task::spawn_blocking(move || {
                let mut n = 0;
                while std::time::Instant::now() < deadline {
                    procmail(
                        &mbox,
                        &format!("legacy-{n:05}"),
                        &format!("body legacy-{n:05}\nFrom line legacy-{n:05}"),
                    );
                    n += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                n
            })
        };

        // Two IMAP sessions expunge the expunge-* messages and flag the
        // flag-* ones, then keep toggling \Seen on them until time is up.
        let mut sessions = Vec::new();
        for s in 0..2u32 {
            let mut imap = server.login("alice").await;
            sessions.push(tokio::spawn(async move {
                ok_unless_in_use(&mut imap, "SELECT INBOX").await;
                let mut round = 0u32;
                while std::time::Instant::now() < deadline {
                    let targets = uids_of(&ok_unless_in_use(&mut imap, "UID SEARCH SUBJECT expunge-").await);
                    if let Some(uid) = targets.get(s as usize % targets.len().max(1)) {
                        ok_unless_in_use(&mut imap, &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)")).await;
                        ok_unless_in_use(&mut imap, &format!("UID EXPUNGE {uid}")).await;
                    }
                    let flag = uids_of(&ok_unless_in_use(&mut imap, "UID SEARCH SUBJECT flag- UNFLAGGED").await);
                    if let Some(uid) = flag.first() {
                        ok_unless_in_use(&mut imap, &format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)")).await;
                    }
                    let op = if round.is_multiple_of(2) { '+' } else { '-' };
                    ok_unless_in_use(&mut imap, &format!("UID STORE 11:20 {op}FLAGS.SILENT (\\Seen)")).await;
                    ok_unless_in_use(&mut imap, "NOOP").await;
                    round += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                imap.ok("LOGOUT").await;
            }));
        }
        let written = writer.await.unwrap();
        for session in sessions {
            session.await.unwrap();
        }
        eprintln!("procmail delivered {written} messages in {seconds} s while IMAP flagged and expunged");
        assert!(written > 10, "procmail delivered only {written} messages");

        // The file: every legacy message exactly once, byte for byte as
        // procmail wrote it; the flag-* messages once each, flagged; no
        // expunge-* message.
        let text = file(&mbox);
        for n in 0..written {
            let block = format!(
                "From: Sender <sender@example.org>\nSubject: legacy-{n:05}\n\nbody legacy-{n:05}\n>From line legacy-{n:05}\n"
            );
            assert_eq!(
                text.matches(&block).count(),
                1,
                "legacy-{n:05} lost, doubled or changed"
            );
        }
        for i in 0..10 {
            assert_eq!(
                text.matches(&format!("Subject: flag-{i:02}\n")).count(),
                1,
                "flag-{i:02}"
            );
        }
        if let Some(at) = text.find("Subject: expunge-") {
            let from = text[..at].rfind("\nFrom ").unwrap_or(0);
            panic!(
                "an expunged message is back: {}",
                &text[from..(at + 400).min(text.len())]
            );
        }
        assert_eq!(text.matches("\nX-Status: F\n").count(), 10, "{text}");

        // And the index agrees with the file.
        let mut imap = server.login("alice").await;
        let select = imap.ok("SELECT INBOX").await;
        let exists = format!("* {} EXISTS", written + 10);
        assert!(select.contains(&exists), "{select:?} (wanted {exists})");
        let flagged = uids_of(&imap.ok("UID SEARCH FLAGGED").await);
        assert_eq!(flagged.len(), 10);
    }
);
