//! SEARCH BODY, TEXT, FROM, TO and SUBJECT in a big mailbox ask the
//! word index (whole words, the last as a prefix) instead of reading
//! every message; in a small one they read every message and match
//! substrings. The servers here count a mailbox of four messages as big.

use std::time::Duration;

use mailroom::Principal;
use mailroom_shared::Flags;
use mailroom_tests::net::{Client, Server};
use mailroom_tests::{Backend, World, server_test};

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Alice's INBOX: UID 1 "Zeppelin flight", 2 "zeppelins", 3 the word
/// only inside another ("bigzeppelin"), 4 "budget" in the subject only,
/// 5 "a@@b"; 1 and 4 are `\Seen`.
async fn alice_with_an_inbox(s: &Server) -> (Client, Principal) {
    let alice = s.user("alice").await;
    let messages = [
        ("one", "The Zeppelin flight leaves at noon."),
        ("two", "Two zeppelins, seen from afar."),
        ("three", "A bigzeppelin is not a word."),
        ("Q3 budget", "Nothing to see."),
        ("five", "mark a@@b here"),
    ];
    for (i, (subject, body)) in messages.into_iter().enumerate() {
        let flags = match i % 3 {
            0 => Flags::parse(["\\Seen"]).unwrap(),
            _ => Flags::default(),
        };
        s.service()
            .append(&alice, "INBOX", message(subject, body), &flags, None)
            .await
            .unwrap();
    }
    let mut c = s.login("alice").await;
    c.ok("SELECT INBOX").await;
    (c, alice)
}

async fn uid_search(c: &mut Client, keys: &str) -> String {
    c.ok(&format!("UID SEARCH {keys}")).await[0].clone()
}

server_test!(
    a_big_mailbox_searches_text_by_its_words,
    options: |o: &mut mailroom::serve::Options| o.imap_config.indexed_search_from = 4,
    async |s: Server| {
        let (mut c, _) = alice_with_an_inbox(&s).await;
        // Whole words in any case, the last as a prefix; not inside a word.
        assert_eq!(uid_search(&mut c, "BODY zeppelin").await, "* SEARCH 1 2");
        assert_eq!(uid_search(&mut c, "BODY ZEPP").await, "* SEARCH 1 2");
        assert_eq!(uid_search(&mut c, "BODY \"zeppelin flight\"").await, "* SEARCH 1");
        assert_eq!(uid_search(&mut c, "BODY eppelin").await, "* SEARCH");
        // TEXT looks in the subject and the addresses too; BODY does not.
        assert_eq!(uid_search(&mut c, "TEXT budget").await, "* SEARCH 4");
        assert_eq!(uid_search(&mut c, "BODY budget").await, "* SEARCH");
        assert_eq!(uid_search(&mut c, "TEXT bob@example.com").await, "* SEARCH 1 2 3 4 5");
        // The headers the index keeps, each in its own place.
        assert_eq!(uid_search(&mut c, "SUBJECT budget").await, "* SEARCH 4");
        assert_eq!(uid_search(&mut c, "SUBJECT udget").await, "* SEARCH");
        assert_eq!(uid_search(&mut c, "SUBJECT zeppelin").await, "* SEARCH");
        assert_eq!(uid_search(&mut c, "FROM alice@example.com").await, "* SEARCH 1 2 3 4 5");
        assert_eq!(uid_search(&mut c, "FROM bob").await, "* SEARCH");
        assert_eq!(uid_search(&mut c, "TO bob").await, "* SEARCH 1 2 3 4 5");
        // A header it does not keep apart is read in every message.
        assert_eq!(uid_search(&mut c, "CC bob").await, "* SEARCH");
        assert_eq!(uid_search(&mut c, "HEADER Message-ID four").await, "* SEARCH");
        assert_eq!(uid_search(&mut c, "HEADER Message-ID ive@").await, "* SEARCH 5");
        // With the other keys, as any key.
        assert_eq!(uid_search(&mut c, "NOT BODY zeppelin").await, "* SEARCH 3 4 5");
        assert_eq!(uid_search(&mut c, "BODY zeppelin UNSEEN").await, "* SEARCH 2");
        assert_eq!(uid_search(&mut c, "OR BODY zeppelin TEXT budget").await, "* SEARCH 1 2 4");
        assert_eq!(uid_search(&mut c, "UID 2:4 TEXT zeppelin").await, "* SEARCH 2");
        let lines = c.ok("UID SEARCH RETURN (COUNT MIN) BODY zeppelin").await;
        assert!(lines[0].ends_with("UID MIN 1 COUNT 2"), "{lines:?}");
        // Text without a word is read in every message, as a substring.
        assert_eq!(uid_search(&mut c, "BODY @@").await, "* SEARCH 5");
        // Expunged messages are found no more.
        c.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
        c.ok("EXPUNGE").await;
        assert_eq!(uid_search(&mut c, "BODY zeppelin").await, "* SEARCH 2");
    }
);

// A kept search (RFC 5267 UPDATE) asks the index about the messages that
// arrive: one that matches is added, one that does not is not.
server_test!(
    a_kept_search_of_a_big_mailbox_asks_the_index_about_new_mail,
    options: |o: &mut mailroom::serve::Options| o.imap_config.indexed_search_from = 4,
    async |s: Server| {
        let (mut c, alice) = alice_with_an_inbox(&s).await;
        let lines = c.ok("UID SEARCH RETURN (UPDATE ALL) BODY zeppelin").await;
        assert!(lines[0].ends_with("ALL 1:2"), "{lines:?}");
        for (subject, body) in [("six", "no airships"), ("seven", "zeppelin again")] {
            s.service()
                .append(&alice, "INBOX", message(subject, body), &Flags::default(), None)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lines = c.ok("NOOP").await;
        let added: Vec<&String> = lines.iter().filter(|l| l.contains("ADDTO")).collect();
        assert_eq!(added.len(), 1, "{lines:?}");
        assert!(added[0].contains("ADDTO (3 7)"), "{lines:?}");
    }
);

// Below the size, every text part is read: a substring is found inside
// a word, as RFC 3501 asks.
server_test!(a_small_mailbox_searches_text_as_substrings, async |s: Server| {
    let (mut c, _) = alice_with_an_inbox(&s).await;
    assert_eq!(uid_search(&mut c, "BODY eppelin").await, "* SEARCH 1 2 3");
    assert_eq!(uid_search(&mut c, "BODY zeppelin").await, "* SEARCH 1 2 3");
    assert_eq!(uid_search(&mut c, "TEXT budget").await, "* SEARCH 4");
    assert_eq!(uid_search(&mut c, "SUBJECT udget").await, "* SEARCH 4");
    // A message another session expunged matches nothing, though this
    // session still shows it until a command may report the expunge.
    let mut other = s.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    other.ok("EXPUNGE").await;
    let lines = c.ok("SEARCH UNSEEN").await;
    assert_eq!(lines[0], "* SEARCH 3 5", "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("EXPUNGE")), "{lines:?}");
    let lines = c.ok("NOOP").await;
    assert!(lines.contains(&"* 2 EXPUNGE".to_owned()), "{lines:?}");
});
