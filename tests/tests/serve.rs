//! `mailroom serve`: first start on an empty database, the demo world, and
//! the web application answering over HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mailroom::serve::{Options, start};
use mailroom::service::Bootstrap;
use mailroom_tests::{Backend, TestDb, mailroom_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP/1.1 GET: status line and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(mailroom_tests::PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("the web answers in time")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

fn options(demo: bool) -> Options {
    Options {
        http: "127.0.0.1:0".parse().unwrap(),
        domain: "example.org".into(),
        admin_password: None,
        demo,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_creates_the_admin_and_the_demo_world() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let running = start(db.service().await, options(true), std::future::pending())
        .await
        .unwrap();
    let Bootstrap::Created {
        admin,
        generated_password: Some(password),
    } = &running.bootstrap
    else {
        panic!("{:?}", running.bootstrap);
    };
    assert_eq!(admin, "admin@example.org");
    let service = &running.service;
    let root = service
        .authenticate("admin@example.org", password, mailroom::service::LOCAL)
        .await
        .unwrap();
    assert!(root.is_server_admin());

    let (alice_address, alice_password) = &running.demo_accounts[0];
    let (bob_address, bob_password) = &running.demo_accounts[1];
    assert_eq!(
        (alice_address.as_str(), bob_address.as_str()),
        ("alice@example.org", "bob@example.org")
    );
    let alice = service
        .authenticate("alice", alice_password, mailroom::service::LOCAL)
        .await
        .unwrap();
    let bob = service
        .authenticate("bob", bob_password, mailroom::service::LOCAL)
        .await
        .unwrap();
    let for_bob: Vec<(String, String)> = service
        .list_mailboxes(&bob)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.name.starts_with('~'))
        .map(|m| (m.name, m.rights.to_string()))
        .collect();
    assert_eq!(
        for_bob,
        [
            ("~alice/Projects".to_string(), "lrswipte".to_string()),
            ("~public/Announcements".into(), "lrs".into())
        ]
    );
    assert_eq!(service.messages(&bob, "~alice/Projects").await.unwrap().1.len(), 1);
    assert_eq!(service.messages(&bob, "INBOX").await.unwrap().1.len(), 1);
    assert_eq!(
        service
            .my_rights(&alice, "~public/Announcements")
            .await
            .unwrap()
            .to_string(),
        "lrswipkxtea"
    );
    service
        .create_mailbox(&alice, "~public/Announcements/2026")
        .await
        .unwrap();

    let (status, _) = get(running.http, "/").await;
    assert!(status.contains("303"), "the mail view asks to sign in first: {status}");
    let (status, body) = get(running.http, "/login").await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("Sign in"), "{body}");
    let (status, _) = get(running.http, "/no/such/page").await;
    assert!(status.contains("404"), "{status}");
    let (status, css) = get(running.http, "/mailroom.css").await;
    assert!(status.contains("200") && css.contains(".login-card"), "{status}");
    running.task.abort();

    let again = start(db.service().await, options(true), std::future::pending())
        .await
        .unwrap();
    assert!(matches!(again.bootstrap, Bootstrap::AlreadyDone));
    assert!(again.demo_accounts.is_empty(), "the demo world is seeded once");
    again.task.abort();
}

/// The binary as the README runs it: prints its URL and serves the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_where_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(mailroom_bin())
        .args([
            "serve",
            "--demo",
            "--http",
            "127.0.0.1:0",
            "--imap",
            "127.0.0.1:0",
            "--imaps",
            "127.0.0.1:0",
            "--pop3",
            "127.0.0.1:0",
            "--pop3s",
            "127.0.0.1:0",
            "--lmtp",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(dir.path())
        .env("MAILROOM_ADMIN_PASSWORD", "chosen-password")
        .env_remove("MAILROOM_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.starts_with("IMAP: ");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    })
    .await
    .unwrap();
    let url_line = lines.iter().find(|l| l.contains("Web: http://")).expect("URL printed");
    let addr = url_line
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l == "Created server administrator admin@localhost"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Demo account alice@localhost, password ")),
        "{lines:?}"
    );
    assert!(dir.path().join(mailroom::service::SQLITE_FILE).exists());
    assert!(
        dir.path().join("tls/cert.pem").exists(),
        "a self-signed certificate was made"
    );
    let imap_line = lines.last().unwrap();
    let imap: std::net::SocketAddr = imap_line["IMAP: ".len()..].split(' ').next().unwrap().parse().unwrap();
    let alice_pw = lines
        .iter()
        .find_map(|l| l.strip_prefix("Demo account alice@localhost, password "))
        .unwrap();
    let mut tcp = tokio::net::TcpStream::connect(imap).await.unwrap();
    let login = format!("a LOGIN alice {alice_pw}\r\nb LOGOUT\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut tcp, login.as_bytes())
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut reply)
        .await
        .unwrap();
    assert!(reply.contains("\r\na OK "), "{reply}");
    let (status, body) = get(addr, "/login").await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(status.contains("200") && body.contains("Mailroom"), "{status} {body}");
}

/// A first start with an unusable admin password creates nothing, and the
/// next start sets the server up completely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_start_leaves_nothing_half_done() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let bad = Options {
        admin_password: Some("x".repeat(2000)),
        ..options(false)
    };
    let err = start(db.service().await, bad, std::future::pending())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("password"), "{err}");
    assert!(!db.service().await.is_set_up().await.unwrap());
    let good = Options {
        admin_password: Some("fine".into()),
        ..options(false)
    };
    let running = start(db.service().await, good, std::future::pending()).await.unwrap();
    assert!(
        matches!(running.bootstrap, Bootstrap::Created { .. }),
        "{:?}",
        running.bootstrap
    );
    running
        .service
        .authenticate("admin@example.org", "fine", mailroom::service::LOCAL)
        .await
        .unwrap();
    running.task.abort();
}
