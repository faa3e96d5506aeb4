//! The router: logins, `~name` and delivery all resolve through domain
//! aliases, account aliases and routing rules.

use mailroom::Error;
use mailroom_tests::{World, both_backends};

both_backends!(domain_alias_reaches_the_domain, async |w: World| {
    w.service
        .add_domain(&w.admin, "other.example", &["alt.example".into()])
        .await
        .unwrap();
    w.service
        .add_account(&w.admin, "carol@other.example", Some("pw"), false)
        .await
        .unwrap();
    let p = w
        .service
        .authenticate("carol@alt.example", "pw", mailroom::service::LOCAL)
        .await
        .unwrap();
    assert_eq!(p.address(), "carol@other.example");
    let found = w.service.find_account(&w.admin, "CAROL@ALT.EXAMPLE").await.unwrap();
    assert_eq!(found.address(), "carol@other.example");
});

both_backends!(account_alias_reaches_the_account, async |w: World| {
    let boss = w.user("boss").await;
    w.service.add_alias(&w.admin, "chief", "boss").await.unwrap();
    let via_alias = w
        .service
        .authenticate("chief", "pw-boss", mailroom::service::LOCAL)
        .await
        .unwrap();
    assert_eq!(via_alias.address(), boss.address());
    let report = w
        .service
        .deliver("chief@example.com", b"Subject: hi\r\n\r\nx\r\n".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(report.account, "boss@example.com");
});

both_backends!(tilde_names_go_through_the_router, async |w: World| {
    let boss = w.user("boss").await;
    let alice = w.user("alice").await;
    w.service.add_alias(&w.admin, "chief", "boss").await.unwrap();
    w.service.set_acl(&boss, "INBOX", "alice", "lr").await.unwrap();
    let direct = w.service.mailbox(&alice, "~boss/INBOX").await.unwrap();
    let aliased = w.service.mailbox(&alice, "~chief/INBOX").await.unwrap();
    let full = w.service.mailbox(&alice, "~Boss@Example.com/INBOX").await.unwrap();
    assert_eq!(direct.uidvalidity, aliased.uidvalidity);
    assert_eq!(direct.uidvalidity, full.uidvalidity);
    assert_eq!(aliased.name, "~boss/INBOX");
    assert_eq!(aliased.owner, "boss@example.com");
});

both_backends!(routing_rules_rewrite_before_lookup, async |w: World| {
    let bob = w.user("bob").await;
    w.service
        .add_routing_rule(&w.admin, "*@old.example", "*@example.com", 10)
        .await
        .unwrap();
    w.service
        .add_routing_rule(&w.admin, "sales@example.com", "public@example.com", 20)
        .await
        .unwrap();
    let p = w
        .service
        .authenticate("bob@old.example", "pw-bob", mailroom::service::LOCAL)
        .await
        .unwrap();
    assert_eq!(p.address(), bob.address());
    let sales = w
        .service
        .deliver("sales@old.example", b"Subject: order\r\n\r\n1\r\n".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(sales.account, "public@example.com");
    let public = w.service.find_account(&w.admin, "sales").await.unwrap();
    assert_eq!(public.address(), "public@example.com");
});

both_backends!(routing_loops_and_unknown_names_resolve_to_nothing, async |w: World| {
    w.service
        .add_routing_rule(&w.admin, "a@example.com", "b@example.com", 1)
        .await
        .unwrap();
    w.service
        .add_routing_rule(&w.admin, "b@example.com", "a@example.com", 2)
        .await
        .unwrap();
    for unknown in ["a", "nobody", "nobody@nowhere.example", "bad name", ""] {
        let err = w.service.find_account(&w.admin, unknown).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{unknown:?}: {err:?}");
        let err = w.service.deliver(unknown, b"x".to_vec(), None).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{unknown:?}: {err:?}");
    }
});

both_backends!(bad_rules_and_aliases_are_refused, async |w: World| {
    w.user("bob").await;
    for (pattern, target) in [
        ("*@*.example", "x@example.com"),
        ("no-at-sign", "x@example.com"),
        ("a@b", ""),
    ] {
        let err = w
            .service
            .add_routing_rule(&w.admin, pattern, target, 1)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BadInput(_)), "{pattern} -> {target}: {err:?}");
    }
    let admin = w.service.admin_view(&w.admin).await.unwrap();
    assert!(admin.routing_rules.is_empty());
    let err = w.service.add_alias(&w.admin, "bob", "admin").await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    let err = w.service.add_alias(&w.admin, "anyone", "bob").await.unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
});

// Deliveries keep what they read of the directory between messages; every
// change of it that could send mail elsewhere is seen by the next one.
both_backends!(deliveries_follow_every_directory_change, async |w: World| {
    use mailroom_shared::rules::{Action, RuleSpec, Scope};
    w.user("boss").await;
    let alice = w.user("alice").await;
    let deliver = async |to: &str| {
        let report = w
            .service
            .deliver(to, b"Subject: hi\r\n\r\nx\r\n".to_vec(), None)
            .await
            .unwrap();
        (report.account.clone(), report.mailbox().unwrap_or("").to_owned())
    };
    w.service.add_alias(&w.admin, "chief", "boss").await.unwrap();
    assert_eq!(deliver("chief").await.0, "boss@example.com");
    // A routing rule sends the alias elsewhere…
    let rule = w
        .service
        .add_routing_rule(&w.admin, "chief@example.com", "alice@example.com", 1)
        .await
        .unwrap();
    assert_eq!(deliver("chief").await.0, "alice@example.com");
    // …and back when it is deleted; an alias deleted goes nowhere.
    w.service.delete_routing_rule(&w.admin, rule).await.unwrap();
    assert_eq!(deliver("chief").await.0, "boss@example.com");
    w.service.remove_alias(&w.admin, "chief").await.unwrap();
    assert!(matches!(
        w.service.deliver("chief", b"x\r\n".to_vec(), None).await,
        Err(Error::NotFound(_))
    ));
    // A rule saved after a delivery that found none applies to the next.
    assert_eq!(deliver("alice").await.1, "INBOX");
    w.service.create_mailbox(&alice, "Later").await.unwrap();
    let spec = RuleSpec {
        name: "later".into(),
        priority: 1,
        any: false,
        conditions: Vec::new(),
        actions: vec![Action::FileInto("Later".into())],
    };
    let me = Scope::Account("alice".into());
    let id = w.service.save_rule(&alice, &me, None, spec).await.unwrap();
    assert_eq!(deliver("alice").await.1, "Later");
    // A renamed mailbox is looked up again (the rule names it no more).
    w.service.rename_mailbox(&alice, "Later", "Elsewhere").await.unwrap();
    assert_eq!(deliver("alice").await.1, "INBOX", "kept in the INBOX");
    w.service.delete_rule(&alice, id).await.unwrap();
});
