//! The web interface on a large mailbox: the time to render the first
//! page of a 100,000-message INBOX (the service call, and the whole
//! server-rendered page over HTTP), a deep page, and searches.
//!
//! `cargo bench -p mailroom-tests --bench web` — SQLite, and PostgreSQL
//! too when MAILROOM_TEST_POSTGRES is set. MAILROOM_BENCH_MESSAGES
//! changes the size. Prints a Markdown table for docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use mailroom::service::Incoming;
use mailroom_shared::Flags;
use mailroom_shared::dto::{PageAt, SortKey};
use mailroom_tests::http::Browser;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World};

const WORDS: &[&str] = &[
    "meeting", "report", "invoice", "holiday", "project", "deadline", "coffee", "review", "release", "customer",
    "support", "ticket", "garden", "weekly", "numbers", "travel", "office", "printer", "lunch", "draft",
];
const RUNS: usize = 20;

/// Message `n` of the seeded mailbox: varied senders, subjects and text;
/// "budget" in one message of ten, "zeppelin" in exactly one.
fn message(n: u32) -> Vec<u8> {
    let w = |k: u32| WORDS[((n.wrapping_mul(2_654_435_761) >> k) % WORDS.len() as u32) as usize];
    let mut body = format!("Hello,\r\n\r\nabout the {} {} and the {}: ", w(3), w(7), w(11));
    body.push_str(&"see the notes below for the details of this week. ".repeat(8));
    if n.is_multiple_of(10) {
        body.push_str("The budget needs another look. ");
    }
    if n == 77_777 {
        body.push_str("Bring the zeppelin. ");
    }
    format!(
        "From: Sender {} <sender{}@example.org>\r\nTo: alice@example.com\r\nSubject: {} {} #{n}\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{n}@bench.example>\r\n\r\n{body}\r\n",
        n % 500,
        n % 500,
        w(5),
        w(13)
    )
    .into_bytes()
}

async fn seed(world: &World, count: u32) {
    let alice = world.user("alice").await;
    let start = Instant::now();
    let mut n = 0;
    while n < count {
        let batch: Vec<Incoming> = (n..(n + 1000).min(count))
            .map(|i| Incoming {
                content: message(i),
                flags: if i % 3 == 0 {
                    Flags::default()
                } else {
                    Flags::parse(["\\Seen"]).unwrap()
                },
                internal_date: Some(1_790_000_000 + i64::from(i) * 60),
                envelope_from: None,
            })
            .collect();
        n += batch.len() as u32;
        world.service.import(&alice, "INBOX", batch).await.unwrap();
    }
    eprintln!("seeded {count} messages in {:.0} s", start.elapsed().as_secs_f64());
}

/// The median of `RUNS` timings of `f`.
async fn median<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[RUNS / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn bench(backend: Backend, count: u32) {
    let Some(world) = World::new(backend).await else {
        return;
    };
    seed(&world, count).await;
    let server = Server::start(world).await;
    let s = server.service();
    let alice = s
        .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
        .await
        .unwrap();
    let name = format!("{backend:?}");
    let row = |what: &str, d: Duration| println!("| {name} | {what} | {} |", ms(d));

    row(
        "first page (50, newest first): service",
        median(|| async {
            let p = s
                .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, None)
                .await
                .unwrap();
            assert_eq!(p.total, count);
        })
        .await,
    );
    let mut browser = Browser::new(server.running.http);
    browser.sign_in("alice", "pw-alice").await;
    row(
        "first page: whole server-rendered HTML page over HTTP",
        median(|| async {
            let r = browser.get("/mail?box=INBOX").await;
            assert!(r.status == 200 && r.body.contains("msg-row"));
        })
        .await,
    );
    row(
        "page 1,000 (offset 50,000): service",
        median(|| async {
            s.page(
                &alice,
                "INBOX",
                SortKey::Date,
                PageAt::at(50_000.min(count / 2)),
                50,
                None,
            )
            .await
            .unwrap();
        })
        .await,
    );
    row(
        "first page sorted by sender: service",
        median(|| async {
            s.page(&alice, "INBOX", SortKey::Sender, PageAt::at(0), 50, None)
                .await
                .unwrap();
        })
        .await,
    );
    row(
        "search a word in one message (\"zeppelin\")",
        median(|| async {
            let p = s
                .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("zeppelin"))
                .await
                .unwrap();
            assert_eq!(p.total, u32::from(count > 77_777));
        })
        .await,
    );
    row(
        "search a word in 10% (\"budget\"), first page and count",
        median(|| async {
            let p = s
                .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some("budget"))
                .await
                .unwrap();
            assert_eq!(p.total, count.div_ceil(10));
        })
        .await,
    );
    row(
        "search over HTTP: whole page (\"zeppelin\")",
        median(|| async {
            assert_eq!(browser.get("/mail?box=INBOX&q=zeppelin").await.status, 200);
        })
        .await,
    );
    row(
        "folder tree with counts",
        median(|| async {
            s.folders(&alice).await.unwrap();
        })
        .await,
    );
}

#[tokio::main]
async fn main() {
    let count = std::env::var("MAILROOM_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    println!("Web, INBOX of {count} messages, median of {RUNS} runs:\n");
    println!("| store | what | time |");
    println!("|---|---|---|");
    bench(Backend::Sqlite, count).await;
    bench(Backend::Postgres, count).await;
}
