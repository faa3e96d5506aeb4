//! The web gateway over HTTP: sign-in and sessions, the same-origin rule,
//! rights enforced on form posts (not only by hidden buttons), downloads,
//! change events, and paged lists and search in the service — on SQLite
//! and PostgreSQL. Clicking through the pages is `end2end/`'s part.

use mailroom::service::now;
use mailroom_shared::Flags;
use mailroom_shared::dto::{PageAt, SortKey};
use mailroom_tests::http::Browser;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World, server_test};
use tokio::io::AsyncBufReadExt;

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!("From: Dave <dave@example.org>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\r\n{body}\r\n")
        .into_bytes()
}

/// A browser signed in as `user` (an account made by `server.user`).
async fn signed_in(server: &Server, user: &str) -> Browser {
    Browser::signed_in(server, user, &format!("pw-{user}")).await
}

server_test!(
    sessions_are_strict_cookies_that_sign_out_and_password_changes_end,
    |server: Server| async move {
        server.user("alice").await;
        let anonymous = Browser::new(server.running.http);
        let r = anonymous.get("/mail?box=INBOX").await;
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login?next=/mail%3Fbox%3DINBOX"))
        );

        let r = anonymous
            .post_form("/login", "login=alice&password=wrong&next=/mail")
            .await;
        assert_eq!(r.status, 303);
        assert!(r.header("location").unwrap().starts_with("/login?error=Wrong"), "{r:?}");
        assert!(r.session_cookie().is_none());

        let r = anonymous
            .post_form("/login", "login=alice&password=pw-alice&next=//evil.example")
            .await;
        assert_eq!(r.header("location"), Some("/mail"), "no open redirect");
        let set_cookie = r.header("set-cookie").unwrap();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
            "{set_cookie}"
        );

        let mut alice = Browser::new(server.running.http);
        alice.sign_in("alice", "pw-alice").await;
        let r = alice.get("/mail").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-frame-options"),
            Some("DENY"),
            "other sites must not frame the mail view"
        );
        assert!(r.body.contains("alice@example.com"), "the page shows who is signed in");
        let stolen = alice.cookie.clone();
        let r = alice.post_form("/logout", "").await;
        assert_eq!((r.status, r.header("location")), (303, Some("/login")));
        let replay = Browser {
            addr: server.running.http,
            cookie: stolen,
        };
        assert_eq!(replay.get("/mail").await.status, 303, "a signed-out token still worked");

        let alice = signed_in(&server, "alice").await;
        let admin = server.world.admin.clone();
        server
            .service()
            .set_password(&admin, "alice", "a brand new password")
            .await
            .unwrap();
        assert_eq!(
            alice.get("/mail").await.status,
            303,
            "a password change must end web sessions"
        );
    }
);

server_test!(posts_from_other_sites_change_nothing, |server: Server| async move {
    let p = server.user("alice").await;
    let alice = signed_in(&server, "alice").await;
    let report = server
        .service()
        .deliver("alice", message("Hi", "hello"), None)
        .await
        .unwrap();
    let form = format!("mailbox=INBOX&uid={}&op=delete", report.uid());
    let forged = [
        vec![("Origin", "https://evil.example")],
        vec![("Referer", "https://evil.example/page")],
        vec![],
    ];
    for headers in forged {
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend(headers);
        let r = alice.send("POST", "/actions", &all, form.as_bytes()).await;
        assert_eq!(r.status, 403, "{r:?}");
    }
    let (_, rows) = server.service().messages(&p, "INBOX").await.unwrap();
    assert_eq!(rows.len(), 1, "a forged post deleted mail");
});

server_test!(
    rights_hold_on_form_posts_not_only_in_buttons,
    |server: Server| async move {
        let alice_p = server.user("alice").await;
        server.user("bob").await;
        let bob = signed_in(&server, "bob").await;
        let service = server.service();
        service.set_acl(&alice_p, "INBOX", "bob", "lr").await.unwrap();
        let report = service
            .deliver("alice", message("Shared news", "read me"), None)
            .await
            .unwrap();

        let page = bob.get("/mail?box=~alice/INBOX").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Shared news"), "bob may read it");
        assert!(
            !page.body.contains("value=\"delete\""),
            "a Delete button offered without the rights"
        );
        assert!(!page.body.contains("value=\"read\""), "Mark read offered without 's'");

        for op in ["delete", "read", "flag", "move"] {
            let form = format!(
                "mailbox=~alice/INBOX&uid={}&op={op}&target=INBOX&back=/mail",
                report.uid()
            );
            let r = bob.post_form("/actions", &form).await;
            assert_eq!(r.status, 303);
            assert!(r.header("location").unwrap().contains("error="), "{op}: {r:?}");
        }
        let (_, rows) = service.messages(&alice_p, "INBOX").await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(
            rows[0].flags.system_flags().next().is_none(),
            "flags changed: {:?}",
            rows[0].flags
        );

        let r = bob
            .post_form("/folders", "op=delete&confirmed=1&name=~alice/INBOX")
            .await;
        assert!(r.header("location").unwrap().contains("error="), "{r:?}");
        assert!(service.mailbox(&alice_p, "INBOX").await.is_ok());
    }
);

server_test!(
    attachments_download_with_their_name_and_type,
    |server: Server| async move {
        server.user("alice").await;
        server.user("bob").await;
        let alice = signed_in(&server, "alice").await;
        let raw = b"From: a@example.org\r\nTo: alice@example.com\r\nSubject: report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/pdf; name=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\n\
Content-Disposition: attachment; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n";
        let report = server.service().deliver("alice", raw.to_vec(), None).await.unwrap();
        let r = alice
            .get(&format!("/attachment?box=INBOX&uid={}&part=1", report.uid()))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/pdf"));
        let disposition = r.header("content-disposition").unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"r_sum_.pdf\""),
            "{disposition}"
        );
        assert!(
            disposition.contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
            "{disposition}"
        );
        assert_eq!(r.body, "%PDF-1.4");

        let raw = alice.get(&format!("/raw?box=INBOX&uid={}", report.uid())).await;
        assert_eq!(raw.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(raw.body.contains("Subject: report"));

        let bob = signed_in(&server, "bob").await;
        let r = bob
            .get(&format!("/attachment?box=~alice/INBOX&uid={}&part=1", report.uid()))
            .await;
        assert_eq!(r.status, 404, "bob cannot see alice's INBOX at all");
        let anonymous = Browser::new(server.running.http);
        assert_eq!(anonymous.get("/raw?box=INBOX&uid=1").await.status, 401);
    }
);

server_test!(
    change_events_follow_deliveries_to_visible_folders,
    |server: Server| async move {
        server.user("alice").await;
        let alice = signed_in(&server, "alice").await;
        let mut events = alice.events().await;
        server
            .service()
            .deliver("alice", message("Ping", "x"), None)
            .await
            .unwrap();
        let mut line = String::new();
        let saw_change = tokio::time::timeout(mailroom_tests::PATIENCE, async {
            loop {
                line.clear();
                events.read_line(&mut line).await.unwrap();
                if line.starts_with("data: changed") {
                    return;
                }
            }
        })
        .await;
        assert!(saw_change.is_ok(), "no change event within 5 s");
        let anonymous = Browser::new(server.running.http);
        assert_eq!(anonymous.get("/events").await.status, 401);
    }
);

mailroom_tests::both_backends!(pages_sorts_and_search, |world: World| async move {
    let alice = world.user("alice").await;
    let s = &world.service;
    let base = now() - 10_000;
    for i in 0..120 {
        let body = if i == 42 {
            "the hidden needle is here"
        } else {
            "ordinary words"
        };
        let raw = message(&format!("Message {i:03}"), &format!("{body} {}", "x".repeat(i)));
        s.append(&alice, "INBOX", raw, &Flags::default(), Some(base + i as i64))
            .await
            .unwrap();
    }
    let page = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, None)
        .await
        .unwrap();
    assert_eq!((page.total, page.messages.len()), (120, 50));
    assert_eq!(page.messages[0].subject, "Message 119", "newest first");
    let last = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(100), 50, None)
        .await
        .unwrap();
    assert_eq!(last.messages.len(), 20);
    assert_eq!(last.messages[19].subject, "Message 000");
    let by_subject = s
        .page(&alice, "INBOX", SortKey::Subject, PageAt::at(0), 3, None)
        .await
        .unwrap();
    assert_eq!(by_subject.messages[0].subject, "Message 000");
    let by_size = s
        .page(&alice, "INBOX", SortKey::Size, PageAt::at(0), 1, None)
        .await
        .unwrap();
    assert_eq!(by_size.messages[0].subject, "Message 119");

    let found = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("needle"))
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.messages[0].subject, "Message 042");
    let sender = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("dave"))
        .await
        .unwrap();
    assert_eq!(sender.total, 120);
    let nothing = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("\"OR NEAR("))
        .await
        .unwrap();
    assert_eq!(nothing.total, 0, "query syntax in a search is taken as words");

    let bob = world.user("bob").await;
    assert!(
        s.page(&bob, "~alice/INBOX", SortKey::Date, PageAt::at(0), 50, Some("needle"))
            .await
            .is_err()
    );
});

// Deliveries write the message, its content, summary and words, the
// mailbox's counters and the change log together (on PostgreSQL in one
// statement): the list, its sorts, search and counts must all see them —
// for new content and for content stored already for someone else.
mailroom_tests::both_backends!(delivered_mail_is_listed_sorted_and_found, |world: World| async move {
    let alice = world.user("alice").await;
    let bob = world.user("bob").await;
    let s = &world.service;
    let mail = |from: &str, subject: &str, body: &str| {
        format!("From: {from}\r\nTo: alice@example.com, bob@example.com\r\nSubject: {subject}\r\n\r\n{body}\r\n")
            .into_bytes()
    };
    let zed = mail("Zed <zed@example.org>", "Alpha", "a quokka appears");
    let first = s.deliver("alice", zed.clone(), Some("zed@example.org")).await.unwrap();
    let again = s.deliver("bob", zed, Some("zed@example.org")).await.unwrap();
    let amy = s
        .deliver("bob", mail("Amy <amy@example.org>", "Zulu", "nothing"), None)
        .await
        .unwrap();
    let yves = s
        .deliver("bob", mail("Yves <yves@example.org>", "Beta", "nothing"), None)
        .await
        .unwrap();
    assert_eq!((first.uid(), again.uid(), amy.uid(), yves.uid()), (1, 1, 2, 3));

    let mut modseqs = Vec::new();
    for (who, total) in [(&alice, 1), (&bob, 3)] {
        let page = s
            .page(who, "INBOX", SortKey::Date, PageAt::at(0), 50, None)
            .await
            .unwrap();
        assert_eq!(page.total, total);
        assert_eq!(page.mailbox.uidnext, total + 1);
        modseqs.push(page.mailbox.highest_modseq);
        let found = s
            .page(who, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("quokka"))
            .await
            .unwrap();
        assert_eq!(
            found.messages.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
            ["Alpha"]
        );
        assert_eq!(found.messages[0].sender, "Zed");
    }
    assert_eq!(modseqs[1], modseqs[0] + 2, "a MODSEQ per delivery");
    // Senders Zed, Amy, Yves: sender and subject orders differ, so a
    // sort key taken from the wrong field shows.
    for (sort, order) in [
        (SortKey::Sender, ["Zulu", "Beta", "Alpha"]),
        (SortKey::Subject, ["Alpha", "Beta", "Zulu"]),
    ] {
        let page = s.page(&bob, "INBOX", sort, PageAt::at(0), 50, None).await.unwrap();
        let subjects: Vec<&str> = page.messages.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(subjects, order, "{sort:?}");
    }
    let folders = s.folders(&bob).await.unwrap();
    let inbox = folders.iter().find(|f| f.info.name == "INBOX").unwrap();
    assert_eq!((inbox.counts.messages, inbox.counts.unseen), (3, 3), "{inbox:?}");
});

// PostgreSQL's word index is given each word of a text once (parsing the
// same words again was most of its CPU per delivery): the words it holds
// must be the whole text's, however the parser splits them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_word_index_holds_the_words_of_the_whole_text() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    world.user("alice").await;
    let body = "See <a href=\"x y\">the link</a> and http://example.com/a?b=1 or\r\n\
                mail carol.jones@example.net: foo-bar_baz v1.2.3, 1,000.50 e-mail co-op's\r\n\
                O'Brien Ünïcode STRASSE straße /usr/bin/x -12 tag<br/>x <p class=\"a b\">para</p>\r\n\
                See the link and the link again, SEE see e-mail O'Brien";
    world
        .service
        .deliver(
            "alice",
            format!(
                "From: dave@example.org\r\nSubject: Words\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            )
            .into_bytes(),
            None,
        )
        .await
        .unwrap();
    let whole = format!("to_tsvector('simple', '{}')", body.replace('\'', "''"));
    let stored = "SELECT lexeme FROM summaries, unnest(words) WHERE subject = 'Words' AND 'D' = ANY(weights)";
    let lexemes = world.db.number(&format!("SELECT COUNT(*) FROM unnest({whole})")).await;
    assert!(lexemes > 30, "{lexemes}");
    for (what, sql) in [
        (
            "missing",
            format!("SELECT COUNT(*) FROM (SELECT lexeme FROM unnest({whole}) EXCEPT {stored}) x"),
        ),
        (
            "extra",
            format!("SELECT COUNT(*) FROM ({stored} EXCEPT SELECT lexeme FROM unnest({whole})) x"),
        ),
    ] {
        assert_eq!(world.db.number(&sql).await, 0, "{what} words in the index");
    }
}

server_test!(
    failed_sign_ins_are_throttled_with_imap_logins,
    // Ten failures in a burst, remembered long enough that a slow machine's
    // eleven password checks still fall in one window.
    options: |o: &mut mailroom::serve::Options| o.login_failures = (10, std::time::Duration::from_secs(600)),
    |server: Server| async move {
        server.user("alice").await;
        let browser = Browser::new(server.running.http);
        // Ten failures are allowed in a burst; the eleventh locks the account.
        for _ in 0..11 {
            let r = browser
                .post_form("/login", "login=alice&password=guess&next=/mail")
                .await;
            assert!(r.header("location").unwrap().contains("error="), "{r:?}");
        }
        let r = browser
            .post_form("/login", "login=alice&password=pw-alice&next=/mail")
            .await;
        assert!(r.header("location").unwrap().contains("Too%20many"), "{r:?}");
        assert!(
            r.session_cookie().is_none(),
            "the right password got through the lock-out"
        );
        let mut imap = server.connect().await;
        let refused = imap.fails("LOGIN alice pw-alice", "NO").await;
        assert!(refused.contains("UNAVAILABLE"), "{refused}");
    }
);

server_test!(pages_and_their_data_are_never_cached, |server: Server| async move {
    server.user("alice").await;
    let alice = signed_in(&server, "alice").await;
    for path in ["/mail", "/mail?box=INBOX", "/compose", "/login"] {
        let r = alice.get(path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    }
    let r = alice.post_form("/actions", "mailbox=INBOX&op=flag").await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
});

mailroom_tests::both_backends!(search_operators, |world: World| async move {
    let alice = world.user("alice").await;
    let s = &world.service;
    let base = now() - 10_000;
    let mail = |from: &str, to: &str, subject: &str, extra: &str| {
        format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\nsome budget words\r\n").into_bytes()
    };
    let file = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbudget\r\n\
                --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=q3-figures.pdf\r\n\r\n%PDF\r\n--b--";
    for (i, raw) in [
        mail("Carol Jones <carol@example.net>", "alice@example.com", "Zebra plan", ""),
        mail("Dave <dave@example.org>", "team@example.com", "Apple plan", ""),
        mail("Dave <dave@example.org>", "alice@example.com", "Figures", file),
    ]
    .into_iter()
    .enumerate()
    {
        s.append(&alice, "INBOX", raw, &Flags::default(), Some(base + i as i64))
            .await
            .unwrap();
    }
    s.create_mailbox(&alice, "Archive").await.unwrap();
    s.append(
        &alice,
        "Archive",
        mail("Eve <eve@example.com>", "alice@example.com", "Old plan", ""),
        &Flags::default(),
        Some(base),
    )
    .await
    .unwrap();
    let find = async |q: &str, sort: SortKey| -> Vec<String> {
        let page = s.page(&alice, "INBOX", sort, PageAt::at(0), 50, Some(q)).await.unwrap();
        page.messages.iter().map(|m| m.subject.clone()).collect()
    };
    assert_eq!(find("from:carol@example.net", SortKey::Date).await, ["Zebra plan"]);
    assert_eq!(find("from:carol", SortKey::Date).await, ["Zebra plan"]);
    assert_eq!(find("from:\"Carol Jones\"", SortKey::Date).await, ["Zebra plan"]);
    assert_eq!(find("to:team@example.com", SortKey::Date).await, ["Apple plan"]);
    assert_eq!(
        find("subject:plan", SortKey::Subject).await,
        ["Apple plan", "Zebra plan"]
    );
    assert_eq!(find("q3-figures", SortKey::Date).await, ["Figures"], "attachment names");
    assert_eq!(find("has:attachment", SortKey::Date).await, ["Figures"]);
    assert_eq!(
        find("is:unread from:dave", SortKey::Subject).await,
        ["Apple plan", "Figures"]
    );
    assert!(find("is:flagged", SortKey::Date).await.is_empty());
    assert!(find("before:2000-01-01", SortKey::Date).await.is_empty());
    assert_eq!(
        find("after:2000-01-01 subject:zebra", SortKey::Date).await,
        ["Zebra plan"]
    );
    let everywhere = s
        .page(
            &alice,
            "INBOX",
            SortKey::Subject,
            PageAt::at(0),
            50,
            Some("plan in:all"),
        )
        .await
        .unwrap();
    let found: Vec<(String, Option<String>)> = everywhere
        .messages
        .iter()
        .map(|m| (m.subject.clone(), m.mailbox.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("Apple plan".to_owned(), Some("INBOX".to_owned())),
            ("Old plan".to_owned(), Some("Archive".to_owned())),
            ("Zebra plan".to_owned(), Some("INBOX".to_owned())),
        ]
    );
    // Another user's search of every folder finds nothing of alice's.
    let bob = world.user("bob").await;
    let theirs = s
        .page(&bob, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("plan in:all"))
        .await
        .unwrap();
    assert_eq!(theirs.total, 0);
});

// Keyset pages (read from the message next to them) are the same pages
// as by offset, in every sort, forwards and backwards, and a page whose
// anchor was expunged meanwhile falls back to its offset.
mailroom_tests::both_backends!(keyset_pages_match_offset_pages, |world: World| async move {
    use mailroom_shared::dto::Anchor;
    let alice = world.user("alice").await;
    let s = &world.service;
    let base = now() - 10_000;
    for i in 0..37u32 {
        // Few senders, subjects and sizes, many dates alike: ties in every
        // sort, broken by UID.
        let raw = format!(
            "From: Person {} <p{}@example.org>\r\nTo: alice@example.com\r\nSubject: Topic {}\r\n\r\n{}\r\n",
            i % 4,
            i % 4,
            i % 3,
            "x".repeat((i % 5) as usize)
        );
        s.append(
            &alice,
            "INBOX",
            raw.into_bytes(),
            &Flags::default(),
            Some(base + i64::from(i / 2)),
        )
        .await
        .unwrap();
    }
    let uids = |p: &mailroom_shared::dto::MessagePage| p.messages.iter().map(|m| m.uid).collect::<Vec<_>>();
    for sort in [SortKey::Date, SortKey::Sender, SortKey::Subject, SortKey::Size] {
        let whole = s.page(&alice, "INBOX", sort, PageAt::at(0), 100, None).await.unwrap();
        let whole = uids(&whole);
        assert_eq!(whole.len(), 37);
        // Forwards, page by page from each page's last message.
        let mut walked = Vec::new();
        let mut at = PageAt::at(0);
        loop {
            let page = s.page(&alice, "INBOX", sort, at, 5, None).await.unwrap();
            let got = uids(&page);
            let from = (at.offset as usize).min(37);
            assert_eq!(got, whole[from..(from + 5).min(37)], "{sort:?} at {at:?}");
            let Some(&last) = got.last() else { break };
            walked.extend(got);
            at = PageAt {
                offset: at.offset + 5,
                anchor: Some(Anchor::After(last)),
            };
        }
        assert_eq!(walked, whole, "{sort:?}: every message once, in order");
        // Backwards from the last page's first message.
        let before = PageAt {
            offset: 30,
            anchor: Some(Anchor::Before(whole[35])),
        };
        let page = s.page(&alice, "INBOX", sort, before, 5, None).await.unwrap();
        assert_eq!(uids(&page), whole[30..35], "{sort:?} backwards");
    }
    // The anchor is gone: the page is read by its offset.
    let whole = uids(
        &s.page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 100, None)
            .await
            .unwrap(),
    );
    s.store_flags(
        &alice,
        "INBOX",
        &[whole[9]],
        mailroom_shared::FlagOp::Add,
        &Flags::parse(["\\Deleted"]).unwrap(),
    )
    .await
    .unwrap();
    s.expunge(&alice, "INBOX", None).await.unwrap();
    let at = PageAt {
        offset: 10,
        anchor: Some(Anchor::After(whole[9])),
    };
    let page = s.page(&alice, "INBOX", SortKey::Date, at, 5, None).await.unwrap();
    assert_eq!(uids(&page), whole[11..16]);
});

// The folder counts the store keeps (migration 15's triggers) agree with
// counting the messages after every kind of change, in shared and
// per-user `\Seen` mailboxes.
mailroom_tests::both_backends!(kept_counts_match_the_messages, |world: World| async move {
    use mailroom_shared::FlagOp;
    use mailroom_shared::dto::SeenMode;
    let alice = world.user("alice").await;
    let bob = world.user("bob").await;
    let s = &world.service;
    s.create_mailbox(&alice, "Team").await.unwrap();
    s.set_acl(&alice, "Team", "bob", "lrswite").await.unwrap();
    let seen = Flags::parse(["\\Seen"]).unwrap();
    for (i, flags) in [
        Flags::default(),
        seen.clone(),
        Flags::default(),
        seen.clone(),
        Flags::default(),
    ]
    .into_iter()
    .enumerate()
    {
        for folder in ["INBOX", "Team"] {
            let raw = message(&format!("Counted {i}"), "text");
            s.append(&alice, folder, raw, &flags, None).await.unwrap();
        }
    }
    let check = async |who: &mailroom::service::Principal, folder: &str, want: (u32, u32)| {
        let folders = s.folders(who).await.unwrap();
        let f = folders
            .iter()
            .find(|f| f.info.name == folder)
            .unwrap_or_else(|| panic!("{folder}"));
        assert_eq!((f.counts.messages, f.counts.unseen), want, "{folder}");
    };
    check(&alice, "INBOX", (5, 3)).await;
    s.store_flags(&alice, "INBOX", &[1, 3], FlagOp::Add, &seen)
        .await
        .unwrap();
    check(&alice, "INBOX", (5, 1)).await;
    s.store_flags(&alice, "INBOX", &[1, 2], FlagOp::Remove, &seen)
        .await
        .unwrap();
    check(&alice, "INBOX", (5, 3)).await;
    s.store_flags(
        &alice,
        "INBOX",
        &[1, 2],
        FlagOp::Add,
        &Flags::parse(["\\Deleted"]).unwrap(),
    )
    .await
    .unwrap();
    s.expunge(&alice, "INBOX", None).await.unwrap();
    check(&alice, "INBOX", (3, 1)).await;
    s.copy(&alice, "INBOX", &[3, 4, 5], "Team").await.unwrap();
    check(&alice, "Team", (8, 4)).await;
    s.move_messages(&alice, "Team", &[1, 2], "INBOX").await.unwrap();
    check(&alice, "INBOX", (5, 2)).await;
    check(&alice, "Team", (6, 3)).await;

    // Each reader's own \Seen: bob has seen nothing yet, alice what she
    // marks from now on. (A \Seen set while it was shared stays on the
    // message for everyone, so the folder starts unread.)
    s.store_flags(&alice, "Team", &[3, 4, 5, 6, 7, 8], FlagOp::Remove, &seen)
        .await
        .unwrap();
    check(&alice, "Team", (6, 6)).await;
    s.set_seen_mode(&alice, "Team", SeenMode::PerUser).await.unwrap();
    check(&bob, "~alice/Team", (6, 6)).await;
    let team_uids: Vec<u32> = s
        .page(&bob, "~alice/Team", SortKey::Date, PageAt::at(0), 50, None)
        .await
        .unwrap()
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();
    s.store_flags(&bob, "~alice/Team", &team_uids[..4], FlagOp::Add, &seen)
        .await
        .unwrap();
    check(&bob, "~alice/Team", (6, 2)).await;
    check(&alice, "Team", (6, 6)).await;
    s.store_flags(&bob, "~alice/Team", &team_uids[..1], FlagOp::Remove, &seen)
        .await
        .unwrap();
    check(&bob, "~alice/Team", (6, 3)).await;
    s.store_flags(
        &bob,
        "~alice/Team",
        &team_uids[1..2],
        FlagOp::Add,
        &Flags::parse(["\\Deleted"]).unwrap(),
    )
    .await
    .unwrap();
    s.expunge(&bob, "~alice/Team", None).await.unwrap();
    check(&bob, "~alice/Team", (5, 3)).await;

    // The kept numbers are what counting says, row for row.
    let kept = world
        .db
        .number("SELECT COUNT(*) FROM mailboxes b WHERE b.message_count <> (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id) OR b.unseen_count <> (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id AND (m.system_flags & 1) = 0)")
        .await;
    assert_eq!(kept, 0, "every mailbox's kept counts match its messages");
    let readers = world
        .db
        .number("SELECT COUNT(*) FROM seen_counts c WHERE c.seen <> (SELECT COUNT(*) FROM seen_by r WHERE r.mailbox_id = c.mailbox_id AND r.account_id = c.account_id)")
        .await;
    assert_eq!(readers, 0, "every reader's kept count matches their read marks");
    s.delete_mailbox(&alice, "Team").await.unwrap();
    assert_eq!(world.db.number("SELECT COUNT(*) FROM seen_counts").await, 0);
});

// A big import ends by refreshing the statistics and, on SQLite, merging
// the word index (a segment per transaction before, one after): every
// word is found as before, and the index holds fewer pages.
mailroom_tests::both_backends!(
    the_word_index_merged_after_an_import_finds_every_word,
    |world: World| async move {
        let alice = world.user("alice").await;
        let s = &world.service;
        for round in 0..40u32 {
            let batch = (0..5u32)
                .map(|i| mailroom::service::Incoming {
                    content: message(&format!("Batch {round} item {i}"), &format!("word{round} shared")),
                    flags: Flags::default(),
                    internal_date: None,
                    envelope_from: None,
                })
                .collect();
            s.import(&alice, "INBOX", batch).await.unwrap();
        }
        let found = async || {
            let mut totals = Vec::new();
            for q in ["shared", "word0", "word7", "word39", "batch 12", "nowhere"] {
                let p = s
                    .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some(q))
                    .await
                    .unwrap();
                totals.push((q, p.total));
            }
            totals
        };
        let before = found().await;
        assert_eq!(before[0].1, 200);
        assert_eq!(before[1].1, 5);
        let sqlite = !world.db.url.starts_with("postgres");
        let pages = "SELECT COUNT(*) FROM message_text_data";
        let pages_before = if sqlite { world.db.number(pages).await } else { 0 };
        s.refresh_statistics().await.unwrap();
        assert_eq!(found().await, before);
        if sqlite {
            let pages_after = world.db.number(pages).await;
            assert!(
                pages_after < pages_before,
                "not merged: {pages_before} pages, then {pages_after}"
            );
        }
    }
);

/// `count` messages to import, each its own content: "{subject} {i}",
/// one second apart, the last the newest.
/// `count` messages, subjects "{subject} 0" on, each with `body`.
fn numbered(subject: &str, body: &str, count: u32) -> Vec<mailroom::service::Incoming> {
    mailroom_tests::numbered(count, |i| message(&format!("{subject} {i}"), body))
}

// A search counts its matches exactly up to a cap, then says "more":
// counting every match of a common word in a big mailbox would read them
// all. A page past the cap is still found, and counts as far as it reaches.
mailroom_tests::both_backends!(a_common_word_is_counted_to_a_cap, |world: World| async move {
    let alice = world.user("alice").await;
    let s = &world.service;
    let cap = mailroom::service::SEARCH_COUNT;
    // More than a thousand, so that SQLite walks the list's index too.
    let all = 2 * cap + 120;
    s.import(&alice, "INBOX", numbered("Common", "a common word", all))
        .await
        .unwrap();
    for sort in [SortKey::Date, SortKey::Sender] {
        let first = s
            .page(&alice, "INBOX", sort, PageAt::at(0), 50, Some("common"))
            .await
            .unwrap();
        assert_eq!(
            (first.total, first.more, first.messages.len()),
            (cap, true, 50),
            "{sort:?}"
        );
        let deeper = s
            .page(&alice, "INBOX", sort, PageAt::at(cap), 50, Some("common"))
            .await
            .unwrap();
        assert_eq!(
            (deeper.total, deeper.more, deeper.messages.len()),
            (cap + 50, true, 50),
            "{sort:?}"
        );
        let last = s
            .page(&alice, "INBOX", sort, PageAt::at(all - 20), 50, Some("common"))
            .await
            .unwrap();
        assert_eq!(
            (last.total, last.more, last.messages.len()),
            (all, false, 20),
            "{sort:?}"
        );
    }
    let newest = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("common"))
        .await
        .unwrap();
    assert_eq!(newest.messages[0].subject, format!("Common {}", all - 1));
    let rare = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("common 7"))
        .await
        .unwrap();
    assert!(!rare.more && rare.total >= 1, "a rarer search is counted whole");
});

// Content stored before summaries existed gets its summary later
// (`summarise_old_messages`, at a server's start). Its messages are then
// found by a search of a common word too: on SQLite that search walks the
// list's index by each message's summary rowid, which they lacked.
mailroom_tests::both_backends!(late_summaries_are_searched, |world: World| async move {
    let alice = world.user("alice").await;
    let s = &world.service;
    let cap = mailroom::service::SEARCH_COUNT;
    // More than a thousand matches, so that SQLite walks.
    let all = 2 * cap + 120;
    // From five senders in turn, so that their order shows.
    let from_five = |i: u32| {
        let k = i % 5;
        format!(
            "From: Sender {k} <s{k}@example.org>\r\nTo: alice@example.com\r\nSubject: Old {i}\r\n\r\nan old word\r\n"
        )
        .into_bytes()
    };
    s.import(&alice, "INBOX", mailroom_tests::numbered(all, from_five))
        .await
        .unwrap();
    // As an old store held them: content without summaries, so without
    // the sort keys that come from them.
    world.db.execute("DELETE FROM summaries").await;
    world
        .db
        .execute("UPDATE messages SET sort_sender = '', sort_subject = ''")
        .await;
    if !world.db.url.starts_with("postgres") {
        world.db.execute("UPDATE messages SET summary_id = NULL").await;
    }
    let unfound = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("old"))
        .await
        .unwrap();
    assert_eq!(unfound.total, 0, "no summaries, no words to find");
    let mut summarised = 0;
    loop {
        match s.summarise_old_messages(200).await.unwrap() {
            0 => break,
            n => summarised += n,
        }
    }
    assert_eq!(summarised, all as usize);
    for sort in [SortKey::Date, SortKey::Sender] {
        let found = s
            .page(&alice, "INBOX", sort, PageAt::at(0), 50, Some("old"))
            .await
            .unwrap();
        assert_eq!(
            (found.total, found.more, found.messages.len()),
            (cap, true, 50),
            "{sort:?}"
        );
    }
    let newest = s
        .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("old"))
        .await
        .unwrap();
    assert_eq!(newest.messages[0].subject, format!("Old {}", all - 1));
    // Their sort keys came with their summaries.
    let by_sender = s
        .page(&alice, "INBOX", SortKey::Sender, PageAt::at(0), 50, None)
        .await
        .unwrap();
    let senders: Vec<&str> = by_sender.messages.iter().map(|m| m.sender.as_str()).collect();
    assert_eq!(senders, ["Sender 0"; 50]);
    let by_subject = s
        .page(&alice, "INBOX", SortKey::Subject, PageAt::at(0), 50, None)
        .await
        .unwrap();
    let subjects: Vec<&str> = by_subject.messages.iter().take(3).map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["Old 0", "Old 1", "Old 10"]);
});

server_test!(
    pages_load_while_other_servers_start_in_the_same_process,
    |server: Server| async move {
        // Starting a server lists the web's routes by running the app with
        // resource loading held back, a flag leptos keeps per process: a
        // page of a server already serving must not wait forever on it
        // (the tests run several servers in one process, and hung so).
        server.user("alice").await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut pages = Vec::new();
        for _ in 0..4 {
            let alice = signed_in(&server, "alice").await;
            let stopped = stop.clone();
            pages.push(tokio::spawn(async move {
                let mut loaded = 0;
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) || loaded == 0 {
                    let page = alice.get("/mail?box=INBOX").await;
                    assert_eq!(page.status, 200, "{page:?}");
                    loaded += 1;
                }
                loaded
            }));
        }
        for _ in 0..20 {
            let world = World::new(Backend::Sqlite).await.expect("sqlite world");
            drop(Server::start(world).await);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for loading in pages {
            assert!(loading.await.unwrap() > 0);
        }
    }
);
