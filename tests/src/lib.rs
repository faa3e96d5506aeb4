//! Test harness: a fresh store per test, on SQLite and — where
//! `MAILROOM_TEST_POSTGRES` names a server — on a scratch PostgreSQL
//! database, and helpers to run the real `mailroom` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mailroom::service::Bootstrap;
use mailroom::{Principal, Service};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub mod fuzz;
pub mod http;
pub mod net;
pub mod proxy;

pub use mailroom;
pub use mailroom_shared as shared;

/// How long a test waits for something that must happen (an answer, a
/// change, a notification) before it fails. Generous, because it guards
/// against a hang and does not measure speed: on a busy 2-core machine,
/// with other test binaries and a CPU hog beside it, an answer can take
/// seconds, and a longer wait only costs time when the test fails anyway.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// The domain every test world is made in.
pub const DOMAIN: &str = "example.com";
pub const ADMIN_PASSWORD: &str = "admin-secret";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    /// The SQLite data directory (also used as a scratch directory).
    pub dir: tempfile::TempDir,
    scratch: Option<(String, String)>,
}

/// `count` messages to import into one mailbox, the `i`th made by
/// `content(i)`, each received a second after the one before.
pub fn numbered(count: u32, content: impl Fn(u32) -> Vec<u8>) -> Vec<mailroom::service::Incoming> {
    (0..count)
        .map(|i| mailroom::service::Incoming {
            content: content(i),
            flags: mailroom_shared::Flags::default(),
            internal_date: Some(1_790_000_000 + i64::from(i)),
            envelope_from: None,
        })
        .collect()
}

/// The PostgreSQL server to test against, if any. Outside CI a missing one
/// skips the PostgreSQL variant of each test with a message; in CI
/// (`CI=true`) it is required.
pub fn postgres_url() -> Option<String> {
    match std::env::var("MAILROOM_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but MAILROOM_TEST_POSTGRES is not set: the PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!(
                "SKIPPED on PostgreSQL: set MAILROOM_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to run it"
            );
            None
        }
    }
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is asked for but not
    /// configured (outside CI).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => Some(TestDb {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join(mailroom::service::SQLITE_FILE).display()
                ),
                dir,
                scratch: None,
            }),
            Backend::Postgres => Some(TestDb::scratch_on(&postgres_url()?).await),
        }
    }

    /// A scratch database made on the PostgreSQL server at `server` (the
    /// URL of a database there to connect to), dropped with the value.
    pub async fn scratch_on(server: &str) -> TestDb {
        let name = format!("mailroom_test_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create scratch database");
        let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
        TestDb {
            url: format!("{base}/{name}"),
            dir: tempfile::tempdir().expect("temporary directory"),
            scratch: Some((server.to_owned(), name)),
        }
    }

    /// A database made before (by an earlier bench run), left in place
    /// afterwards.
    pub fn existing(url: &str) -> TestDb {
        TestDb {
            url: url.to_owned(),
            dir: tempfile::tempdir().expect("temporary directory"),
            scratch: None,
        }
    }

    /// One number read straight from the database, for what no gateway
    /// shows (how many rows a change log holds, say).
    pub async fn number(&self, sql: &str) -> i64 {
        let mut conn = self.raw().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Changes the database behind the server's back (to make a state
    /// that only time would make, such as an expired sign-in).
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.raw().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn raw(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// A service on this database, as a new process would open it.
    pub async fn service(&self) -> Service {
        Service::connect(&self.url).await.expect("open the database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.scratch.take() else {
            return;
        };
        // Drop runs outside async: a small runtime of its own removes the
        // scratch database (FORCE closes the test's leftover connections).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&server).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// A service on a fresh database with `example.com`, its public account
/// and `admin@example.com`.
pub struct World {
    pub service: Service,
    pub admin: Principal,
    pub db: TestDb,
}

impl World {
    pub async fn new(backend: Backend) -> Option<World> {
        let db = TestDb::new(backend).await?;
        let service = db.service().await;
        let done = service
            .bootstrap(DOMAIN, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("bootstrap");
        assert!(matches!(done, Bootstrap::Created { .. }));
        let admin = service
            .authenticate("admin", ADMIN_PASSWORD, mailroom::service::LOCAL)
            .await
            .expect("admin logs in");
        Some(World { service, admin, db })
    }

    /// A world on a database a `World::new` made before.
    pub async fn existing(db: TestDb) -> World {
        let service = db.service().await;
        let admin = service
            .authenticate("admin", ADMIN_PASSWORD, mailroom::service::LOCAL)
            .await
            .expect("admin logs in");
        World { service, admin, db }
    }

    /// The names of every mailbox `p` may look up, as `p` writes them.
    pub async fn mailbox_names(&self, p: &Principal) -> Vec<String> {
        let all = self.service.list_mailboxes(p).await.expect("list mailboxes");
        all.into_iter().map(|m| m.name).collect()
    }

    /// Creates the account `name` (password `pw-NAME`) and logs it in.
    pub async fn user(&self, name: &str) -> Principal {
        self.service
            .add_account(&self.admin, name, Some(&format!("pw-{name}")), false)
            .await
            .expect("add account");
        self.service
            .authenticate(name, &format!("pw-{name}"), mailroom::service::LOCAL)
            .await
            .expect("log in")
    }
}

/// Runs each test body on SQLite and on PostgreSQL:
/// `both_backends!(name, async |w: World| { … })` makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let world = $crate::World::new($crate::Backend::Sqlite)
                    .await
                    .expect("sqlite world");
                ($body)(world).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(world) = $crate::World::new($crate::Backend::Postgres).await else {
                    return;
                };
                ($body)(world).await;
            }
        }
    };
}

/// The `mailroom` binary in the target directory the tests were built in
/// (`./scripts/test` builds it before running them).
pub fn mailroom_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("mailroom"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: run ./scripts/test, or `cargo build -p mailroom` first",
        bin.display()
    );
    bin
}

/// Runs `mailroom ARGS` on the test database, feeding `stdin`.
pub fn run_cli(db: &TestDb, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(mailroom_bin())
        .args(args)
        .env("MAILROOM_DATABASE_URL", &db.url)
        .env_remove("MAILROOM_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailroom");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("mailroom finishes")
}

/// Waits until the server has handed every session watching `watch`'s
/// mailbox a change for which `pred` holds: they all hear from one sender,
/// so when this watch has it, so has every session's — the proof that a
/// session *could* have reported it, before checking that it did not.
pub async fn until_published(
    watch: &mut mailroom::service::Watch,
    pred: impl Fn(&mailroom::service::ChangeKind) -> bool,
) {
    tokio::time::timeout(PATIENCE, async {
        while !watch.next().await.expect("watch").iter().any(|c| pred(&c.kind)) {}
    })
    .await
    .expect("the change is published");
}

/// `program` run as on a machine where nobody ever ran it: the
/// environment cleared but for `PATH`, `HOME` a scratch directory of the
/// caller's, a plain terminal type and locale. Legacy mail programs read
/// settings from, and create folders in, the home directory (mutt asks
/// whether to create `~/Mail` on its first start, and pushed keys would
/// answer that question): with a home of their own every run is the same,
/// whatever ran on this machine before, and nothing of the user's is
/// touched.
pub fn legacy_program(program: &str, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TERM", "xterm")
        .env("LANG", "C.UTF-8")
        .current_dir(home);
    command
}

/// Whether `program` is installed. The tests that drive legacy mail
/// programs need it; `scripts/install-legacy-mailers` installs them. In CI
/// a missing program is a failure; elsewhere the caller skips, with a
/// message.
pub fn have_program(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is missing: scripts/install-legacy-mailers installs it"
        );
        eprintln!("skipped: {program} is not installed (scripts/install-legacy-mailers)");
    }
    found
}
