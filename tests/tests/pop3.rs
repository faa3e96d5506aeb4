//! The POP3 gateway over TCP, alone and beside IMAP and service-level
//! (web) sessions on the same INBOX.

use std::time::Duration;

use mailroom::service::ChangeKind;
use mailroom_shared::{Flags, SystemFlag};
use mailroom_tests::net::{Pop, Server, run_python};
use mailroom_tests::{Backend, World, server_test, until_published};

fn message(subject: &str) -> Vec<u8> {
    format!("From: a@example.com\r\nSubject: {subject}\r\n\r\nline 1\r\nline 2\r\nline 3\r\nline 4\r\n").into_bytes()
}

async fn deliver(s: &Server, to: &str, content: Vec<u8>) -> u32 {
    s.service().deliver(to, content, None).await.unwrap().uid()
}

server_test!(a_session_works_on_its_snapshot_and_quit_deletes, async |s: Server| {
    let alice = s.user("alice").await;
    for subject in ["one", "two", "three"] {
        deliver(&s, "alice", message(subject)).await;
    }
    let mut pop = Pop::login(s.pop3, "alice").await;
    let stat = pop.ok("STAT").await;
    let size = message("one").len() * 2 + message("three").len();
    assert_eq!(stat, format!("+OK 3 {size}"));
    // Mail arriving now is not in this session's snapshot, even once the
    // server has told every watcher of it.
    let (mut watch, _) = s.service().watch(&alice, "INBOX").await.unwrap();
    deliver(&s, "alice", message("four")).await;
    until_published(&mut watch, |k| matches!(k, ChangeKind::Added(_))).await;
    assert_eq!(pop.ok("STAT").await, format!("+OK 3 {size}"));
    let (_, uidl) = pop.multi("UIDL").await;
    let uidl = String::from_utf8(uidl).unwrap();
    assert_eq!(uidl.lines().count(), 3, "{uidl}");
    pop.ok("DELE 1").await;
    pop.err("DELE 1").await;
    pop.err("RETR 1").await;
    let (_, list) = pop.multi("LIST").await;
    assert!(!String::from_utf8_lossy(&list).contains("1 "), "{list:?}");
    pop.ok("RSET").await;
    assert!(pop.ok("STAT").await.starts_with("+OK 3 "));
    pop.ok("DELE 2").await;
    // Hanging up without QUIT deletes nothing.
    pop.hang_up().await;
    assert_eq!(s.service().messages(&alice, "INBOX").await.unwrap().1.len(), 4);

    // UIDL is the same in the next session.
    let mut pop = Pop::login(s.pop3, "alice").await;
    let (_, again) = pop.multi("UIDL").await;
    assert!(String::from_utf8(again).unwrap().starts_with(&uidl));
    pop.ok("DELE 2").await;
    let bye = pop.ok("QUIT").await;
    assert!(bye.contains("1 messages deleted"), "{bye}");
    let (_, rows) = s.service().messages(&alice, "INBOX").await.unwrap();
    assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), [1, 3, 4]);
});

server_test!(imap_idle_sees_the_expunge_of_a_pop3_quit, async |s: Server| {
    s.user("alice").await;
    deliver(&s, "alice", message("one")).await;
    deliver(&s, "alice", message("two")).await;
    let mut imap = s.login("alice").await;
    imap.ok("SELECT INBOX").await;
    imap.send_raw(b"i IDLE\r\n").await;
    assert!(imap.line().await.unwrap().starts_with('+'));
    let mut pop = Pop::login(s.pop3, "alice").await;
    pop.ok("DELE 1").await;
    pop.ok("QUIT").await;
    // QUIT marks the message \Deleted, then expunges it.
    let mut line = imap.line().await.unwrap();
    if line.contains("FETCH") {
        // The IMAP session was the first to see the message: \Recent.
        assert_eq!(line, "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))");
        line = imap.line().await.unwrap();
    }
    assert_eq!(line, "* 1 EXPUNGE");
    imap.send_raw(b"DONE\r\n").await;
    let (_, done) = imap.until_tagged("i").await;
    assert!(done.starts_with("OK"), "{done}");
});

server_test!(nobody_waits_for_an_open_pop3_session, async |s: Server| {
    let alice = s.user("alice").await;
    let uid = deliver(&s, "alice", message("one")).await;
    deliver(&s, "alice", message("two")).await;
    let mut pop = Pop::login(s.pop3, "alice").await;
    // Read once, its bytes are in memory: they must not outlive the message.
    let (_, one) = pop.multi("RETR 1").await;
    assert_eq!(one, message("one"));
    let mut second = Pop::login(s.pop3, "alice").await;
    second.ok("STAT").await;

    // An IMAP APPEND completes while the POP3 session is open.
    let mut imap = s.login("alice").await;
    let content = message("appended");
    let mut append = format!("a APPEND INBOX {{{}+}}\r\n", content.len()).into_bytes();
    append.extend_from_slice(&content);
    append.extend_from_slice(b"\r\n");
    imap.send_raw(&append).await;
    let (_, done) = tokio::time::timeout(mailroom_tests::PATIENCE, imap.until_tagged("a"))
        .await
        .expect("APPEND does not wait for POP3");
    assert!(done.starts_with("OK [APPENDUID"), "{done}");

    // The web (the service) expunges message 1: RETR says so, the session goes on.
    s.service()
        .store_flags(&alice, "INBOX", &[uid], mailroom_shared::FlagOp::Add, &deleted())
        .await
        .unwrap();
    s.service().expunge(&alice, "INBOX", None).await.unwrap();
    let gone = pop.err("RETR 1").await;
    assert!(gone.contains("deleted by another session"), "{gone}");
    pop.err("TOP 1 0").await;
    pop.ok("NOOP").await;
    let (_, two) = pop.multi("RETR 2").await;
    assert_eq!(two, message("two"));
    pop.ok("QUIT").await;
    second.ok("QUIT").await;
});

fn deleted() -> Flags {
    let mut f = Flags::default();
    f.insert(SystemFlag::Deleted);
    f
}

server_test!(retr_and_top_are_byte_exact, async |s: Server| {
    let alice = s.user("alice").await;
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() < 1024 * 1024 {
        big.extend_from_slice(b"0123456789abcdefghijklmnopqrstuvwxyz 0123456789abcdefghijklmnopqrstuvwxyz\r\n");
    }
    deliver(&s, "alice", big.clone()).await;
    let dots = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n".to_vec();
    deliver(&s, "alice", dots.clone()).await;
    deliver(&s, "alice", message("top")).await;
    let mut pop = Pop::login(s.pop3, "alice").await;
    let (_, list) = pop.multi("LIST").await;
    let list = String::from_utf8(list).unwrap();
    assert!(list.starts_with(&format!("1 {}\r\n", big.len())), "{list}");
    assert_eq!(pop.ok("LIST 2").await, format!("+OK 2 {}", dots.len()));
    let (status, got) = pop.multi("RETR 1").await;
    assert_eq!(status, format!("+OK {} octets", big.len()));
    assert!(got == big, "1 MB message differs");
    let (_, got) = pop.multi("RETR 2").await;
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&dots));
    let (_, top0) = pop.multi("TOP 3 0").await;
    assert_eq!(top0, b"From: a@example.com\r\nSubject: top\r\n\r\n");
    let (_, top3) = pop.multi("TOP 3 3").await;
    assert_eq!(
        top3,
        b"From: a@example.com\r\nSubject: top\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
    );
    // RETR marked the messages read; TOP did not.
    let (_, rows) = s.service().messages(&alice, "INBOX").await.unwrap();
    let seen: Vec<bool> = rows.iter().map(|r| r.flags.contains(SystemFlag::Seen)).collect();
    assert_eq!(seen, [true, true, false]);
});

server_test!(bad_input_gets_err_and_the_session_goes_on, async |s: Server| {
    s.user("alice").await;
    deliver(&s, "alice", message("one")).await;
    let mut pop = Pop::connect(s.pop3).await;
    pop.err("STAT").await;
    pop.err("PASS nouser").await;
    pop.ok("USER alice").await;
    let wrong = pop.err("PASS wrong").await;
    assert!(wrong.contains("[AUTH]"), "{wrong}");
    pop.ok("USER alice").await;
    pop.ok("PASS pw-alice").await;
    pop.err("FROB").await;
    pop.err("RETR 0").await;
    pop.err("RETR 99999").await;
    pop.err("RETR x").await;
    pop.err("TOP 1").await;
    pop.err("TOP 1 -1").await;
    pop.err("USER bob").await;
    let long = format!("NOOP {}", "x".repeat(100 * 1024));
    assert!(pop.command(&long).await.starts_with("-ERR"));
    pop.send_raw(b"\x00\xff\xfe\r\n").await;
    assert!(pop.line().await.starts_with("-ERR"));
    pop.ok("NOOP").await;
    let (_, one) = pop.multi("RETR 1").await;
    assert_eq!(one, message("one"));
    pop.ok("QUIT").await;
});

server_test!(capa_stls_implicit_tls_and_auth_plain, async |s: Server| {
    s.user("alice").await;
    deliver(&s, "alice", message("one")).await;
    let connector = s.tls_connector();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut pop = Pop::connect(s.pop3).await;
    let (_, capa) = pop.multi("CAPA").await;
    let capa = String::from_utf8(capa).unwrap();
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "SASL PLAIN",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "STLS",
    ] {
        assert!(capa.lines().any(|l| l == cap), "{cap} missing from {capa}");
    }
    pop.ok("STLS").await;
    let tls = connector
        .connect(name.clone(), pop.into_inner())
        .await
        .expect("STLS handshake");
    let mut pop = Pop::new(Box::new(tls));
    pop.ok("AUTH PLAIN AGFsaWNlAHB3LWFsaWNl").await;
    assert!(pop.ok("STAT").await.starts_with("+OK 1 "));
    pop.ok("QUIT").await;

    let tcp = tokio::net::TcpStream::connect(s.pop3s).await.unwrap();
    let tls = connector.connect(name, tcp).await.expect("implicit TLS");
    let mut pop = Pop::greeted(Box::new(tls)).await;
    pop.send_raw(b"AUTH PLAIN\r\n").await;
    assert!(pop.line().await.starts_with('+'));
    pop.ok("AGFsaWNlAHB3LWFsaWNl").await;
    pop.ok("QUIT").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_across_imap_and_pop3() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start_with(world, |o| o.login_failures = (2, Duration::from_secs(600))).await;
    s.user("alice").await;
    let mut imap = s.connect().await;
    imap.fails("LOGIN alice wrong", "NO").await;
    imap.fails("LOGIN alice wrong", "NO").await;
    imap.fails("LOGIN alice wrong", "NO").await;
    let mut pop = Pop::connect(s.pop3).await;
    pop.ok("USER alice").await;
    let refused = pop.err("PASS pw-alice").await;
    assert!(refused.contains("[LOGIN-DELAY]"), "{refused}");
}

/// Python's standard poplib runs a scripted session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_poplib_runs_a_whole_session() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start(world).await;
    let alice = s.user("alice").await;
    deliver(&s, "alice", message("one")).await;
    deliver(&s, "alice", b"Subject: two\r\n\r\n.starts with a dot\r\n".to_vec()).await;
    run_python("poplib_session.py", s.pop3).await;
    let (_, rows) = s.service().messages(&alice, "INBOX").await.unwrap();
    assert_eq!(rows.len(), 1, "the script deleted message 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retr_can_leave_messages_unread() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start_with(world, |o| o.pop3_config.retr_sets_seen = false).await;
    let alice = s.user("alice").await;
    deliver(&s, "alice", message("one")).await;
    let mut pop = Pop::login(s.pop3, "alice").await;
    pop.multi("RETR 1").await;
    pop.ok("QUIT").await;
    let (_, rows) = s.service().messages(&alice, "INBOX").await.unwrap();
    assert!(!rows[0].flags.contains(SystemFlag::Seen));
}
