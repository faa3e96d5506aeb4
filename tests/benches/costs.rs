//! What one operation costs the server: database statements (each a round
//! trip to PostgreSQL, a call into SQLite) and CPU time, per IMAP command,
//! per delivery and per web page. The inputs of docs/SCALING.md's
//! capacity model.
//!
//! `cargo bench -p mailroom-tests --bench costs` — SQLite, and PostgreSQL
//! too when MAILROOM_TEST_POSTGRES is set. Statements are counted from
//! sqlx's own log events (one per statement run); CPU is the process's
//! user and system time, client included (it is on the same loopback,
//! and small: it writes a command and reads lines).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use mailroom_shared::Flags;
use mailroom_tests::http::Browser;
use mailroom_tests::net::{Lmtp, Server};
use mailroom_tests::{Backend, World};
use tracing_subscriber::layer::SubscriberExt;

/// sqlx's statement events seen so far.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The CPU time of the process's threads so far, in microseconds: the
/// sum of each thread's `schedstat` (nanoseconds; `/proc/self/stat`
/// counts in 10 ms ticks, too coarse for operations of 100 µs).
fn cpu_us() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns / 1000
}

const N: u64 = 400;

/// Statements, CPU and wall time from its start to its report.
struct Meter {
    statements: u64,
    cpu: u64,
    wall: Instant,
}

impl Meter {
    fn start() -> Meter {
        Meter {
            statements: STATEMENTS.load(Ordering::Relaxed),
            cpu: cpu_us(),
            wall: Instant::now(),
        }
    }

    /// Prints the costs of one of the N operations run since the start.
    fn report(self, store: &str, what: &str) {
        let statements = STATEMENTS.load(Ordering::Relaxed) - self.statements;
        let cpu = cpu_us() - self.cpu;
        println!(
            "| {store} | {what} | {:.1} | {:.0} µs | {:.0} µs |",
            statements as f64 / N as f64,
            cpu as f64 / N as f64,
            self.wall.elapsed().as_secs_f64() * 1e6 / N as f64
        );
    }
}

fn message(n: u64) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: Cost {n}\r\nMessage-ID: <{n}@costs>\r\n\r\n{}\r\n",
        "A line of text of a short message, as most are.\r\n".repeat(40)
    )
    .into_bytes()
}

async fn bench(backend: Backend) {
    let Some(world) = World::new(backend).await else {
        return;
    };
    let store = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let alice = world.user("alice").await;
    for n in 0..200 {
        world
            .service
            .append(&alice, "INBOX", message(n), &Flags::default(), None)
            .await
            .unwrap();
    }
    let server = Server::start(world).await;
    let s = server.service();

    // Each operation once before its meter starts: caches, prepared
    // statements.
    s.deliver("alice", message(999), Some("bob@example.org")).await.unwrap();
    let meter = Meter::start();
    for n in 1..=N {
        s.deliver("alice", message(1000 + n), Some("bob@example.org"))
            .await
            .unwrap();
    }
    meter.report(store, "delivery (service, one recipient)");

    let mut lmtp = Lmtp::connect(&server).await;
    lmtp.send(b"LHLO bench\r\n").await;
    lmtp.reply().await;
    let mut meter = Meter::start();
    for n in 0..=N {
        if n == 1 {
            meter = Meter::start();
        }
        lmtp.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
            .await;
        for _ in 0..3 {
            lmtp.reply().await;
        }
        let mut body = message(5000 + n);
        body.extend_from_slice(b".\r\n");
        lmtp.send(&body).await;
        assert!(lmtp.reply().await.starts_with("250"));
    }
    meter.report(store, "delivery over LMTP (one transaction)");

    let mut imap = server.login("alice").await;
    imap.ok("SELECT INBOX").await;
    for (what, command) in [
        ("IMAP NOOP", "NOOP"),
        ("IMAP SELECT (about 1,000 messages)", "SELECT INBOX"),
        ("IMAP FETCH 1 BODY.PEEK[]", "FETCH 1 BODY.PEEK[]"),
        ("IMAP UID FETCH 1:* (FLAGS) (about 1,000)", "UID FETCH 1:* (FLAGS)"),
        (
            "IMAP STORE +FLAGS or -FLAGS (\\Flagged)",
            "STORE 1 +FLAGS.SILENT (\\Flagged)",
        ),
        ("IMAP UID SEARCH UNSEEN", "UID SEARCH UNSEEN"),
    ] {
        let mut meter = Meter::start();
        for n in 0..=N {
            if n == 1 {
                meter = Meter::start();
            }
            // STORE sets and clears in turn, so each changes something.
            let command = match n % 2 {
                1 => command.replace('+', "-"),
                _ => command.to_owned(),
            };
            imap.ok(&command).await;
        }
        meter.report(store, what);
    }
    let mut browser = Browser::new(server.running.http);
    browser.sign_in("alice", "pw-alice").await;
    let mut meter = Meter::start();
    for n in 0..=N {
        if n == 1 {
            meter = Meter::start();
        }
        assert_eq!(browser.get("/mail?box=INBOX").await.status, 200);
    }
    meter.report(store, "web: the INBOX page (whole HTML)");
    let mut meter = Meter::start();
    for n in 0..=N {
        if n == 1 {
            meter = Meter::start();
        }
        let uid = 1 + n % 200;
        assert_eq!(browser.get(&format!("/mail?box=INBOX&uid={uid}")).await.status, 200);
    }
    meter.report(store, "web: a message opened (whole HTML)");
}

#[tokio::main]
async fn main() {
    // Every statement sqlx runs is an event of target sqlx::query (at
    // DEBUG): counted, not printed.
    let filter = tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE);
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(CountStatements, filter));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    println!("Per operation, mean of {N} (after one to warm up):\n");
    println!("| store | operation | statements | CPU (server and client) | wall |");
    println!("|---|---|---|---|---|");
    bench(Backend::Sqlite).await;
    bench(Backend::Postgres).await;
}
