//! A mailbox of a million messages, built the way a site moving to
//! Mailroom builds one: `mailroom import` of a 5 GB mbox file. Then the
//! web's pages, sorts, folder tree and searches on it, and IMAP SELECT and
//! `UID FETCH 1:* (FLAGS)`, each with the goal of issue 25 beside it.
//!
//! ```text
//! cargo build --release -p mailroom
//! MAILROOM_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p mailroom-tests --bench scale
//! ```
//!
//! SQLite always, PostgreSQL when `MAILROOM_TEST_POSTGRES` is set.
//! `MAILROOM_BENCH_MESSAGES` (default 1,000,000) and
//! `MAILROOM_BENCH_MESSAGE_BYTES` (default 5,000) change the mailbox.
//! Prints a Markdown table for docs/BENCHMARKS.md. The memory per idle
//! connection and LMTP goals are `bench/run`'s rows (mailroom-bench).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use mailroom_shared::dto::{Anchor, PageAt, SortKey};
use mailroom_tests::http::Browser;
use mailroom_tests::net::Server;
use mailroom_tests::{Backend, World};

const RUNS: usize = 20;

const WORDS: &[&str] = &[
    "meeting", "report", "invoice", "holiday", "project", "deadline", "coffee", "review", "release", "customer",
    "support", "ticket", "garden", "weekly", "numbers", "travel", "office", "printer", "lunch", "draft",
];

/// Message `n`: 500 senders, varied subjects and text, "budget" in one
/// message of ten, "zeppelin" in exactly one (the 77,777th).
fn message(n: u32, bytes: usize) -> Vec<u8> {
    let w = |k: u32| WORDS[((n.wrapping_mul(2_654_435_761) >> k) % WORDS.len() as u32) as usize];
    let mut body = format!("Hello,\n\nabout the {} {} and the {}: ", w(3), w(7), w(11));
    if n.is_multiple_of(10) {
        body.push_str("the budget needs another look. ");
    }
    if n == 77_777 {
        body.push_str("Bring the zeppelin. ");
    }
    let mut k = 0;
    while body.len() < bytes.saturating_sub(300) {
        body.push_str(&format!(
            "Line {k} of the {} notes, for the {} of this week.\n",
            w(k % 17),
            w((k + 5) % 19)
        ));
        k += 1;
    }
    format!(
        "From: Sender {s} <sender{s}@example.org>\nTo: alice@example.com\nSubject: {} {} #{n}\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <{n}@scale.example>\n\n{body}\n",
        w(5),
        w(13),
        s = n % 500,
    )
    .into_bytes()
}

/// Writes the mbox file (once per run; both stores import the same).
fn write_mbox(path: &Path, count: u32, bytes: usize) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("mbox file"));
    for n in 0..count {
        // One minute apart, the newest last.
        let sender = format!("sender{}@example.org", n % 500);
        mailroom::mbox::write(&mut out, &sender, 1_700_000_000 + i64::from(n) * 60, &message(n, bytes)).expect("write");
    }
    out.flush().expect("flush");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The resident and peak resident size of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `mailroom import` of the mbox, as a site runs it: the release binary,
/// its peak memory read from /proc while it runs.
async fn import(world: &World, store: &str, mbox: &Path, mbox_bytes: u64, count: u32) {
    let started = Instant::now();
    let mut child = std::process::Command::new(mailroom_tests::mailroom_bin())
        .args(["import", "alice", "INBOX", mbox.to_str().expect("path")])
        .env("MAILROOM_DATABASE_URL", &world.db.url)
        .env_remove("MAILROOM_DATA")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start mailroom import");
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().expect("import runs").is_none() {
        peak = peak.max(memory_kib(pid).1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = child.wait_with_output().expect("import ends");
    assert!(output.status.success(), "import failed");
    let took = started.elapsed().as_secs_f64();
    eprintln!("{}", String::from_utf8_lossy(&output.stdout).trim());
    row(
        store,
        &format!(
            "`mailroom import` of {count} messages ({:.1} GB mbox)",
            mbox_bytes as f64 / 1e9
        ),
        format!("{took:.0} s, {:.0} messages/s", f64::from(count) / took),
        "in the time it takes",
        None,
    );
    row(
        store,
        "`mailroom import`: peak resident memory",
        format!("{} MB", peak / 1024),
        "< 200 MB",
        Some(peak < 200 * 1024),
    );
}

/// The median of `runs` timings of `f`.
async fn median<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One line of the table: the figure, the goal, and whether it is met.
fn row(store: &str, what: &str, figure: String, goal: &str, met: Option<bool>) {
    let verdict = match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "",
    };
    println!("| {store} | {what} | {figure} | {goal} | {verdict} |");
}

fn timed(store: &str, what: &str, d: Duration, goal_ms: Option<f64>) {
    let goal = goal_ms.map(|g| format!("< {g:.0} ms")).unwrap_or_default();
    row(store, what, ms(d), &goal, goal_ms.map(|g| d.as_secs_f64() * 1000.0 < g));
}

async fn bench(backend: Backend, mbox: &Path, mbox_bytes: u64, count: u32) {
    let store = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    // A PostgreSQL database a killed run left behind, mailbox and all:
    // measured again without importing again.
    let reuse = std::env::var("MAILROOM_BENCH_REUSE_POSTGRES")
        .ok()
        .filter(|_| backend == Backend::Postgres);
    let world = match &reuse {
        Some(url) => World::existing(mailroom_tests::TestDb::existing(url)).await,
        None => {
            let Some(world) = World::new(backend).await else {
                return;
            };
            world.user("alice").await;
            import(&world, store, mbox, mbox_bytes, count).await;
            world
        }
    };
    if reuse.is_some() {
        world.service.refresh_statistics().await.expect("ANALYZE");
    }

    let stored = match backend {
        Backend::Sqlite => ["", "-wal"]
            .iter()
            .map(|suffix| {
                let file = world
                    .db
                    .dir
                    .path()
                    .join(format!("{}{suffix}", mailroom::service::SQLITE_FILE));
                std::fs::metadata(file).map_or(0, |m| m.len())
            })
            .sum(),
        Backend::Postgres => world.db.number("SELECT pg_database_size(current_database())").await as u64,
    };
    row(
        store,
        "database size after the import",
        format!(
            "{:.1} GB, {:.0} bytes per message ({:.2}× the mbox)",
            stored as f64 / 1e9,
            stored as f64 / f64::from(count),
            stored as f64 / mbox_bytes as f64
        ),
        "",
        None,
    );

    let server = Server::start(world).await;
    let s = server.service();
    // A node reads the views of its biggest mailboxes when it starts, in
    // the background (`Service::warm_views`; from 10,000 messages). The
    // rows below measure a node at work, not one still reading a million
    // rows beside them: waited for, and timed.
    let t = Instant::now();
    while count >= 10_000 && s.views_kept() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the node never read the mailbox's view"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    row(
        store,
        "IMAP: the node reads the mailbox's view at start (in the background)",
        ms(t.elapsed()),
        "",
        None,
    );
    let alice = s
        .authenticate("alice", "pw-alice", mailroom::service::LOCAL)
        .await
        .unwrap();
    let page = |sort, at| {
        let alice = &alice;
        async move {
            let p = s.page(alice, "INBOX", sort, at, 50, None).await.unwrap();
            assert_eq!((p.total, p.messages.len()), (count, 50.min(count as usize)));
        }
    };
    let middle = PageAt {
        offset: count / 2,
        anchor: Some(Anchor::After(count / 2)),
    };
    timed(
        store,
        "web: first page (50, newest first)",
        median(RUNS, || page(SortKey::Date, PageAt::at(0))).await,
        Some(20.0),
    );
    let mut browser = Browser::new(server.running.http);
    browser.sign_in("alice", "pw-alice").await;
    timed(
        store,
        "web: first page, the whole HTML page over HTTP",
        median(RUNS, || async {
            let r = browser.get("/mail?box=INBOX").await;
            assert!(r.status == 200 && r.body.contains("msg-row"));
        })
        .await,
        Some(20.0),
    );
    timed(
        store,
        "web: a page in the middle (keyset)",
        median(RUNS, || page(SortKey::Date, middle)).await,
        Some(20.0),
    );
    timed(
        store,
        "web: a page in the middle, whole HTML page over HTTP",
        median(RUNS, || async {
            let r = browser
                .get(&format!("/mail?box=INBOX&page={}&after={}", count / 100, count / 2))
                .await;
            assert!(r.status == 200 && r.body.contains("msg-row"));
        })
        .await,
        Some(20.0),
    );
    timed(
        store,
        "web: a page in the middle by OFFSET (old links)",
        median(RUNS, || page(SortKey::Date, PageAt::at(count / 2))).await,
        None,
    );
    for (sort, name) in [
        (SortKey::Sender, "sender"),
        (SortKey::Subject, "subject"),
        (SortKey::Size, "size"),
    ] {
        timed(
            store,
            &format!("web: first page sorted by {name}"),
            median(RUNS, || page(sort, PageAt::at(0))).await,
            Some(50.0),
        );
        timed(
            store,
            &format!("web: a page in the middle sorted by {name} (keyset)"),
            median(RUNS, || page(sort, middle)).await,
            Some(50.0),
        );
    }
    timed(
        store,
        "web: folder tree with counts",
        median(RUNS, || async {
            s.folders(&alice).await.unwrap();
        })
        .await,
        Some(10.0),
    );
    for (word, what) in [
        ("zeppelin", "in one message"),
        ("budget", "in a tenth of them"),
        ("sender7@example.org", "an address, 1 in 500"),
    ] {
        timed(
            store,
            &format!("search a word {what} (\"{word}\"): first page and count"),
            median(RUNS, || async {
                let p = s
                    .page(&alice, "INBOX", SortKey::Date, PageAt::at(0), 50, Some(word))
                    .await
                    .unwrap();
                assert!(p.total > 0 || count <= 77_777);
            })
            .await,
            Some(50.0),
        );
    }
    timed(
        store,
        "search a word in a tenth, sorted by sender",
        median(RUNS, || async {
            s.page(&alice, "INBOX", SortKey::Sender, PageAt::at(0), 50, Some("budget"))
                .await
                .unwrap();
        })
        .await,
        Some(50.0),
    );
    timed(
        store,
        "search over HTTP: the whole page (\"budget\")",
        median(RUNS, || async {
            assert_eq!(browser.get("/mail?box=INBOX&q=budget").await.status, 200);
        })
        .await,
        Some(50.0),
    );

    // IMAP: clients selecting the mailbox, then asking every flag. Each
    // SELECT on a new connection (a session that selected the mailbox
    // before keeps its view, and a second SELECT costs nothing); the
    // sessions stay open, to see what they hold together.
    let me = std::process::id();
    let mut selects = Vec::new();
    let mut sessions = Vec::new();
    let (before, _) = memory_kib(me);
    for _ in 0..5 {
        let mut imap = server.login("alice").await;
        let t = Instant::now();
        imap.ok("SELECT INBOX").await;
        selects.push(t.elapsed());
        sessions.push(imap);
    }
    let held = memory_kib(me).0.saturating_sub(before) / sessions.len() as u64;
    for mut imap in sessions {
        imap.ok("LOGOUT").await;
    }
    selects.sort();
    timed(store, "IMAP: SELECT INBOX (a new session)", selects[2], Some(50.0));
    row(
        store,
        "IMAP: memory a session holds with the mailbox selected (5 sessions at once)",
        format!("{} KiB", held),
        "",
        None,
    );
    let mut imap = server.login("alice").await;
    imap.ok("SELECT INBOX").await;
    let _ = std::fs::write(format!("/proc/{me}/clear_refs"), "5"); // resets the peak
    let (before, _) = memory_kib(me);
    let t = Instant::now();
    imap.send_raw(b"f UID FETCH 1:* (FLAGS)\r\n").await;
    let mut lines = 0u32;
    loop {
        let line = imap.line().await.expect("FETCH answer");
        if line.starts_with("f ") {
            assert!(line.starts_with("f OK"), "{line}");
            break;
        }
        lines += 1;
    }
    let fetch = t.elapsed();
    let (_, peak) = memory_kib(me);
    assert_eq!(lines, count);
    row(
        store,
        "IMAP: UID FETCH 1:* (FLAGS)",
        format!(
            "{}, memory +{} MB while it ran",
            ms(fetch),
            peak.saturating_sub(before) / 1024
        ),
        "streamed, flat memory",
        None,
    );
    // IMAP SEARCH: the text keys from the word index, the flags from
    // the session's view; each on the session that selected the mailbox.
    for (what, keys) in [
        ("a word in one message", "BODY zeppelin"),
        ("a word in a tenth", "BODY budget"),
        ("a sender, 1 of 500", "FROM sender7@example.org"),
        ("a word in one message, or unread", "OR TEXT zeppelin UNSEEN"),
    ] {
        let command = format!("UID SEARCH {keys}");
        let (mut times, mut found) = (Vec::new(), 0);
        for _ in 0..5 {
            let t = Instant::now();
            let lines = imap.ok(&command).await;
            times.push(t.elapsed());
            found = lines[0].split(' ').count() - 2;
        }
        times.sort();
        let d = times[times.len() / 2];
        let what = format!("IMAP: UID SEARCH {keys} ({what}: {found} found)");
        timed(store, &what, d, Some(50.0));
    }
}

#[tokio::main]
async fn main() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let count = env("MAILROOM_BENCH_MESSAGES", 1_000_000) as u32;
    let bytes = env("MAILROOM_BENCH_MESSAGE_BYTES", 5_000) as usize;
    let dir = tempfile::tempdir().expect("scratch directory");
    let mbox = dir.path().join("big.mbox");
    let t = Instant::now();
    let size = write_mbox(&mbox, count, bytes);
    eprintln!(
        "wrote {count} messages, {size} bytes, in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    println!("One INBOX of {count} messages of about {bytes} bytes; medians of {RUNS} runs (SELECT: of 5).\n");
    println!("| store | what | measured | goal | met |");
    println!("|---|---|---|---|---|");
    // MAILROOM_BENCH_STORES: which, in order (default both, PostgreSQL first).
    let stores = std::env::var("MAILROOM_BENCH_STORES").unwrap_or_else(|_| "postgres,sqlite".into());
    for name in stores.split(',') {
        match name.trim() {
            "postgres" => bench(Backend::Postgres, &mbox, size, count).await,
            "sqlite" => bench(Backend::Sqlite, &mbox, size, count).await,
            other => panic!("MAILROOM_BENCH_STORES: no store {other:?}"),
        }
    }
}
