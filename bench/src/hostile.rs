//! `mailroom-hostile`: Mailroom (the release binary) under hostile input
//! for as long as it is given, with its memory watched.
//!
//! - `fuzz`: random and protocol-shaped commands on IMAP (before and after
//!   login), POP3 and LMTP from several connections at once, and random
//!   messages and bytes through the parsers in this process; reports
//!   commands sent, panics (the server's, read from its log, and this
//!   process's) and the server's memory each minute.
//! - `soak`: 50 well-behaved IMAP sessions measured alone, then again
//!   beside 1,000 hostile connections (slow senders, oversized literals
//!   before login, floods of garbage after login); reports both p99s.
//!
//! Run through `bench/fuzz` and `bench/soak`, which build the release
//! binaries first.

#[allow(dead_code)]
mod load;
#[allow(dead_code)]
mod servers;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use mailroom_tests::fuzz;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Args {
    /// The Mailroom binary (a release build).
    #[arg(long, default_value = "target/release/mailroom")]
    mailroom: PathBuf,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Random input at every gateway and parser.
    Fuzz {
        #[arg(long, default_value_t = 1.0)]
        minutes: f64,
        /// Connections sending at once.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Replays a run.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Well-behaved sessions beside hostile connections.
    Soak {
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        #[arg(long, default_value_t = 1000)]
        hostile: usize,
        #[arg(long, default_value_t = 50)]
        sessions: usize,
    },
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The first 50 for the well-behaved sessions, the next 50 for the
    // hostile ones (whose random commands append and expunge: never in a
    // mailbox being measured).
    let users = servers::users(100);
    let target = servers::start_mailroom(&args.mailroom, dir.path(), &users, None);
    load::seed(target.lmtp, &users, 20).await;
    match args.what {
        What::Fuzz {
            minutes,
            connections,
            seed,
        } => run_fuzz(&target, minutes, connections, seed).await,
        What::Soak {
            minutes,
            hostile,
            sessions,
        } => run_soak(&target, &users, minutes, hostile, sessions).await,
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn run_fuzz(target: &servers::Target, minutes: f64, connections: usize, seed: Option<u64>) {
    fuzz::count_panics();
    let (_, seed) = fuzz::rng(seed);
    println!("fuzzing for {minutes} min with {connections} connections (seed {seed})");
    let until = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let commands = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (imap, pop3, lmtp) = (target.imap, target.pop3, target.lmtp);
        let commands = commands.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = fuzz::rng(Some(seed.wrapping_add(c as u64))).0;
            let user = format!("user{:02}", c % 50 + 1);
            let imap_login = format!("a LOGIN {user} pw-{user}\r\nb SELECT INBOX\r\n");
            let pop3_login = format!("USER {user}\r\nPASS pw-{user}\r\n");
            let mut turn = 0usize;
            while Instant::now() < until {
                let (addr, login, words) = match turn % 4 {
                    0 => (imap, "".to_owned(), fuzz::IMAP),
                    1 => (imap, imap_login.clone(), fuzz::IMAP),
                    2 => (pop3, pop3_login.clone(), fuzz::POP3),
                    _ => (lmtp, "LHLO fuzz\r\n".to_owned(), fuzz::LMTP),
                };
                let tally = fuzz::session(addr, login.as_bytes(), words, &mut rng, 200).await;
                commands.fetch_add(tally.commands, Ordering::Relaxed);
                turn += 1;
            }
        }));
    }
    // The parsers in this process, on one thread beside the sessions.
    let parsed = Arc::new(AtomicUsize::new(0));
    let parser = {
        let parsed = parsed.clone();
        std::thread::spawn(move || {
            let mut rng = fuzz::rng(Some(seed ^ 0x5eed)).0;
            while Instant::now() < until {
                let message = fuzz::message(&mut rng);
                fuzz::message_parsers(&message);
                let mut commands = Vec::new();
                for _ in 0..16 {
                    commands.extend(fuzz::command_line(&mut rng, fuzz::IMAP));
                    commands.extend_from_slice(b"\r\n");
                }
                fuzz::imap_frames(&commands, 1 + parsed.load(Ordering::Relaxed) % 61);
                parsed.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = Instant::now();
    let first = servers::memory_kib(target);
    println!("| minute | commands sent | inputs parsed | server panics | our panics | server memory |");
    println!("|---|---|---|---|---|---|");
    let mut minute = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(60).min(until.saturating_duration_since(Instant::now()))).await;
        minute += 1;
        println!(
            "| {minute} | {} | {} | {} | {} | {} |",
            commands.load(Ordering::Relaxed),
            parsed.load(Ordering::Relaxed),
            target.panics(),
            fuzz::panics(),
            mib(servers::memory_kib(target))
        );
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = parser.join();
    let still = fuzz::session(target.imap, b"", fuzz::IMAP, &mut fuzz::rng(Some(seed)).0, 1).await;
    println!(
        "\n{:.0} min: {} commands, {} parser inputs, {} server panics, {} panics here; memory {} at the start, {} at the end; the server {} at the end",
        started.elapsed().as_secs_f64() / 60.0,
        commands.load(Ordering::Relaxed),
        parsed.load(Ordering::Relaxed),
        target.panics(),
        fuzz::panics(),
        mib(first),
        mib(servers::memory_kib(target)),
        if still.answers > 0 || still.commands > 0 {
            "still answered"
        } else {
            "no longer answered"
        },
    );
    if target.panics() + fuzz::panics() > 0 {
        std::process::exit(1);
    }
}

/// One hostile connection, by kind, until `stop`: reconnecting whenever
/// the server sends it away.
async fn hostile(
    imap: std::net::SocketAddr,
    kind: usize,
    user: String,
    stop: Arc<AtomicBool>,
    sent_away: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = TcpStream::connect(imap).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
        let ended = match kind % 3 {
            // Slow: a command a byte every two seconds, never logging in.
            0 => loop {
                if stop.load(Ordering::Relaxed) || tcp.write_all(b"a").await.is_err() {
                    break true;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            },
            // Oversize: literals far past the limits before login.
            1 => {
                let _ = tcp.write_all(b"a LOGIN {52428800+}\r\n").await;
                let _ = tcp.write_all(&vec![b'x'; 64 * 1024]).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                true
            }
            // Flooding: logged in, garbage and costly commands without
            // reading the answers.
            _ => {
                let login = format!("a LOGIN {user} pw-{user}\r\nb SELECT INBOX\r\n");
                let _ = tcp.write_all(login.as_bytes()).await;
                let mut rng = fuzz::rng(Some(kind as u64)).0;
                loop {
                    let mut line = fuzz::command_line(&mut rng, fuzz::IMAP);
                    line.extend_from_slice(b"\r\nc LIST \"\" *\r\nd FETCH 1:* (FLAGS)\r\n");
                    if stop.load(Ordering::Relaxed) || tcp.write_all(&line).await.is_err() {
                        break true;
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        if ended {
            sent_away.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run_soak(target: &servers::Target, users: &[String], minutes: f64, n: usize, sessions: usize) {
    let quiet_period = Duration::from_secs(60);
    println!("quiet: {sessions} IMAP sessions for {} s", quiet_period.as_secs());
    let measured = &users[..50];
    let quiet = load::imap_mixed(target.imap, measured, sessions, false, quiet_period).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sent_away = Arc::new(AtomicUsize::new(0));
    let mut hostiles = Vec::new();
    for i in 0..n {
        let user = users[50 + i % 50].clone();
        hostiles.push(tokio::spawn(hostile(
            target.imap,
            i,
            user,
            stop.clone(),
            sent_away.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let memory_before = servers::memory_kib(target);
    let period = Duration::from_secs_f64(minutes * 60.0);
    println!(
        "hostile: the same sessions beside {n} hostile connections for {} s",
        period.as_secs()
    );
    let busy = load::imap_mixed(target.imap, measured, sessions, false, period).await;
    let memory_after = servers::memory_kib(target);
    stop.store(true, Ordering::Relaxed);
    for h in hostiles {
        h.abort();
    }
    println!(
        "\n| {sessions} IMAP sessions | ops/s | p50 | p99 |\n|---|---|---|---|\n| quiet | {:.0} | {:.1} ms | {:.1} ms |\n| beside {n} hostile connections, {minutes} min | {:.0} | {:.1} ms | {:.1} ms |",
        quiet.per_second,
        quiet.p50.as_secs_f64() * 1e3,
        quiet.p99.as_secs_f64() * 1e3,
        busy.per_second,
        busy.p50.as_secs_f64() * 1e3,
        busy.p99.as_secs_f64() * 1e3,
    );
    println!(
        "\np99 ratio {:.2} (goal ≤ 2); hostile connections sent away and back {} times; server memory {} → {}",
        busy.p99.as_secs_f64() / quiet.p99.as_secs_f64().max(1e-6),
        sent_away.load(Ordering::Relaxed),
        mib(memory_before),
        mib(memory_after)
    );
}
