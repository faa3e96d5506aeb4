//! The load: deterministic seeded mail, and each measurement as a function
//! of a server's addresses, so both servers get exactly the same.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailroom_tests::net::{Client, Pop};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::servers::DOMAIN;

/// A small deterministic generator (xorshift): the same mail every run.
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Seeded {
        Seeded(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: [&str; 16] = [
    "budget", "meeting", "invoice", "release", "printer", "holiday", "report", "server", "coffee", "quarter", "draft",
    "review", "lunch", "ticket", "deadline", "customer",
];

/// Message `i` for `to`, about `size` bytes, CRLF line ends, ending with
/// the LMTP end-of-data line.
pub fn message(rng: &mut Seeded, to: &str, i: usize, size: usize) -> Vec<u8> {
    let subject: Vec<&str> = (0..4).map(|_| WORDS[rng.below(16) as usize]).collect();
    let mut m = format!(
        "From: sender{}@example.org\r\nTo: {to}@{DOMAIN}\r\nSubject: {} {i}\r\n\
         Date: Fri, 27 Nov 2026 09:30:00 +0000\r\nMessage-ID: <{i}.{}@example.org>\r\n\r\n",
        rng.below(100),
        subject.join(" "),
        rng.next()
    )
    .into_bytes();
    while m.len() < size {
        let line: Vec<&str> = (0..10).map(|_| WORDS[rng.below(16) as usize]).collect();
        m.extend_from_slice(line.join(" ").as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b".\r\n");
    m
}

async fn lmtp_reply(io: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            io.read_line(&mut line).await.expect("read") > 0,
            "LMTP connection closed"
        );
        if line.as_bytes().get(3) == Some(&b' ') {
            return line;
        }
    }
}

/// An LMTP connection, greeted.
async fn lmtp_connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).await.expect("connect LMTP");
    stream.set_nodelay(true).expect("nodelay");
    let mut io = BufReader::new(stream);
    lmtp_reply(&mut io).await;
    io.get_mut().write_all(b"LHLO bench\r\n").await.expect("write");
    lmtp_reply(&mut io).await;
    io
}

/// One LMTP transaction to one recipient; the message ends with ".\r\n".
async fn lmtp_send(io: &mut BufReader<TcpStream>, to: &str, message: &[u8]) {
    let envelope = format!("MAIL FROM:<bench@example.org>\r\nRCPT TO:<{to}@{DOMAIN}>\r\nDATA\r\n");
    io.get_mut().write_all(envelope.as_bytes()).await.expect("write");
    for _ in 0..3 {
        lmtp_reply(io).await;
    }
    io.get_mut().write_all(message).await.expect("write");
    let reply = lmtp_reply(io).await;
    assert!(reply.starts_with("250"), "delivery refused: {reply}");
}

/// Delivers `per_user` seeded messages to each user over LMTP.
pub async fn seed(lmtp: SocketAddr, users: &[String], per_user: usize) {
    let mut io = lmtp_connect(lmtp).await;
    let mut rng = Seeded::new(2026);
    for user in users {
        for i in 0..per_user {
            let size = 1500 + rng.below(4000) as usize;
            lmtp_send(&mut io, user, &message(&mut rng, user, i, size)).await;
        }
    }
}

pub async fn login(addr: SocketAddr, user: &str) -> Client {
    login_from(addr, user, 0).await
}

/// How many connections one loopback source address carries: fewer than
/// its ephemeral ports (28,232 by default).
const PER_SOURCE: usize = 20_000;

/// [`login`] from the `n`th connection's source address: 127.0.0.1 for
/// the first [`PER_SOURCE`], then 127.0.0.2…, so 100,000 connections to
/// one port do not run out of ports.
async fn login_from(addr: SocketAddr, user: &str, n: usize) -> Client {
    let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + (n / PER_SOURCE) as u8);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // Ports the earlier rows' connections left in TIME_WAIT may be taken.
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .expect("bind a loopback source address");
    let tcp = socket.connect(addr).await.expect("connect IMAP");
    tcp.set_nodelay(true).expect("nodelay");
    let mut c = Client::greeted(Box::new(tcp)).await;
    c.ok(&format!("LOGIN {user} pw-{user}")).await;
    c
}

/// Operations per second and latencies of a load.
pub struct Rate {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

fn rate(count: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Rate {
    latencies.sort();
    let at = |p: f64| {
        latencies
            .get(((latencies.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Rate {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// The rate of all operations the tasks timed since `started`.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Vec<Duration>>>, started: Instant) -> Rate {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a load task"));
    }
    rate(all.len(), started.elapsed(), all)
}

/// The IMAP mixed load: each connection repeats SELECT INBOX, FETCH 1:*
/// FLAGS, FETCH one body, STORE a flag, NOOP — each command one operation
/// — for `period`. `shared`: every connection uses the one `shared`
/// mailbox; else connection `i` uses its own user's.
pub async fn imap_mixed(
    imap: SocketAddr,
    users: &[String],
    connections: usize,
    shared: bool,
    period: Duration,
) -> Rate {
    let per_user: Vec<String> = users.iter().filter(|u| *u != "shared").cloned().collect();
    let mut sessions = Vec::new();
    for i in 0..connections {
        let user = if shared {
            "shared".to_owned()
        } else {
            per_user[i % per_user.len()].clone()
        };
        sessions.push(login(imap, &user).await);
    }
    let started = Instant::now();
    let until = started + period;
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                let mut rng = Seeded::new(i as u64 + 7);
                let mut latencies = Vec::new();
                let mut exists = 1;
                while Instant::now() < until {
                    let n = rng.below(exists) + 1;
                    let sign = if rng.below(2) == 0 { '+' } else { '-' };
                    for command in [
                        "SELECT INBOX".to_owned(),
                        "FETCH 1:* (FLAGS)".to_owned(),
                        format!("FETCH {n} (BODY.PEEK[])"),
                        format!("STORE {n} {sign}FLAGS.SILENT (\\Flagged)"),
                        "NOOP".to_owned(),
                    ] {
                        let t = Instant::now();
                        let untagged = c.ok(&command).await;
                        latencies.push(t.elapsed());
                        if let Some(e) = untagged
                            .iter()
                            .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
                        {
                            exists = e;
                        }
                    }
                }
                c.ok("LOGOUT").await;
                latencies
            })
        })
        .collect();
    gather(tasks, started).await
}

/// Makes `owner`'s INBOX a team inbox: `with` may read and change it
/// (Mailroom keeps presence and an activity trail for shared mailboxes).
/// A server without the ACL extension says NO; that is left as it is.
pub async fn share_inbox(imap: SocketAddr, owner: &str, with: &str) {
    let mut c = login(imap, owner).await;
    let _ = c.command(&format!("SETACL INBOX {with} lrswite")).await;
    c.ok("LOGOUT").await;
}

/// STORE after STORE on one message of `user`'s INBOX for `period`, one
/// connection: what a flag change costs, with the activity trail written
/// (a shared INBOX) or not (a private one).
pub async fn store_rate(imap: SocketAddr, user: &str, period: Duration) -> Rate {
    let mut c = login(imap, user).await;
    c.ok("SELECT INBOX").await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut add = true;
    while started.elapsed() < period {
        let sign = if add { '+' } else { '-' };
        add = !add;
        let t = Instant::now();
        c.ok(&format!("STORE 1 {sign}FLAGS.SILENT (\\Flagged)")).await;
        latencies.push(t.elapsed());
    }
    c.ok("LOGOUT").await;
    rate(latencies.len(), started.elapsed(), latencies)
}

/// `sessions` IMAP sessions idle on the `shared` INBOX; one message is
/// delivered over LMTP; the time until every session has seen its EXISTS.
/// Repeated `times` times (the median is reported by the caller).
pub async fn idle_latency(target: (SocketAddr, SocketAddr), sessions: usize, times: usize) -> Vec<Duration> {
    let (imap, lmtp) = target;
    let mut clients = logins(imap, vec!["shared".to_owned(); sessions]).await;
    let mut exists = {
        let status = clients[0].ok("STATUS INBOX (MESSAGES)").await;
        status
            .iter()
            .find_map(|l| l.split("MESSAGES ").nth(1)?.trim_end_matches(')').parse::<usize>().ok())
            .unwrap_or(0)
    };
    for c in &mut clients {
        c.send_raw(b"i IDLE\r\n").await;
        let line = c.line().await.expect("IDLE answered");
        assert!(line.starts_with('+'), "{line}");
    }
    let mut rng = Seeded::new(99);
    let mut io = lmtp_connect(lmtp).await;
    let mut out = Vec::new();
    let clients = Arc::new(tokio::sync::Mutex::new(clients));
    for round in 0..times {
        exists += 1;
        let wanted = format!("* {exists} EXISTS");
        let waiting: Vec<_> = {
            let mut guard = clients.lock().await;
            let taken: Vec<Client> = guard.drain(..).collect();
            taken
                .into_iter()
                .map(|mut c| {
                    let wanted = wanted.clone();
                    tokio::spawn(async move {
                        loop {
                            let line = c.line().await.expect("IDLE session open");
                            if line == wanted {
                                return (c, Instant::now());
                            }
                        }
                    })
                })
                .collect()
        };
        let sent = Instant::now();
        lmtp_send(&mut io, "shared", &message(&mut rng, "shared", 100_000 + round, 2000)).await;
        let mut last = sent;
        let mut back = Vec::new();
        for w in waiting {
            let (c, seen) = w.await.expect("an idle session");
            last = last.max(seen);
            back.push(c);
        }
        out.push(last - sent);
        clients.lock().await.extend(back);
    }
    for mut c in clients.lock().await.drain(..) {
        c.send_raw(b"DONE\r\n").await;
    }
    out
}

/// POP3: `sessions` sessions (one user each) RETR messages for `period`.
pub async fn pop3_retr(pop3: SocketAddr, users: &[String], sessions: usize, per_user: usize, period: Duration) -> Rate {
    let per_user_names: Vec<String> = users.iter().filter(|u| *u != "shared").cloned().collect();
    assert!(sessions <= per_user_names.len(), "one POP3 session per user");
    let mut pops = Vec::new();
    for user in per_user_names.iter().take(sessions) {
        pops.push(Pop::login(pop3, user).await);
    }
    let started = Instant::now();
    let until = started + period;
    let tasks: Vec<_> = pops
        .into_iter()
        .enumerate()
        .map(|(i, mut pop)| {
            tokio::spawn(async move {
                let mut rng = Seeded::new(i as u64 + 11);
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let n = rng.below(per_user as u64) + 1;
                    let t = Instant::now();
                    pop.multi(&format!("RETR {n}")).await;
                    latencies.push(t.elapsed());
                }
                pop.ok("RSET").await;
                pop.ok("QUIT").await;
                latencies
            })
        })
        .collect();
    gather(tasks, started).await
}

/// LMTP: `senders` connections each deliver 10 KB messages to their own
/// user for `period`.
pub async fn lmtp_rate(lmtp: SocketAddr, users: &[String], senders: usize, period: Duration) -> Rate {
    let started = Instant::now();
    let until = started + period;
    let tasks: Vec<_> = (0..senders)
        .map(|i| {
            let user = users[i % users.len()].clone();
            tokio::spawn(async move {
                let mut io = lmtp_connect(lmtp).await;
                let mut rng = Seeded::new(i as u64 + 5);
                let mut latencies = Vec::new();
                let mut n = 0;
                while Instant::now() < until {
                    let m = message(&mut rng, &user, 200_000 + n, 10 * 1024);
                    let t = Instant::now();
                    lmtp_send(&mut io, &user, &m).await;
                    latencies.push(t.elapsed());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    gather(tasks, started).await
}

/// Opens `n` authenticated IMAP connections (users in turn, INBOX
/// selected) and keeps them open; dropping the result closes them.
pub async fn idle_connections(imap: SocketAddr, users: &[String], n: usize) -> Vec<Client> {
    logins(imap, (0..n).map(|i| users[i % users.len()].clone()).collect()).await
}

/// Logs in each of `users` (a few at a time: password hashing is the
/// slow part) and selects the INBOX.
async fn logins(imap: SocketAddr, users: Vec<String>) -> Vec<Client> {
    use futures::StreamExt;
    futures::stream::iter(users.into_iter().enumerate())
        .map(|(n, user)| async move {
            let mut c = login_from(imap, &user, n).await;
            c.ok("SELECT INBOX").await;
            c
        })
        .buffer_unordered(8)
        .collect()
        .await
}
