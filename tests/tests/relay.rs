//! Web mail to other servers: handed to the SMTP relay given with
//! `--relay` (here a small SMTP server of the test's own that records
//! what it is given); local recipients of the same message are delivered
//! here; without a relay a remote recipient is refused before anything is
//! sent — on SQLite and PostgreSQL.

use std::sync::{Arc, Mutex};

use mailroom_shared::dto::Draft;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World, server_test};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the sink was given: envelope sender, recipients, message.
#[derive(Default, Debug)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server that takes one message per connection.
async fn smtp_sink() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let mut io = BufReader::new(stream);
                let mut r = Received::default();
                io.get_mut().write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if let Some(from) = upper.strip_prefix("MAIL FROM:") {
                        r.from = from.trim().trim_matches(['<', '>']).to_ascii_lowercase();
                        b"250 OK\r\n"
                    } else if let Some(to) = upper.strip_prefix("RCPT TO:") {
                        r.to.push(to.trim().trim_matches(['<', '>']).to_ascii_lowercase());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        io.get_mut().write_all(b"354 go\r\n").await.unwrap();
                        loop {
                            line.clear();
                            io.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            r.data.push_str(&line);
                        }
                        sink.lock().unwrap().push(std::mem::take(&mut r));
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = io.get_mut().write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    io.get_mut().write_all(answer).await.unwrap();
                }
            });
        }
    });
    (url, got)
}

fn draft(to: &str) -> Draft {
    Draft {
        to: to.into(),
        subject: "Across servers".into(),
        body: "Hello out there.".into(),
        ..Draft::default()
    }
}

server_test!(
    without_a_relay_remote_recipients_are_refused_and_nothing_is_sent,
    |server: Server| async move {
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let err = server
            .service()
            .send(&alice, &draft("bob@example.com, carol@elsewhere.example"), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--relay"), "{err}");
        assert!(server.service().messages(&bob, "INBOX").await.unwrap().1.is_empty());
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_takes_the_remote_recipients_and_local_ones_are_delivered_here() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(world) = World::new(backend).await else {
            continue;
        };
        let (url, got) = smtp_sink().await;
        let server = Server::start_with(world, |o| o.relay = Some(url)).await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let service = server.service();

        let sent = service
            .send(&alice, &draft("bob@example.com, Carol <carol@elsewhere.example>"), None)
            .await
            .unwrap();
        assert!(sent.iter().any(|s| s == "carol@elsewhere.example"), "{sent:?}");
        {
            let received = got.lock().unwrap();
            assert_eq!(received.len(), 1, "{received:?}");
            assert_eq!(received[0].from, "alice@example.com");
            assert_eq!(
                received[0].to,
                ["carol@elsewhere.example"],
                "a local recipient went to the relay"
            );
            assert!(
                received[0].data.contains("Subject: Across servers"),
                "{}",
                received[0].data
            );
        }
        assert_eq!(service.messages(&bob, "INBOX").await.unwrap().1.len(), 1);

        // An unknown name in one of our own domains is a mistake, not mail
        // for the relay.
        let err = service
            .send(&alice, &draft("nobody@example.com"), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no such address"), "{err}");
        assert_eq!(got.lock().unwrap().len(), 1);
    }
}
