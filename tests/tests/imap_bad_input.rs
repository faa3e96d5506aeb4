//! Hostile and mistaken IMAP input: each gets a clear BAD or NO, changes
//! nothing, and neither the session nor anybody else's stops working.

use std::time::Duration;

use mailroom::serve::Options;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn server() -> Server {
    server_with(|_| {}).await
}

async fn server_with(tweak: impl FnOnce(&mut Options)) -> Server {
    let world = World::new(Backend::Sqlite).await.expect("world");
    let s = Server::start_with(world, |o| {
        o.imap_config.limits.max_literal = 4096;
        tweak(o);
    })
    .await;
    s.user("alice").await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_long_lines_and_unknown_commands_get_bad() {
    let s = server().await;
    let mut bystander = s.login("alice").await;
    let mut c = s.login("alice").await;

    c.send_raw(b"\x00\xff\xfe garbage \x01\x02\r\n").await;
    let line = c.line().await.unwrap();
    assert!(line.starts_with("* BAD"), "{line}");

    let long = format!("t1 NOOP {}\r\n", "x".repeat(1024 * 1024));
    c.send_raw(long.as_bytes()).await;
    let line = c.line().await.unwrap();
    assert!(line.starts_with("t1 BAD") && line.contains("too long"), "{line}");

    c.fails("FROBNICATE now", "BAD").await;
    c.fails("FETCH 1 FLAGS", "BAD").await;
    c.fails("LOGIN alice pw-alice", "BAD").await;
    c.fails("SELECT", "BAD").await;
    c.fails("FETCH", "BAD").await;
    c.fails("UID FROB 1", "BAD").await;
    c.fails("SELECT \"unterminated", "BAD").await;
    c.ok("SELECT INBOX").await;
    c.fails("FETCH 0 FLAGS", "BAD").await;
    c.fails("FETCH 5 FLAGS", "BAD").await;
    c.fails("STORE 1 +FLAGS (\\Bogus)", "BAD").await;
    c.fails("SEARCH (((", "BAD").await;
    c.ok("NOOP").await;
    bystander.ok("NOOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_in_the_wrong_state_are_refused() {
    let s = server().await;
    let mut c = s.connect().await;
    for command in [
        "SELECT INBOX",
        "LIST \"\" *",
        "GETACL INBOX",
        "APPEND INBOX {1+}\r\nx",
        "IDLE",
        "CHECK",
    ] {
        c.fails(command, "BAD").await;
    }
    c.ok("LOGIN alice pw-alice").await;
    for command in ["FETCH 1 FLAGS", "EXPUNGE", "CLOSE", "SEARCH ALL", "COPY 1 Trash"] {
        c.fails(command, "BAD").await;
    }
    c.fails("STARTTLS", "BAD").await;
    c.ok("NOOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_beyond_the_limit_are_refused_and_change_nothing() {
    let s = server().await;
    let alice = s
        .service()
        .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
        .await
        .unwrap();
    let mut c = s.login("alice").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains("APPENDLIMIT=4096"), "{caps:?}");

    // Synchronizing: refused before the client sends the data.
    let (_, done) = c.command("APPEND INBOX {5000}").await;
    assert!(done.starts_with("NO [TOOBIG]"), "{done}");
    // Non-synchronizing: the data is read and thrown away, never run.
    let mut cmd = b"t9 APPEND INBOX {5000+}\r\n".to_vec();
    cmd.extend(b"t10 DELETE INBOX\r\n".repeat(5000 / 18 + 1).into_iter().take(5000));
    cmd.extend_from_slice(b"\r\n");
    c.send_raw(&cmd).await;
    let (_, done) = c.until_tagged("t9").await;
    assert!(done.starts_with("NO [TOOBIG]"), "{done}");
    c.ok("NOOP").await;
    assert!(s.service().messages(&alice, "INBOX").await.unwrap().1.is_empty());
    assert!(s.service().mailbox(&alice, "INBOX").await.is_ok());

    // An absurd announced size ends the connection at once.
    c.send_raw(b"t11 APPEND INBOX {999999999999+}\r\n").await;
    let line = c.line().await.unwrap();
    assert!(line.starts_with("* BYE"), "{line}");
    assert!(c.line().await.is_none());
    s.login("alice").await.ok("NOOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_logged_out_before_login() {
    // Short for this test only: elsewhere a busy machine's stall between
    // the greeting and LOGIN must not log a client out.
    let s = server_with(|o| o.imap_config.login_timeout = Duration::from_secs(2)).await;
    let tcp = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    let mut r = BufReader::new(tcp);
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    let mut bye = String::new();
    tokio::time::timeout(mailroom_tests::PATIENCE, r.read_line(&mut bye))
        .await
        .expect("the server hangs up")
        .unwrap();
    assert!(bye.starts_with("* BYE"), "{bye}");
}

/// Random fragments of commands, thousands of them: the server answers
/// each line and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_commands_never_break_the_server() {
    let s = server().await;
    let mut c = s.login("alice").await;
    c.ok("SELECT INBOX").await;
    let fragments = [
        "FETCH",
        "STORE",
        "UID",
        "SEARCH",
        "1:*",
        "*",
        "0",
        "4294967296",
        "(",
        ")",
        "[",
        "]",
        "BODY[",
        "<1.2>",
        "\"",
        "{3}",
        "+FLAGS",
        "\\Seen",
        "NOT",
        "OR",
        "HEADER",
        "~",
        "~public/",
        "..",
        "%",
        "INBOX",
        "LIST",
        "SETACL",
        "-x",
        "BODY.PEEK[1.2.3.MIME]",
        "HEADER.FIELDS",
        "CHARSET",
        "\u{7f}",
        "ENABLE",
        "ID",
        "NIL",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..1500 {
        let n = rng.random_range(1..8);
        let words: Vec<&str> = (0..n)
            .map(|_| fragments[rng.random_range(0..fragments.len())])
            .collect();
        let line = format!("r{i} {}\r\n", words.join(" "));
        // A `{3}` at the end asks for a literal; send its bytes so the line ends.
        let line = if line.ends_with("{3}\r\n") {
            format!("{line}abc\r\n")
        } else {
            line
        };
        c.send_raw(line.as_bytes()).await;
        let tag = format!("r{i}");
        loop {
            let reply = c.line().await.expect("the server answers");
            if reply.starts_with(&tag) || reply.starts_with("* BAD") && !line.contains("{3}") {
                break;
            }
            if reply.starts_with("+ ") {
                continue;
            }
        }
    }
    let mut fresh = s.login("alice").await;
    fresh.ok("NOOP").await;
    let mut tcp = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    tcp.write_all(b"x LOGOUT\r\n").await.unwrap();
}
