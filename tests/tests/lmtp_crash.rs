//! Durability: the server is killed (SIGKILL) while ten LMTP senders are
//! delivering; after a restart every message that got a `250` is in the
//! INBOX exactly once, and none is there twice. Runs the real binary on
//! SQLite in a temporary directory.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailroom_tests::mailroom_bin;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts `mailroom serve` on `data`; returns it and its LMTP address.
fn start(data: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(mailroom_bin())
        .arg("--data")
        .arg(data)
        .args(["serve", "--domain", "example.com", "--lmtp", "127.0.0.1:0"])
        .args([
            "--http",
            "127.0.0.1:0",
            "--imap",
            "127.0.0.1:0",
            "--imaps",
            "127.0.0.1:0",
        ])
        .args(["--pop3", "127.0.0.1:0", "--pop3s", "127.0.0.1:0"])
        .env("MAILROOM_ADMIN_PASSWORD", "admin-password-1")
        .env_remove("MAILROOM_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mailroom serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lmtp = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("LMTP: ") {
            lmtp = Some(addr.trim().parse().unwrap());
            break;
        }
    }
    // Keep reading: a closed pipe would make the server's next line of
    // output fail and stop it.
    std::thread::spawn(move || lines.for_each(drop));
    (child, lmtp.expect("the LMTP address is printed"))
}

fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(mailroom_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("MAILROOM_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Delivers messages `sender-N` one after another until the connection
/// breaks, recording each one acknowledged with 250.
async fn sender(lmtp: SocketAddr, id: usize, acked: Arc<Mutex<HashSet<String>>>) {
    let Ok(stream) = TcpStream::connect(lmtp).await else {
        return;
    };
    let mut io = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    let mut reply = async |io: &mut tokio::io::BufReader<TcpStream>| -> Option<String> {
        loop {
            line.clear();
            if io.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) == Some(&b' ') {
                return Some(line.clone());
            }
        }
    };
    reply(&mut io).await;
    if io.get_mut().write_all(b"LHLO crash\r\n").await.is_err() {
        return;
    }
    reply(&mut io).await;
    for n in 0.. {
        let subject = format!("crash-{id}-{n}");
        let body = "x".repeat(2000);
        let transaction = format!(
            "MAIL FROM:<s@example.org>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: {subject}\r\n\r\n{body}\r\n.\r\n"
        );
        if io.get_mut().write_all(transaction.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..3 {
            if reply(&mut io).await.is_none() {
                return;
            }
        }
        match reply(&mut io).await {
            Some(r) if r.starts_with("250") => {
                acked.lock().unwrap().insert(subject);
            }
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (mut server, lmtp) = start(data);
    cli(data, &["account", "add", "alice@example.com"]);

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let senders: Vec<_> = (0..10)
        .map(|id| tokio::spawn(sender(lmtp, id, Arc::clone(&acked))))
        .collect();
    // Let deliveries flow, then kill the server in the middle of them.
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < 4 * mailroom_tests::PATIENCE,
            "only {} deliveries acknowledged",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        if acked.lock().unwrap().len() >= 200 {
            break;
        }
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the server stopped by itself ({status}) before the kill");
        }
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // A restart (the CLI opens the store as the server does) finds them.
    let exported = cli(data, &["export", "alice@example.com", "INBOX"]);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for line in exported.lines() {
        if let Some(subject) = line.strip_prefix("Subject: ") {
            *counts.entry(subject).or_default() += 1;
        }
    }
    for subject in &acked {
        assert_eq!(counts.get(subject.as_str()), Some(&1), "{subject} was acknowledged");
    }
    assert!(counts.values().all(|&n| n == 1), "a message is there twice");
    eprintln!(
        "{} deliveries acknowledged before the kill, {} stored",
        acked.len(),
        counts.len()
    );
    let (mut again, _) = start(data);
    again.kill().unwrap();
    again.wait().unwrap();
}
