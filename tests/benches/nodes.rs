//! Two nodes on one PostgreSQL: how long a change made on node B takes to
//! reach an IMAP session idling on node A (and, for comparison, one made
//! on A itself), and the APPEND rate into one shared mailbox with the
//! connections on one node or spread over two.
//!
//! `cargo bench -p mailroom-tests --bench nodes` with MAILROOM_TEST_POSTGRES
//! set (it needs PostgreSQL). Both nodes run in this one process, on this
//! machine's cores: the two-node rows show the protocol's cost and the
//! database's locking, not more hardware. Prints Markdown for
//! docs/BENCHMARKS.md.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailroom::Service;
use mailroom_shared::Flags;
use mailroom_tests::net::{Client, Server, start_node};
use mailroom_tests::{Backend, World};
use tokio::net::TcpStream;

const SAMPLES: usize = 200;
/// How long each APPEND measurement runs.
const PERIOD: Duration = Duration::from_secs(5);

async fn login(addr: SocketAddr) -> Client {
    let mut c = Client::greeted(Box::new(TcpStream::connect(addr).await.unwrap())).await;
    c.ok("LOGIN alice pw-alice").await;
    c
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: bench@example.org\r\nSubject: message {i}\r\n\r\n{}\r\n",
        "A line of text for the body of the message.\r\n".repeat(40)
    )
    .into_bytes()
}

/// Appends through `writer` while `watcher` idles on the same mailbox;
/// returns the time from the APPEND's start to the idle session's EXISTS.
async fn latencies(writer: &Service, p: &mailroom::Principal, watcher: SocketAddr) -> Vec<Duration> {
    let mut idle = login(watcher).await;
    let select = idle.ok("SELECT INBOX").await;
    let mut exists: usize = select
        .iter()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .unwrap();
    idle.send_raw(b"i IDLE\r\n").await;
    assert!(idle.line().await.unwrap().starts_with('+'));
    let mut out = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let started = Instant::now();
        writer
            .append(p, "INBOX", message(i), &Flags::default(), None)
            .await
            .unwrap();
        exists += 1;
        let wanted = format!("* {exists} EXISTS");
        while idle.line().await.unwrap() != wanted {}
        out.push(started.elapsed());
    }
    idle.send_raw(b"DONE\r\n").await;
    idle.until_tagged("i").await;
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `connections` IMAP sessions, spread round-robin over `nodes`, APPEND
/// into one mailbox for the period; returns APPENDs per second.
async fn append_rate(nodes: &[SocketAddr], connections: usize) -> f64 {
    let started = Instant::now();
    let until = started + PERIOD;
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let addr = nodes[i % nodes.len()];
            tokio::spawn(async move {
                let mut c = login(addr).await;
                let mut n = 0u32;
                while Instant::now() < until {
                    let m = String::from_utf8(message(n as usize)).unwrap();
                    c.ok(&format!("APPEND Busy {{{}+}}\r\n{m}", m.len())).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    f64::from(total) / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let Some(world) = World::new(Backend::Postgres).await else {
        eprintln!("this bench needs PostgreSQL: set MAILROOM_TEST_POSTGRES");
        return;
    };
    let a = Server::start(world).await;
    let alice = a.user("alice").await;
    a.service().create_mailbox(&alice, "Busy").await.unwrap();
    let (b, _dir) = start_node(&a.world.db.url, |_| {}).await;
    let b_alice = b
        .service
        .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
        .await
        .unwrap();

    println!("Change → IDLE notification, {SAMPLES} APPENDs, PostgreSQL:\n");
    println!("| change made on | median | p99 |");
    println!("|---|---|---|");
    for (label, service, p) in [
        ("the same node", a.service(), &alice),
        ("the other node", &b.service, &b_alice),
    ] {
        let mut l = latencies(service, p, a.imap).await;
        l.sort();
        println!(
            "| {label} | {:.2} ms | {:.2} ms |",
            percentile(&l, 0.5).as_secs_f64() * 1e3,
            percentile(&l, 0.99).as_secs_f64() * 1e3
        );
    }

    println!(
        "\nIMAP APPEND into one shared mailbox, 2 KB messages, {} s each:\n",
        PERIOD.as_secs()
    );
    println!("| nodes | connections | APPENDs/s |");
    println!("|---|---|---|");
    let b_imap = b.imap.unwrap();
    for connections in [1, 10] {
        for nodes in [vec![a.imap], vec![a.imap, b_imap]] {
            if connections == 1 && nodes.len() == 2 {
                continue;
            }
            let rate = append_rate(&nodes, connections).await;
            println!("| {} | {connections} | {rate:.0} |", nodes.len());
        }
    }
}
