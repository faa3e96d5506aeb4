//! The service is the one enforcement point: each operation is refused
//! without its right, and a mailbox without `l` looks exactly like a
//! missing one.

use mailroom::{Error, Principal};
use mailroom_shared::{FlagOp, Flags, SystemFlag};
use mailroom_tests::{World, both_backends};

fn msg(subject: &str) -> Vec<u8> {
    format!("From: a@example.com\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n").into_bytes()
}

fn flags(list: &[&str]) -> Flags {
    Flags::parse(list.iter().copied()).unwrap()
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::NotFound(m)) => m,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn is_no_permission<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(
        matches!(r, Err(Error::NoPermission(_))),
        "expected NoPermission, got {r:?}"
    );
}

/// alice's mailbox `Shared` with one message (UID 1), bob's rights on it
/// set to `rights`.
async fn shared_with_bob(w: &World, rights: &str) -> (Principal, Principal) {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    w.service.create_mailbox(&alice, "Shared").await.unwrap();
    w.service
        .append(&alice, "Shared", msg("one"), &Flags::default(), None)
        .await
        .unwrap();
    w.service.create_mailbox(&alice, "Other").await.unwrap();
    if !rights.is_empty() {
        w.service.set_acl(&alice, "Shared", "bob", rights).await.unwrap();
    }
    (alice, bob)
}

both_backends!(
    without_lookup_a_mailbox_is_indistinguishable_from_a_missing_one,
    async |w: World| {
        let (_alice, bob) = shared_with_bob(&w, "rswipkxtea").await;
        let hidden = is_not_found(w.service.mailbox(&bob, "~alice/Shared").await);
        let missing = is_not_found(w.service.mailbox(&bob, "~alice/Nothing").await);
        assert_eq!(hidden, "no mailbox named ~alice/Shared");
        assert_eq!(missing, "no mailbox named ~alice/Nothing");
        for (a, b) in [
            (
                w.service.messages(&bob, "~alice/Shared").await.map(drop),
                w.service.messages(&bob, "~alice/Nothing").await.map(drop),
            ),
            (
                w.service.get_acl(&bob, "~alice/Shared").await.map(drop),
                w.service.get_acl(&bob, "~alice/Nothing").await.map(drop),
            ),
            (
                w.service.delete_mailbox(&bob, "~alice/Shared").await,
                w.service.delete_mailbox(&bob, "~alice/Nothing").await,
            ),
            (
                w.service
                    .append(&bob, "~alice/Shared", msg("x"), &Flags::default(), None)
                    .await
                    .map(drop),
                w.service
                    .append(&bob, "~alice/Nothing", msg("x"), &Flags::default(), None)
                    .await
                    .map(drop),
            ),
        ] {
            let (a, b) = (is_not_found(a), is_not_found(b));
            assert_eq!(a.replace("Shared", "X"), b.replace("Nothing", "X"));
        }
        let names: Vec<String> = w.mailbox_names(&bob).await;
        assert!(!names.iter().any(|n| n.starts_with("~alice")), "{names:?}");
        let listed = w.service.list_account_mailboxes(&bob, "alice").await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
    }
);

both_backends!(read_needs_r, async |w: World| {
    let (_, bob) = shared_with_bob(&w, "l").await;
    is_no_permission(w.service.messages(&bob, "~alice/Shared").await);
    is_no_permission(w.service.fetch(&bob, "~alice/Shared", 1).await);
    is_no_permission(w.service.counts(&bob, "~alice/Shared").await);
    is_no_permission(w.service.watch(&bob, "~alice/Shared").await.map(drop));
    is_no_permission(w.service.changes_since(&bob, "~alice/Shared", 0).await);
    is_no_permission(w.service.copy(&bob, "~alice/Shared", &[1], "INBOX").await);
    assert_eq!(
        w.service.my_rights(&bob, "~alice/Shared").await.unwrap().to_string(),
        "l"
    );
});

both_backends!(reading_with_lr_works, async |w: World| {
    let (_, bob) = shared_with_bob(&w, "lr").await;
    let (info, rows) = w.service.messages(&bob, "~alice/Shared").await.unwrap();
    assert_eq!(info.name, "~alice/Shared");
    assert_eq!(info.rights.to_string(), "lr");
    assert_eq!(rows.len(), 1);
    assert_eq!(w.service.fetch(&bob, "~alice/Shared", 1).await.unwrap(), msg("one"));
    let names: Vec<String> = w.mailbox_names(&bob).await;
    assert!(names.contains(&"~alice/Shared".to_string()), "{names:?}");
    assert!(!names.contains(&"~alice/Other".to_string()), "{names:?}");
});

both_backends!(append_needs_i, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lr").await;
    is_no_permission(
        w.service
            .append(&bob, "~alice/Shared", msg("x"), &Flags::default(), None)
            .await,
    );
    w.service.set_acl(&bob, "INBOX", "alice", "lr").await.unwrap();
    is_no_permission(w.service.copy(&alice, "Shared", &[1], "~bob/INBOX").await);
    assert!(w.service.messages(&bob, "INBOX").await.unwrap().1.is_empty());
    w.service.set_acl(&alice, "Shared", "bob", "+i").await.unwrap();
    let (_, uid) = w
        .service
        .append(&bob, "~alice/Shared", msg("x"), &Flags::default(), None)
        .await
        .unwrap();
    assert_eq!(uid, 2);
});

both_backends!(flags_without_their_right_are_dropped_silently, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lr").await;
    let all = flags(&["\\Seen", "\\Flagged", "\\Deleted"]);
    is_no_permission(
        w.service
            .store_flags(&bob, "~alice/Shared", &[1], FlagOp::Add, &all)
            .await,
    );
    w.service.set_acl(&alice, "Shared", "bob", "lrs").await.unwrap();
    let changed = w
        .service
        .store_flags(&bob, "~alice/Shared", &[1], FlagOp::Add, &all)
        .await
        .unwrap();
    let changed: Vec<_> = changed.into_iter().map(|c| (c.uid, c.flags)).collect();
    assert_eq!(changed, vec![(1, flags(&["\\Seen"]))]);
    w.service.set_acl(&alice, "Shared", "bob", "lrst").await.unwrap();
    w.service
        .store_flags(&bob, "~alice/Shared", &[1], FlagOp::Replace, &all)
        .await
        .unwrap();
    let (_, rows) = w.service.messages(&alice, "Shared").await.unwrap();
    assert_eq!(rows[0].flags, flags(&["\\Seen", "\\Deleted"]));
    w.service.set_acl(&alice, "Shared", "bob", "lrw").await.unwrap();
    w.service
        .store_flags(
            &bob,
            "~alice/Shared",
            &[1],
            FlagOp::Replace,
            &flags(&["\\Flagged", "Work"]),
        )
        .await
        .unwrap();
    let (_, rows) = w.service.messages(&alice, "Shared").await.unwrap();
    assert_eq!(rows[0].flags, flags(&["\\Seen", "\\Deleted", "\\Flagged", "Work"]));
});

both_backends!(append_drops_flags_without_their_right, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lri").await;
    let all = flags(&["\\Seen", "\\Flagged", "\\Deleted", "k"]);
    let (_, uid) = w
        .service
        .append(&bob, "~alice/Shared", msg("x"), &all, None)
        .await
        .unwrap();
    let (_, rows) = w.service.messages(&alice, "Shared").await.unwrap();
    assert_eq!(rows.iter().find(|r| r.uid == uid).unwrap().flags, Flags::default());
});

both_backends!(expunge_needs_e, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lrt").await;
    w.service
        .store_flags(&bob, "~alice/Shared", &[1], FlagOp::Add, &flags(&["\\Deleted"]))
        .await
        .unwrap();
    is_no_permission(w.service.expunge(&bob, "~alice/Shared", None).await);
    assert_eq!(w.service.messages(&alice, "Shared").await.unwrap().1.len(), 1);
    w.service.set_acl(&alice, "Shared", "bob", "+e").await.unwrap();
    assert_eq!(w.service.expunge(&bob, "~alice/Shared", None).await.unwrap(), vec![1]);
    assert!(w.service.messages(&alice, "Shared").await.unwrap().1.is_empty());
});

both_backends!(
    move_needs_t_and_e_on_the_source_and_i_on_the_target,
    async |w: World| {
        let (alice, bob) = shared_with_bob(&w, "lrt").await;
        is_no_permission(w.service.move_messages(&bob, "~alice/Shared", &[1], "INBOX").await);
        w.service.set_acl(&alice, "Shared", "bob", "lre").await.unwrap();
        is_no_permission(w.service.move_messages(&bob, "~alice/Shared", &[1], "INBOX").await);
        w.service.set_acl(&alice, "Shared", "bob", "lrte").await.unwrap();
        let (_, pairs) = w
            .service
            .move_messages(&bob, "~alice/Shared", &[1], "INBOX")
            .await
            .unwrap();
        assert_eq!(pairs, vec![(1, 1)]);
        assert!(w.service.messages(&alice, "Shared").await.unwrap().1.is_empty());
        assert_eq!(w.service.fetch(&bob, "INBOX", 1).await.unwrap(), msg("one"));
    }
);

both_backends!(copy_keeps_content_once_and_flags_the_target_allows, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lrs").await;
    w.service
        .store_flags(&alice, "Shared", &[1], FlagOp::Add, &flags(&["\\Flagged", "\\Seen"]))
        .await
        .unwrap();
    let (uidvalidity, pairs) = w.service.copy(&bob, "~alice/Shared", &[1, 99], "INBOX").await.unwrap();
    assert_eq!(pairs, vec![(1, 1)]);
    assert_eq!(uidvalidity, w.service.mailbox(&bob, "INBOX").await.unwrap().uidvalidity);
    let (_, rows) = w.service.messages(&bob, "INBOX").await.unwrap();
    assert_eq!(rows[0].flags, flags(&["\\Flagged", "\\Seen"]));
    assert_eq!(w.service.fetch(&bob, "INBOX", 1).await.unwrap(), msg("one"));
});

both_backends!(mailbox_management_needs_k_x_a, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lr").await;
    is_no_permission(w.service.create_mailbox(&bob, "~alice/Shared/Sub").await);
    is_no_permission(w.service.delete_mailbox(&bob, "~alice/Shared").await);
    is_no_permission(w.service.rename_mailbox(&bob, "~alice/Shared", "~alice/Renamed").await);
    is_no_permission(w.service.get_acl(&bob, "~alice/Shared").await);
    is_no_permission(w.service.set_acl(&bob, "~alice/Shared", "bob", "lrswipkxtea").await);
    is_no_permission(w.service.delete_acl(&bob, "~alice/Shared", "bob").await);
    is_no_permission(w.service.list_rights(&bob, "~alice/Shared", "bob").await);
    assert_eq!(
        w.service.my_rights(&bob, "~alice/Shared").await.unwrap().to_string(),
        "lr"
    );
    w.service.set_acl(&alice, "Shared", "bob", "lrkxa").await.unwrap();
    w.service.create_mailbox(&bob, "~alice/Shared/Sub").await.unwrap();
    let acl = w.service.get_acl(&bob, "~alice/Shared/Sub").await.unwrap();
    assert_eq!(
        acl,
        w.service.get_acl(&alice, "Shared").await.unwrap(),
        "a child starts with its parent's ACL"
    );
    w.service.delete_mailbox(&bob, "~alice/Shared/Sub").await.unwrap();
    w.service
        .set_acl(&bob, "~alice/Shared", "carol@example.com", "lr")
        .await
        .unwrap_err();
    let top = w.service.create_mailbox(&bob, "~alice/TopLevel").await;
    assert!(matches!(top, Err(Error::NotFound(_))), "{top:?}");
});

both_backends!(
    owner_has_everything_server_admin_has_lookup_and_administer,
    async |w: World| {
        let (alice, _) = shared_with_bob(&w, "").await;
        assert_eq!(
            w.service.my_rights(&alice, "Shared").await.unwrap().to_string(),
            "lrswipkxtea"
        );
        assert_eq!(
            w.service
                .my_rights(&w.admin, "~alice/Shared")
                .await
                .unwrap()
                .to_string(),
            "la"
        );
        is_no_permission(w.service.messages(&w.admin, "~alice/Shared").await);
        w.service
            .set_acl(&w.admin, "~alice/Shared", "admin", "+r")
            .await
            .unwrap();
        assert_eq!(w.service.messages(&w.admin, "~alice/Shared").await.unwrap().1.len(), 1);
        let listed = w.service.list_account_mailboxes(&w.admin, "alice").await.unwrap();
        assert_eq!(listed.len(), 7, "{listed:?}");
    }
);

both_backends!(negative_entries_take_rights_away, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "").await;
    let carol = w.user("carol").await;
    w.service.set_acl(&alice, "Shared", "anyone", "lrs").await.unwrap();
    w.service.set_acl(&alice, "Shared", "-bob", "rs").await.unwrap();
    assert_eq!(
        w.service.my_rights(&bob, "~alice/Shared").await.unwrap().to_string(),
        "l"
    );
    assert_eq!(
        w.service.my_rights(&carol, "~alice/Shared").await.unwrap().to_string(),
        "lrs"
    );
    w.service.set_acl(&alice, "Shared", "-bob", "+l").await.unwrap();
    is_not_found(w.service.mailbox(&bob, "~alice/Shared").await);
    let acl = w.service.get_acl(&alice, "Shared").await.unwrap();
    let shown: Vec<String> = acl
        .iter()
        .map(|e| format!("{} {}", e.identifier_string(), e.rights))
        .collect();
    assert_eq!(shown, ["anyone lrs", "-bob@example.com lrs"]);
});

both_backends!(anyone_authenticated_and_domain_identifiers, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "").await;
    w.service.add_domain(&w.admin, "other.example", &[]).await.unwrap();
    w.service
        .add_account(&w.admin, "dave@other.example", Some("pw"), false)
        .await
        .unwrap();
    let dave = w
        .service
        .authenticate("dave@other.example", "pw", mailroom::service::LOCAL)
        .await
        .unwrap();
    w.service
        .set_acl(&alice, "Shared", "anyone@example.com", "lr")
        .await
        .unwrap();
    assert_eq!(
        w.service.my_rights(&bob, "~alice/Shared").await.unwrap().to_string(),
        "lr"
    );
    is_not_found(w.service.mailbox(&dave, "~alice@example.com/Shared").await);
    w.service.set_acl(&alice, "Shared", "authenticated", "l").await.unwrap();
    let seen = w.service.mailbox(&dave, "~alice@example.com/Shared").await.unwrap();
    assert_eq!(seen.name, "~alice@example.com/Shared");
    assert_eq!(seen.rights.to_string(), "l");
    let names: Vec<String> = w.mailbox_names(&dave).await;
    assert!(names.contains(&"~alice@example.com/Shared".into()), "{names:?}");
});

both_backends!(shared_with_me_index_follows_acl_writes, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lr").await;
    let shared = async |p: &Principal| -> Vec<String> {
        w.mailbox_names(p)
            .await
            .into_iter()
            .filter(|n| n.starts_with('~'))
            .collect()
    };
    assert_eq!(shared(&bob).await, ["~alice/Shared"]);
    w.service.set_acl(&alice, "Shared", "bob", "-l").await.unwrap();
    assert!(shared(&bob).await.is_empty());
    w.service.set_acl(&alice, "Shared", "bob", "+l").await.unwrap();
    w.service.rename_mailbox(&alice, "Shared", "Team/Shared").await.unwrap();
    assert_eq!(shared(&bob).await, ["~alice/Team/Shared"]);
    w.service.delete_acl(&alice, "Team/Shared", "bob").await.unwrap();
    assert!(shared(&bob).await.is_empty());
});

both_backends!(bad_acl_input_changes_nothing, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lr").await;
    let before = w.service.get_acl(&alice, "Shared").await.unwrap();
    for (id, rights) in [
        ("bob", "lrz"),
        ("bob", "+L"),
        ("b b", "lr"),
        ("", "lr"),
        ("anyone@", "l"),
    ] {
        let err = w.service.set_acl(&alice, "Shared", id, rights).await.unwrap_err();
        assert!(matches!(err, Error::BadInput(_)), "{id} {rights}: {err:?}");
    }
    let err = w.service.set_acl(&alice, "Shared", "nobody", "lr").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(w.service.get_acl(&alice, "Shared").await.unwrap(), before);
    assert_eq!(
        w.service.my_rights(&bob, "~alice/Shared").await.unwrap().to_string(),
        "lr"
    );
    let old_style = w.service.set_acl(&alice, "Shared", "bob", "lrcd").await.unwrap();
    assert_eq!(old_style.rights.to_string(), "lrkte");
});

both_backends!(list_rights_and_explanations, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lr").await;
    w.service.set_acl(&alice, "Shared", "anyone", "s").await.unwrap();
    let (required, optional) = w.service.list_rights(&alice, "Shared", "bob").await.unwrap();
    assert!(required.is_empty());
    assert_eq!(optional.len(), 11);
    let (required, _) = w.service.list_rights(&alice, "Shared", "alice").await.unwrap();
    assert_eq!(required.to_string(), "lrswipkxtea");
    let why = w.service.explain_rights(&alice, "Shared", "bob").await.unwrap();
    assert_eq!(why.rights.to_string(), "lrs");
    assert_eq!(why.granted_by.len(), 2);
    is_no_permission(w.service.explain_rights(&bob, "~alice/Shared", "bob").await);
});

both_backends!(per_user_seen_is_kept_per_reader, async |w: World| {
    let (alice, bob) = shared_with_bob(&w, "lrs").await;
    w.service
        .set_seen_mode(&alice, "Shared", mailroom_shared::dto::SeenMode::PerUser)
        .await
        .unwrap();
    w.service
        .store_flags(
            &bob,
            "~alice/Shared",
            &[1],
            FlagOp::Add,
            &flags(&["\\Seen", "\\Flagged"]),
        )
        .await
        .unwrap();
    let (_, for_bob) = w.service.messages(&bob, "~alice/Shared").await.unwrap();
    let (_, for_alice) = w.service.messages(&alice, "Shared").await.unwrap();
    assert!(for_bob[0].flags.contains(SystemFlag::Seen));
    assert!(!for_alice[0].flags.contains(SystemFlag::Seen));
    assert!(!for_bob[0].flags.contains(SystemFlag::Flagged), "bob has no w");
    assert_eq!(w.service.counts(&alice, "Shared").await.unwrap().unseen, 1);
    assert_eq!(w.service.counts(&bob, "~alice/Shared").await.unwrap().unseen, 0);
});

both_backends!(admin_operations_need_a_server_admin, async |w: World| {
    let bob = w.user("bob").await;
    is_no_permission(w.service.add_domain(&bob, "x.example", &[]).await);
    is_no_permission(w.service.add_account(&bob, "eve", Some("pw"), true).await);
    is_no_permission(w.service.delete_account(&bob, "admin").await);
    is_no_permission(w.service.accounts(&bob).await);
    is_no_permission(w.service.add_alias(&bob, "b2", "bob").await);
    is_no_permission(
        w.service
            .add_routing_rule(&bob, "*@x.example", "*@example.com", 1)
            .await,
    );
    is_no_permission(w.service.set_password(&bob, "admin", "pw").await);
    w.service.set_password(&bob, "bob", "new-pw").await.unwrap();
    assert!(matches!(
        w.service.authenticate("bob", "pw-bob", mailroom::service::LOCAL).await,
        Err(Error::AuthFailed)
    ));
    w.service
        .authenticate("bob", "new-pw", mailroom::service::LOCAL)
        .await
        .unwrap();
    assert_eq!(w.service.accounts(&w.admin).await.unwrap().len(), 3);
});
