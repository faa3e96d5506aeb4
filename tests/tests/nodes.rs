//! Two Mailroom nodes on one PostgreSQL database (a scratch database on
//! the CI server): an IMAP session idling on node A learns of what IMAP,
//! POP3, the web and LMTP do on node B; APPENDs through both nodes at once
//! get unique, increasing UIDs; and when node B loses its database and
//! gets it back, its idle sessions learn every change made meanwhile; a
//! web sign-in and a login lock-out hold on whichever node is asked.
//! Node B reaches the database through a proxy the test can cut.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailroom::serve::{Options, Running};
use mailroom_tests::http::Browser;
use mailroom_tests::net::{Client, Lmtp, Pop, Server, start_node};
use mailroom_tests::proxy::Proxy;
use mailroom_tests::{Backend, World};
use tokio::net::TcpStream;

/// `url` with its host and port replaced by `addr`, and the address it
/// named.
async fn through(url: &str, addr: SocketAddr) -> (String, SocketAddr) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database name");
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let target = tokio::net::lookup_host(host)
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address");
    (format!("{scheme}://{user}{addr}/{path}"), target)
}

/// Node B: a second server on the same database, reached through a proxy.
async fn second_node(a: &Server) -> (Running, Proxy, tempfile::TempDir) {
    second_node_with(a, |_| {}).await
}

async fn second_node_with(a: &Server, tweak: impl FnOnce(&mut Options)) -> (Running, Proxy, tempfile::TempDir) {
    let (_, target) = through(&a.world.db.url, "127.0.0.1:1".parse().unwrap()).await;
    let proxy = Proxy::start(target).await;
    let (url, _) = through(&a.world.db.url, proxy.addr).await;
    let (running, dir) = start_node(&url, tweak).await;
    (running, proxy, dir)
}

async fn imap_login(addr: SocketAddr, user: &str) -> Client {
    let mut c = Client::greeted(Box::new(TcpStream::connect(addr).await.unwrap())).await;
    c.ok(&format!("LOGIN {user} pw-{user}")).await;
    c
}

/// Starts IDLE on a selected session.
async fn idle(c: &mut Client) {
    c.send_raw(b"idle IDLE\r\n").await;
    let line = c.line().await.expect("IDLE answered");
    assert!(line.starts_with('+'), "{line}");
}

/// Reads untagged responses until each of `wanted` was seen (as a part
/// of some line); returns the lines read and how long it took.
async fn until_seen(c: &mut Client, wanted: &[&str]) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let mut lines = Vec::new();
    while !wanted.iter().all(|w| lines.iter().any(|l: &String| l.contains(w))) {
        let line = tokio::time::timeout(mailroom_tests::PATIENCE, c.line())
            .await
            .unwrap_or_else(|_| panic!("waited in vain for {wanted:?}; saw {lines:?}"))
            .unwrap_or_else(|| panic!("closed; saw {lines:?}"));
        lines.push(line);
    }
    (lines, started.elapsed())
}

fn message(subject: &str) -> String {
    format!("From: x@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_on_one_node_sees_what_the_other_node_does() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let a = Server::start(world).await;
    a.user("alice").await;
    let (b, _proxy, _dir) = second_node(&a).await;

    let mut watcher = imap_login(a.imap, "alice").await;
    watcher.ok("SELECT INBOX").await;
    idle(&mut watcher).await;

    // LMTP on B: the message arrives.
    let mut lmtp = Lmtp::connect_to(b.lmtp.unwrap()).await;
    let replies = lmtp
        .deliver("x@example.org", &["alice@example.com"], &message("one"))
        .await;
    assert!(replies[0].starts_with("250"), "{replies:?}");
    let (_, took) = until_seen(&mut watcher, &["* 1 EXISTS"]).await;
    eprintln!("LMTP on B → EXISTS on A: {took:?}");

    // IMAP on B: a flag.
    let mut other = imap_login(b.imap.unwrap(), "alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let (lines, took) = until_seen(&mut watcher, &["\\Flagged"]).await;
    assert!(
        lines.iter().any(|l| l.starts_with("* 1 FETCH") && l.contains("FLAGS")),
        "{lines:?}"
    );
    eprintln!("IMAP STORE on B → FETCH on A: {took:?}");

    // The web on B: mark it read.
    let mut web = Browser::new(b.http);
    web.sign_in("alice", "pw-alice").await;
    let r = web.post_form("/actions", "mailbox=INBOX&uid=1&op=read").await;
    assert!(r.header("location").is_some_and(|l| l.contains("notice=")), "{r:?}");
    let (_, took) = until_seen(&mut watcher, &["\\Seen"]).await;
    eprintln!("web on B → FETCH on A: {took:?}");

    // POP3 on B: delete it.
    let mut pop = Pop::login(b.pop3.unwrap(), "alice").await;
    pop.ok("DELE 1").await;
    pop.ok("QUIT").await;
    let (_, took) = until_seen(&mut watcher, &["* 1 EXPUNGE"]).await;
    eprintln!("POP3 DELE on B → EXPUNGE on A: {took:?}");

    watcher.send_raw(b"DONE\r\n").await;
    let (_, done) = watcher.until_tagged("idle").await;
    assert!(done.starts_with("OK"), "{done}");
    other.ok("LOGOUT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_through_both_nodes_get_unique_increasing_uids() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let a = Server::start(world).await;
    let alice = a.user("alice").await;
    a.service().create_mailbox(&alice, "Busy").await.unwrap();
    let (b, _proxy, _dir) = second_node(&a).await;

    const EACH: usize = 40;
    let append_many = |addr: SocketAddr, who: &'static str| async move {
        let mut c = imap_login(addr, "alice").await;
        let mut uids = Vec::new();
        for i in 0..EACH {
            let m = message(&format!("{who} {i}"));
            let (_, done) = c.command(&format!("APPEND Busy {{{}+}}\r\n{m}", m.len())).await;
            let uid: u32 = done
                .split("APPENDUID ")
                .nth(1)
                .and_then(|r| r.split([' ', ']']).nth(1))
                .and_then(|u| u.parse().ok())
                .unwrap_or_else(|| panic!("no APPENDUID in {done}"));
            uids.push(uid);
        }
        uids
    };
    let (on_a, on_b) = tokio::join!(append_many(a.imap, "a"), append_many(b.imap.unwrap(), "b"));
    for uids in [&on_a, &on_b] {
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "increasing per session: {uids:?}");
    }
    let mut all: Vec<u32> = on_a.iter().chain(&on_b).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2 * EACH, "no UID given twice");

    let mut c = imap_login(b.imap.unwrap(), "alice").await;
    let select = c.ok("SELECT Busy").await;
    assert!(select.contains(&format!("* {} EXISTS", 2 * EACH)), "{select:?}");
    let fetched = c.ok("UID FETCH 1:* (UID)").await;
    let stored: Vec<u32> = fetched
        .iter()
        .filter_map(|l| l.split("UID ").nth(1)?.trim_end_matches(')').parse().ok())
        .collect();
    assert_eq!(stored, all, "the mailbox holds exactly the acknowledged UIDs, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_database_catches_up_its_idle_sessions() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let a = Server::start(world).await;
    let alice = a.user("alice").await;
    for i in 0..2 {
        a.service()
            .deliver("alice", message(&format!("before {i}")).into(), None)
            .await
            .unwrap();
    }
    let (b, proxy, _dir) = second_node(&a).await;
    let mut watcher = imap_login(b.imap.unwrap(), "alice").await;
    let select = watcher.ok("SELECT INBOX").await;
    assert!(select.contains(&"* 2 EXISTS".to_owned()), "{select:?}");
    idle(&mut watcher).await;

    proxy.cut();
    // While B is cut off, A changes the mailbox in every way.
    let s = a.service();
    for i in 0..3 {
        s.deliver("alice", message(&format!("during {i}")).into(), None)
            .await
            .unwrap();
    }
    let flagged = mailroom_shared::Flags::parse(["\\Flagged"]).unwrap();
    s.store_flags(&alice, "INBOX", &[2], mailroom_shared::FlagOp::Add, &flagged)
        .await
        .unwrap();
    let deleted = mailroom_shared::Flags::parse(["\\Deleted"]).unwrap();
    s.store_flags(&alice, "INBOX", &[1], mailroom_shared::FlagOp::Add, &deleted)
        .await
        .unwrap();
    s.expunge(&alice, "INBOX", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();

    let (lines, took) = until_seen(&mut watcher, &["* 5 EXISTS", "UID 2 FLAGS (\\Flagged", "* 1 EXPUNGE"]).await;
    eprintln!("B caught up {took:?} after its database came back: {lines:?}");
    watcher.send_raw(b"DONE\r\n").await;
    let (_, done) = watcher.until_tagged("idle").await;
    assert!(done.starts_with("OK"), "{done}");
    // The session's view now matches the mailbox: four messages.
    let fetched = watcher.ok("FETCH 1:* (UID)").await;
    assert_eq!(fetched.len(), 4, "{fetched:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_and_lock_outs_hold_on_every_node() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let limit = |o: &mut Options| o.login_failures = (3, Duration::from_secs(600));
    let a = Server::start_with(world, limit).await;
    a.user("alice").await;
    a.user("bob").await;
    let (b, _proxy, _dir) = second_node_with(&a, limit).await;

    // Signed in on A, the same cookie works on B; signed out on B, it
    // works nowhere.
    let mut on_a = Browser::new(a.running.http);
    on_a.sign_in("alice", "pw-alice").await;
    let on_b = Browser {
        addr: b.http,
        cookie: on_a.cookie.clone(),
    };
    assert_eq!(on_b.get("/mail").await.status, 200, "B knows A's sign-in");
    let r = on_b.post_form("/logout", "").await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(on_a.get("/mail").await.status, 303, "signed out everywhere");

    // Failed logins on A lock bob's account on B too.
    for _ in 0..4 {
        let mut c = Client::greeted(Box::new(TcpStream::connect(a.imap).await.unwrap())).await;
        c.fails("LOGIN bob wrong", "NO").await;
    }
    let mut c = Client::greeted(Box::new(TcpStream::connect(b.imap.unwrap()).await.unwrap())).await;
    let refused = c.fails("LOGIN bob pw-bob", "NO").await;
    assert!(refused.contains("[UNAVAILABLE]"), "{refused}");
    let mut pop = Pop::connect(b.pop3.unwrap()).await;
    pop.ok("USER bob").await;
    let refused = pop.err("PASS pw-bob").await;
    assert!(refused.contains("LOGIN-DELAY"), "{refused}");
    // The address the failures came from is locked too, on B as well.
    let mut c = Client::greeted(Box::new(TcpStream::connect(b.imap.unwrap()).await.unwrap())).await;
    let refused = c.fails("LOGIN alice pw-alice", "NO").await;
    assert!(refused.contains("[UNAVAILABLE]"), "{refused}");
}

/// Deliveries on a node keep what they read of the directory: a routing
/// rule or an alias changed on the other node reaches them through the
/// change log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_change_on_one_node_reaches_the_other_nodes_deliveries() {
    let Some(world) = World::new(Backend::Postgres).await else {
        return;
    };
    let a = Server::start(world).await;
    a.user("alice").await;
    let bob = a.user("bob").await;
    let service = &a.world.service;
    let admin = &a.world.admin;
    service.add_alias(admin, "desk", "alice").await.unwrap();
    let (b, _proxy, _dir) = second_node(&a).await;
    let mut lmtp = Lmtp::connect_to(b.lmtp.unwrap()).await;
    // The RCPT's reply, and whether the message then reached bob.
    let mut deliver = async || {
        let before = service.messages(&bob, "INBOX").await.unwrap().1.len();
        assert!(lmtp.command("LHLO test.example").await.starts_with("250"));
        assert!(lmtp.command("MAIL FROM:<x@example.org>").await.starts_with("250"));
        let rcpt = lmtp.command("RCPT TO:<desk@example.com>").await;
        if !rcpt.starts_with("250") {
            lmtp.command("RSET").await;
            return (rcpt, false);
        }
        assert!(lmtp.command("DATA").await.starts_with("354"));
        lmtp.send(format!("{}\r\n.\r\n", message("m")).as_bytes()).await;
        let stored = lmtp.reply().await;
        assert!(stored.starts_with("250"), "{stored}");
        let after = service.messages(&bob, "INBOX").await.unwrap().1.len();
        (rcpt, after > before)
    };
    assert!(!deliver().await.1, "the alias is alice's");
    let rule = service
        .add_routing_rule(admin, "desk@example.com", "bob@example.com", 1)
        .await
        .unwrap();
    let started = Instant::now();
    while !deliver().await.1 {
        assert!(
            started.elapsed() < mailroom_tests::PATIENCE,
            "node B kept the old route"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("routing rule on A → delivery on B: {:?}", started.elapsed());
    service.delete_routing_rule(admin, rule).await.unwrap();
    service.remove_alias(admin, "desk").await.unwrap();
    let started = Instant::now();
    loop {
        let (rcpt, _) = deliver().await;
        if rcpt.starts_with("550") {
            break;
        }
        assert!(
            started.elapsed() < mailroom_tests::PATIENCE,
            "node B kept the deleted alias: {rcpt}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
