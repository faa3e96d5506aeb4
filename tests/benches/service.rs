//! Mailbox-service benchmarks: APPEND throughput, listing a large mailbox,
//! and how long a change takes to reach a watcher — in the same process,
//! and from another process on the same database (the change-log poll).
//!
//! `cargo bench -p mailroom-tests` (SQLite; PostgreSQL too when
//! MAILROOM_TEST_POSTGRES names a server). Prints a Markdown table.

use std::time::{Duration, Instant};

use mailroom::Service;
use mailroom_shared::Flags;
use mailroom_tests::{Backend, World, postgres_url};

fn message(n: usize) -> Vec<u8> {
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(30);
    format!("From: a@example.org\r\nSubject: bench {n}\r\n\r\n{body}\r\n").into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn appends_per_second(w: &World, tasks: usize, per_task: usize) -> f64 {
    let p = w.user(&format!("append{tasks}")).await;
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (service, p) = (w.service.clone(), p.clone());
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                service
                    .append(&p, "INBOX", message(t * per_task + i), &Flags::default(), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    (tasks * per_task) as f64 / start.elapsed().as_secs_f64()
}

/// Time from the end of an APPEND on `writer` to the watcher on `reader`
/// receiving it, `rounds` times: (median, p99).
async fn notify_latency(w: &World, reader: &Service, writer: &Service, rounds: usize) -> (Duration, Duration) {
    let name = format!("watch{}", rand_suffix());
    let p = w.user(&name).await;
    let (mut watch, _) = reader.watch(&p, "INBOX").await.unwrap();
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        writer
            .append(&p, "INBOX", message(i), &Flags::default(), None)
            .await
            .unwrap();
        let sent = Instant::now();
        watch.next().await.unwrap();
        times.push(sent.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn list_time(w: &World, count: usize) -> Duration {
    let p = w.user("big").await;
    let batch: Vec<_> = (0..count)
        .map(|i| mailroom::service::Incoming {
            content: message(i),
            flags: Flags::default(),
            internal_date: Some(0),
            envelope_from: None,
        })
        .collect();
    w.service.import(&p, "INBOX", batch).await.unwrap();
    let start = Instant::now();
    let (_, rows) = w.service.messages(&p, "INBOX").await.unwrap();
    assert_eq!(rows.len(), count);
    start.elapsed()
}

async fn bench(backend: Backend) {
    let w = World::new(backend).await.unwrap();
    let other = w.db.service().await;
    let one = appends_per_second(&w, 1, 1000).await;
    let ten = appends_per_second(&w, 10, 200).await;
    let (local50, local99) = notify_latency(&w, &w.service, &w.service, 200).await;
    let (remote50, remote99) = notify_latency(&w, &w.service, &other, 50).await;
    let list = list_time(&w, 10_000).await;
    let name = format!("{backend:?}");
    println!("| {name} | APPEND, 1 writer | {one:.0} messages/s |");
    println!("| {name} | APPEND, 10 writers, one mailbox | {ten:.0} messages/s |");
    println!(
        "| {name} | change → watcher, same process | median {}, p99 {} |",
        ms(local50),
        ms(local99)
    );
    println!(
        "| {name} | change → watcher, other store handle (as a CLI process) | median {}, p99 {} |",
        ms(remote50),
        ms(remote99)
    );
    println!("| {name} | list 10,000 messages (UID, flags, size) | {} |", ms(list));
}

#[tokio::main]
async fn main() {
    println!("| store | what | result |\n|---|---|---|");
    bench(Backend::Sqlite).await;
    if postgres_url().is_some() {
        bench(Backend::Postgres).await;
    }
}
