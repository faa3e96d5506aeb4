//! The IMAP gateway over TCP: the real server, real sockets, and both a
//! client library (async-imap, responses checked with imap-proto) and a
//! line-level client where exact response codes matter.

use std::time::Duration;

use futures::StreamExt;
use mailroom::service::ChangeKind;
use mailroom_shared::Flags;
use mailroom_tests::net::{Client, Server};
use mailroom_tests::{Backend, World, server_test, until_published};

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn append_command(mailbox: &str, content: &[u8]) -> Vec<u8> {
    let mut cmd = format!("a1 APPEND {mailbox} (\\Flagged) {{{}+}}\r\n", content.len()).into_bytes();
    cmd.extend_from_slice(content);
    cmd.extend_from_slice(b"\r\n");
    cmd
}

/// Waits until `pred` holds for an untagged line, sending NOOPs.
async fn noop_until(c: &mut Client, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + mailroom_tests::PATIENCE;
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        seen.extend(c.ok("NOOP").await);
        if seen.iter().any(|l| pred(l)) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never saw the expected line; saw {seen:?}")
}

server_test!(a_client_library_reads_and_changes_mail, async |s: Server| {
    let alice = s.user("alice").await;
    s.service()
        .append(&alice, "INBOX", message("hello", "Hi Bob"), &Flags::default(), None)
        .await
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap().expect("greeting");
    let mut session = client.login("alice", "pw-alice").await.map_err(|e| e.0).unwrap();
    let names: Vec<String> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .map(|n| n.unwrap().name().to_owned())
        .collect()
        .await;
    for expected in ["INBOX", "Sent", "Drafts", "Trash", "Junk"] {
        assert!(names.contains(&expected.to_owned()), "{names:?}");
    }
    let inbox = session.select("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 1);
    let fetched: Vec<_> = session
        .fetch("1", "(UID FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE BODY.PEEK[])")
        .await
        .unwrap()
        .collect()
        .await;
    let f = fetched[0].as_ref().unwrap();
    let envelope = f.envelope().expect("envelope");
    assert_eq!(envelope.subject.as_deref(), Some(&b"hello"[..]));
    let body = f.body().expect("body");
    assert!(body.ends_with(b"Hi Bob\r\n"));
    assert_eq!(f.size, Some(body.len() as u32));
    assert!(f.bodystructure().is_some());
    let found = session.search("SUBJECT hello UNSEEN").await.unwrap();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), vec![1]);
    let _: Vec<_> = session
        .store("1", "+FLAGS (\\Seen $Work)")
        .await
        .unwrap()
        .collect()
        .await;
    let (_, rows) = s.service().messages(&alice, "INBOX").await.unwrap();
    assert!(rows[0].flags.has_keyword("$Work"), "{:?}", rows[0].flags);
    session.logout().await.unwrap();
});

server_test!(two_users_share_through_setacl, async |s: Server| {
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.login("alice").await;
    let mut b = s.login("bob").await;
    a.ok("CREATE Projects").await;
    a.send_raw(&append_command("Projects", &message("plan", "the plan")))
        .await;
    let (_, done) = a.until_tagged("a1").await;
    assert!(done.starts_with("OK [APPENDUID "), "{done}");

    // Before any grant bob sees nothing, and opening it looks like a missing mailbox.
    assert!(b.ok("LIST \"\" \"~*\"").await.is_empty());
    let refused = b.fails("SELECT ~alice/Projects", "NO").await;
    assert!(refused.contains("[NONEXISTENT]"), "{refused}");

    // Unknown rights are a BAD and change nothing.
    a.fails("SETACL Projects bob lrz", "BAD").await;
    assert!(b.ok("LIST \"\" \"~*\"").await.is_empty());

    a.ok("SETACL Projects bob lr").await;
    let listed = b.ok("LIST \"\" \"~*\"").await;
    assert!(listed.iter().any(|l| l.ends_with(" ~alice/Projects")), "{listed:?}");
    let listed = b.ok("LIST \"\" \"~alice/*\"").await;
    assert!(listed.iter().any(|l| l.ends_with(" ~alice/Projects")), "{listed:?}");
    assert!(!listed.iter().any(|l| l.contains("INBOX")), "{listed:?}");
    let rights = b.ok("MYRIGHTS ~alice/Projects").await;
    assert_eq!(rights, ["* MYRIGHTS ~alice/Projects lr"]);

    // Read-only for bob: he may read but not change flags or expunge.
    let (untagged, done) = b.command("SELECT ~alice/Projects").await;
    assert!(done.starts_with("OK [READ-ONLY]"), "{done}");
    assert!(untagged.contains(&"* 1 EXISTS".to_owned()), "{untagged:?}");
    let fetched = b.ok("FETCH 1 BODY[TEXT]").await;
    assert!(fetched[0].contains("the plan"), "{fetched:?}");
    b.fails("STORE 1 +FLAGS (\\Deleted)", "NO").await;
    b.fails("EXPUNGE", "NO").await;
    // Not an administrator: no ACL changes, no ACL reading.
    assert!(
        b.fails("SETACL ~alice/Projects bob lrswipte", "NO")
            .await
            .contains("[NOPERM]")
    );
    assert!(b.fails("GETACL ~alice/Projects", "NO").await.contains("[NOPERM]"));
    b.fails("APPEND ~alice/Projects {3+}\r\nabc", "NO").await;
    b.fails("DELETE ~alice/Projects", "NO").await;
    b.fails("CREATE ~alice/Projects/Sub", "NO").await;

    // With + and -, rights grow and shrink.
    a.ok("SETACL Projects bob +swte").await;
    let acl = a.ok("GETACL Projects").await;
    assert_eq!(acl, ["* ACL Projects bob@example.com lrswte"]);
    let (_, done) = b.command("SELECT ~alice/Projects").await;
    assert!(done.starts_with("OK [READ-WRITE]"), "{done}");
    b.ok("STORE 1 +FLAGS (\\Seen)").await;
    a.ok("SETACL Projects bob -w").await;
    let lr = a.ok("LISTRIGHTS Projects bob").await;
    assert!(lr[0].starts_with("* LISTRIGHTS Projects bob "), "{lr:?}");
    a.ok("DELETEACL Projects bob").await;
    assert!(
        b.fails("MYRIGHTS ~alice/Projects", "NO")
            .await
            .contains("[NONEXISTENT]")
    );
});

// A selected mailbox keeps what the service resolved at SELECT (so its
// commands need no lookups), yet rights taken away apply to its very next
// command: the service re-resolves it whenever an ACL changed.
server_test!(
    rights_taken_away_apply_to_a_selected_mailbox_at_once,
    async |s: Server| {
        s.user("alice").await;
        s.user("bob").await;
        let mut a = s.login("alice").await;
        let mut b = s.login("bob").await;
        a.ok("CREATE Projects").await;
        a.send_raw(&append_command("Projects", &message("plan", "the plan")))
            .await;
        a.until_tagged("a1").await;
        a.ok("SETACL Projects bob lrs").await;
        b.ok("SELECT ~alice/Projects").await;
        assert!(b.ok("FETCH 1 BODY.PEEK[TEXT]").await[0].contains("the plan"));
        b.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;

        a.ok("SETACL Projects bob lr").await;
        let refused = b.fails("STORE 1 -FLAGS.SILENT (\\Seen)", "NO").await;
        assert!(refused.contains("'s', 'w' or 't'"), "{refused}");
        assert!(b.ok("FETCH 1 BODY.PEEK[TEXT]").await[0].contains("the plan"));

        a.ok("DELETEACL Projects bob").await;
        let refused = b.fails("FETCH 1 BODY.PEEK[TEXT]", "NO").await;
        assert!(!refused.contains("the plan"), "{refused}");
        b.fails("SELECT ~alice/Projects", "NO").await;

        // Renamed while selected: the session goes on with the same mailbox.
        a.ok("SETACL Projects bob lr").await;
        b.ok("SELECT ~alice/Projects").await;
        a.ok("RENAME Projects Plans").await;
        assert!(b.ok("FETCH 1 BODY.PEEK[TEXT]").await[0].contains("the plan"));
    }
);

// SELECT of the mailbox already selected builds on the session's own view
// (kept current by its watch) instead of reading the list again: it must
// show every change committed before it, by any session, at once.
server_test!(
    selecting_the_same_mailbox_again_shows_all_changes_made_meanwhile,
    async |s: Server| {
        let alice = s.user("alice").await;
        let service = s.service();
        for subject in ["one", "two", "three"] {
            service
                .append(&alice, "INBOX", message(subject, subject), &Default::default(), None)
                .await
                .unwrap();
        }
        let mut a = s.login("alice").await;
        let mut b = s.login("alice").await;
        let first = a.ok("SELECT INBOX").await;
        assert!(first.contains(&"* 3 EXISTS".to_owned()), "{first:?}");
        for round in 0..20 {
            b.ok("SELECT INBOX").await;
            b.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
            b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
            b.ok("EXPUNGE").await;
            let subject = format!("new{round}");
            service
                .append(&alice, "INBOX", message(&subject, "new"), &Default::default(), None)
                .await
                .unwrap();
            // Straight after the other session's commits: nothing may be missing.
            let again = a.ok("SELECT INBOX").await;
            assert!(again.contains(&"* 3 EXISTS".to_owned()), "round {round}: {again:?}");
            let uidnext = format!("* OK [UIDNEXT {}] Predicted next UID", 5 + round);
            assert!(again.contains(&uidnext), "round {round}: {again:?}");
            let flags = a.ok("FETCH 1:* (UID FLAGS)").await;
            assert!(
                flags[0].contains("\\Seen") && flags.len() == 3,
                "round {round}: {flags:?}"
            );
            assert!(
                !flags.iter().any(|l| l.contains("\\Deleted")),
                "round {round}: {flags:?}"
            );
            assert!(
                flags[2].contains(&format!("UID {}", 4 + round)),
                "round {round}: {flags:?}"
            );
        }
    }
);

server_test!(
    idle_shows_flag_changes_and_expunges_from_another_user,
    async |s: Server| {
        let alice = s.user("alice").await;
        let bob = s.user("bob").await;
        s.service().create_mailbox(&alice, "Team").await.unwrap();
        s.service().set_acl(&alice, "Team", "bob", "lrs").await.unwrap();
        for subject in ["one", "two", "three"] {
            s.service()
                .append(&alice, "Team", message(subject, "x"), &Flags::default(), None)
                .await
                .unwrap();
        }
        let tcp = tokio::net::TcpStream::connect(s.imap).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().expect("greeting");
        let mut session = client.login("bob", "pw-bob").await.map_err(|e| e.0).unwrap();
        session.select("~alice/Team").await.unwrap();
        let mut idle = session.idle();
        idle.init().await.unwrap();

        let mut a = s.login("alice").await;
        a.ok("SELECT Team").await;
        a.ok("STORE 2 +FLAGS (\\Flagged)").await;
        let (wait, _stop) = idle.wait_with_timeout(mailroom_tests::PATIENCE);
        let got = wait.await.unwrap();
        let async_imap::extensions::idle::IdleResponse::NewData(data) = got else {
            panic!("no news in IDLE: {got:?}")
        };
        let text = format!("{:?}", data.parsed());
        assert!(text.contains("Flagged"), "{text}");

        a.ok("STORE 1 +FLAGS (\\Deleted)").await;
        a.ok("EXPUNGE").await;
        let mut saw_expunge = false;
        for _ in 0..5 {
            let (wait, _stop) = idle.wait_with_timeout(mailroom_tests::PATIENCE);
            match wait.await.unwrap() {
                async_imap::extensions::idle::IdleResponse::NewData(data) => {
                    if matches!(data.parsed(), imap_proto::Response::Expunge(1)) {
                        saw_expunge = true;
                        break;
                    }
                }
                other => panic!("IDLE ended without the expunge: {other:?}"),
            }
        }
        assert!(saw_expunge);
        let mut session = idle.done().await.unwrap();
        let fetched: Vec<_> = session.fetch("1:*", "UID").await.unwrap().collect().await;
        let uids: Vec<u32> = fetched.iter().map(|f| f.as_ref().unwrap().uid.unwrap()).collect();
        assert_eq!(uids, [2, 3], "sequence numbers moved down after the expunge");
        let _ = bob;
    }
);

server_test!(an_alias_reaches_the_aliased_account, async |s: Server| {
    let alice = s.user("alice").await;
    s.user("bob").await;
    s.service().add_alias(&s.world.admin, "boss", "alice").await.unwrap();
    s.service().set_acl(&alice, "INBOX", "bob", "lr").await.unwrap();
    s.service()
        .append(&alice, "INBOX", message("for-boss", "x"), &Flags::default(), None)
        .await
        .unwrap();
    let mut b = s.login("bob").await;
    let (untagged, done) = b.command("EXAMINE ~boss/INBOX").await;
    assert!(done.starts_with("OK [READ-ONLY]"), "{done}");
    assert!(untagged.contains(&"* 1 EXISTS".to_owned()), "{untagged:?}");
    let listed = b.ok("LIST \"\" \"~boss/*\"").await;
    assert!(listed.iter().any(|l| l.ends_with(" ~boss/INBOX")), "{listed:?}");
    let header = b.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert!(header[0].contains("Subject: for-boss"), "{header:?}");
});

server_test!(anyone_grants_open_public_mailboxes, async |s: Server| {
    let admin = s.world.admin.clone();
    s.service().create_mailbox(&admin, "~public/News").await.unwrap();
    s.service()
        .set_acl(&admin, "~public/News", "anyone", "lr")
        .await
        .unwrap();
    s.service()
        .set_acl(&admin, "~public/News", "admin", "lrswipte")
        .await
        .unwrap();
    s.service()
        .append(&admin, "~public/News", message("news", "x"), &Flags::default(), None)
        .await
        .unwrap();
    s.service().create_mailbox(&admin, "~public/Board").await.unwrap();
    s.user("carol").await;
    let mut c = s.login("carol").await;
    let ns = c.ok("NAMESPACE").await;
    assert_eq!(
        ns,
        ["* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"~public/\" \"/\"))"]
    );
    let listed = c.ok("LIST \"\" \"~public/*\"").await;
    assert!(listed.iter().any(|l| l.ends_with(" ~public/News")), "{listed:?}");
    assert!(!listed.iter().any(|l| l.contains("Board")), "{listed:?}");
    let (_, done) = c.command("SELECT ~public/News").await;
    assert!(done.starts_with("OK [READ-ONLY]"), "{done}");
    let status = c.ok("STATUS ~public/News (MESSAGES UNSEEN)").await;
    assert_eq!(status, ["* STATUS ~public/News (MESSAGES 1 UNSEEN 1)"]);
    let refused = c.fails("APPEND ~public/News {3+}\r\nabc", "NO").await;
    assert!(refused.contains("[NOPERM]"), "{refused}");
    c.fails("SELECT ~public/Board", "NO").await;
});

server_test!(append_copy_and_move_report_uids, async |s: Server| {
    s.user("alice").await;
    let mut a = s.login("alice").await;
    a.ok("CREATE Archive").await;
    for subject in ["m1", "m2", "m3"] {
        a.send_raw(&append_command("INBOX", &message(subject, "x"))).await;
        let (_, done) = a.until_tagged("a1").await;
        assert!(done.starts_with("OK [APPENDUID "), "{done}");
    }
    let missing = a.fails("APPEND Nowhere {3+}\r\nabc", "NO").await;
    assert!(missing.contains("[TRYCREATE]"), "{missing}");
    a.ok("SELECT INBOX").await;
    let (_, done) = a.command("COPY 1:2 Archive").await;
    let code = done.split_once("[COPYUID ").expect("COPYUID").1;
    let parts: Vec<&str> = code
        .trim_end_matches(|c| c != ']')
        .trim_end_matches(']')
        .split(' ')
        .collect();
    assert_eq!(&parts[1..], ["1:2", "1:2"], "{done}");
    let (untagged, done) = a.command("UID MOVE 3 Archive").await;
    assert!(done.starts_with("OK"), "{done}");
    assert!(
        untagged[0].starts_with("* OK [COPYUID ") && untagged[0].contains(" 3 3]"),
        "{untagged:?}"
    );
    assert!(untagged.contains(&"* 3 EXPUNGE".to_owned()), "{untagged:?}");
    let status = a.ok("STATUS Archive (MESSAGES UIDNEXT)").await;
    assert_eq!(status, ["* STATUS Archive (MESSAGES 3 UIDNEXT 4)"]);
    let flags = a.ok("FETCH 1 FLAGS").await;
    assert!(flags[0].contains("\\Flagged"), "{flags:?}");
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let gone = a.ok("EXPUNGE").await;
    assert_eq!(gone, ["* 1 EXPUNGE"]);
});

server_test!(others_changes_arrive_only_where_rfc3501_allows, async |s: Server| {
    let alice = s.user("alice").await;
    for subject in ["m1", "m2"] {
        s.service()
            .append(&alice, "INBOX", message(subject, "x"), &Flags::default(), None)
            .await
            .unwrap();
    }
    let mut one = s.login("alice").await;
    let mut two = s.login("alice").await;
    one.ok("SELECT INBOX").await;
    two.ok("SELECT INBOX").await;
    let (mut watch, _) = s.service().watch(&alice, "INBOX").await.unwrap();
    two.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    two.ok("EXPUNGE").await;
    two.send_raw(&append_command("INBOX", &message("m3", "x"))).await;
    two.until_tagged("a1").await;
    // Session one has heard of the expunge and of the append after it.
    until_published(&mut watch, |k| matches!(k, ChangeKind::Added(_))).await;
    // During FETCH no EXPUNGE: message 1 is still message 1 for this session.
    let fetched = one.ok("FETCH 1:2 UID").await;
    assert!(!fetched.iter().any(|l| l.contains("EXPUNGE")), "{fetched:?}");
    assert!(
        fetched.iter().any(|l| l.starts_with("* 2 FETCH (UID 2)")),
        "{fetched:?}"
    );
    let later = noop_until(&mut one, |l| l == "* 1 EXPUNGE").await;
    assert!(later.contains(&"* 1 EXPUNGE".to_owned()), "{later:?}");
    let uids = one.ok("FETCH 1:* UID").await;
    assert_eq!(uids, ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]);
});

server_test!(search_looks_in_decoded_text, async |s: Server| {
    let alice = s.user("alice").await;
    let encoded = b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\r\n\
        Date: Tue, 3 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\nDer Preis ist 5 =E2=82=AC.\r\n"
        .to_vec();
    s.service()
        .append(
            &alice,
            "INBOX",
            message("plain", "nothing here"),
            &Flags::default(),
            None,
        )
        .await
        .unwrap();
    s.service()
        .append(&alice, "INBOX", encoded, &Flags::default(), None)
        .await
        .unwrap();
    let mut a = s.login("alice").await;
    a.ok("SELECT INBOX").await;
    let search = async |a: &mut Client, q: &str| a.ok(&format!("SEARCH {q}")).await[0].clone();
    assert_eq!(
        search(&mut a, "CHARSET UTF-8 SUBJECT {7+}\r\ngrüße").await,
        "* SEARCH 2"
    );
    assert_eq!(search(&mut a, "CHARSET UTF-8 BODY {3+}\r\n€").await, "* SEARCH 2");
    // 8-bit text must come as a literal, not as an atom.
    a.fails("SEARCH FROM jürgen", "BAD").await;
    assert_eq!(search(&mut a, "CHARSET UTF-8 FROM {7+}\r\njürgen").await, "* SEARCH 2");
    assert_eq!(search(&mut a, "TEXT \"nothing here\"").await, "* SEARCH 1");
    assert_eq!(search(&mut a, "SENTON 3-Nov-2026").await, "* SEARCH 2");
    assert_eq!(search(&mut a, "SENTBEFORE 3-Nov-2026").await, "* SEARCH 1");
    assert_eq!(search(&mut a, "OR SUBJECT plain LARGER 100000").await, "* SEARCH 1");
    assert_eq!(search(&mut a, "NOT 1 UNSEEN").await, "* SEARCH 2");
    assert_eq!(a.ok("UID SEARCH ALL").await[0], "* SEARCH 1 2");
    let bad = a.fails("SEARCH CHARSET KOI8-R ALL", "NO").await;
    assert!(bad.contains("[BADCHARSET"), "{bad}");
    a.fails("SEARCH NOSUCHKEY", "BAD").await;
});

server_test!(tls_from_the_start_and_after_starttls, async |s: Server| {
    s.user("alice").await;
    let connector = s.tls_connector();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

    let mut plain = s.connect().await;
    let caps = plain.ok("CAPABILITY").await;
    assert!(
        caps[0].contains(" STARTTLS") && caps[0].contains("AUTH=PLAIN"),
        "{caps:?}"
    );
    plain.ok("STARTTLS").await;
    let tls = connector
        .connect(name.clone(), plain.into_inner())
        .await
        .expect("handshake");
    let mut upgraded = Client::new(Box::new(tls));
    let caps = upgraded.ok("CAPABILITY").await;
    assert!(!caps[0].contains("STARTTLS"), "{caps:?}");
    upgraded.ok("LOGIN alice pw-alice").await;
    upgraded.ok("SELECT INBOX").await;

    let tcp = tokio::net::TcpStream::connect(s.imaps).await.unwrap();
    let tls = connector.connect(name, tcp).await.expect("implicit TLS handshake");
    let mut implicit = Client::greeted(Box::new(tls)).await;
    // AUTHENTICATE PLAIN with an initial response (SASL-IR).
    implicit.ok("AUTHENTICATE PLAIN AGFsaWNlAHB3LWFsaWNl").await;
    implicit.ok("LIST \"\" INBOX").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_tls_refuses_plain_logins() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start_with(world, |o| o.imap_config.require_tls = true).await;
    s.user("alice").await;
    let mut c = s.connect().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps[0].contains("LOGINDISABLED") && !caps[0].contains("AUTH=PLAIN"),
        "{caps:?}"
    );
    let refused = c.fails("LOGIN alice pw-alice", "NO").await;
    assert!(refused.contains("[PRIVACYREQUIRED]"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start_with(world, |o| o.login_failures = (3, Duration::from_secs(600))).await;
    s.user("alice").await;
    s.user("bob").await;
    let mut c = s.connect().await;
    for _ in 0..4 {
        let no = c.fails("LOGIN alice wrong", "NO").await;
        assert!(
            no.contains("[AUTHENTICATIONFAILED]") || no.contains("[UNAVAILABLE]"),
            "{no}"
        );
    }
    // Now even the right password is refused, from this address and for this account.
    let no = c.fails("LOGIN alice pw-alice", "NO").await;
    assert!(no.contains("[UNAVAILABLE]"), "{no}");
    let mut other = s.connect().await;
    assert!(other.fails("LOGIN bob pw-bob", "NO").await.contains("[UNAVAILABLE]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_and_sessions_per_account_are_limited() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start_with(world, |o| {
        o.connections_per_ip = 3;
        o.connections_per_account = 1;
    })
    .await;
    s.user("alice").await;
    let mut first = s.login("alice").await;
    let mut second = s.connect().await;
    assert!(second.fails("LOGIN alice pw-alice", "NO").await.contains("[LIMIT]"));
    let _third = s.connect().await;
    let tcp = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    let mut fourth = tokio::io::BufReader::new(tcp);
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut fourth, &mut line)
        .await
        .unwrap();
    assert!(line.starts_with("* BYE"), "{line}");
    first.ok("NOOP").await;
}

server_test!(
    list_extended_subscriptions_special_use_and_utf7_names,
    async |s: Server| {
        let alice = s.user("alice").await;
        s.user("bob").await;
        s.service().create_mailbox(&alice, "Projects/2026").await.unwrap();
        s.service().set_acl(&alice, "Projects", "bob", "lr").await.unwrap();
        let mut b = s.login("bob").await;
        // Special-use mailboxes of a new account, with their attributes.
        let listed = b.ok("LIST \"\" \"%\" RETURN (SPECIAL-USE)").await;
        assert!(
            listed.contains(&"* LIST (\\HasNoChildren \\Sent) \"/\" Sent".to_owned()),
            "{listed:?}"
        );
        assert!(
            listed.contains(&"* LIST (\\HasNoChildren \\Trash) \"/\" Trash".to_owned()),
            "{listed:?}"
        );
        let special = b.ok("LIST (SPECIAL-USE) \"\" \"*\"").await;
        assert_eq!(special.len(), 4, "{special:?}");
        // The other-users level shows as a non-selectable parent.
        let top = b.ok("LIST \"\" \"~%\"").await;
        assert_eq!(top, ["* LIST (\\Noselect \\HasChildren) \"/\" ~alice"]);
        // Subscriptions are per user and what LSUB and LIST (SUBSCRIBED) show.
        b.ok("SUBSCRIBE ~alice/Projects").await;
        let subscribed = b.ok("LIST (SUBSCRIBED) \"\" \"*\"").await;
        assert_eq!(
            subscribed,
            ["* LIST (\\HasNoChildren \\Subscribed) \"/\" ~alice/Projects"]
        );
        assert_eq!(b.ok("LSUB \"\" \"*\"").await, ["* LSUB () \"/\" ~alice/Projects"]);
        let both = b
            .ok("LIST \"\" (\"~alice/*\" INBOX) RETURN (SUBSCRIBED CHILDREN)")
            .await;
        assert!(
            both.iter()
                .any(|l| l.contains("\\Subscribed") && l.ends_with("~alice/Projects")),
            "{both:?}"
        );
        assert!(both.iter().any(|l| l.ends_with(" INBOX")), "{both:?}");
        // Names travel in modified UTF-7.
        b.ok("CREATE \"Entw&APw-rfe\"").await;
        assert!(
            s.world
                .mailbox_names(
                    &s.service()
                        .authenticate("bob", "pw-bob", mailroom::service::LOCAL)
                        .await
                        .unwrap()
                )
                .await
                .contains(&"Entwürfe".to_owned())
        );
        let utf7 = b.ok("LIST \"\" \"Entw*\"").await;
        assert_eq!(utf7, ["* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe"]);
        // Well-formed, but no mailbox can have the name: refused (NO).
        b.fails("CREATE \"bad&Jjo\"", "NO").await;
        // No \Seen side effects in an EXAMINEd mailbox.
        b.ok("EXAMINE INBOX").await;
        b.ok("UNSELECT").await;
        b.fails("FETCH 1 FLAGS", "BAD").await;
    }
);

server_test!(
    concurrent_stores_each_apply_once_under_their_own_modseq,
    async |s: Server| {
        // Flag changes that queue behind one writer are written together
        // in one transaction: each must still be applied exactly once,
        // under its own MODSEQ, and answered to the session that sent it.
        let alice = s.user("alice").await;
        for i in 0..4 {
            s.service()
                .append(&alice, "INBOX", message(&format!("m{i}"), "x"), &Flags::default(), None)
                .await
                .unwrap();
        }
        let before = s.service().mailbox(&alice, "INBOX").await.unwrap().highest_modseq;
        const SESSIONS: usize = 6;
        const ROUNDS: usize = 30;
        let mut tasks = Vec::new();
        for i in 0..SESSIONS {
            let mut c = s.login("alice").await;
            tasks.push(tokio::spawn(async move {
                c.ok("SELECT INBOX").await;
                let keyword = format!("$k{i}");
                for round in 0..=2 * ROUNDS {
                    let (sign, has) = if round % 2 == 0 { ('+', true) } else { ('-', false) };
                    let answer = c.ok(&format!("STORE 1:4 {sign}FLAGS ({keyword})")).await;
                    // Its own answer: each message's new flags, with or
                    // without its keyword as it asked (others' changes
                    // reported alongside may be older).
                    for n in 1..=4 {
                        assert!(
                            answer
                                .iter()
                                .any(|l| l.starts_with(&format!("* {n} FETCH (")) && l.contains(&keyword) == has),
                            "{keyword} round {round}: {answer:?}"
                        );
                    }
                }
                c.ok("LOGOUT").await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut c = s.login("alice").await;
        c.ok("SELECT INBOX").await;
        let flags = c.ok("FETCH 1:4 FLAGS").await;
        for line in &flags {
            for i in 0..SESSIONS {
                assert!(line.contains(&format!("$k{i}")), "{flags:?}");
            }
        }
        // Every STORE changed something: one MODSEQ each, none shared.
        let after = s.service().mailbox(&alice, "INBOX").await.unwrap().highest_modseq;
        let stores = (SESSIONS * (2 * ROUNDS + 1)) as u64;
        assert_eq!(after - before, stores);
        let log = |what: &str| {
            format!(
                "SELECT {what} FROM changes WHERE modseq > {before} AND mailbox_id = \
                 (SELECT id FROM mailboxes WHERE account_id = {} AND name = 'INBOX')",
                alice.account_id()
            )
        };
        let rows = s.world.db.number(&log("COUNT(*)")).await as u64;
        assert_eq!(rows, stores * 4, "one row per message per STORE");
        let modseqs = s.world.db.number(&log("COUNT(DISTINCT modseq)")).await as u64;
        assert_eq!(modseqs, stores, "four rows under each MODSEQ");
    }
);
