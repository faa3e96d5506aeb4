//! Schema migrations, embedded in the binary.
//!
//! Written here rather than with `sqlx::migrate!`: that macro would compile
//! the SQLite and PostgreSQL drivers a second time for the proc-macro (a
//! few minutes on a 2-core machine), and `Migrator`'s runtime constructors
//! are marked semver-exempt. This is a version table and a loop.

use sqlx::Executor;

use super::{Backend, Result, Store};

/// `(version, SQLite script, PostgreSQL script)`, in order. Never edit a
/// released script: add the next version.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_web.sql"),
        include_str!("../../../migrations/postgres/0002_web.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_external_inbox.sql"),
        include_str!("../../../migrations/postgres/0003_external_inbox.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_rules.sql"),
        include_str!("../../../migrations/postgres/0004_rules.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_login_throttle.sql"),
        include_str!("../../../migrations/postgres/0005_login_throttle.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/sqlite/0006_changes_by_log_id.sql"),
        include_str!("../../../migrations/postgres/0006_changes_by_log_id.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/sqlite/0007_settings.sql"),
        include_str!("../../../migrations/postgres/0007_settings.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/sqlite/0008_search_fields.sql"),
        include_str!("../../../migrations/postgres/0008_search_fields.sql"),
    ),
    (
        9,
        include_str!("../../../migrations/sqlite/0009_recent.sql"),
        include_str!("../../../migrations/postgres/0009_recent.sql"),
    ),
    (
        10,
        include_str!("../../../migrations/sqlite/0010_keep_expunged.sql"),
        include_str!("../../../migrations/postgres/0010_keep_expunged.sql"),
    ),
    (
        11,
        include_str!("../../../migrations/sqlite/0011_quotas.sql"),
        include_str!("../../../migrations/postgres/0011_quotas.sql"),
    ),
    (
        12,
        include_str!("../../../migrations/sqlite/0012_account_external_inbox.sql"),
        include_str!("../../../migrations/postgres/0012_account_external_inbox.sql"),
    ),
    (
        13,
        include_str!("../../../migrations/sqlite/0013_change_kind_codes.sql"),
        include_str!("../../../migrations/postgres/0013_change_kind_codes.sql"),
    ),
    (
        14,
        include_str!("../../../migrations/sqlite/0014_team.sql"),
        include_str!("../../../migrations/postgres/0014_team.sql"),
    ),
    (
        15,
        include_str!("../../../migrations/sqlite/0015_scale.sql"),
        include_str!("../../../migrations/postgres/0015_scale.sql"),
    ),
    (
        16,
        include_str!("../../../migrations/sqlite/0016_summary_ids.sql"),
        include_str!("../../../migrations/postgres/0016_summary_ids.sql"),
    ),
];

pub(super) async fn run(store: &Store) -> Result<()> {
    let (_turn, mut tx) = store.write().await?;
    if store.backend == Backend::Postgres {
        // One node migrates at a time when several start together.
        tx.execute("SELECT pg_advisory_xact_lock(7318)").await?;
    }
    tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)")
        .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    for (version, sqlite, postgres) in MIGRATIONS {
        if current.is_some_and(|c| c >= *version) {
            continue;
        }
        let script = match store.backend {
            Backend::Sqlite => *sqlite,
            Backend::Postgres => *postgres,
        };
        sqlx::raw_sql(script).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
