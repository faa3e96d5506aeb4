//! CONDSTORE and QRESYNC (RFC 7162) over a real socket: a client that was
//! away resynchronises with one SELECT and gets exactly what changed.

use std::collections::BTreeSet;

use mailroom_shared::{FlagOp, Flags};
use mailroom_tests::net::{Client, Server};
use mailroom_tests::{Backend, World, server_test};

fn message(i: u32) -> Vec<u8> {
    format!("From: x@example.org\r\nSubject: message {i}\r\n\r\nbody {i}\r\n").into_bytes()
}

/// The number in `[NAME n]` of the first line carrying it.
fn code(lines: &[String], name: &str) -> u64 {
    let marker = format!("[{name} ");
    let line = lines
        .iter()
        .find(|l| l.contains(&marker))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"));
    let rest = &line[line.find(&marker).unwrap() + marker.len()..];
    rest[..rest.find(']').unwrap()].parse().unwrap()
}

/// The UIDs of `* n FETCH (UID u …)` lines.
fn fetched_uids(lines: &[String]) -> BTreeSet<u32> {
    lines
        .iter()
        .filter(|l| l.contains(" FETCH (") && l.contains("UID "))
        .map(|l| {
            let rest = &l[l.find("UID ").unwrap() + 4..];
            rest[..rest.find([' ', ')']).unwrap()].parse().unwrap()
        })
        .collect()
}

async fn qresync_client(s: &Server) -> Client {
    let mut c = s.login("alice").await;
    let enabled = c.ok("ENABLE QRESYNC").await;
    assert_eq!(enabled, ["* ENABLED QRESYNC"]);
    c
}

// 400 messages; while the client is away 1,000 flag changes hit UIDs
// 1–200 and UIDs 301–400 are expunged. One SELECT (QRESYNC …) brings
// exactly those: VANISHED (EARLIER) 301:400 and a FETCH for each of the
// 200 changed messages with its final flags — none for 201–300.
server_test!(a_client_away_resyncs_with_one_select, async |s: Server| {
    let alice = s.user("alice").await;
    for i in 1..=400 {
        s.service()
            .append(&alice, "INBOX", message(i), &Flags::default(), None)
            .await
            .unwrap();
    }
    let mut c = qresync_client(&s).await;
    let selected = c.ok("SELECT INBOX").await;
    let uidvalidity = code(&selected, "UIDVALIDITY");
    let modseq = code(&selected, "HIGHESTMODSEQ");
    c.ok("LOGOUT").await;

    let service = s.service();
    for round in 0..5 {
        for uid in 1..=200 {
            let flag = Flags::parse([format!("$Round{round}").as_str()]).unwrap();
            service
                .store_flags(&alice, "INBOX", &[uid], FlagOp::Add, &flag)
                .await
                .unwrap();
        }
    }
    let deleted = Flags::parse(["\\Deleted"]).unwrap();
    let doomed: Vec<u32> = (301..=400).collect();
    service
        .store_flags(&alice, "INBOX", &doomed, FlagOp::Add, &deleted)
        .await
        .unwrap();
    service.expunge(&alice, "INBOX", None).await.unwrap();

    let mut c = qresync_client(&s).await;
    let lines = c.ok(&format!("SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))")).await;
    assert!(lines.contains(&"* 300 EXISTS".to_string()), "{lines:?}");
    let vanished: Vec<&String> = lines.iter().filter(|l| l.starts_with("* VANISHED")).collect();
    assert_eq!(vanished, ["* VANISHED (EARLIER) 301:400"]);
    let changed = fetched_uids(&lines);
    assert_eq!(changed, (1..=200).collect::<BTreeSet<u32>>());
    let first = lines.iter().find(|l| l.starts_with("* 1 FETCH")).unwrap();
    assert!(
        first.contains("$Round0") && first.contains("$Round4") && first.contains("MODSEQ ("),
        "{first}"
    );
    assert!(code(&lines, "HIGHESTMODSEQ") > modseq);

    // The same question by FETCH: what changed since, and what vanished.
    let lines = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"))
        .await;
    assert_eq!(fetched_uids(&lines), (1..=200).collect::<BTreeSet<u32>>());
    assert!(lines.contains(&"* VANISHED (EARLIER) 301:400".to_string()), "{lines:?}");
    // Nothing since now.
    let now = code(&c.ok("SELECT INBOX").await, "HIGHESTMODSEQ");
    let lines = c.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {now})")).await;
    assert!(fetched_uids(&lines).is_empty(), "{lines:?}");
});

// STORE UNCHANGEDSINCE leaves a message another session changed since
// alone and says so; with QRESYNC on, expunges arrive as VANISHED.
server_test!(conditional_store_and_vanished, async |s: Server| {
    let alice = s.user("alice").await;
    for i in 1..=3 {
        s.service()
            .append(&alice, "INBOX", message(i), &Flags::default(), None)
            .await
            .unwrap();
    }
    let mut a = qresync_client(&s).await;
    let selected = a.ok("SELECT INBOX").await;
    let before = code(&selected, "HIGHESTMODSEQ");
    let mut b = s.login("alice").await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    let (_, done) = a
        .command(&format!("STORE 1:3 (UNCHANGEDSINCE {before}) +FLAGS (\\Seen)"))
        .await;
    assert_eq!(done, "OK [MODIFIED 2] Conditional STORE failed");
    let flags = a.ok("FETCH 1:3 (FLAGS)").await;
    assert!(
        flags
            .iter()
            .any(|l| l.starts_with("* 2 FETCH") && !l.contains("\\Seen")),
        "{flags:?}"
    );
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    let lines = a.ok("NOOP").await;
    assert!(lines.contains(&"* VANISHED 3".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.ends_with("EXPUNGE")), "{lines:?}");
});

// Without ENABLE, CONDSTORE turns on with the first command that uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_modseq_fetch_reports_highestmodseq() {
    let world = World::new(Backend::Sqlite).await.expect("sqlite world");
    let s = Server::start(world).await;
    let alice = s.user("alice").await;
    s.service()
        .append(&alice, "INBOX", message(1), &Flags::default(), None)
        .await
        .unwrap();
    let mut c = s.login("alice").await;
    c.ok("SELECT INBOX").await;
    let lines = c.ok("FETCH 1 (MODSEQ)").await;
    assert!(lines[0].starts_with("* OK [HIGHESTMODSEQ "), "{lines:?}");
    assert!(lines[1].starts_with("* 1 FETCH (MODSEQ ("), "{lines:?}");
    let lines = c.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert!(lines[0].contains("MODSEQ ("), "{lines:?}");
}
