//! A session's view of its selected mailbox stays coherent: its own
//! commands answer the state after them and are never echoed later, and
//! what another session's finished command changed is reported by this
//! session's very next command — on one node, and across two nodes on
//! PostgreSQL. No test here waits for the change feed: each asks right
//! after the other session's tagged OK, which is what a client does.

use std::net::SocketAddr;

use mailroom_tests::net::{Client, Server, start_node};
use mailroom_tests::{Backend, World, server_test};
use tokio::net::TcpStream;

fn message(subject: &str) -> String {
    format!("From: x@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n")
}

/// APPENDs `count` messages to alice's INBOX over IMAP, then selects it
/// once, so that they are no longer `\Recent` for the session under test.
async fn fill(c: &mut Client, count: usize) {
    for i in 0..count {
        let m = message(&format!("m{i}"));
        c.send_raw(format!("f{i} APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()).as_bytes())
            .await;
        let (_, done) = c.until_tagged(&format!("f{i}")).await;
        assert!(done.starts_with("OK"), "{done}");
    }
    c.ok("SELECT INBOX").await;
    c.ok("UNSELECT").await;
}

async fn login_at(addr: SocketAddr, user: &str) -> Client {
    let mut c = Client::greeted(Box::new(TcpStream::connect(addr).await.unwrap())).await;
    c.ok(&format!("LOGIN {user} pw-{user}")).await;
    c
}

// The issue's own transcript: each STORE answers the flags after it, once;
// nothing older follows.
server_test!(
    own_changes_are_answered_once_and_never_echoed_stale,
    async |s: Server| {
        s.user("alice").await;
        let mut c = s.login("alice").await;
        fill(&mut c, 3).await;
        c.ok("SELECT INBOX").await;
        let steps = [
            ("STORE 1 +FLAGS (\\Flagged)", vec!["* 1 FETCH (FLAGS (\\Flagged))"]),
            ("STORE 1 -FLAGS (\\Flagged)", vec!["* 1 FETCH (FLAGS ())"]),
            ("STORE 1 +FLAGS.SILENT (\\Answered)", vec![]),
            ("STORE 1 FLAGS (\\Draft)", vec!["* 1 FETCH (FLAGS (\\Draft))"]),
            ("FETCH 1 (FLAGS)", vec!["* 1 FETCH (FLAGS (\\Draft))"]),
            ("NOOP", vec![]),
            ("UID STORE 2 +FLAGS (\\Seen)", vec!["* 2 FETCH (UID 2 FLAGS (\\Seen))"]),
            ("NOOP", vec![]),
        ];
        for (command, wanted) in steps {
            let lines = c.ok(command).await;
            // The flags the answer carries, without a UID the server may add.
            let shown: Vec<String> = lines.iter().map(|l| l.replace("UID 1 ", "")).collect();
            let wanted: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
            assert_eq!(shown, wanted, "{command}");
        }
    }
);

// Session B changes flags, expunges and appends; each time session A's
// next command — sent the moment B's tagged OK arrived — reports it.
server_test!(
    another_sessions_finished_command_is_reported_by_the_next_command,
    async |s: Server| {
        s.user("alice").await;
        let mut b = s.login("alice").await;
        fill(&mut b, 4).await;
        b.ok("SELECT INBOX").await;
        let mut a = s.login("alice").await;
        a.ok("SELECT INBOX").await;
        for round in 0..10 {
            let flag = if round % 2 == 0 { "+FLAGS" } else { "-FLAGS" };
            b.ok(&format!("STORE 1 {flag}.SILENT (\\Flagged)")).await;
            let lines = a.ok("NOOP").await;
            let wanted = if round % 2 == 0 {
                "FLAGS (\\Flagged)"
            } else {
                "FLAGS ()"
            };
            assert!(
                lines.iter().any(|l| l.starts_with("* 1 FETCH") && l.contains(wanted)),
                "round {round}: {lines:?}"
            );
        }
        b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
        b.ok("EXPUNGE").await;
        let lines = a.ok("CHECK").await;
        assert!(lines.contains(&"* 2 EXPUNGE".to_string()), "{lines:?}");
        let m = message("late");
        b.send_raw(format!("x APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()).as_bytes())
            .await;
        b.until_tagged("x").await;
        let lines = a.ok("NOOP").await;
        assert!(lines.contains(&"* 4 EXISTS".to_string()), "{lines:?}");
        let lines = a.ok("FETCH 4 (FLAGS)").await;
        assert_eq!(lines.len(), 1, "{lines:?}");
    }
);

// An APPEND into the mailbox the session has selected is in its own answer.
server_test!(
    an_append_into_the_selected_mailbox_reports_exists_at_once,
    async |s: Server| {
        s.user("alice").await;
        let mut c = s.login("alice").await;
        fill(&mut c, 2).await;
        c.ok("SELECT INBOX").await;
        for expected in 3..6 {
            let m = message(&format!("n{expected}"));
            c.send_raw(format!("ap APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()).as_bytes())
                .await;
            let (lines, done) = c.until_tagged("ap").await;
            assert!(done.starts_with("OK"), "{done}");
            assert!(lines.contains(&format!("* {expected} EXISTS")), "{lines:?}");
            let lines = c.ok(&format!("FETCH {expected} (FLAGS)")).await;
            assert_eq!(lines.len(), 1, "{lines:?}");
        }
    }
);

// Two nodes on one PostgreSQL database: what a session on node B finished
// is reported by a session on node A at its next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_two_nodes_the_next_command_reports_what_the_other_node_did() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let url = world.db.url.clone();
    let a = Server::start(world).await;
    a.user("alice").await;
    let (node_b, _dir) = start_node(&url, |_| {}).await;
    let b_addr = node_b.imap.expect("node B speaks IMAP");
    let mut on_b = login_at(b_addr, "alice").await;
    fill(&mut on_b, 3).await;
    on_b.ok("SELECT INBOX").await;
    let mut on_a = a.login("alice").await;
    on_a.ok("SELECT INBOX").await;
    for round in 0..5 {
        let flag = if round % 2 == 0 { "+FLAGS" } else { "-FLAGS" };
        on_b.ok(&format!("STORE 2 {flag}.SILENT ($Team)")).await;
        let lines = on_a.ok("NOOP").await;
        let flagged = lines.iter().any(|l| l.starts_with("* 2 FETCH") && l.contains("$Team"));
        let cleared = lines.iter().any(|l| l.starts_with("* 2 FETCH") && !l.contains("$Team"));
        assert!(
            if round % 2 == 0 { flagged } else { cleared },
            "round {round}: {lines:?}"
        );
    }
    on_b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    on_b.ok("EXPUNGE").await;
    let lines = on_a.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXPUNGE".to_string()), "{lines:?}");
    let m = message("from B");
    on_b.send_raw(format!("x APPEND INBOX {{{}+}}\r\n{m}\r\n", m.len()).as_bytes())
        .await;
    on_b.until_tagged("x").await;
    let lines = on_a.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
}

// RFC 2180 §4.1.1: a message another session expunged stays fetchable,
// as it was, until this session has been told (its sequence numbers still
// name it); then the EXPUNGE comes, and the FETCH never fails.
server_test!(
    a_message_expunged_elsewhere_stays_fetchable_until_reported,
    async |s: Server| {
        s.user("alice").await;
        let mut b = s.login("alice").await;
        fill(&mut b, 3).await;
        b.ok("SELECT INBOX").await;
        let mut a = s.login("alice").await;
        a.ok("SELECT INBOX").await;
        b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
        b.ok("EXPUNGE").await;
        // FETCH may not report the expunge (RFC 3501 §7.4.1), so message 2 is
        // still there for A, body and all.
        let lines = a.ok("FETCH 2 (UID RFC822.SIZE BODY.PEEK[])").await;
        let fetched = lines
            .iter()
            .find(|l| l.starts_with("* 2 FETCH"))
            .expect("message 2 fetched");
        assert!(fetched.contains("UID 2") && fetched.contains("body of m1"), "{lines:?}");
        let lines = a.ok("NOOP").await;
        assert!(lines.contains(&"* 2 EXPUNGE".to_string()), "{lines:?}");
        a.fails("FETCH 3 (FLAGS)", "BAD").await;
    }
);

server_test!(
    a_new_message_is_recent_in_one_session_only,
    |server: Server| async move {
        // RFC 3501 §2.3.2: \Recent is shown to one session only. Messages
        // arrive while sessions select the mailbox over and over, and
        // learn of new mail between SELECTs too: no UID may be \Recent in
        // two of them (a message delivered while a SELECT was reading the
        // mailbox was shown \Recent by it unclaimed, and by the next
        // session that claimed it).
        let alice = server.user("alice").await;
        const SESSIONS: usize = 5;
        const ROUNDS: usize = 25;
        let delivering = {
            let service = server.service().clone();
            tokio::spawn(async move {
                for i in 0..SESSIONS * ROUNDS * 2 {
                    let content = message(&format!("r{i}")).into_bytes();
                    service
                        .append(&alice, "INBOX", content, &mailroom_shared::Flags::default(), None)
                        .await
                        .unwrap();
                }
            })
        };
        let mut sessions = Vec::new();
        for _ in 0..SESSIONS {
            let mut c = login_at(server.imap, "alice").await;
            sessions.push(tokio::spawn(async move {
                let mut recent = std::collections::BTreeSet::new();
                for _ in 0..ROUNDS {
                    c.ok("SELECT INBOX").await;
                    c.ok("NOOP").await;
                    for line in c.ok("UID FETCH 1:* (FLAGS)").await {
                        if line.contains("\\Recent")
                            && let Some(uid) = line.split("UID ").nth(1).and_then(|r| r.split([' ', ')']).next())
                        {
                            recent.insert(uid.parse::<u32>().unwrap());
                        }
                    }
                }
                recent
            }));
        }
        let mut seen: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
        for (i, s) in sessions.into_iter().enumerate() {
            for uid in s.await.unwrap() {
                if let Some(other) = seen.insert(uid, i) {
                    panic!("UID {uid} was \\Recent in sessions {other} and {i}");
                }
            }
        }
        delivering.await.unwrap();
    }
);
