//! Random inputs for everything that reads what a client or a shared
//! file sends: the IMAP framer and command parser, the message parsers
//! (ENVELOPE, BODYSTRUCTURE, sections, SEARCH text, addresses, mbox), and
//! the real server's IMAP, POP3 and LMTP sessions. Nothing may panic, and
//! the server must go on answering. A few seconds here; `bench/fuzz`
//! runs the same for as long as it is given.

use mailroom_tests::fuzz;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World};
use proptest::prelude::*;
use rand::SeedableRng;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn imap_framer_and_parser_take_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
        fuzz::imap_frames(&data, chunk);
    }

    #[test]
    fn imap_framer_and_parser_take_any_commands(seed in any::<u64>(), chunk in 1usize..64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut data = Vec::new();
        for _ in 0..16 {
            data.extend(fuzz::command_line(&mut rng, fuzz::IMAP));
            data.extend_from_slice(b"\r\n");
        }
        fuzz::imap_frames(&data, chunk);
    }

    #[test]
    fn message_parsers_take_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        fuzz::message_parsers(&data);
    }

    #[test]
    fn message_parsers_take_any_message(seed in any::<u64>()) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        fuzz::message_parsers(&fuzz::message(&mut rng));
    }
}

/// Random commands on every gateway of a running server, logged in and
/// not, then a well-behaved client on each: it is answered as usual, and
/// no session task panicked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_take_random_commands_and_keep_serving() {
    fuzz::count_panics();
    let world = World::new(Backend::Sqlite).await.expect("world");
    let s = Server::start(world).await;
    s.user("alice").await;
    s.service()
        .deliver("alice", b"Subject: a\r\n\r\nhello\r\n".to_vec(), None)
        .await
        .unwrap();
    let (mut rng, seed) = fuzz::rng(None);
    let before = fuzz::panics();
    let imap_login = b"a LOGIN alice pw-alice\r\nb SELECT INBOX\r\n";
    let mut sent = 0;
    for (addr, login, words) in [
        (s.imap, &b""[..], fuzz::IMAP),
        (s.imap, &imap_login[..], fuzz::IMAP),
        (s.pop3, &b"USER alice\r\nPASS pw-alice\r\n"[..], fuzz::POP3),
        (s.lmtp, &b"LHLO x\r\n"[..], fuzz::LMTP),
    ] {
        for _ in 0..4 {
            let tally = fuzz::session(addr, login, words, &mut rng, 100).await;
            sent += tally.commands;
        }
    }
    assert_eq!(fuzz::panics(), before, "a session panicked (seed {seed})");
    assert!(sent >= 400, "only {sent} commands were sent (seed {seed})");
    println!("{sent} random commands sent (seed {seed})");
    let mut c = s.login("alice").await;
    c.ok("SELECT INBOX").await;
    c.ok("FETCH 1 (FLAGS BODY.PEEK[])").await;
    let mut pop = mailroom_tests::net::Pop::login(s.pop3, "alice").await;
    pop.ok("STAT").await;
    let mut lmtp = mailroom_tests::net::Lmtp::connect(&s).await;
    let replies = lmtp
        .deliver(
            "x@example.org",
            &["alice@example.com"],
            "Subject: after\r\n\r\nstill here\r\n",
        )
        .await;
    assert!(
        replies.iter().all(|r| r.starts_with("250")),
        "{replies:?} (seed {seed})"
    );
}
