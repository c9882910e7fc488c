//! The store's schema, versioned: each migration is applied once, in order, in one
//! transaction under the store's write lock, and the version it reached is recorded, so
//! concurrent writers opening a new store (the shards of a run and their merge) migrate
//! it exactly once. A migration is never edited once released; a change is a new one.

use crate::StoreError;
use crate::db::{Cell, Db, Param};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&[&str]] = &[&[
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        scenario TEXT NOT NULL,
        scenario_source TEXT NOT NULL,
        scenario_digest TEXT,
        params TEXT NOT NULL,
        seed BIGINT NOT NULL,
        target TEXT NOT NULL,
        model TEXT,
        volley_version TEXT NOT NULL,
        started_unix_ms BIGINT NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL,
        interrupted BIGINT NOT NULL,
        thresholds_failed BIGINT NOT NULL,
        sent BIGINT NOT NULL,
        ok BIGINT NOT NULL,
        stored_unix_ms BIGINT NOT NULL,
        report TEXT NOT NULL
    )",
    "CREATE INDEX runs_started ON runs (started_unix_ms)",
    "CREATE TABLE labels (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    )",
    "CREATE TABLE stages (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        idx BIGINT NOT NULL,
        name TEXT NOT NULL,
        sent BIGINT NOT NULL,
        ok BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        offered_rps DOUBLE PRECISION NOT NULL,
        achieved_rps DOUBLE PRECISION NOT NULL,
        goodput_rps DOUBLE PRECISION,
        output_tokens_per_s DOUBLE PRECISION NOT NULL,
        ttft_p50_ms DOUBLE PRECISION,
        ttft_p99_ms DOUBLE PRECISION,
        itl_p50_ms DOUBLE PRECISION,
        itl_p99_ms DOUBLE PRECISION,
        latency_p50_ms DOUBLE PRECISION,
        latency_p99_ms DOUBLE PRECISION,
        report TEXT NOT NULL,
        PRIMARY KEY (run_id, idx)
    )",
    "CREATE TABLE thresholds (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        idx BIGINT NOT NULL,
        expr TEXT NOT NULL,
        stage TEXT NOT NULL,
        value DOUBLE PRECISION,
        passed BIGINT NOT NULL,
        PRIMARY KEY (run_id, idx)
    )",
]];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the store to [`VERSION`]; a store of a newer version is refused (an older
/// Volley must not write what it does not know).
pub fn migrate(db: &mut Db) -> Result<(), StoreError> {
    db.transaction(false, &[("CREATE TABLE IF NOT EXISTS volley_schema (version BIGINT NOT NULL)", vec![])])?;
    let version = current(db)?;
    if version > VERSION {
        return Err(StoreError::Invalid(format!(
            "run store {} has schema version {version}; this Volley knows up to {VERSION}: upgrade Volley",
            db.shown
        )));
    }
    if version == VERSION {
        return Ok(());
    }
    // Under the write lock, from the version found then (another writer may have
    // migrated meanwhile: then this is empty).
    let mut statements: Vec<crate::db::Statement> = Vec::new();
    for m in &MIGRATIONS[version as usize..] {
        statements.extend(m.iter().map(|s| (*s, vec![])));
    }
    statements.push(("DELETE FROM volley_schema", vec![]));
    statements.push(("INSERT INTO volley_schema (version) VALUES ($1)", vec![Param::Int(VERSION)]));
    match db.transaction(true, &statements) {
        Ok(()) => Ok(()),
        // Another writer migrated first: fine if it reached this version.
        Err(_) if current(db)? == VERSION => Ok(()),
        Err(e) => Err(e),
    }
}

fn current(db: &mut Db) -> Result<i64, StoreError> {
    let rows = db.query("SELECT MAX(version) FROM volley_schema", &[])?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Cell::int).unwrap_or(0))
}
