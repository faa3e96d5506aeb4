//! The web gateway over HTTP: sign-in and sessions, the same-origin rule,
//! rights enforced on form posts (not only by hidden buttons), downloads,
//! change events, and paged lists and search in the service — on SQLite
//! and PostgreSQL. Clicking through the pages is `end2end/`'s part.

use mailroom::service::now;
use mailroom_shared::Flags;
use mailroom_shared::dto::SortKey;
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
    let page = s.page(&alice, "INBOX", SortKey::Date, 0, 50, None).await.unwrap();
    assert_eq!((page.total, page.messages.len()), (120, 50));
    assert_eq!(page.messages[0].subject, "Message 119", "newest first");
    let last = s.page(&alice, "INBOX", SortKey::Date, 100, 50, None).await.unwrap();
    assert_eq!(last.messages.len(), 20);
    assert_eq!(last.messages[19].subject, "Message 000");
    let by_subject = s.page(&alice, "INBOX", SortKey::Subject, 0, 3, None).await.unwrap();
    assert_eq!(by_subject.messages[0].subject, "Message 000");
    let by_size = s.page(&alice, "INBOX", SortKey::Size, 0, 1, None).await.unwrap();
    assert_eq!(by_size.messages[0].subject, "Message 119");

    let found = s
        .page(&alice, "INBOX", SortKey::Date, 0, 50, Some("needle"))
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.messages[0].subject, "Message 042");
    let sender = s
        .page(&alice, "INBOX", SortKey::Date, 0, 50, Some("dave"))
        .await
        .unwrap();
    assert_eq!(sender.total, 120);
    let nothing = s
        .page(&alice, "INBOX", SortKey::Date, 0, 50, Some("\"OR NEAR("))
        .await
        .unwrap();
    assert_eq!(nothing.total, 0, "query syntax in a search is taken as words");

    let bob = world.user("bob").await;
    assert!(
        s.page(&bob, "~alice/INBOX", SortKey::Date, 0, 50, Some("needle"))
            .await
            .is_err()
    );
});

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
        let page = s.page(&alice, "INBOX", sort, 0, 50, Some(q)).await.unwrap();
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
        .page(&alice, "INBOX", SortKey::Subject, 0, 50, Some("plan in:all"))
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
        .page(&bob, "INBOX", SortKey::Date, 0, 50, Some("plan in:all"))
        .await
        .unwrap();
    assert_eq!(theirs.total, 0);
});
