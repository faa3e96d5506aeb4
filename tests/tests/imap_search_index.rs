//! What a big mailbox answers without reading every message. SEARCH
//! BODY, TEXT, FROM, TO and SUBJECT ask the word index (whole words, the
//! last as a prefix); in a small mailbox they read every message and
//! match substrings. The servers here count a mailbox of four messages as
//! big. STATUS reads the counts the store keeps.

use std::time::Duration;

use mailroom::Principal;
use mailroom_shared::Flags;
use mailroom_shared::dto::SeenMode;
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
        // Past sixteen text keys, the rest are read in every message.
        let sixteen = "the zeppelin flight leaves at noon t th z ze zep f fl fli l le";
        let keys: Vec<String> = sixteen.split(' ').map(|w| format!("BODY {w}")).collect();
        let keys = keys.join(" ");
        assert_eq!(uid_search(&mut c, &format!("{keys} BODY eppelin")).await, "* SEARCH 1");
        // Text without a word is read in every message, as a substring.
        assert_eq!(uid_search(&mut c, "BODY @@").await, "* SEARCH 5");
        // Expunged messages are found no more.
        c.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
        c.ok("EXPUNGE").await;
        assert_eq!(uid_search(&mut c, "BODY zeppelin").await, "* SEARCH 2");
    }
);

/// `count` messages to import, each its own content: subjects
/// "{prefix}{i}", the body given.
/// `count` messages, subjects `{prefix}0` on, each with `body`.
fn numbered(prefix: &str, body: &str, count: u32) -> Vec<mailroom::service::Incoming> {
    mailroom_tests::numbered(count, |i| message(&format!("{prefix}{i}"), body))
}

// A word in more than a thousand messages: SQLite reads the mailbox's
// list index through, keeping the messages whose words match, instead of
// going from each match to its messages. Either way finds every message
// that has the word, in the mailbox selected only.
server_test!(
    a_common_word_is_found_in_every_message_that_has_it,
    options: |o: &mut mailroom::serve::Options| o.imap_config.indexed_search_from = 4,
    async |s: Server| {
        let alice = s.user("alice").await;
        let bob = s.user("bob").await;
        let service = s.service();
        for (who, batch) in [
            (&alice, numbered("c", "a common word", 1_200)),
            (&alice, numbered("o", "nothing of it", 300)),
            (&bob, numbered("b", "a common word too", 1_100)),
        ] {
            service.import(who, "INBOX", batch).await.unwrap();
        }
        let mut c = s.login("alice").await;
        c.ok("SELECT INBOX").await;
        let lines = c.ok("UID SEARCH RETURN (COUNT MIN MAX) BODY common").await;
        assert!(lines[0].ends_with("UID MIN 1 MAX 1200 COUNT 1200"), "{lines:?}");
        let lines = c.ok("UID SEARCH RETURN (COUNT MIN MAX) NOT BODY common").await;
        assert!(lines[0].ends_with("UID MIN 1201 MAX 1500 COUNT 300"), "{lines:?}");
        c.ok("UID STORE 1:100 +FLAGS (\\Deleted)").await;
        c.ok("EXPUNGE").await;
        let lines = c.ok("UID SEARCH RETURN (COUNT MIN MAX) BODY common").await;
        assert!(lines[0].ends_with("UID MIN 101 MAX 1200 COUNT 1100"), "{lines:?}");
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

// STATUS counts what the mailbox holds after appends, flag changes and
// expunges by any session; with each reader's own \Seen, each reader's.
server_test!(status_counts_follow_every_change, async |s: Server| {
    let (mut c, alice) = alice_with_an_inbox(&s).await;
    let status = async |c: &mut Client| c.ok("STATUS INBOX (MESSAGES UNSEEN)").await[0].clone();
    assert_eq!(status(&mut c).await, "* STATUS INBOX (MESSAGES 5 UNSEEN 3)");
    c.ok("UID STORE 2 +FLAGS (\\Seen)").await;
    assert_eq!(status(&mut c).await, "* STATUS INBOX (MESSAGES 5 UNSEEN 2)");
    c.ok("UID STORE 1,3 +FLAGS (\\Deleted)").await;
    c.ok("UID STORE 1 -FLAGS (\\Seen)").await;
    c.ok("EXPUNGE").await;
    assert_eq!(status(&mut c).await, "* STATUS INBOX (MESSAGES 3 UNSEEN 1)");
    s.service()
        .append(&alice, "INBOX", message("six", "new"), &Flags::default(), None)
        .await
        .unwrap();
    assert_eq!(status(&mut c).await, "* STATUS INBOX (MESSAGES 4 UNSEEN 2)");

    s.service()
        .set_seen_mode(&alice, "INBOX", SeenMode::PerUser)
        .await
        .unwrap();
    s.user("bob").await;
    c.ok("SETACL INBOX bob lrs").await;
    let mut b = s.login("bob").await;
    b.ok("SELECT ~alice/INBOX").await;
    b.ok("UID STORE 6 +FLAGS (\\Seen)").await;
    let unseen = |line: &str| -> u32 {
        let n = line.split("UNSEEN ").nth(1).expect("UNSEEN");
        n.trim_end_matches(')').parse().expect("a number")
    };
    let bobs = b.ok("STATUS ~alice/INBOX (MESSAGES UNSEEN)").await[0].clone();
    let alices = status(&mut c).await;
    assert!(bobs.contains("MESSAGES 4 "), "{bobs}");
    assert_eq!(unseen(&bobs) + 1, unseen(&alices), "{bobs} {alices}");
});
