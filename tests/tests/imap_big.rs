//! A mailbox big enough that a node keeps its flag view for the next
//! SELECT: a SELECT that starts from that view shows exactly what the
//! database holds — with no change since, after other sessions' flag
//! changes, expunges and new mail, and after a message was removed
//! behind the server's back (the view no longer adds up and is read
//! again).

use mailroom_shared::dto::SeenMode;
use mailroom_tests::World;
use mailroom_tests::net::{Client, Server};

/// More than the service keeps views from (`views::KEPT_FROM`).
const MESSAGES: u32 = 12_000;

/// Fills the INBOX straight in the database: every odd message `\Seen`.
fn generate(postgres: bool, mailbox: i64) -> String {
    let n = MESSAGES;
    let messages =
        "INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, internal_date, size, blob_hash)";
    let rows = if postgres {
        format!("SELECT {mailbox}, i, 1, i % 2, '', 1790000000 + i, 100, 'h' FROM generate_series(1, {n}) i")
    } else {
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             SELECT {mailbox}, i, 1, i % 2, '', 1790000000 + i, 100, 'h' FROM s"
        )
    };
    let blob = match postgres {
        true => "convert_to('x', 'UTF8')",
        false => "CAST('x' AS BLOB)",
    };
    format!(
        "INSERT INTO blobs (hash, data) VALUES ('h', {blob});
         {messages} {rows};
         UPDATE mailboxes SET uidnext = {n} + 1 WHERE id = {mailbox};"
    )
}

/// The system flags' bits as the store keeps them.
fn bits(flags: &str) -> i64 {
    ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"]
        .iter()
        .enumerate()
        .filter(|(_, f)| flags.split([' ', '(', ')']).any(|w| w.eq_ignore_ascii_case(f)))
        .map(|(i, _)| 1 << i)
        .sum()
}

/// What a session shows: how many messages it announced, and a sum over
/// them of UID × (1 + flag bits).
async fn shown(c: &mut Client) -> (u64, i64) {
    let lines = c.ok("SELECT INBOX").await;
    let exists = lines
        .iter()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .expect("EXISTS");
    let mut sum = 0;
    for line in c.ok("FETCH 1:* (UID FLAGS)").await {
        let Some(uid) = line.split("UID ").nth(1).and_then(|r| r.split([' ', ')']).next()) else {
            continue;
        };
        let uid: i64 = uid.parse().expect("a UID");
        let flags = line
            .split("FLAGS (")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or("");
        sum += uid * (1 + bits(flags));
    }
    (exists, sum)
}

/// The same of the database's rows.
async fn stored(world: &World, mailbox: i64) -> (u64, i64) {
    let count = world
        .db
        .number(&format!("SELECT COUNT(*) FROM messages WHERE mailbox_id = {mailbox}"))
        .await;
    let sum = world
        .db
        .number(&format!(
            "SELECT CAST(COALESCE(SUM(uid * (1 + system_flags)), 0) AS BIGINT) FROM messages WHERE mailbox_id = {mailbox}"
        ))
        .await;
    (count as u64, sum)
}

/// Makes alice, fills her INBOX with [`MESSAGES`] messages straight in
/// the database, and returns its id.
async fn alice_with_a_big_inbox(world: &World) -> i64 {
    world.user("alice").await;
    let postgres = world.db.url.starts_with("postgres");
    let inbox = world
        .db
        .number("SELECT b.id FROM mailboxes b JOIN accounts a ON a.id = b.account_id WHERE a.name = 'alice' AND b.name = 'INBOX'")
        .await;
    world.db.execute(&generate(postgres, inbox)).await;
    inbox
}

mailroom_tests::both_backends!(a_kept_view_shows_what_is_stored, |world: World| async move {
    let inbox = alice_with_a_big_inbox(&world).await;
    // Not read at start: the first SELECT reads it whole.
    let server = Server::start_with(world, |o| o.warm_views = false).await;

    // Read whole, then from the kept view with nothing changed since.
    let mut first = server.login("alice").await;
    let read = shown(&mut first).await;
    assert_eq!(read, stored(&server.world, inbox).await);
    assert_eq!(read.0, u64::from(MESSAGES));
    assert_eq!(server.service().views_reused(), 0);
    let mut again = server.login("alice").await;
    assert_eq!(shown(&mut again).await, read);
    assert_eq!(
        server.service().views_reused(),
        1,
        "the second SELECT starts from the kept view"
    );

    // Other sessions' changes: flags, an expunge, a new message.
    first.ok("UID STORE 1:100 +FLAGS.SILENT (\\Flagged)").await;
    first.ok("UID STORE 5001 -FLAGS.SILENT (\\Seen)").await;
    first.ok("UID STORE 200:300 +FLAGS.SILENT (\\Deleted)").await;
    first.ok("EXPUNGE").await;
    server
        .service()
        .deliver("alice@example.com", b"Subject: new\r\n\r\nhello\r\n".to_vec(), None)
        .await
        .expect("delivered");
    let mut later = server.login("alice").await;
    let now = shown(&mut later).await;
    assert_eq!(now, stored(&server.world, inbox).await);
    assert_eq!(now.0, u64::from(MESSAGES) - 101 + 1);
    assert_eq!(server.service().views_reused(), 2, "brought forward by the changes");

    // A message removed behind the server's back (no change logged): the
    // kept view no longer adds up to the mailbox's count and is read again.
    server
        .world
        .db
        .execute(&format!("DELETE FROM messages WHERE mailbox_id = {inbox} AND uid = 7"))
        .await;
    let mut after = server.login("alice").await;
    let now = shown(&mut after).await;
    assert_eq!(now, stored(&server.world, inbox).await);
    assert_eq!(now.0, u64::from(MESSAGES) - 101);
    assert_eq!(
        server.service().views_reused(),
        2,
        "the view did not add up: read whole"
    );
    // Read whole, it is kept again.
    let mut last = server.login("alice").await;
    assert_eq!(shown(&mut last).await, now);
    assert_eq!(server.service().views_reused(), 3);

    // A while with each reader's own \Seen: alice's read mark is hers,
    // and the shared view must not take it once \Seen is shared again.
    let service = server.service();
    let alice = service
        .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
        .await
        .unwrap();
    service.set_seen_mode(&alice, "INBOX", SeenMode::PerUser).await.unwrap();
    let mut own = server.login("alice").await;
    own.ok("SELECT INBOX").await;
    own.ok("UID STORE 2 +FLAGS.SILENT (\\Seen)").await;
    service.set_seen_mode(&alice, "INBOX", SeenMode::Shared).await.unwrap();
    let mut shared = server.login("alice").await;
    let now = shown(&mut shared).await;
    assert_eq!(now, stored(&server.world, inbox).await);
    assert_eq!(
        server.service().views_reused(),
        3,
        "a per-user change since: read whole"
    );
});

// A node reads the biggest mailboxes' views when it starts: the first
// SELECT of one starts from there, and shows what is stored.
mailroom_tests::both_backends!(a_big_mailbox_is_read_at_start, |world: World| async move {
    let inbox = alice_with_a_big_inbox(&world).await;
    let server = Server::start(world).await;
    let started = std::time::Instant::now();
    while server.service().views_kept() == 0 {
        assert!(started.elapsed() < mailroom_tests::PATIENCE, "the view was never read");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A change after the start, applied to the view read then.
    server
        .service()
        .deliver("alice@example.com", b"Subject: new\r\n\r\nhello\r\n".to_vec(), None)
        .await
        .expect("delivered");
    let mut first = server.login("alice").await;
    let read = shown(&mut first).await;
    assert_eq!(read, stored(&server.world, inbox).await);
    assert_eq!(read.0, u64::from(MESSAGES) + 1);
    assert_eq!(server.service().views_reused(), 1, "the first SELECT starts from it");
});
