//! The change feed: subscribers get typed changes with the right MODSEQ,
//! and catch up from the change log after falling behind.

use mailroom::service::Watch;
use mailroom::service::{Change, ChangeKind};
use mailroom_shared::dto::SeenMode;
use mailroom_shared::{FlagOp, Flags};
use mailroom_tests::{PATIENCE, World, both_backends};

async fn next(watch: &mut Watch) -> Vec<Change> {
    tokio::time::timeout(PATIENCE, watch.next())
        .await
        .expect("a change arrives")
        .expect("watch works")
}

fn msg(n: usize) -> Vec<u8> {
    format!("Subject: {n}\r\n\r\nmessage {n}\r\n").into_bytes()
}

both_backends!(a_subscriber_sees_each_change_with_its_modseq, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    w.service.create_mailbox(&alice, "Team").await.unwrap();
    w.service.set_acl(&alice, "Team", "bob", "lrswite").await.unwrap();
    let (mut watch, start) = w.service.watch(&alice, "Team").await.unwrap();

    let (_, uid) = w
        .service
        .append(&bob, "~alice/Team", msg(1), &Flags::default(), None)
        .await
        .unwrap();
    let added = next(&mut watch).await;
    let modseq = w.service.mailbox(&alice, "Team").await.unwrap().highest_modseq;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].modseq, modseq);
    assert!(modseq > start);
    assert_eq!(added[0].kind, ChangeKind::Added(vec![(uid, Flags::default())]));

    let flagged = Flags::parse(["\\Flagged", "\\Deleted"]).unwrap();
    w.service
        .store_flags(&bob, "~alice/Team", &[uid], FlagOp::Add, &flagged)
        .await
        .unwrap();
    let changed = next(&mut watch).await;
    assert_eq!(
        changed[0].modseq,
        w.service.mailbox(&alice, "Team").await.unwrap().highest_modseq
    );
    assert_eq!(
        changed[0].kind,
        ChangeKind::FlagsChanged {
            messages: vec![(uid, flagged)],
            only_for: None
        }
    );
    assert!(changed[0].modseq > modseq);

    w.service.expunge(&bob, "~alice/Team", None).await.unwrap();
    let gone = next(&mut watch).await;
    assert_eq!(gone[0].kind, ChangeKind::Expunged(vec![uid]));
    assert_eq!(
        gone[0].modseq,
        w.service.mailbox(&alice, "Team").await.unwrap().highest_modseq
    );
    assert_eq!(watch.modseq(), gone[0].modseq);

    w.service.set_acl(&alice, "Team", "bob", "lr").await.unwrap();
    assert_eq!(next(&mut watch).await[0].kind, ChangeKind::AclChanged);
    w.service.rename_mailbox(&alice, "Team", "Crew").await.unwrap();
    assert_eq!(
        next(&mut watch).await[0].kind,
        ChangeKind::MailboxRenamed("Crew".into())
    );
    w.service.delete_mailbox(&alice, "Crew").await.unwrap();
    assert_eq!(next(&mut watch).await[0].kind, ChangeKind::MailboxDeleted);
});

both_backends!(a_lagging_subscriber_catches_up_from_the_log, async |w: World| {
    let alice = w.user("alice").await;
    let (mut watch, _) = w.service.watch(&alice, "INBOX").await.unwrap();
    const N: usize = 300; // more than a channel holds
    for n in 0..N {
        w.service
            .append(&alice, "INBOX", msg(n), &Flags::default(), None)
            .await
            .unwrap();
    }
    let mut uids = Vec::new();
    let mut modseqs = Vec::new();
    while uids.len() < N {
        for change in next(&mut watch).await {
            match change.kind {
                ChangeKind::Added(added) => uids.extend(added.into_iter().map(|(uid, _)| uid)),
                other => panic!("unexpected {other:?}"),
            }
            modseqs.push(change.modseq);
        }
    }
    assert_eq!(uids, (1..=N as u32).collect::<Vec<_>>(), "each message once, in order");
    assert!(modseqs.windows(2).all(|p| p[0] < p[1]), "MODSEQs increase");
    let since = w.service.changes_since(&alice, "INBOX", modseqs[N - 11]).await.unwrap();
    assert_eq!(since.len(), 10);
    assert_eq!(since.iter().map(|c| c.modseq).collect::<Vec<_>>(), modseqs[N - 10..]);
});

both_backends!(per_user_seen_changes_reach_only_their_reader, async |w: World| {
    let alice = w.user("alice").await;
    let bob = w.user("bob").await;
    w.service.create_mailbox(&alice, "News").await.unwrap();
    w.service.set_acl(&alice, "News", "bob", "lrs").await.unwrap();
    w.service
        .set_seen_mode(&alice, "News", SeenMode::PerUser)
        .await
        .unwrap();
    let (_, uid) = w
        .service
        .append(&alice, "News", msg(1), &Flags::default(), None)
        .await
        .unwrap();
    let (mut alice_watch, _) = w.service.watch(&alice, "News").await.unwrap();
    let (mut bob_watch, _) = w.service.watch(&bob, "~alice/News").await.unwrap();

    let seen = Flags::parse(["\\Seen"]).unwrap();
    w.service
        .store_flags(&bob, "~alice/News", &[uid], FlagOp::Add, &seen)
        .await
        .unwrap();
    let for_bob = next(&mut bob_watch).await;
    assert!(
        matches!(&for_bob[0].kind, ChangeKind::FlagsChanged { messages, .. } if messages == &vec![(uid, seen.clone())])
    );

    let (_, uid2) = w
        .service
        .append(&alice, "News", msg(2), &Flags::default(), None)
        .await
        .unwrap();
    let for_alice = next(&mut alice_watch).await;
    assert_eq!(for_alice.len(), 1, "{for_alice:?}");
    assert_eq!(for_alice[0].kind, ChangeKind::Added(vec![(uid2, Flags::default())]));
});

both_backends!(watching_needs_the_mailbox_to_be_visible, async |w: World| {
    w.user("alice").await;
    let bob = w.user("bob").await;
    let hidden = w.service.watch(&bob, "~alice/INBOX").await;
    assert!(matches!(hidden, Err(mailroom::Error::NotFound(_))));
});

/// PostgreSQL only: log ids are taken at INSERT and may commit out of
/// order. A transaction that holds an early id while 1,500 later changes
/// commit must neither hold back what follows (the follower reads on past
/// its batch) nor be lost when it commits at last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_holds_nothing_back_and_is_not_lost() {
    use sqlx::{Connection, PgConnection};
    let Some(w) = World::new(mailroom_tests::Backend::Postgres).await else {
        return;
    };
    // The follower waits for the hole far longer than this test waits for
    // anything: a follower that stopped at the hole fails it, however slow
    // the machine, and the late row is never given up on.
    w.service.feed().set_gap_patience(PATIENCE * 100);
    let alice = w.user("alice").await;
    for name in ["Late", "Busy", "After"] {
        w.service.create_mailbox(&alice, name).await.unwrap();
    }
    let (mut late, _) = w.service.watch(&alice, "Late").await.unwrap();
    let (mut busy, _) = w.service.watch(&alice, "Busy").await.unwrap();
    let (mut after, _) = w.service.watch(&alice, "After").await.unwrap();
    let mut sql = PgConnection::connect(&w.db.url).await.unwrap();
    let id_of = |name: &'static str| format!("SELECT id FROM mailboxes WHERE name = '{name}'");
    let late_id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(id_of("Late")))
        .fetch_one(&mut sql)
        .await
        .unwrap();
    let busy_id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(id_of("Busy")))
        .fetch_one(&mut sql)
        .await
        .unwrap();

    // The slow transaction takes its log id first and keeps it. (Kind 7 is
    // an ACL change in the log's numbering.)
    let mut slow = PgConnection::connect(&w.db.url).await.unwrap();
    let mut slow_tx = slow.begin().await.unwrap();
    sqlx::query("INSERT INTO changes (mailbox_id, modseq, kind, origin) VALUES ($1, 1000, 7, 'test')")
        .bind(late_id)
        .execute(&mut *slow_tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO changes (mailbox_id, modseq, kind, origin) \
         SELECT $1, 1000 + g, 7, 'test' FROM generate_series(1, 1500) g",
    )
    .bind(busy_id)
    .execute(&mut sql)
    .await
    .unwrap();

    // A change after all of them reaches its watcher while the early id
    // is still open: the follower did not stop at its first batch to
    // wait for the gap.
    w.service
        .append(&alice, "After", msg(1), &Flags::default(), None)
        .await
        .unwrap();
    let arrived = tokio::time::timeout(PATIENCE, after.next())
        .await
        .expect("the feed went on past the open gap")
        .unwrap();
    assert!(matches!(arrived[0].kind, ChangeKind::Added(_)), "{arrived:?}");
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 1500 {
        for change in next(&mut busy).await {
            seen.insert(change.modseq);
        }
    }

    slow_tx.commit().await.unwrap();
    let changes = next(&mut late).await;
    assert!(
        changes
            .iter()
            .any(|c| c.modseq == 1000 && c.kind == ChangeKind::AclChanged),
        "{changes:?}"
    );
}
