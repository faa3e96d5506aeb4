//! Gateway benchmarks over real sockets: IMAP mixed operations per second
//! at 1, 10 and 50 connections on one shared mailbox, the time from a
//! change to the IDLE sessions on that mailbox hearing of it, and POP3
//! RETR throughput at 1, 10 and 50 sessions.
//!
//! `cargo bench -p mailroom-tests --bench gateways` (SQLite). Prints a
//! Markdown table for docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use mailroom_shared::Flags;
use mailroom_tests::net::{Client, Pop, Server};
use mailroom_tests::{Backend, World};

const MESSAGES: u32 = 200;
const RUN: Duration = Duration::from_secs(5);

fn message(n: u32) -> Vec<u8> {
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(30);
    format!("From: a@example.org\r\nSubject: bench {n}\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n{body}")
        .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One connection's loop: SELECT, then FETCH FLAGS of all, FETCH a body,
/// STORE a flag, NOOP, round and round until `RUN` is over.
async fn worker(s_imap: std::net::SocketAddr, user: String, seed: u32) -> Vec<Duration> {
    let tcp = tokio::net::TcpStream::connect(s_imap).await.unwrap();
    let mut c = Client::greeted(Box::new(tcp)).await;
    c.ok(&format!("LOGIN {user} pw-{user}")).await;
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut i = seed;
    while start.elapsed() < RUN {
        let n = i % MESSAGES + 1;
        let commands = [
            "SELECT ~owner/Team".to_owned(),
            "FETCH 1:* (FLAGS)".to_owned(),
            format!("FETCH {n} BODY.PEEK[]"),
            format!(
                "STORE {n} {}FLAGS.SILENT (\\Flagged)",
                if i.is_multiple_of(2) { "+" } else { "-" }
            ),
            "NOOP".to_owned(),
        ];
        for command in &commands {
            let t = Instant::now();
            c.ok(command).await;
            latencies.push(t.elapsed());
        }
        i += 7;
    }
    latencies
}

async fn mixed_load(s: &Server, connections: usize) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let mut handles = Vec::new();
    for k in 0..connections {
        handles.push(tokio::spawn(worker(s.imap, format!("user{k}"), k as u32)));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    )
}

/// `sessions` IMAP sessions IDLE on the mailbox; another changes a flag;
/// the time until every one of them has read the FETCH, `rounds` times.
async fn idle_latency(s: &Server, sessions: usize, rounds: usize) -> (Duration, Duration) {
    let mut idlers = Vec::new();
    for k in 0..sessions {
        let user = format!("user{}", k % 50);
        let tcp = tokio::net::TcpStream::connect(s.imap).await.unwrap();
        let mut c = Client::greeted(Box::new(tcp)).await;
        c.ok(&format!("LOGIN {user} pw-{user}")).await;
        c.ok("SELECT ~owner/Team").await;
        c.send_raw(b"idle IDLE\r\n").await;
        let plus = c.line().await.unwrap();
        assert!(plus.starts_with('+'), "{plus}");
        idlers.push(c);
    }
    let mut writer = s.login("owner").await;
    writer.ok("SELECT Team").await;
    let mut times = Vec::new();
    for round in 0..rounds {
        let op = if round.is_multiple_of(2) { "+" } else { "-" };
        let sent = Instant::now();
        writer.ok(&format!("STORE 1 {op}FLAGS.SILENT (\\Answered)")).await;
        let mut waits = Vec::new();
        for c in idlers.iter_mut() {
            waits.push(async move {
                loop {
                    let line = c.line().await.unwrap();
                    if line.contains("FETCH") {
                        return;
                    }
                }
            });
        }
        futures::future::join_all(waits).await;
        times.push(sent.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// `sessions` POP3 sessions, each its own user with `MESSAGES` messages,
/// RETR round and round for `RUN`: (messages/s, MB/s, p50, p99).
async fn pop3_retr(s: &Server, sessions: usize) -> (f64, f64, Duration, Duration) {
    let started = Instant::now();
    let mut handles = Vec::new();
    for k in 0..sessions {
        let addr = s.pop3;
        handles.push(tokio::spawn(async move {
            let mut pop = Pop::login(addr, &format!("user{k}")).await;
            let (mut times, mut bytes) = (Vec::new(), 0usize);
            let start = Instant::now();
            let mut n = k as u32;
            while start.elapsed() < RUN {
                let t = Instant::now();
                let (_, data) = pop.multi(&format!("RETR {}", n % MESSAGES + 1)).await;
                times.push(t.elapsed());
                bytes += data.len();
                n += 1;
            }
            pop.ok("QUIT").await;
            (times, bytes)
        }));
    }
    let (mut all, mut bytes) = (Vec::new(), 0);
    for h in handles {
        let (times, b) = h.await.unwrap();
        all.extend(times);
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len() as f64 / secs,
        bytes as f64 / secs / 1e6,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    )
}

#[tokio::main]
async fn main() {
    let world = World::new(Backend::Sqlite).await.unwrap();
    let s = Server::start_with(world, |o| {
        o.connections_per_ip = 10_000;
        o.connections_per_account = 1_000;
    })
    .await;
    let owner = s.user("owner").await;
    s.service().create_mailbox(&owner, "Team").await.unwrap();
    for n in 0..MESSAGES {
        s.service()
            .append(&owner, "Team", message(n), &Flags::default(), None)
            .await
            .unwrap();
    }
    for k in 0..50 {
        let user = s.user(&format!("user{k}")).await;
        for n in 0..MESSAGES {
            s.service()
                .append(&user, "INBOX", message(n), &Flags::default(), None)
                .await
                .unwrap();
        }
        s.service()
            .set_acl(&owner, "Team", &format!("user{k}"), "lrswite")
            .await
            .unwrap();
    }
    println!("| what | result |");
    println!("|---|---|");
    for connections in [1, 10, 50] {
        let (ops, p50, p99) = mixed_load(&s, connections).await;
        println!(
            "| IMAP mixed load, {connections} connection(s), one shared mailbox of {MESSAGES} | {ops:.0} ops/s, p50 {}, p99 {} |",
            ms(p50),
            ms(p99)
        );
    }
    for sessions in [1, 10, 50] {
        let (per_s, mb, p50, p99) = pop3_retr(&s, sessions).await;
        println!(
            "| POP3 RETR, {sessions} session(s), messages of {} bytes | {per_s:.0} messages/s ({mb:.1} MB/s), p50 {}, p99 {} |",
            message(0).len(),
            ms(p50),
            ms(p99)
        );
    }
    for sessions in [1, 100] {
        let (p50, p99) = idle_latency(&s, sessions, 20).await;
        println!(
            "| change → all of {sessions} IDLE session(s) notified | median {}, p99 {} |",
            ms(p50),
            ms(p99)
        );
    }
}
