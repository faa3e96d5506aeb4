//! LMTP delivery rate: messages of 10 KB and 1 MB delivered by 1 and 10
//! concurrent senders (each its own connection, one message per
//! transaction) to the real server, each acknowledged with `250` only
//! once it is on disk.
//!
//! `cargo bench -p mailroom-tests --bench lmtp` — SQLite, and PostgreSQL
//! too when MAILROOM_TEST_POSTGRES is set. Prints a Markdown table for
//! docs/BENCHMARKS.md.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long each measurement delivers for.
const PERIOD: Duration = Duration::from_secs(5);

async fn reply(io: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(io.read_line(&mut line).await.unwrap() > 0, "connection closed");
        if line.as_bytes().get(3) == Some(&b' ') {
            return line;
        }
    }
}

/// One sender: delivers `message` until the period is over; returns how
/// many were acknowledged. Each copy gets a header of its own, so each is
/// new content to store, summarize and index, as real mail is (the same
/// bytes again would be stored once).
async fn sender(lmtp: SocketAddr, id: usize, message: std::sync::Arc<Vec<u8>>, until: Instant) -> u32 {
    let stream = TcpStream::connect(lmtp).await.unwrap();
    // As an MTA does: no Nagle delay on the small commands.
    stream.set_nodelay(true).unwrap();
    let mut io = BufReader::new(stream);
    reply(&mut io).await;
    io.get_mut().write_all(b"LHLO bench\r\n").await.unwrap();
    reply(&mut io).await;
    let mut n = 0;
    while Instant::now() < until {
        io.get_mut()
            .write_all(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
            .await
            .unwrap();
        for _ in 0..3 {
            reply(&mut io).await;
        }
        let header = format!("X-Bench: {id} {n}\r\n");
        io.get_mut().write_all(header.as_bytes()).await.unwrap();
        io.get_mut().write_all(&message).await.unwrap();
        assert!(reply(&mut io).await.starts_with("250"));
        n += 1;
    }
    n
}

fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: s@example.org\r\nTo: alice@example.com\r\nSubject: bench\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b".\r\n"); // the end of DATA, sent with it
    m
}

async fn bench(backend: Backend) {
    let Some(world) = World::new(backend).await else {
        return;
    };
    let server = Server::start(world).await;
    server.user("alice").await;
    let name = format!("{backend:?}");
    for (label, size) in [("10 KB", 10 * 1024), ("1 MB", 1024 * 1024)] {
        let message = std::sync::Arc::new(message(size));
        for senders in [1, 10] {
            let start = Instant::now();
            let until = start + PERIOD;
            let tasks: Vec<_> = (0..senders)
                .map(|id| tokio::spawn(sender(server.lmtp, id, message.clone(), until)))
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            let rate = f64::from(total) / start.elapsed().as_secs_f64();
            println!("| {name} | {label} | {senders} | {rate:.0} |");
        }
    }
}

#[tokio::main]
async fn main() {
    println!("LMTP deliveries per second ({} s each):\n", PERIOD.as_secs());
    println!("| store | message | senders | deliveries/s |");
    println!("|---|---|---|---|");
    bench(Backend::Sqlite).await;
    bench(Backend::Postgres).await;
}
