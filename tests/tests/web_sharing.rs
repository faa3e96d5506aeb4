//! Sharing and administration through the web gateway, over HTTP: the
//! sharing form changes a mailbox's ACL for its administrators and for
//! nobody else, *apply to sub-folders* previews before it changes,
//! subscriptions are IMAP's, and the administration page serves and
//! obeys server admins only — on SQLite and PostgreSQL. The refusals are
//! posted directly, not only hidden from the pages.

use mailroom_shared::dto::SeenMode;
use mailroom_tests::http::{Browser, Response, location};
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World, server_test};

/// A browser signed in as `user` (an account made by `server.user`).
async fn signed_in(server: &Server, user: &str) -> Browser {
    Browser::signed_in(server, user, &format!("pw-{user}")).await
}

fn refused(r: &Response) -> bool {
    location(r).contains("error=")
}

/// The ACL as GETACL would show it, for comparing before and after.
async fn acl(server: &Server, owner: &mailroom::service::Principal, mailbox: &str) -> Vec<String> {
    let entries = server.service().get_acl(owner, mailbox).await.unwrap();
    entries
        .iter()
        .map(|e| format!("{} {}", e.identifier_string(), e.rights))
        .collect()
}

server_test!(
    the_sharing_form_changes_rights_for_administrators_only,
    |server: Server| async move {
        let alice_p = server.user("alice").await;
        server.user("bob").await;
        server.user("carol").await;
        let service = server.service();
        service.create_mailbox(&alice_p, "Projects").await.unwrap();
        let alice = signed_in(&server, "alice").await;
        let bob = signed_in(&server, "bob").await;
        let carol = signed_in(&server, "carol").await;

        let page = alice.get("/share?box=Projects").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Who may use it"), "the owner gets the form");
        assert!(page.body.contains("bob@example.com"), "account names are offered");

        let r = alice
            .post_form("/share", "mailbox=Projects&op=set&identifier=bob&preset=read")
            .await;
        assert!(location(&r).contains("notice="), "{r:?}");
        assert_eq!(acl(&server, &alice_p, "Projects").await, ["bob@example.com lrs"]);

        // Single rights (the check boxes win over the preset) and a
        // negative entry.
        let r = alice
            .post_form(
                "/share",
                "mailbox=Projects&op=set&identifier=carol&preset=read&custom=1&rights=l&rights=r&rights=w",
            )
            .await;
        assert!(!refused(&r), "{r:?}");
        let r = alice
            .post_form(
                "/share",
                "mailbox=Projects&op=set&identifier=carol&negative=1&preset=custom&rights=w",
            )
            .await;
        assert!(!refused(&r), "{r:?}");
        let expected = ["bob@example.com lrs", "carol@example.com lrw", "-carol@example.com w"];
        assert_eq!(acl(&server, &alice_p, "Projects").await, expected);

        // Bad input: an unknown preset, no rights, nobody, an unknown
        // account — each refused, nothing changed.
        for form in [
            "mailbox=Projects&op=set&identifier=bob&preset=everything",
            "mailbox=Projects&op=set&identifier=bob&preset=custom",
            "mailbox=Projects&op=set&identifier=&preset=read",
            "mailbox=Projects&op=set&identifier=nobody-here&preset=read",
            "mailbox=Projects&op=set&identifier=bob&custom=1&rights=z",
            "mailbox=Projects&op=launch",
        ] {
            assert!(refused(&alice.post_form("/share", form).await), "{form}");
        }
        assert_eq!(acl(&server, &alice_p, "Projects").await, expected);

        // Bob may look, but not share: his page shows his own rights only,
        // and his posts are refused whatever the page offered.
        let page = bob.get("/share?box=~alice/Projects").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Your rights"), "{}", page.body);
        assert!(
            !page.body.contains("Who may use it"),
            "the ACL shown to a non-administrator"
        );
        assert!(!page.body.contains("carol@example.com"), "other entries leaked");
        for form in [
            "mailbox=~alice/Projects&op=set&identifier=bob&preset=full",
            "mailbox=~alice/Projects&op=remove&identifier=carol",
            "mailbox=~alice/Projects&op=apply",
            "mailbox=~alice/Projects&op=seen&seen_mode=per-user",
        ] {
            let r = bob.post_form("/share", form).await;
            assert!(refused(&r), "{form}: {r:?}");
            assert!(location(&r).contains("right"), "the error says which right: {r:?}");
        }
        // Carol is denied by no entry here but has no `a` either, and on a
        // mailbox she cannot see she learns nothing about it.
        let r = carol
            .post_form("/share", "mailbox=~alice/INBOX&op=set&identifier=carol&preset=full")
            .await;
        assert!(location(&r).contains("no%20mailbox"), "{r:?}");
        assert!(acl(&server, &alice_p, "INBOX").await.is_empty());
        assert_eq!(acl(&server, &alice_p, "Projects").await, expected);
        let m = service.mailbox(&alice_p, "Projects").await.unwrap();
        assert_eq!(m.seen_mode, SeenMode::Shared);

        // The owner removes an entry and changes the seen mode.
        let r = alice
            .post_form("/share", "mailbox=Projects&op=remove&identifier=-carol@example.com")
            .await;
        assert!(!refused(&r), "{r:?}");
        let r = alice
            .post_form("/share", "mailbox=Projects&op=seen&seen_mode=per-user")
            .await;
        assert!(!refused(&r), "{r:?}");
        assert_eq!(
            acl(&server, &alice_p, "Projects").await,
            ["bob@example.com lrs", "carol@example.com lrw"]
        );
        let m = service.mailbox(&alice_p, "Projects").await.unwrap();
        assert_eq!(m.seen_mode, SeenMode::PerUser);

        // Why can they see it: the entries that gave and took the rights.
        let page = alice.get("/share?box=Projects&why=carol").await;
        assert!(
            page.body.contains("carol@example.com has “lrw”") && page.body.contains("by the entry carol@example.com"),
            "{}",
            page.body
        );
        let page = bob.get("/share?box=~alice/Projects&why=carol").await;
        assert!(
            !page.body.contains("has “lrw”"),
            "a non-administrator got an explanation"
        );
    }
);

server_test!(
    apply_to_sub_folders_shows_what_it_will_change_first,
    |server: Server| async move {
        let alice_p = server.user("alice").await;
        server.user("bob").await;
        let service = server.service();
        for name in ["Projects", "Projects/Alpha", "Projects/Beta"] {
            service.create_mailbox(&alice_p, name).await.unwrap();
        }
        service
            .set_acl(&alice_p, "Projects/Beta", "bob", "lrswi")
            .await
            .unwrap();
        service.set_acl(&alice_p, "Projects", "bob", "lr").await.unwrap();
        let alice = signed_in(&server, "alice").await;

        let page = alice.get("/share?box=Projects&preview=1").await;
        assert!(page.body.contains("Projects/Alpha"), "{}", page.body);
        assert!(
            page.body.contains("bob@example.com lrswi → bob@example.com lr"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Apply to sub-folders"));
        assert!(
            acl(&server, &alice_p, "Projects/Alpha").await.is_empty(),
            "the preview changed something"
        );

        let r = alice.post_form("/share", "mailbox=Projects&op=apply").await;
        assert!(location(&r).contains("2%20sub-folder"), "{r:?}");
        for child in ["Projects/Alpha", "Projects/Beta"] {
            assert_eq!(acl(&server, &alice_p, child).await, ["bob@example.com lr"], "{child}");
        }
        let page = alice.get("/share?box=Projects&preview=1").await;
        assert!(page.body.contains("already have exactly these rights"), "{}", page.body);

        // A delegate administers the parent only: a sub-folder they can see
        // but not administer is left alone, one they cannot see is not
        // even named.
        for name in ["Shared", "Shared/Open", "Shared/Secret"] {
            service.create_mailbox(&alice_p, name).await.unwrap();
        }
        service.set_acl(&alice_p, "Shared", "bob", "lra").await.unwrap();
        service.set_acl(&alice_p, "Shared/Open", "bob", "lr").await.unwrap();
        let bob = signed_in(&server, "bob").await;
        let page = bob.get("/share?box=~alice/Shared&preview=1").await;
        assert!(page.body.contains("left alone"), "{}", page.body);
        assert!(!page.body.contains("Secret"), "a hidden sub-folder was named");
        let r = bob.post_form("/share", "mailbox=~alice/Shared&op=apply").await;
        assert!(location(&r).contains("0%20sub-folder"), "{r:?}");
        assert_eq!(acl(&server, &alice_p, "Shared/Open").await, ["bob@example.com lr"]);
        assert!(acl(&server, &alice_p, "Shared/Secret").await.is_empty());
    }
);

server_test!(
    other_users_folders_open_by_name_and_subscribe_like_imap,
    |server: Server| async move {
        let alice_p = server.user("alice").await;
        server.user("bob").await;
        let service = server.service();
        service.create_mailbox(&alice_p, "Team").await.unwrap();
        service.set_acl(&alice_p, "Team", "authenticated", "lr").await.unwrap();
        let admin = server.world.admin.clone();
        service.add_alias(&admin, "boss", "alice").await.unwrap();
        let bob = signed_in(&server, "bob").await;

        // Open to every signed-in user, but not named: not in bob's tree
        // until he subscribes.
        let tree = bob.get("/mail").await;
        assert!(
            !tree.body.contains("data-folder=\"~alice/Team\""),
            "uninvited folder in the tree"
        );
        let page = bob.get("/browse?account=~boss").await;
        assert!(
            page.body.contains("~alice/Team"),
            "the alias did not open alice: {}",
            page.body
        );
        assert!(
            !page.body.contains("~alice/INBOX"),
            "a folder bob may not see was listed"
        );

        let r = bob
            .post_form(
                "/subscriptions",
                "mailbox=~alice/Team&op=subscribe&back=/browse?account=~boss",
            )
            .await;
        assert!(location(&r).starts_with("/browse?account=~boss&notice="), "{r:?}");
        let tree = bob.get("/mail").await;
        assert!(
            tree.body.contains("data-folder=\"~alice/Team\""),
            "subscribed, yet not in the tree"
        );
        let mut imap = server.login("bob").await;
        let lsub = imap.ok("LSUB \"\" \"*\"").await;
        assert!(lsub.iter().any(|l| l.contains("~alice/Team")), "{lsub:?}");

        // Subscribing to what bob cannot see is refused.
        let r = bob
            .post_form("/subscriptions", "mailbox=~alice/INBOX&op=subscribe&back=/mail")
            .await;
        assert!(refused(&r), "{r:?}");

        // Unsubscribing over IMAP takes it out of the web's tree too.
        imap.ok("UNSUBSCRIBE \"~alice/Team\"").await;
        let tree = bob.get("/mail").await;
        assert!(!tree.body.contains("data-folder=\"~alice/Team\""));
        let page = bob.get("/browse?account=nobody-here").await;
        assert!(page.body.contains("no account named"), "{}", page.body);
    }
);

server_test!(administration_is_for_server_admins_only, |server: Server| async move {
    server.user("alice").await;
    server.user("bob").await;
    let bob = signed_in(&server, "bob").await;
    let service = server.service();
    let admin = server.world.admin.clone();

    let page = bob.get("/admin").await;
    assert!(
        page.body.contains("only a server administrator may do this"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("alice@example.com"),
        "accounts listed to a non-admin"
    );
    for form in [
        "op=add_account&address=mallory&password=mallory-pw-123",
        "op=delete_account&address=alice&confirmed=1",
        "op=make_admin&address=bob",
        "op=reset_password&address=alice&password=taken-over-123",
        "op=add_alias&alias=postmaster&address=bob",
        "op=add_rule&pattern=*@example.com&target=bob@example.com",
        "op=add_domain&domain=evil.example",
        "op=set_external&domain=example.com&template=/tmp/{user}",
    ] {
        let r = bob.post_form("/admin", form).await;
        assert!(
            location(&r).contains("only%20a%20server%20administrator"),
            "{form}: {r:?}"
        );
    }
    // Creating a public mailbox is refused as any top level in another
    // account is: without saying what exists there.
    let r = bob.post_form("/admin", "op=create_public&name=Takeover").await;
    assert!(
        location(&r).contains("no%20mailbox%20named%20~public/Takeover"),
        "{r:?}"
    );
    assert!(service.mailbox(&admin, "~public/Takeover").await.is_err());
    assert!(service.find_account(&admin, "mallory").await.is_err());
    assert!(service.find_account(&admin, "alice").await.is_ok());
    assert!(service.find_account(&admin, "postmaster").await.is_err());
    assert!(
        service
            .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
            .await
            .is_ok()
    );
    assert!(
        !service
            .authenticate("bob", "pw-bob", mailroom::service::LOCAL)
            .await
            .unwrap()
            .is_server_admin()
    );
    assert!(service.admin_view(&admin).await.unwrap().routing_rules.is_empty());
    let domains = service.domains(&admin).await.unwrap();
    assert_eq!(domains.len(), 1);
    assert!(domains[0].external_inbox.is_none(), "a non-admin moved the INBOXes");
});

server_test!(
    administration_manages_accounts_aliases_rules_and_public_mailboxes,
    |server: Server| async move {
        server.user("alice").await;
        let service = server.service();
        let admin = server.world.admin.clone();
        service
            .add_account(&admin, "root", Some("pw-root"), true)
            .await
            .unwrap();
        let root = signed_in(&server, "root").await;
        let ok = |r: Response| assert!(location(&r).starts_with("/admin?notice="), "{r:?}");

        assert!(root.get("/admin").await.body.contains("alice@example.com"));
        ok(root
            .post_form("/admin", "op=add_account&address=dave&password=dave-password-1")
            .await);
        assert!(
            service
                .authenticate("dave", "dave-password-1", mailroom::service::LOCAL)
                .await
                .is_ok()
        );
        ok(root.post_form("/admin", "op=add_alias&alias=boss&address=alice").await);
        assert_eq!(service.find_account(&admin, "boss").await.unwrap().name, "alice");
        ok(root
            .post_form(
                "/admin",
                "op=add_rule&priority=5&pattern=*@old.example&target=*@example.com",
            )
            .await);
        ok(root.post_form("/admin", "op=add_domain&domain=example.org").await);
        ok(root
            .post_form("/admin", "op=add_domain_alias&domain=example.org&alias=example.net")
            .await);
        ok(root.post_form("/admin", "op=create_public&name=Support").await);
        ok(root.post_form("/admin", "op=make_admin&address=dave").await);
        ok(root
            .post_form("/admin", "op=reset_password&address=dave&password=dave-password-2")
            .await);

        let page = root.get("/admin").await;
        for shown in [
            "boss@example.com",
            "*@old.example",
            "example.net",
            "~public/Support",
            "dave@example.com",
        ] {
            assert!(page.body.contains(shown), "{shown} missing from the page");
        }
        let dave = service
            .authenticate("dave", "dave-password-2", mailroom::service::LOCAL)
            .await
            .unwrap();
        assert!(dave.is_server_admin());
        assert!(service.mailbox(&admin, "~public/Support").await.is_ok());

        // Mistakes an admin cannot make: demoting or deleting themselves.
        assert!(refused(&root.post_form("/admin", "op=unmake_admin&address=root").await));
        assert!(refused(
            &root
                .post_form("/admin", "op=delete_account&address=root&confirmed=1")
                .await
        ));
        assert!(refused(&root.post_form("/admin", "op=delete_rule&id=abc").await));

        // INBOX files: the page sets and clears them (bad templates refused).
        let spool = tempfile::tempdir().unwrap();
        assert!(refused(
            &root
                .post_form("/admin", "op=set_external&domain=example.org&template=relative/{user}")
                .await
        ));
        let form = format!(
            "op=set_external&domain=example.org&template={}/%7Buser%7D&locks=dotlock,fcntl&lock_timeout=3",
            spool.path().display()
        );
        ok(root.post_form("/admin", &form).await);
        let org = service.admin_view(&admin).await.unwrap().domains;
        let org = org.iter().find(|d| d.name == "example.org").unwrap();
        assert_eq!(org.lock_methods.as_deref(), Some("dotlock,fcntl"));
        assert_eq!(org.lock_timeout, Some(3));
        // Some accounts of the domain have their INBOX in a file: those
        // made with the box ticked, or switched later.
        ok(root
            .post_form(
                "/admin",
                "op=add_account&address=erin%40example.org&password=pw-erin&inbox_file=1",
            )
            .await);
        assert!(
            spool.path().join("erin").exists(),
            "no INBOX file for a new account that asked for one"
        );
        ok(root
            .post_form("/admin", "op=add_account&address=finn%40example.org&password=pw-finn")
            .await);
        assert!(!spool.path().join("finn").exists(), "an INBOX file nobody asked for");
        ok(root
            .post_form("/admin", "op=inbox_file&address=finn%40example.org")
            .await);
        assert!(spool.path().join("finn").exists(), "switched to a file");
        let view = service.admin_view(&admin).await.unwrap();
        let finn = view.accounts.iter().find(|a| a.address == "finn@example.org").unwrap();
        assert!(finn.external_inbox);
        ok(root
            .post_form("/admin", "op=inbox_store&address=finn%40example.org")
            .await);
        ok(root.post_form("/admin", "op=internal_inbox&domain=example.org").await);
        let view = service.admin_view(&admin).await.unwrap();
        assert!(view.domains.iter().all(|d| d.external_inbox.is_none()));

        let rule = service.admin_view(&admin).await.unwrap().routing_rules[0].id;
        ok(root.post_form("/admin", &format!("op=delete_rule&id={rule}")).await);
        ok(root.post_form("/admin", "op=remove_alias&alias=boss").await);
        ok(root
            .post_form("/admin", "op=remove_domain_alias&alias=example.net")
            .await);
        // Deleting an account takes a second, confirming click.
        assert!(refused(
            &root.post_form("/admin", "op=delete_account&address=dave").await
        ));
        assert!(service.find_account(&admin, "dave").await.is_ok());
        ok(root
            .post_form("/admin", "op=delete_account&address=dave&confirmed=1")
            .await);
        let view = service.admin_view(&admin).await.unwrap();
        assert!(view.routing_rules.is_empty());
        assert!(service.find_account(&admin, "boss").await.is_err());
        assert!(service.find_account(&admin, "dave").await.is_err());
        assert!(view.domains.iter().all(|d| d.aliases.is_empty()));
    }
);

server_test!(
    signed_out_posts_go_to_sign_in_and_change_nothing,
    |server: Server| async move {
        let alice_p = server.user("alice").await;
        let anonymous = Browser::new(server.running.http);
        for (path, form) in [
            ("/share", "mailbox=~alice/INBOX&op=set&identifier=anyone&preset=full"),
            ("/admin", "op=add_account&address=mallory&password=mallory-pw-123"),
            ("/actions", "mailbox=~alice/INBOX&uid=1&op=delete"),
            ("/folders", "op=create&name=~alice/Intruder"),
            ("/subscriptions", "mailbox=~alice/INBOX&op=subscribe"),
        ] {
            let r = anonymous.post_form(path, form).await;
            assert_eq!((r.status, r.header("location")), (303, Some("/login")), "{path}");
        }
        assert!(acl(&server, &alice_p, "INBOX").await.is_empty());
        assert!(
            server
                .service()
                .find_account(&server.world.admin, "mallory")
                .await
                .is_err()
        );
        assert!(server.service().mailbox(&alice_p, "Intruder").await.is_err());
    }
);
