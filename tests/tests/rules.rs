//! Automated rules at delivery, on SQLite and PostgreSQL: a domain rule
//! made in the web copies `[support]` mail into `~public/Support`, where
//! its readers see it over IMAP and in the web; a copy its owner has no
//! `p`/`i` right for is not made and leaves a reason; file into, flags,
//! redirect, discard, stop, all/any, sizes and the three levels; who may
//! edit which rules, over the service and the web's form posts.

use mailroom::Principal;
use mailroom_shared::rules::{Action, Condition, RuleSpec, Scope};
use mailroom_tests::http::{Browser, location};
use mailroom_tests::net::{Lmtp, Server};
use mailroom_tests::{Backend, World, both_backends, server_test};

fn rule(name: &str, conditions: &[&str], actions: &[&str]) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        priority: 100,
        any: false,
        conditions: conditions.iter().map(|c| c.parse::<Condition>().unwrap()).collect(),
        actions: actions.iter().map(|a| a.parse::<Action>().unwrap()).collect(),
    }
}

fn mail(subject: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"
    )
    .into_bytes()
}

/// The subjects in a mailbox, as `p` sees it.
async fn subjects(w: &World, p: &Principal, mailbox: &str) -> Vec<String> {
    let (_, rows) = w.service.messages(p, mailbox).await.unwrap();
    let mut out = Vec::new();
    for row in rows {
        let raw = w.service.fetch(p, mailbox, row.uid).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default();
        out.push(subject.to_owned());
    }
    out
}

server_test!(
    a_domain_rule_copies_support_mail_into_a_public_mailbox_its_readers_see,
    |server: Server| async move {
        let alice = server.user("alice").await;
        server.user("carol").await;
        let service = server.service();
        let admin = &server.world.admin;
        service.create_mailbox(admin, "~public/Support").await.unwrap();
        service.set_acl(admin, "~public/Support", "carol", "lrs").await.unwrap();
        service.set_acl(admin, "~public/Support", "anyone", "p").await.unwrap();

        // The administrator writes the rule in the web form.
        let web_admin = Browser::signed_in(&server, "admin", mailroom_tests::ADMIN_PASSWORD).await;
        let r = web_admin
            .post_form(
                "/rules",
                "op=save&scope=domain%3Aexample.com&name=Support+desk&priority=10&any=all\
                 &cond_field=subject&cond_header=&cond_test=contains&cond_value=%5Bsupport%5D\
                 &cond_field=&cond_header=&cond_test=contains&cond_value=\
                 &action=copy&arg=~public%2FSupport&action=&arg=",
            )
            .await;
        assert!(location(&r).contains("notice="), "{r:?}");
        let page = web_admin.get("/rules?scope=domain%3Aexample.com").await;
        assert!(page.body.contains("Support desk"), "the rule is listed");
        assert!(page.body.contains("copy ~public/Support"), "in words");

        let mut lmtp = Lmtp::connect(&server).await;
        let replies = lmtp
            .deliver(
                "carol@example.org",
                &["alice@example.com"],
                "From: carol@example.org\r\nSubject: [support] printer on fire\r\n\r\nhelp\r\n",
            )
            .await;
        assert_eq!(replies.len(), 1);
        assert!(replies[0].starts_with("250 2.0.0"), "{replies:?}");
        assert!(
            replies[0].contains("INBOX") && replies[0].contains("Support"),
            "{replies:?}"
        );
        let replies = lmtp
            .deliver(
                "carol@example.org",
                &["alice@example.com"],
                "From: carol@example.org\r\nSubject: lunch?\r\n\r\nat noon\r\n",
            )
            .await;
        assert!(replies[0].starts_with("250 2.0.0"), "{replies:?}");

        // alice keeps both in her INBOX; only the [support] one was copied.
        assert_eq!(
            subjects(&server.world, &alice, "INBOX").await,
            ["[support] printer on fire", "lunch?"]
        );

        // carol, a reader of ~public/Support, sees the copy over IMAP…
        let mut imap = server.login("carol").await;
        let select = imap.ok("SELECT ~public/Support").await;
        assert!(select.iter().any(|l| l == "* 1 EXISTS"), "{select:?}");
        let fetched = imap.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
        assert!(
            fetched.iter().any(|l| l.contains("[support] printer on fire")),
            "{fetched:?}"
        );
        // …and in the web.
        let web_carol = Browser::signed_in(&server, "carol", "pw-carol").await;
        let page = web_carol.get("/mail?box=~public%2FSupport").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("[support] printer on fire"), "the copy is listed");
        assert!(!page.body.contains("lunch?"), "the other message was not copied");
    }
);

server_test!(
    a_copy_needs_the_owners_p_or_i_right_and_leaves_a_reason_when_refused,
    |server: Server| async move {
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let service = server.service();
        service.create_mailbox(&alice, "Secret").await.unwrap();
        service.set_acl(&alice, "Secret", "bob", "lr").await.unwrap();
        let me = Scope::Account("bob".into());
        let id = service
            .save_rule(&bob, &me, None, rule("sneak", &[], &["copy ~alice/Secret"]))
            .await
            .unwrap();

        let mut lmtp = Lmtp::connect(&server).await;
        let replies = lmtp
            .deliver("x@example.org", &["bob@example.com"], "Subject: first\r\n\r\nx\r\n")
            .await;
        assert!(
            replies[0].starts_with("250 2.0.0"),
            "delivery itself succeeds: {replies:?}"
        );
        assert!(
            subjects(&server.world, &alice, "Secret").await.is_empty(),
            "no copy without p or i"
        );
        assert_eq!(
            subjects(&server.world, &bob, "INBOX").await,
            ["first"],
            "kept in the INBOX"
        );
        let rules = service.rules(&bob, &me).await.unwrap();
        assert_eq!(rules[0].id, id);
        let problem = rules[0].problems.first().expect("a reason is noted on the rule");
        assert!(
            problem.contains("neither the 'p'") && problem.contains("~alice/Secret"),
            "{problem}"
        );
        let web_bob = Browser::signed_in(&server, "bob", "pw-bob").await;
        assert!(
            web_bob.get("/rules").await.body.contains("neither the"),
            "the reason shows on bob's rules page"
        );

        // With `i` granted, the same rule copies.
        service.set_acl(&alice, "Secret", "bob", "lri").await.unwrap();
        lmtp.deliver("x@example.org", &["bob@example.com"], "Subject: second\r\n\r\nx\r\n")
            .await;
        assert_eq!(subjects(&server.world, &alice, "Secret").await, ["second"]);
    }
);

both_backends!(rules_file_flag_redirect_discard_and_stop, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    let s = &w.service;
    let me = Scope::Account("alice".into());
    let save = |spec: RuleSpec| {
        let me = me.clone();
        let alice = alice.clone();
        async move { s.save_rule(&alice, &me, None, spec).await.unwrap() }
    };
    save(RuleSpec {
        priority: 1,
        ..rule(
            "spam",
            &["header X-Spam is yes"],
            &["fileinto Junk", "flag $Junk", "stop"],
        )
    })
    .await;
    save(RuleSpec {
        priority: 2,
        ..rule("everything spam-ish", &["subject contains viagra"], &["discard"])
    })
    .await;
    save(rule(
        "invoices",
        &["subject contains invoice"],
        &["redirect bob@example.com"],
    ))
    .await;
    save(rule(
        "big from the list",
        &["size over 1K", "sender matches *@lists.example"],
        &["fileinto Lists"],
    ))
    .await;
    save(RuleSpec {
        any: true,
        ..rule(
            "flag the boss",
            &["sender is boss@example.org", "subject contains urgent"],
            &["flag \\Flagged"],
        )
    })
    .await;
    s.create_mailbox(&alice, "Lists").await.unwrap();

    // Spam: filed into Junk with the keyword, and `stop` kept the discard
    // rule (which also matches) from running.
    let spam = "From: x@spam.example\r\nX-Spam: YES\r\nSubject: viagra\r\n\r\nx\r\n";
    let report = s.deliver("alice", spam.into(), Some("x@spam.example")).await.unwrap();
    assert_eq!(
        report.stored.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["Junk"]
    );
    let (_, junk) = s.messages(&alice, "Junk").await.unwrap();
    assert!(junk[0].flags.has_keyword("$Junk"));

    // Discarded: stored nowhere.
    let report = s.deliver("alice", mail("cheap viagra"), None).await.unwrap();
    assert!(report.stored.is_empty() && report.redirected.is_empty());
    assert_eq!(report.summary(), "discarded by a rule");

    // Redirected to bob, not kept.
    let report = s.deliver("alice", mail("invoice 42"), None).await.unwrap();
    assert!(report.stored.is_empty());
    assert_eq!(report.redirected[0].account, "bob@example.com");
    assert_eq!(subjects(&w, &bob, "INBOX").await, ["invoice 42"]);

    // All conditions must hold: a big list message is filed, a small one
    // is not.
    let big = format!(
        "From: l@lists.example\r\nSubject: digest\r\n\r\n{}\r\n",
        "x".repeat(2000)
    );
    s.deliver("alice", big.into(), Some("l@lists.example")).await.unwrap();
    s.deliver("alice", mail("small"), Some("l@lists.example"))
        .await
        .unwrap();
    assert_eq!(subjects(&w, &alice, "Lists").await, ["digest"]);

    // Any condition suffices.
    s.deliver("alice", mail("urgent: call me"), None).await.unwrap();
    let (_, inbox) = s.messages(&alice, "INBOX").await.unwrap();
    let flagged: Vec<bool> = inbox
        .iter()
        .map(|m| m.flags.contains(mailroom_shared::SystemFlag::Flagged))
        .collect();
    assert_eq!(subjects(&w, &alice, "INBOX").await, ["small", "urgent: call me"]);
    assert_eq!(flagged, [false, true]);
});

both_backends!(levels_run_server_then_domain_then_account, async |w: World| {
    let alice = w.user("alice").await;
    let s = &w.service;
    s.create_mailbox(&alice, "Mine").await.unwrap();
    s.create_mailbox(&alice, "Domain").await.unwrap();
    // The account's rule has the lowest priority number, but the domain's
    // runs first and stops.
    s.save_rule(
        &alice,
        &Scope::Account("alice".into()),
        None,
        RuleSpec {
            priority: 0,
            ..rule("mine", &[], &["fileinto Mine"])
        },
    )
    .await
    .unwrap();
    s.save_rule(
        &w.admin,
        &Scope::Domain("example.com".into()),
        None,
        rule("domain", &["subject contains report"], &["fileinto Domain", "stop"]),
    )
    .await
    .unwrap();
    s.save_rule(
        &w.admin,
        &Scope::Server,
        None,
        rule("server", &[], &["flag $Seen-By-Server"]),
    )
    .await
    .unwrap();
    s.deliver("alice", mail("weekly report"), None).await.unwrap();
    s.deliver("alice", mail("hello"), None).await.unwrap();
    assert_eq!(subjects(&w, &alice, "Domain").await, ["weekly report"]);
    assert_eq!(subjects(&w, &alice, "Mine").await, ["hello"]);
    let (_, rows) = s.messages(&alice, "Domain").await.unwrap();
    assert!(
        rows[0].flags.has_keyword("$Seen-By-Server"),
        "the server's rule ran first"
    );
    assert!(subjects(&w, &alice, "INBOX").await.is_empty());
});

both_backends!(a_redirect_loop_or_a_missing_mailbox_keeps_the_mail, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    let s = &w.service;
    for (who, to) in [(&alice, "bob@example.com"), (&bob, "alice@example.com")] {
        s.save_rule(
            who,
            &Scope::Account(who.address().into()),
            None,
            rule("loop", &[], &[&format!("redirect {to}")]),
        )
        .await
        .unwrap();
    }
    let report = s.deliver("alice", mail("ping-pong"), None).await.unwrap();
    let total = subjects(&w, &alice, "INBOX").await.len() + subjects(&w, &bob, "INBOX").await.len();
    assert_eq!(total, 1, "kept exactly once where the loop was cut: {report:?}");
    let mut problems = Vec::new();
    for (p, name) in [(&alice, "alice"), (&bob, "bob")] {
        for r in s.rules(p, &Scope::Account(name.into())).await.unwrap() {
            problems.extend(r.problems);
        }
    }
    assert!(problems.iter().any(|p| p.contains("loop")), "{problems:?}");

    // fileinto a mailbox that is not there: kept in the INBOX, reason noted.
    let carol = w.user("carol").await;
    let me = Scope::Account("carol".into());
    s.save_rule(&carol, &me, None, rule("gone", &[], &["fileinto Nowhere"]))
        .await
        .unwrap();
    let report = s.deliver("carol", mail("still here"), None).await.unwrap();
    assert_eq!(report.mailbox(), Some("INBOX"));
    let rules = s.rules(&carol, &me).await.unwrap();
    assert!(
        rules[0].problems[0].contains("has no mailbox Nowhere"),
        "{:?}",
        rules[0].problems
    );
});

both_backends!(only_admins_edit_server_and_domain_rules, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    let s = &w.service;
    let spec = rule("r", &[], &["flag $x"]);
    for scope in [
        Scope::Server,
        Scope::Domain("example.com".into()),
        Scope::Account("alice".into()),
    ] {
        let err = s.save_rule(&bob, &scope, None, spec.clone()).await.unwrap_err();
        assert!(matches!(err, mailroom::Error::NoPermission(_)), "{scope}: {err:?}");
        assert!(s.rules(&bob, &scope).await.is_err(), "{scope}");
    }
    let id = s
        .save_rule(&alice, &Scope::Account("alice".into()), None, spec.clone())
        .await
        .unwrap();
    // bob can neither change nor delete it, even knowing its id.
    assert!(s.delete_rule(&bob, id).await.is_err());
    let bobs = Scope::Account("bob".into());
    assert!(
        s.save_rule(&bob, &bobs, Some(id), spec.clone()).await.is_err(),
        "another scope's id"
    );
    assert_eq!(s.rules(&alice, &Scope::Account("alice".into())).await.unwrap().len(), 1);
    // An admin may edit anyone's rules.
    s.delete_rule(&w.admin, id).await.unwrap();
    // Bad rules are refused with a reason.
    let err = s
        .save_rule(
            &alice,
            &Scope::Account("alice".into()),
            None,
            rule("r", &[], &["redirect nobody@example.com"]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an address on this server"), "{err}");
    let empty = RuleSpec {
        actions: vec![],
        ..spec
    };
    assert!(
        s.save_rule(&alice, &Scope::Account("alice".into()), None, empty)
            .await
            .is_err()
    );
});

server_test!(
    the_rules_form_refuses_what_the_user_may_not_do,
    |server: Server| async move {
        server.user("bob").await;
        let bob = Browser::signed_in(&server, "bob", "pw-bob").await;
        let page = bob.get("/rules").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("No rules yet"), "bob's own, empty");
        assert!(!page.body.contains("Whole server"), "no server scope for bob");
        let r = bob
            .post_form("/rules", "op=save&scope=server&name=x&action=discard&arg=")
            .await;
        assert!(location(&r).contains("error="), "{r:?}");
        let r = bob
            .post_form("/rules", "op=save&scope=account%3Abob&name=x&cond_field=size&cond_test=contains&cond_value=3&action=discard&arg=")
            .await;
        assert!(location(&r).contains("error="), "a nonsense condition: {r:?}");
        assert!(
            server
                .service()
                .rules(&server.world.admin, &Scope::Server)
                .await
                .unwrap()
                .is_empty()
        );
        let r = bob
            .post_form(
                "/rules",
                "op=save&scope=account%3Abob&name=Mine&any=all&action=flag&arg=%24Mine",
            )
            .await;
        assert!(location(&r).contains("notice="), "{r:?}");
        let bob_p = server
            .service()
            .authenticate("bob", "pw-bob", mailroom::service::LOCAL)
            .await
            .unwrap();
        let rules = server
            .service()
            .rules(&bob_p, &Scope::Account("bob".into()))
            .await
            .unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].spec.actions, [Action::AddFlag("$Mine".into())]);
        // Editing: the same form with the id changes it in place. A rule
        // that discards every message takes a confirming tick.
        let discard_all = format!(
            "op=save&scope=account%3Abob&id={}&name=Mine&any=all&action=discard&arg=",
            rules[0].id
        );
        let r = bob.post_form("/rules", &discard_all).await;
        assert!(
            location(&r).contains("error="),
            "discarding everything unconfirmed: {r:?}"
        );
        let unchanged = server
            .service()
            .rules(&bob_p, &Scope::Account("bob".into()))
            .await
            .unwrap();
        assert_eq!(unchanged[0].spec.actions, [Action::AddFlag("$Mine".into())]);
        let r = bob.post_form("/rules", &format!("{discard_all}&confirmed=1")).await;
        assert!(location(&r).contains("notice="), "{r:?}");
        let rules = server
            .service()
            .rules(&bob_p, &Scope::Account("bob".into()))
            .await
            .unwrap();
        assert_eq!(rules[0].spec.actions, [Action::Discard]);
        let page = bob
            .get(&format!(
                "/rules?scope=account%3Abob%40example.com&edit={}",
                rules[0].id
            ))
            .await;
        assert!(page.body.contains("Change rule"), "the form edits the rule");
    }
);

both_backends!(mail_written_in_the_web_meets_the_recipients_rules, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    let s = &w.service;
    s.create_mailbox(&bob, "From Alice").await.unwrap();
    s.save_rule(
        &bob,
        &Scope::Account("bob".into()),
        None,
        rule("alice", &["sender is alice@example.com"], &["fileinto From Alice"]),
    )
    .await
    .unwrap();
    let draft = mailroom_shared::dto::Draft {
        to: "bob@example.com".into(),
        subject: "composed".into(),
        body: "hi bob".into(),
        ..Default::default()
    };
    s.send(&alice, &draft, None).await.unwrap();
    assert_eq!(subjects(&w, &bob, "From Alice").await, ["composed"]);
    assert!(subjects(&w, &bob, "INBOX").await.is_empty());
});
