//! The LMTP gateway over TCP, as an MTA uses it: per-recipient replies
//! (an unknown address, an alias, a `+detail`), where the messages land,
//! dot-unstuffing, size limits, pipelining and bad input — on SQLite and
//! PostgreSQL.

use mailroom_shared::Flags;
use mailroom_tests::net::{Lmtp, Server};
use mailroom_tests::{Backend, World, have_program, legacy_program, server_test};

server_test!(
    three_recipients_get_their_own_replies_and_mail_lands_where_it_should,
    |server: Server| async move {
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let service = server.service();
        service.add_alias(&server.world.admin, "boss", "alice").await.unwrap();
        service.create_mailbox(&bob, "lists").await.unwrap();
        service.set_acl(&bob, "lists", "anyone", "p").await.unwrap();
        service.create_mailbox(&alice, "private").await.unwrap();

        let mut c = Lmtp::connect(&server).await;
        let lhlo = c.command("LHLO mta.example").await;
        for ext in ["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE"] {
            assert!(lhlo.contains(ext), "{lhlo}");
        }
        assert!(
            c.command("MAIL FROM:<sender@example.org> SIZE=200")
                .await
                .starts_with("250 2.1.0")
        );
        let unknown = c.command("RCPT TO:<nobody@example.com>").await;
        assert!(unknown.starts_with("550 5.1.1"), "{unknown}");
        assert!(c.command("RCPT TO:<boss@example.com>").await.starts_with("250 2.1.5"));
        assert!(
            c.command("RCPT TO:<bob+lists@example.com>")
                .await
                .starts_with("250 2.1.5")
        );
        assert!(
            c.command("RCPT TO:<alice+private@example.com>")
                .await
                .starts_with("250 2.1.5")
        );
        assert!(c.command("DATA").await.starts_with("354"));
        c.send(b"Subject: three ways\r\n\r\nline one\r\n..leading dot\r\n.\r\n")
            .await;
        let replies = [c.reply().await, c.reply().await, c.reply().await];
        assert!(
            replies[0].starts_with("250 2.0.0 <boss@example.com> delivered to INBOX"),
            "{replies:?}"
        );
        assert!(
            replies[1].starts_with("250 2.0.0 <bob+lists@example.com> delivered to lists"),
            "{replies:?}"
        );
        // No `p` for anyone on alice's private folder: her INBOX gets it.
        assert!(
            replies[2].starts_with("250 2.0.0 <alice+private@example.com> delivered to INBOX"),
            "{replies:?}"
        );

        let (_, inbox) = service.messages(&alice, "INBOX").await.unwrap();
        assert_eq!(inbox.len(), 2);
        let stored = String::from_utf8(service.fetch(&alice, "INBOX", inbox[0].uid).await.unwrap()).unwrap();
        // The trace a final delivery adds, then the message as sent.
        let (trace, sent) = stored.split_once("Subject:").unwrap();
        assert!(
            trace.starts_with("Return-Path: <sender@example.org>\r\nDelivered-To: boss@example.com\r\nReceived: from mta.example\r\n\tby "),
            "{trace}"
        );
        assert!(trace.contains("with LMTP\r\n\tfor <boss@example.com>; "), "{trace}");
        assert_eq!(
            sent, " three ways\r\n\r\nline one\r\n.leading dot\r\n",
            "dot-unstuffing"
        );
        assert_eq!(inbox[0].envelope_from.as_deref(), Some("sender@example.org"));
        assert_eq!(service.messages(&bob, "lists").await.unwrap().1.len(), 1);
        assert!(service.messages(&alice, "private").await.unwrap().1.is_empty());
        assert!(c.command("QUIT").await.starts_with("221"));
    }
);

server_test!(
    sessions_follow_the_protocol_and_refuse_bad_input,
    |server: Server| async move {
        let alice = server.user("alice").await;
        let service = server.service();
        let mut c = Lmtp::connect(&server).await;
        assert!(c.command("EHLO mta").await.starts_with("500"), "EHLO is SMTP");
        assert!(
            c.command("MAIL FROM:<a@b>").await.starts_with("503"),
            "MAIL before LHLO"
        );
        c.command("LHLO mta").await;
        assert!(
            c.command("RCPT TO:<alice@example.com>").await.starts_with("503"),
            "RCPT before MAIL"
        );
        assert!(c.command("DATA").await.starts_with("503"), "DATA without recipients");
        assert!(c.command("FROB").await.starts_with("500"));
        assert!(c.command("MAIL FROM:<a@b> SIZE=999999999").await.starts_with("552"));
        let long = format!("NOOP {}", "x".repeat(100_000));
        assert!(c.command(&long).await.starts_with("500 5.5.2"), "an overlong line");
        assert!(c.command("NOOP").await.starts_with("250"), "the session goes on");

        // Pipelined: everything in one write, replies in order.
        c.send(b"MAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<ghost@example.com>\r\nDATA\r\n")
            .await;
        assert!(c.reply().await.starts_with("250"));
        assert!(c.reply().await.starts_with("250"));
        assert!(c.reply().await.starts_with("550"));
        assert!(c.reply().await.starts_with("354"));
        c.send(b"Subject: piped\r\n\r\nx\r\n.\r\n").await;
        assert!(c.reply().await.starts_with("250 2.0.0 <alice@example.com>"));
        assert_eq!(service.messages(&alice, "INBOX").await.unwrap().1.len(), 1);
        assert!(
            service.messages(&alice, "INBOX").await.unwrap().1[0]
                .envelope_from
                .is_none(),
            "the null sender is no sender"
        );

        // RSET forgets the transaction; a message cut off delivers nothing.
        c.command("MAIL FROM:<a@b>").await;
        c.command("RCPT TO:<alice@example.com>").await;
        assert!(c.command("RSET").await.starts_with("250"));
        assert!(c.command("DATA").await.starts_with("503"));
        c.command("MAIL FROM:<a@b>").await;
        c.command("RCPT TO:<alice@example.com>").await;
        c.command("DATA").await;
        c.send(b"Subject: never finished\r\n\r\nhalf").await;
        c.hang_up().await;
        assert_eq!(service.messages(&alice, "INBOX").await.unwrap().1.len(), 1);
    }
);

server_test!(swaks_delivers_over_lmtp, |server: Server| async move {
    if !have_program("swaks") {
        return;
    }
    let alice = server.user("alice").await;
    let addr = server.lmtp;
    let home = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        legacy_program("swaks", home.path())
            .args(["--protocol", "LMTP", "--server", &addr.ip().to_string()])
            .args(["--port", &addr.port().to_string()])
            .args([
                "--from",
                "sender@example.org",
                "--to",
                "alice@example.com,nobody@example.com",
            ])
            .args(["--header", "Subject: via swaks", "--body", "Sent by a real client."])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(transcript.contains("550 5.1.1 <nobody@example.com>"), "{transcript}");
    assert!(
        transcript.contains("250 2.0.0 <alice@example.com> delivered"),
        "{transcript}"
    );
    let (_, rows) = server.service().messages(&alice, "INBOX").await.unwrap();
    assert_eq!(rows.len(), 1);
    let stored = server.service().fetch(&alice, "INBOX", rows[0].uid).await.unwrap();
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.contains("Subject: via swaks") && text.contains("Sent by a real client."),
        "{text}"
    );
});

server_test!(
    concurrent_deliveries_each_get_their_own_uids_and_modseqs,
    |server: Server| async move {
        // Deliveries that queue behind one writer are stored together in
        // one transaction (SQLite): each must still be stored once, under
        // its own UID and MODSEQ, and the 250 each sender reads must name
        // the UID of its own message.
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        const SENDERS: usize = 8;
        const EACH: usize = 12;
        let addr = server.lmtp;
        let mut tasks = Vec::new();
        for s in 0..SENDERS {
            tasks.push(tokio::spawn(async move {
                let mut c = Lmtp::connect_to(addr).await;
                let mut sent = Vec::new();
                for n in 0..EACH {
                    // Every other sender writes to both, in one transaction.
                    let to: &[&str] = match s % 2 {
                        0 => &["alice@example.com"],
                        _ => &["alice@example.com", "bob@example.com"],
                    };
                    let body = format!("Subject: s{s} n{n}\r\n\r\nfrom sender {s}, message {n}");
                    let replies = c.deliver("mta@example.org", to, &body).await;
                    assert_eq!(replies.len(), to.len(), "{replies:?}");
                    for reply in &replies {
                        assert!(reply.starts_with("250 2.0.0"), "{reply}");
                    }
                    let uid: u32 = replies[0]
                        .split("(UID ")
                        .nth(1)
                        .and_then(|r| r.split(')').next())
                        .and_then(|u| u.parse().ok())
                        .unwrap_or_else(|| panic!("no UID in {:?}", replies[0]));
                    sent.push((uid, format!("from sender {s}, message {n}")));
                }
                sent
            }));
        }
        let mut sent = Vec::new();
        for t in tasks {
            sent.extend(t.await.unwrap());
        }
        let service = server.service();
        for (uid, text) in &sent {
            let stored = String::from_utf8(service.fetch(&alice, "INBOX", *uid).await.unwrap()).unwrap();
            assert!(
                stored.trim_end().ends_with(text.as_str()),
                "UID {uid} holds another message: {stored}"
            );
        }
        let (_, inbox) = service.messages(&alice, "INBOX").await.unwrap();
        assert_eq!(inbox.len(), SENDERS * EACH, "each stored once");
        let mut modseqs: Vec<u64> = inbox.iter().map(|m| m.modseq).collect();
        modseqs.sort_unstable();
        modseqs.dedup();
        assert_eq!(modseqs.len(), inbox.len(), "a MODSEQ of its own for each delivery");
        let (_, bobs) = service.messages(&bob, "INBOX").await.unwrap();
        assert_eq!(bobs.len(), SENDERS / 2 * EACH);
    }
);

server_test!(
    a_delivery_that_fails_beside_others_fails_alone,
    |server: Server| async move {
        // A mailbox deleted while messages for it wait to be written: those
        // fail, and the others written in the same turn are stored all
        // the same.
        let alice = server.user("alice").await;
        let service = server.service().clone();
        for name in ["Keep", "Doomed"] {
            service.create_mailbox(&alice, name).await.unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (service, alice) = (service.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                let name = if i % 2 == 0 { "Keep" } else { "Doomed" };
                if i == 21 {
                    service.delete_mailbox(&alice, "Doomed").await.unwrap();
                }
                let content = format!("Subject: {i}\r\n\r\nmessage {i}\r\n").into_bytes();
                (
                    name,
                    service.append(&alice, name, content, &Flags::default(), None).await,
                )
            }));
        }
        for t in tasks {
            let (name, result) = t.await.unwrap();
            if name == "Keep" {
                result.unwrap_or_else(|e| panic!("an append to Keep failed beside the doomed ones: {e}"));
            }
        }
        assert_eq!(service.messages(&alice, "Keep").await.unwrap().1.len(), 20);
    }
);
