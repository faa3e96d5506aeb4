//! Python's standard imaplib, as a second independent client.

use std::process::Command;

use mailroom_shared::Flags;
use mailroom_tests::net::Server;
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
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/imaplib_session.py");
    let port = s.imap.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, "127.0.0.1", &port])
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "imaplib failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all good"), "{stdout}");
}
