//! NOTIFY (RFC 5465): one connection watches several mailboxes — its own
//! and ones shared with it — and hears of new mail in each as it comes,
//! in IDLE and after any command.

use mailroom_shared::Flags;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World, server_test};

fn message(subject: &str) -> Vec<u8> {
    format!("From: x@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n").into_bytes()
}

server_test!(one_connection_watches_shared_mailboxes, async |s: Server| {
    let alice = s.user("alice").await;
    let boss = s.user("boss").await;
    let service = s.service();
    service.set_acl(&boss, "INBOX", "alice", "lr").await.unwrap();
    service.create_mailbox(&alice, "Projects").await.unwrap();
    service
        .append(&boss, "INBOX", message("first"), &Flags::default(), None)
        .await
        .unwrap();

    let mut c = s.login("alice").await;
    let lines = c
        .ok("NOTIFY SET STATUS (MAILBOXES (~boss/INBOX Projects) (MessageNew MessageExpunge))")
        .await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* STATUS ~boss/INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("* STATUS Projects (MESSAGES 0 ")),
        "{lines:?}"
    );

    // In IDLE, as mail arrives in either.
    c.ok("SELECT INBOX").await;
    c.send_raw(b"i IDLE\r\n").await;
    assert!(c.line().await.unwrap().starts_with('+'));
    service
        .append(&boss, "INBOX", message("second"), &Flags::default(), None)
        .await
        .unwrap();
    let line = c.line().await.unwrap();
    assert!(
        line.starts_with("* STATUS ~boss/INBOX (MESSAGES 2 UIDNEXT 3 "),
        "{line}"
    );
    service
        .append(&alice, "Projects", message("plan"), &Flags::default(), None)
        .await
        .unwrap();
    let line = c.line().await.unwrap();
    assert!(line.starts_with("* STATUS Projects (MESSAGES 1 UIDNEXT 2 "), "{line}");
    c.send_raw(b"DONE\r\n").await;
    let (_, done) = c.until_tagged("i").await;
    assert!(done.starts_with("OK"), "{done}");

    // After a command, with nothing in between.
    service
        .append(&boss, "INBOX", message("third"), &Flags::default(), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let lines = c.ok("NOOP").await;
    assert!(
        lines.iter().any(|l| l.starts_with("* STATUS ~boss/INBOX (MESSAGES 3 ")),
        "{lines:?}"
    );

    // NOTIFY NONE: quiet again.
    c.ok("NOTIFY NONE").await;
    service
        .append(&boss, "INBOX", message("fourth"), &Flags::default(), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let lines = c.ok("NOOP").await;
    assert!(!lines.iter().any(|l| l.starts_with("* STATUS")), "{lines:?}");
    c.fails("NOTIFY SET (PERSONAL (Bogus))", "NO").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_one_may_not_read_is_not_watched() {
    let world = World::new(Backend::Sqlite).await.expect("sqlite world");
    let s = Server::start(world).await;
    s.user("alice").await;
    let boss = s.user("boss").await;
    let mut c = s.login("alice").await;
    let lines = c
        .ok("NOTIFY SET STATUS (MAILBOXES ~boss/INBOX (MessageNew MessageExpunge))")
        .await;
    assert!(lines.is_empty(), "{lines:?}");
    s.service()
        .append(&boss, "INBOX", message("secret"), &Flags::default(), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let lines = c.ok("NOOP").await;
    assert!(lines.is_empty(), "{lines:?}");
}

// RFC 5267 UPDATE: a kept SEARCH and a kept SORT hear of a new message
// that matches (ADDTO, with its place in the sort order) and of one that
// stops matching (REMOVEFROM), until CANCELUPDATE.
server_test!(kept_searches_and_sorts_follow_the_mailbox, async |s: Server| {
    let alice = s.user("alice").await;
    for subject in ["b", "d"] {
        s.service()
            .append(&alice, "INBOX", message(subject), &Flags::default(), None)
            .await
            .unwrap();
    }
    let mut c = s.login("alice").await;
    c.ok("SELECT INBOX").await;
    let lines = c.ok("SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN").await;
    assert!(lines.iter().any(|l| l.ends_with(" ALL 1:2")), "{lines:?}");
    c.ok("SEARCH RETURN (UPDATE) UNSEEN").await;
    s.service()
        .append(&alice, "INBOX", message("c"), &Flags::default(), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let lines = c.ok("NOOP").await;
    // c sorts between b and d: second place.
    assert!(lines.iter().any(|l| l.contains("ADDTO (2 3)")), "{lines:?}");
    let lines = c.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(
        lines.iter().filter(|l| l.contains("REMOVEFROM (1 1)")).count(),
        2,
        "{lines:?}"
    );
    let tags: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("* ESEARCH (TAG \"")
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
        })
        .collect();
    c.ok(&format!("CANCELUPDATE \"{}\" \"{}\"", tags[0], tags[1])).await;
    let lines = c.ok("STORE 2 +FLAGS (\\Seen)").await;
    assert!(!lines.iter().any(|l| l.contains("ESEARCH")), "{lines:?}");
});
