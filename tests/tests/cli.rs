//! The `mailroom` command line, run as a real process against the test
//! database: deliver, import/export, accounts, public mailboxes.

use mailroom::service::ChangeKind;
use mailroom_tests::{World, both_backends, run_cli};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "mailroom failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "mailroom should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An mbox of `n` messages written by hand (mboxrd), and the messages as
/// they must be stored: with one `>` taken from each quoted `From ` line,
/// and CRLF line ends (the form IMAP and POP3 serve).
fn sample_mbox(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut file = Vec::new();
    let mut messages = Vec::new();
    for i in 0..n {
        let (h, m, s) = (10 + i / 3600, i / 60 % 60, i % 60);
        file.extend(format!("From sender{i}@example.org Mon Jan  5 {h:02}:{m:02}:{s:02} 2026\n").as_bytes());
        let header = format!("From: Sender {i} <sender{i}@example.org>\nSubject: message {i}\n\n");
        let body = "the start of line\n";
        let stored = format!(
            "{header}From {body}>From quoted once\n>>From quoted twice\nFromage is not a separator\n\u{e9}t\u{e9} {i}\n"
        );
        let quoted = format!(
            "{header}>From {body}>>From quoted once\n>>>From quoted twice\nFromage is not a separator\n\u{e9}t\u{e9} {i}\n\n"
        );
        file.extend(quoted.as_bytes());
        messages.push(stored.replace('\n', "\r\n").into_bytes());
    }
    (file, messages)
}

both_backends!(
    import_and_export_round_trip_an_mbox_of_1000_messages,
    async |w: World| {
        let alice = w.user("alice").await;
        let (file, expected) = sample_mbox(1000);
        let path = w.db.dir.path().join("big.mbox");
        std::fs::write(&path, &file).unwrap();
        let out = ok(&run_cli(
            &w.db,
            &["import", "alice", "Archive", path.to_str().unwrap()],
            b"",
        ));
        assert!(out.contains("Imported 1000 messages"), "{out}");

        let (_, rows) = w.service.messages(&alice, "Archive").await.unwrap();
        assert_eq!(rows.len(), 1000);
        for (row, want) in rows.iter().zip(&expected) {
            assert_eq!(
                &w.service.fetch(&alice, "Archive", row.uid).await.unwrap(),
                want,
                "UID {}",
                row.uid
            );
            assert_eq!(row.size as usize, want.len());
        }
        assert_eq!(rows[0].envelope_from.as_deref(), Some("sender0@example.org"));

        let exported = run_cli(&w.db, &["export", "alice", "Archive"], b"");
        ok(&exported);
        assert!(exported.stdout == file, "export differs from the imported file");
    }
);

both_backends!(a_corrupt_mbox_imports_nothing, async |w: World| {
    let alice = w.user("alice").await;
    let dir = w.db.dir.path();
    std::fs::write(dir.join("plain.txt"), b"Subject: not an mbox\n\nhello\n").unwrap();
    let err = failed(&run_cli(
        &w.db,
        &["import", "alice", "INBOX", dir.join("plain.txt").to_str().unwrap()],
        b"",
    ));
    assert!(err.contains("not an mbox"), "{err}");

    let (mut file, _) = sample_mbox(600);
    file.extend(b"From \n\nbroken\n\n");
    file.extend(sample_mbox(3).0);
    std::fs::write(dir.join("broken.mbox"), &file).unwrap();
    let err = failed(&run_cli(
        &w.db,
        &["import", "alice", "INBOX", dir.join("broken.mbox").to_str().unwrap()],
        b"",
    ));
    assert!(err.contains("nothing was imported") && err.contains("line"), "{err}");

    let err = failed(&run_cli(
        &w.db,
        &["import", "alice", "INBOX", dir.join("missing.mbox").to_str().unwrap()],
        b"",
    ));
    assert!(err.contains("cannot read"), "{err}");
    let err = failed(&run_cli(
        &w.db,
        &["import", "nobody", "INBOX", dir.join("broken.mbox").to_str().unwrap()],
        b"",
    ));
    assert!(!err.is_empty());
    assert!(w.service.messages(&alice, "INBOX").await.unwrap().1.is_empty());
});

both_backends!(deliver_stores_the_message_byte_exact, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    let mut message = b"Return-Path: <x@y.example>\r\nSubject: bytes\r\n\r\n".to_vec();
    message.extend((0u8..=255).filter(|b| *b != b'\r' && *b != b'\n'));
    message.extend(b"\r\n.\r\n..\r\nFrom here\r\n");
    let out = run_cli(
        &w.db,
        &[
            "deliver",
            "--from",
            "x@y.example",
            "--to",
            "alice",
            "bob@example.com",
            "ghost",
        ],
        &message,
    );
    let err = failed(&out);
    assert!(err.contains("ghost: not delivered"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("alice: delivered to alice@example.com INBOX (UID 1)"),
        "{stdout}"
    );
    for (p, name) in [(&alice, "INBOX"), (&bob, "INBOX")] {
        let (_, rows) = w.service.messages(p, name).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].envelope_from.as_deref(), Some("x@y.example"));
        assert_eq!(w.service.fetch(p, name, rows[0].uid).await.unwrap(), message);
    }
    let err = failed(&run_cli(&w.db, &["deliver", "--to", "alice"], b""));
    assert!(err.contains("empty"), "{err}");

    // Bare LF line ends (as Unix tools write them) are stored as CRLF.
    ok(&run_cli(&w.db, &["deliver", "--to", "bob"], b"Subject: lf\n\nline\n"));
    let (_, rows) = w.service.messages(&bob, "INBOX").await.unwrap();
    let stored = w.service.fetch(&bob, "INBOX", rows[1].uid).await.unwrap();
    assert_eq!(stored, b"Subject: lf\r\n\r\nline\r\n");
    assert_eq!(rows[1].size as usize, stored.len());
});

both_backends!(a_delivery_from_another_process_reaches_watchers, async |w: World| {
    let alice = w.user("alice").await;
    let (mut watch, _) = w.service.watch(&alice, "INBOX").await.unwrap();
    ok(&run_cli(
        &w.db,
        &["deliver", "--to", "alice"],
        b"Subject: from the CLI\r\n\r\nhi\r\n",
    ));
    let changes = tokio::time::timeout(mailroom_tests::PATIENCE, watch.next())
        .await
        .expect("the running service hears of it")
        .unwrap();
    assert!(
        matches!(&changes[0].kind, ChangeKind::Added(added) if added[0].0 == 1),
        "{changes:?}"
    );
});

both_backends!(accounts_from_the_command_line, async |w: World| {
    let out = ok(&run_cli(
        &w.db,
        &["account", "add", "carol", "--password-stdin"],
        b"s3cret\n",
    ));
    assert!(out.contains("Added carol@example.com"), "{out}");
    w.service
        .authenticate("carol@example.com", "s3cret", mailroom::service::LOCAL)
        .await
        .unwrap();
    let out = ok(&run_cli(&w.db, &["account", "add", "dave@example.com"], b""));
    let password = out.rsplit(' ').next().unwrap().trim();
    w.service
        .authenticate("dave", password, mailroom::service::LOCAL)
        .await
        .unwrap();
    let err = failed(&run_cli(&w.db, &["account", "add", "carol"], b""));
    assert!(err.contains("exists already"), "{err}");
    ok(&run_cli(
        &w.db,
        &["account", "passwd", "carol", "--password-stdin"],
        b"other\n",
    ));
    w.service
        .authenticate("carol", "other", mailroom::service::LOCAL)
        .await
        .unwrap();
    ok(&run_cli(&w.db, &["alias", "add", "caz", "carol"], b""));
    w.service
        .authenticate("caz", "other", mailroom::service::LOCAL)
        .await
        .unwrap();
    let list = ok(&run_cli(&w.db, &["account", "list"], b""));
    assert!(
        list.contains("admin@example.com  (server admin)") && list.contains("carol@example.com"),
        "{list}"
    );
    ok(&run_cli(&w.db, &["account", "delete", "carol"], b""));
    assert!(
        w.service
            .authenticate("carol", "other", mailroom::service::LOCAL)
            .await
            .is_err()
    );
    let err = failed(&run_cli(&w.db, &["account", "delete", "carol"], b""));
    assert!(err.contains("no account"), "{err}");
    let out = ok(&run_cli(
        &w.db,
        &["domain", "add", "other.example", "--alias", "alt.example"],
        b"",
    ));
    assert!(out.contains("other.example"), "{out}");
    ok(&run_cli(
        &w.db,
        &["route", "add", "*@old.example", "*@example.com"],
        b"",
    ));
    w.service
        .authenticate("dave@old.example", password, mailroom::service::LOCAL)
        .await
        .unwrap();
});

both_backends!(public_mailboxes_from_the_command_line, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    let args = [
        "mailbox",
        "create",
        "Support",
        "--owner",
        "public",
        "--grant",
        "anyone=lrs",
        "--grant",
        "alice=lrswipkxtea",
    ];
    let out = ok(&run_cli(&w.db, &args, b""));
    assert!(out.contains("Created ~public/Support"), "{out}");
    assert_eq!(
        w.service.my_rights(&bob, "~public/Support").await.unwrap().to_string(),
        "lrs"
    );
    w.service
        .create_mailbox(&alice, "~public/Support/Archive")
        .await
        .unwrap();
    w.service
        .set_acl(&alice, "~public/Support", "bob", "lrswi")
        .await
        .unwrap();
    let err = failed(&run_cli(
        &w.db,
        &[
            "mailbox",
            "create",
            "Sales",
            "--owner",
            "public",
            "--grant",
            "anyone=lrz",
        ],
        b"",
    ));
    assert!(err.contains("not an access right"), "{err}");
    let err = failed(&run_cli(
        &w.db,
        &["mailbox", "create", "../x", "--owner", "public"],
        b"",
    ));
    assert!(err.contains("'.' and '..'"), "{err}");
    let listed = ok(&run_cli(&w.db, &["mailbox", "list", "public"], b""));
    assert_eq!(listed, "~public/INBOX\n~public/Support\n~public/Support/Archive\n");
});

both_backends!(domains_with_external_inbox_files, async |w: World| {
    let spool = tempfile::tempdir().unwrap();
    let template = format!("{}/{{user}}", spool.path().display());
    let out = ok(&run_cli(
        &w.db,
        &[
            "domain",
            "add",
            "legacy.example",
            "--external-inbox",
            &template,
            "--locks",
            "dotlock,fcntl",
        ],
        b"",
    ));
    assert!(out.contains("INBOXes in"), "{out}");
    let list = ok(&run_cli(&w.db, &["domain", "list"], b""));
    assert!(
        list.contains("legacy.example (INBOXes in") && list.contains("locks dotlock,fcntl"),
        "{list}"
    );
    ok(&run_cli(
        &w.db,
        &["account", "add", "zoe@legacy.example", "--external-inbox"],
        b"",
    ));
    ok(&run_cli(&w.db, &["account", "add", "yan@legacy.example"], b""));
    assert!(!spool.path().join("yan").exists(), "an INBOX file nobody asked for");
    let file = spool.path().join("zoe");
    assert!(file.exists(), "no INBOX file for a new account");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    ok(&run_cli(&w.db, &["account", "delete", "zoe@legacy.example"], b""));
    assert!(file.exists(), "deleting the account deleted its INBOX file");

    let err = failed(&run_cli(
        &w.db,
        &[
            "domain",
            "set",
            "legacy.example",
            "--external-inbox",
            "/tmp/{user}",
            "--locks",
            "lockf",
        ],
        b"",
    ));
    assert!(err.contains("unknown lock method"), "{err}");
    let err = failed(&run_cli(
        &w.db,
        &["domain", "set", "legacy.example", "--external-inbox", "mail/x"],
        b"",
    ));
    assert!(err.contains("absolute path with {user}"), "{err}");

    // A domain whose INBOXes hold mail in the store does not switch.
    w.user("alice").await;
    w.service
        .deliver("alice", b"Subject: kept\r\n\r\nx\r\n".to_vec(), None)
        .await
        .unwrap();
    let err = failed(&run_cli(
        &w.db,
        &["domain", "set", "example.com", "--external-inbox", &template],
        b"",
    ));
    assert!(err.contains("move them out"), "{err}");
    ok(&run_cli(
        &w.db,
        &["domain", "set", "legacy.example", "--internal-inbox"],
        b"",
    ));
    let list = ok(&run_cli(&w.db, &["domain", "list"], b""));
    assert!(!list.contains("INBOXes in"), "{list}");
});

both_backends!(rules_from_the_command_line, async |w: World| {
    let alice = w.user("alice").await;
    ok(&run_cli(
        &w.db,
        &[
            "mailbox",
            "create",
            "Support",
            "--owner",
            "public",
            "--grant",
            "alice=lrs",
        ],
        b"",
    ));
    let out = ok(&run_cli(
        &w.db,
        &[
            "rule",
            "add",
            "--domain",
            "example.com",
            "--name",
            "support desk",
            "--if",
            "subject contains [support]",
            "--then",
            "copy ~public/Support",
            "--then",
            "flag $Support",
        ],
        b"",
    ));
    assert!(
        out.contains("if subject contains \"[support]\" then copy ~public/Support, flag $Support"),
        "{out}"
    );
    let listed = ok(&run_cli(&w.db, &["rule", "list", "--domain", "example.com"], b""));
    assert!(listed.contains("support desk"), "{listed}");
    let id = listed.split('\t').next().unwrap().trim().to_owned();

    let out = ok(&run_cli(
        &w.db,
        &["deliver", "--to", "alice"],
        b"Subject: [support] help\r\n\r\nx\r\n",
    ));
    assert!(out.contains("INBOX (UID 1), ~public/Support (UID 1)"), "{out}");
    let (_, rows) = w.service.messages(&alice, "~public/Support").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].flags.has_keyword("$Support"));

    // Bad rules are refused with the reason, and nothing is stored.
    let err = failed(&run_cli(
        &w.db,
        &[
            "rule",
            "add",
            "--server",
            "--name",
            "x",
            "--if",
            "size contains 3",
            "--then",
            "discard",
        ],
        b"",
    ));
    assert!(err.contains("over or under"), "{err}");
    let err = failed(&run_cli(
        &w.db,
        &["rule", "add", "--server", "--name", "x", "--then", "explode"],
        b"",
    ));
    assert!(err.contains("unknown action"), "{err}");
    assert!(ok(&run_cli(&w.db, &["rule", "list", "--server"], b"")).is_empty());

    ok(&run_cli(&w.db, &["rule", "delete", &id], b""));
    assert!(ok(&run_cli(&w.db, &["rule", "list", "--domain", "example.com"], b"")).is_empty());
    let err = failed(&run_cli(&w.db, &["rule", "delete", &id], b""));
    assert!(err.contains("no rule"), "{err}");
});

// A running server's deliveries keep what they read of the directory; a
// change made by another process (here the command line) reaches them
// through the change log within a poll of it.
both_backends!(
    a_route_added_at_the_command_line_reaches_deliveries,
    async |w: World| {
        w.user("alice").await;
        w.user("bob").await;
        w.service.add_alias(&w.admin, "desk", "alice").await.unwrap();
        let deliver = async || {
            w.service
                .deliver("desk@example.com", b"Subject: hi\r\n\r\nx\r\n".to_vec(), None)
                .await
                .unwrap()
                .account
        };
        assert_eq!(deliver().await, "alice@example.com");
        ok(&run_cli(
            &w.db,
            &["route", "add", "desk@example.com", "bob@example.com"],
            b"",
        ));
        let started = std::time::Instant::now();
        while deliver().await != "bob@example.com" {
            assert!(
                started.elapsed() < mailroom_tests::PATIENCE,
                "deliveries never learned of the new route"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
);
