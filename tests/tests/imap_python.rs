//! Python's standard imaplib, as a second independent client.

use mailroom_shared::Flags;
use mailroom_tests::net::{Server, run_python};
use mailroom_tests::{Backend, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_runs_a_whole_session() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start(world).await;
    let alice = s.user("alice").await;
    s.user("bob").await;
    let message = b"From: py@example.com\r\nSubject: hello from python\r\n\r\nbody\r\n".to_vec();
    s.service()
        .append(&alice, "INBOX", message, &Flags::default(), None)
        .await
        .unwrap();
    run_python("imaplib_session.py", s.imap).await;
}
