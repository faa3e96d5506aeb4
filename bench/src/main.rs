//! `mailroom-bench`: Mailroom and Dovecot side by side on this machine.
//! Starts a throwaway instance of each — Mailroom twice, on SQLite and
//! (given a PostgreSQL server) on PostgreSQL — with the same users, seeds
//! them with the same deterministic mail over LMTP, then runs every
//! measurement on one after the other, turning the order each round so
//! that machine noise falls on all; reports medians and the ratios to
//! Dovecot as a Markdown table, and writes it into docs/BENCHMARKS.md
//! (a `--quick` run into `target/bench-quick.md`).
//!
//! Run through `bench/run`, which installs Dovecot and builds the release
//! binary first.

mod load;
mod servers;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use servers::{Target, memory_kib, memory_parts, start_dovecot, start_mailroom, users};

#[derive(Parser)]
struct Args {
    /// The Mailroom binary to measure (a release build).
    #[arg(long, default_value = "target/release/mailroom")]
    mailroom: PathBuf,
    /// Rounds of each measurement per server.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds each throughput measurement runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Fewer rounds, shorter runs, smaller connection counts: a check that
    /// the harness works, not numbers to publish.
    #[arg(long)]
    quick: bool,
    /// Where the table goes (between the side-by-side markers). A quick
    /// run's one-round numbers are not to publish: without `--out` they go
    /// to a scratch file, `target/bench-quick.md`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A Markdown table of Mailroom's web latencies to include (made by
    /// `cargo bench --bench web`).
    #[arg(long)]
    web_table: Option<PathBuf>,
    /// Only these groups of rows (imap, trail, idle, pop3, lmtp, memory,
    /// many), for profiling one of them; the table is printed, docs/ left
    /// alone.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Leave these groups of rows out (the table is still written).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// A PostgreSQL server (the URL of a database to connect to) on which
    /// a scratch database is made for a second Mailroom; without it,
    /// Mailroom runs on SQLite only.
    #[arg(long, env = "MAILROOM_BENCH_POSTGRES")]
    postgres: Option<String>,
}

impl Args {
    fn wants(&self, group: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|g| g == group)) && !self.skip.iter().any(|g| g == group)
    }
}

/// Whether a larger number is better.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

/// One row of the table: its name, its unit, and the samples per server
/// (in the order of the servers; Dovecot last).
struct Row {
    name: String,
    unit: &'static str,
    better: Better,
    samples: Vec<Vec<f64>>,
}

impl Row {
    fn new(name: String, unit: &'static str, better: Better) -> Row {
        Row {
            name,
            unit,
            better,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, server: usize, sample: f64) {
        if self.samples.len() <= server {
            self.samples.resize(server + 1, Vec::new());
        }
        self.samples[server].push(sample);
    }

    fn median(&self, i: usize) -> f64 {
        let mut s = self.samples.get(i).cloned().unwrap_or_default();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
    }

    /// How many times better server `i` is than `other` (above 1: `i`
    /// wins).
    fn advantage(&self, i: usize, other: usize) -> f64 {
        let (m, d) = (self.median(i), self.median(other));
        match self.better {
            Better::Higher => m / d,
            Better::Lower => d / m,
        }
    }
}

const PER_USER_MAIL: usize = 200;

/// Where a full run's table is published.
const PUBLISHED_TABLE: &str = "docs/BENCHMARKS.md";
/// Where a quick run's table goes instead.
const QUICK_TABLE: &str = "target/bench-quick.md";
const USERS: usize = 50;
/// How long the servers settle before memory at rest is read again.
const SETTLE_SECONDS: u64 = 30;

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.rounds = 1;
        args.seconds = 2;
    }
    let period = Duration::from_secs(args.seconds);
    let per_user = if args.quick { 40 } else { PER_USER_MAIL };
    let dir = tempfile::tempdir().expect("a scratch directory");
    let users = users(USERS);
    eprintln!("starting Mailroom and Dovecot with {} users…", users.len());
    // Kept until the end: dropping it drops the database.
    let postgres = match &args.postgres {
        Some(server) => Some(mailroom_tests::TestDb::scratch_on(server).await),
        None => None,
    };
    let mut targets = vec![start_mailroom(&args.mailroom, dir.path(), &users, None)];
    if let Some(db) = &postgres {
        targets.push(start_mailroom(&args.mailroom, dir.path(), &users, Some(&db.url)));
    }
    targets.push(start_dovecot(dir.path(), &users));
    for t in &targets {
        eprintln!("seeding {} with {per_user} messages per user…", t.name);
        load::seed(t.lmtp, &users, per_user).await;
    }
    let fresh: Vec<u64> = targets.iter().map(memory_kib).collect();
    for t in &targets {
        eprintln!("  {} after seeding: {}", t.name, memory_parts(t));
    }

    // The shared INBOX is shared for real (an ACL entry for another user):
    // Mailroom writes its activity trail and shows who is present there.
    for t in &targets {
        load::share_inbox(t.imap, "shared", &users[0]).await;
    }

    let mut rows = Vec::new();
    let connections: &[usize] = if args.quick { &[1, 10] } else { &[1, 10, 50] };
    for &shared in &[true, false] {
        for &n in connections.iter().filter(|_| args.wants("imap")) {
            let place = if shared {
                "one shared mailbox"
            } else {
                "a mailbox per user"
            };
            let mut ops = Row::new(format!("IMAP mixed, {n} conn., {place}"), "ops/s", Better::Higher);
            let mut p50 = Row::new(format!("… p50 latency, {n} conn., {place}"), "ms", Better::Lower);
            let mut p99 = Row::new(format!("… p99 latency, {n} conn., {place}"), "ms", Better::Lower);
            for_each_turn(&targets, args.rounds, async |i, t| {
                let r = load::imap_mixed(t.imap, &users, n, shared, period).await;
                ops.push(i, r.per_second);
                p50.push(i, ms(r.p50));
                p99.push(i, ms(r.p99));
            })
            .await;
            progress(&ops, "ops/s");
            rows.extend([ops, p50, p99]);
        }
    }
    for (user, place) in [
        (users[0].as_str(), "a private INBOX"),
        ("shared", "a shared INBOX (trail written)"),
    ]
    .into_iter()
    .filter(|_| args.wants("trail"))
    {
        let mut row = Row::new(format!("IMAP STORE, 1 conn., {place}"), "ops/s", Better::Higher);
        for_each_turn(&targets, args.rounds, async |i, t| {
            row.push(i, load::store_rate(t.imap, user, period).await.per_second);
        })
        .await;
        progress(&row, "ops/s");
        rows.push(row);
    }
    let idlers: &[usize] = if args.quick { &[1, 100] } else { &[1, 100, 1000] };
    for &n in idlers.iter().filter(|_| args.wants("idle")) {
        let mut row = Row::new(
            format!("IDLE: one change seen by all {n} idle sessions"),
            "ms",
            Better::Lower,
        );
        for_each_turn(&targets, args.rounds, async |i, t| {
            for d in load::idle_latency((t.imap, t.lmtp), n, 5).await {
                row.push(i, ms(d));
            }
        })
        .await;
        progress(&row, "ms");
        rows.push(row);
    }
    for &n in connections.iter().filter(|_| args.wants("pop3")) {
        let mut row = Row::new(format!("POP3 RETR, {n} sessions"), "messages/s", Better::Higher);
        for_each_turn(&targets, args.rounds, async |i, t| {
            let r = load::pop3_retr(t.pop3, &users, n, per_user, period).await;
            row.push(i, r.per_second);
        })
        .await;
        progress(&row, "");
        rows.push(row);
    }
    for &n in [1, 10].iter().filter(|_| args.wants("lmtp")) {
        let mut row = Row::new(
            format!("LMTP delivery, 10 KB, {n} senders"),
            "messages/s",
            Better::Higher,
        );
        for_each_turn(&targets, args.rounds, async |i, t| {
            let r = load::lmtp_rate(t.lmtp, &users, n, period).await;
            row.push(i, r.per_second);
        })
        .await;
        progress(&row, "");
        rows.push(row);
    }
    let held: &[usize] = if args.quick { &[1000] } else { &[1000, 10_000] };
    for &n in held.iter().filter(|_| args.wants("memory")) {
        let (per_connection, _) = idle_memory_rows(&targets, &users, n, false).await;
        rows.push(per_connection);
    }
    // One node holding 100,000 idle sessions (or as many as this
    // machine's descriptor limit lets one process hold): Mailroom only
    // (Dovecot would need a process per few connections and ~50 GB).
    if args.wants("many") && !args.quick {
        let n = MANY.min(descriptor_limit().saturating_sub(2_000) / 1_000 * 1_000);
        if n < MANY {
            eprintln!("  only {n} connections: this process may open no more descriptors (ulimit -n)");
        }
        let (per_connection, total) = idle_memory_rows(&targets, &users, n, true).await;
        rows.extend([per_connection, total]);
    }
    // What the load left behind: the server's memory at rest, every
    // connection closed, against what it took right after seeding.
    if args.only.is_empty() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut row = Row::new(
            "Memory at rest after every row, against right after seeding".into(),
            "×",
            Better::Lower,
        );
        for (i, t) in targets.iter().enumerate() {
            let now = memory_kib(t);
            row.push(i, now as f64 / fresh[i] as f64);
            eprintln!(
                "  {}: {} KiB after seeding, {now} KiB now: {}",
                t.name,
                fresh[i],
                memory_parts(t)
            );
        }
        rows.push(row);
        // Two seconds is soon after 18,000 connections closed: the same,
        // once every server had half a minute to settle.
        tokio::time::sleep(Duration::from_secs(SETTLE_SECONDS)).await;
        let mut row = Row::new(format!("… and {SETTLE_SECONDS} s later"), "×", Better::Lower);
        for (i, t) in targets.iter().enumerate() {
            let now = memory_kib(t);
            row.push(i, now as f64 / fresh[i] as f64);
            eprintln!("  {} {SETTLE_SECONDS} s later: {now} KiB: {}", t.name, memory_parts(t));
        }
        rows.push(row);
    }

    let web = args.web_table.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    let table = report(&rows, &targets, &args, web.as_deref());
    println!("{table}");
    if args.only.is_empty() {
        let out = args.out.clone().unwrap_or_else(|| match args.quick {
            true => PathBuf::from(QUICK_TABLE),
            false => PathBuf::from(PUBLISHED_TABLE),
        });
        write_into(&out, &table);
        eprintln!("the table is in {}", out.display());
    }
}

/// A row's medians so far, one per server, as the run goes.
fn progress(row: &Row, unit: &str) {
    let medians: Vec<String> = (0..row.samples.len())
        .filter(|&i| !row.samples[i].is_empty())
        .map(|i| format!("{:.2}", row.median(i)))
        .collect();
    eprintln!("  {}: {} {unit}", row.name, medians.join(" / "));
}

/// How many idle connections the "many" rows hold open.
const MANY: usize = 100_000;

/// How many files this process may have open (its soft limit), from
/// /proc/self/limits; the server was started with the same.
fn descriptor_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// Memory per idle authenticated IMAP connection with `n` open (INBOX
/// selected), and the server's whole memory with them; `mailroom_only`
/// skips Dovecot.
async fn idle_memory_rows(targets: &[Target], users: &[String], n: usize, mailroom_only: bool) -> (Row, Row) {
    let mut per_connection = Row::new(
        format!("Memory per idle authenticated IMAP connection ({n} open)"),
        "KiB",
        Better::Lower,
    );
    let mut total = Row::new(
        format!("Memory of the server with {n} idle connections open"),
        "MB",
        Better::Lower,
    );
    for_each_turn(targets, 1, async |i, t| {
        if mailroom_only && !t.mailroom {
            return;
        }
        // Logins in parallel grow the allocator's per-thread pools
        // once (Mailroom's password hashing runs on blocking
        // threads): grown before the baseline, they are not counted
        // as the connections' memory.
        drop(load::idle_connections(t.imap, users, 64).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = memory_kib(t);
        let open = load::idle_connections(t.imap, users, n).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let with = memory_kib(t);
        drop(open);
        per_connection.push(i, with.saturating_sub(before) as f64 / n as f64);
        total.push(i, with as f64 / 1024.0);
        eprintln!("  {}: {before} KiB → {with} KiB with {n} connections", t.name);
    })
    .await;
    (per_connection, total)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `measure` on every server `rounds` times, turning which goes
/// first. A measurement that fails (a server that stops answering) is
/// reported and leaves no sample; the run goes on.
async fn for_each_turn(targets: &[Target], rounds: usize, mut measure: impl AsyncFnMut(usize, &Target)) {
    use futures::FutureExt;
    for round in 0..rounds {
        for turn in 0..targets.len() {
            let i = (round + turn) % targets.len();
            let run = std::panic::AssertUnwindSafe(measure(i, &targets[i])).catch_unwind();
            if run.await.is_err() {
                eprintln!("  (failed on {}: see the message above)", targets[i].name);
            }
        }
    }
}

fn report(rows: &[Row], targets: &[Target], args: &Args, web: Option<&str>) -> String {
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mailrooms: Vec<&Target> = targets.iter().filter(|t| t.mailroom).collect();
    let dovecot = targets.len() - 1;
    let stores = match mailrooms.len() {
        1 => "on SQLite".to_owned(),
        _ => "on SQLite and on PostgreSQL (a local server, a scratch database)".to_owned(),
    };
    let mut out = format!(
        "Run {date} on {cores} cores ({machine}) by `bench/run`: {} round(s) per row, servers in turn, \
         {} s per throughput run; {USERS} users plus `shared`, each seeded with the same mail over LMTP; \
         Mailroom {} {stores}, Dovecot {} with Maildir. Medians. Advantage: how many times better \
         Mailroom is than Dovecot (above 1, Mailroom is ahead).\n\n",
        args.rounds,
        args.seconds,
        version(&args.mailroom, "--version"),
        version(std::path::Path::new("dovecot"), "--version"),
    );
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let advantages: Vec<String> = mailrooms
        .iter()
        .map(|t| match mailrooms.len() {
            1 => "advantage".to_owned(),
            _ => format!("advantage {}", t.name.trim_start_matches("Mailroom ")),
        })
        .collect();
    let columns = 2 + names.len() + advantages.len();
    out.push_str(&format!(
        "| measurement | unit | {} | {} |\n|{}\n",
        names.join(" | "),
        advantages.join(" | "),
        "---|".repeat(columns)
    ));
    let shown = |v: f64| match v.is_nan() {
        true => "—".to_owned(),
        false => format!("{v:.2}"),
    };
    for r in rows {
        let medians: Vec<String> = (0..targets.len()).map(|i| shown(r.median(i))).collect();
        let ratios: Vec<String> = (0..mailrooms.len())
            .map(|i| match r.unit {
                // A ratio of ratios says nothing.
                "×" => "".to_owned(),
                _ => match r.advantage(i, dovecot) {
                    v if v.is_nan() => "—".to_owned(),
                    v => format!("{v:.2}×"),
                },
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.name,
            r.unit,
            medians.join(" | "),
            ratios.join(" | ")
        ));
    }
    if let Some(web) = web {
        out.push_str(
            "\nMailroom alone — the web interface on a 100,000-message mailbox (`cargo bench --bench web`):\n\n",
        );
        out.push_str(web.trim());
        out.push('\n');
    }
    out
}

fn version(program: &std::path::Path, flag: &str) -> String {
    std::process::Command::new(program)
        .arg(flag)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

const START: &str = "<!-- side-by-side: start (written by bench/run) -->";
const END: &str = "<!-- side-by-side: end -->";

/// Puts the table between the markers in `path` (added at the end the
/// first time).
fn write_into(path: &std::path::Path, table: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{START}\n{table}{END}");
    let new = match (old.find(START), old.find(END)) {
        (Some(s), Some(e)) if e > s => format!("{}{section}{}", &old[..s], &old[e + END.len()..]),
        _ => format!(
            "{}\n## Mailroom and Dovecot side by side (`bench/`)\n\n{section}\n",
            old.trim_end()
        ),
    };
    if let Err(e) = std::fs::write(path, new) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}
