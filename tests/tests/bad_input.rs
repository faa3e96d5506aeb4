//! Bad input gets a clear error and changes nothing.

use mailroom::Error;
use mailroom_shared::Flags;
use mailroom_tests::{World, both_backends};

both_backends!(malformed_mailbox_names_are_refused, async |w: World| {
    let alice = w.user("alice").await;
    let before = w.mailbox_names(&alice).await;
    let long = "x".repeat(10_000);
    let long_level = format!("a/{}", "y".repeat(300));
    for bad in [
        "..",
        ".",
        "a/../b",
        "a//b",
        "/a",
        "a/",
        "",
        "a\u{0}b",
        "tab\there",
        "bell\u{7}",
        "new\nline",
        "a*",
        "50%",
        &long,
        &long_level,
        "~",
        "~/INBOX",
        "~bob",
        "~../INBOX",
        "~a b/INBOX",
        "~bob/..",
    ] {
        let err = w.service.create_mailbox(&alice, bad).await.unwrap_err();
        assert!(matches!(err, Error::BadInput(_)), "{bad:?}: {err:?}");
        assert!(!err.to_string().is_empty());
        let err = w.service.mailbox(&alice, bad).await.unwrap_err();
        assert!(matches!(err, Error::BadInput(_)), "{bad:?}: {err:?}");
    }
    assert_eq!(w.mailbox_names(&alice).await, before);
});

both_backends!(unknown_accounts_are_not_found, async |w: World| {
    let alice = w.user("alice").await;
    for name in [
        "~nobody/INBOX",
        "~nobody@example.com/INBOX",
        "~alice@nowhere.example/INBOX",
    ] {
        let err = w.service.mailbox(&alice, name).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{name}: {err:?}");
        let err = w.service.create_mailbox(&alice, name).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{name}: {err:?}");
    }
    let err = w.service.list_account_mailboxes(&alice, "~nobody").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    for bad in ["nobody", "a b", "", "x@"] {
        assert!(w.service.delete_account(&w.admin, bad).await.is_err(), "{bad:?}");
    }
    assert_eq!(w.service.accounts(&w.admin).await.unwrap().len(), 3);
});

both_backends!(duplicates_and_protected_mailboxes, async |w: World| {
    let alice = w.user("alice").await;
    w.service.create_mailbox(&alice, "Projects").await.unwrap();
    let err = w.service.create_mailbox(&alice, "Projects").await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    let err = w.service.create_mailbox(&alice, "inbox").await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    let err = w.service.delete_mailbox(&alice, "INBOX").await.unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    w.service.create_mailbox(&alice, "Projects/2026").await.unwrap();
    let err = w.service.delete_mailbox(&alice, "Projects").await.unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    let err = w
        .service
        .rename_mailbox(&alice, "Projects", "Projects/2026/Inner")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    let err = w.service.rename_mailbox(&alice, "Projects", "Sent").await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    w.service
        .rename_mailbox(&alice, "Projects", "Work/Projects")
        .await
        .unwrap();
    let all = w.mailbox_names(&alice).await;
    assert!(all.contains(&"Work/Projects/2026".into()), "{all:?}");
    assert!(!all.iter().any(|n| n.starts_with("Projects")), "{all:?}");
});

both_backends!(bad_messages_and_flags_are_refused, async |w: World| {
    let alice = w.user("alice").await;
    let err = w
        .service
        .append(&alice, "INBOX", Vec::new(), &Flags::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    let huge = vec![b'x'; mailroom::service::MAX_MESSAGE_SIZE + 1];
    let err = w
        .service
        .append(&alice, "INBOX", huge, &Flags::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    assert!(Flags::parse(["bad flag"]).is_err());
    assert!(w.service.messages(&alice, "INBOX").await.unwrap().1.is_empty());
    assert!(matches!(
        w.service.fetch(&alice, "INBOX", 7).await,
        Err(Error::NotFound(_))
    ));
});

both_backends!(wrong_passwords_fail_alike, async |w: World| {
    w.user("alice").await;
    for (login, password) in [
        ("alice", "wrong"),
        ("nobody", "pw-alice"),
        ("alice", ""),
        ("public", ""),
        ("public", "x"),
    ] {
        assert!(
            matches!(
                w.service.authenticate(login, password, mailroom::service::LOCAL).await,
                Err(Error::AuthFailed)
            ),
            "{login}"
        );
    }
    let long = "p".repeat(5000);
    assert!(matches!(
        w.service.authenticate("alice", &long, mailroom::service::LOCAL).await,
        Err(Error::AuthFailed)
    ));
    let err = w
        .service
        .add_account(&w.admin, "eve", Some(""), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err:?}");
    assert!(
        w.service.find_account(&w.admin, "eve").await.is_err(),
        "nothing created"
    );
});

// Failed logins count against the account however it is named (its
// address, its bare name in any case, an alias), not against the text
// typed: the allowance of ten failures and one more, spread over the
// names, each from its own address, lock the account out — and nobody
// else.
both_backends!(
    failed_logins_count_against_the_account_not_the_name,
    async |w: World| {
        w.user("alice").await;
        w.user("bob").await;
        w.service.add_alias(&w.admin, "ally", "alice").await.unwrap();
        let names = ["alice", "alice@example.com", "ALICE", "ally"];
        for i in 0..11u8 {
            let from = std::net::IpAddr::from([10, 0, 0, i + 1]);
            let name = names[usize::from(i) % names.len()];
            let err = w.service.authenticate(name, "wrong", from).await.unwrap_err();
            assert!(matches!(err, Error::AuthFailed), "{name}: {err:?}");
        }
        let fresh = std::net::IpAddr::from([10, 0, 0, 99]);
        let err = w.service.authenticate("ally", "pw-alice", fresh).await.unwrap_err();
        assert!(matches!(err, Error::Throttled(_)), "{err:?}");
        w.service
            .authenticate("bob", "pw-bob", fresh)
            .await
            .expect("bob is not locked out");
    }
);
