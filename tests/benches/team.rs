//! What the activity trail costs: flag changes per second in a private
//! mailbox (no trail) and in a shared one (each change written to the
//! trail), one writer, through the service; and how long the trail's
//! writer takes to have all of them on the Activity page.
//!
//! `cargo bench -p mailroom-tests --bench team` (SQLite; PostgreSQL too
//! when MAILROOM_TEST_POSTGRES names a server). Prints a Markdown table.

use std::time::{Duration, Instant};

use mailroom::{Principal, Service};
use mailroom_shared::team::{ActivityFilter, What};
use mailroom_shared::{FlagOp, Flags, SystemFlag};
use mailroom_tests::{Backend, World, postgres_url};

const CHANGES: usize = 3000;

fn message() -> Vec<u8> {
    b"From: a@example.org\r\nSubject: bench\r\n\r\nbody\r\n".to_vec()
}

/// `CHANGES` flag changes on one message, alternately on and off.
async fn changes_per_second(s: &Service, p: &Principal, mailbox: &str) -> f64 {
    let flagged = Flags::from(SystemFlag::Flagged);
    let start = Instant::now();
    for i in 0..CHANGES {
        let op = if i % 2 == 0 { FlagOp::Add } else { FlagOp::Remove };
        s.store_flags(p, mailbox, &[1], op, &flagged).await.unwrap();
    }
    CHANGES as f64 / start.elapsed().as_secs_f64()
}

/// How long after the last change the trail holds all of them.
async fn trail_settles(s: &Service, p: &Principal, mailbox: &str) -> Duration {
    let start = Instant::now();
    let flagged = ActivityFilter {
        what: What::Flagged.code().into(),
        ..ActivityFilter::default()
    };
    loop {
        // A page holds at most 100: count the newest by id instead.
        let page = s.activity(p, mailbox, flagged.clone()).await.unwrap();
        let newest = page.entries.first().map(|a| a.id).unwrap_or(0);
        let all = s.export_activity(p, mailbox, true).await.unwrap();
        let n = all.matches("\"what\": \"Flagged\"").count() + all.matches("\"what\": \"Unflagged\"").count();
        // The warm-up round wrote as many.
        if n >= 2 * CHANGES && newest > 0 {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run(backend: Backend) -> Vec<(String, String)> {
    let w = World::new(backend).await.expect("a database");
    let alice = w.user("alice").await;
    w.user("bob").await;
    let s = &w.service;
    s.create_mailbox(&alice, "Private").await.unwrap();
    s.create_mailbox(&alice, "Team").await.unwrap();
    s.set_acl(&alice, "Team", "bob", "lrsw").await.unwrap();
    for mailbox in ["Private", "Team"] {
        s.append(&alice, mailbox, message(), &Flags::default(), None)
            .await
            .unwrap();
    }
    // Warm up both (connections, caches).
    changes_per_second(s, &alice, "Private").await;
    changes_per_second(s, &alice, "Team").await;
    let private = changes_per_second(s, &alice, "Private").await;
    let shared = changes_per_second(s, &alice, "Team").await;
    let settle = trail_settles(s, &alice, "Team").await;
    let cost_us = (1.0 / shared - 1.0 / private) * 1e6;
    vec![
        (
            "flag changes, private mailbox (no trail)".into(),
            format!("{private:.0}/s"),
        ),
        (
            "flag changes, shared mailbox (trail written)".into(),
            format!("{shared:.0}/s"),
        ),
        (
            "trail cost per change (difference of the two)".into(),
            format!("{cost_us:.1} µs"),
        ),
        (
            "last change → all on the Activity page".into(),
            format!("{:.1} ms", settle.as_secs_f64() * 1e3),
        ),
    ]
}

#[tokio::main]
async fn main() {
    println!("| store | what | result |\n|---|---|---|");
    let mut backends = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        for (what, result) in run(backend).await {
            println!("| {backend:?} | {what} | {result} |");
        }
    }
}
