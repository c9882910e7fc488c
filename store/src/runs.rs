//! Runs in the store: saved whole in one transaction (a writer killed midway leaves
//! nothing of its run), listed with filters, read back, named and deleted.

use std::time::{SystemTime, UNIX_EPOCH};

use volley_report::Report;

use crate::db::{Cell, Db, Param, Statement};
use crate::{Location, StoreError, schema};

/// A run to save.
pub struct NewRun<'a> {
    /// `run`, `trial` or `merge`.
    pub kind: &'a str,
    /// The run's own name (its run id: scenario, time, process).
    pub name: &'a str,
    pub labels: &'a [(String, String)],
    pub model: Option<&'a str>,
    pub report: &'a Report,
}

/// One run as `volley runs list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub scenario: String,
    pub target: String,
    pub model: Option<String>,
    pub started_unix_ms: i64,
    pub duration_s: f64,
    pub sent: i64,
    pub ok: i64,
    pub interrupted: bool,
    pub thresholds_failed: bool,
    pub labels: Vec<(String, String)>,
}

/// Which runs to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One run, by its whole id.
    pub id: Option<String>,
    /// The scenario's name, exactly.
    pub scenario: Option<String>,
    pub target: Option<String>,
    pub model: Option<String>,
    /// `KEY=VALUE` pairs, all of which the run carries.
    pub labels: Vec<(String, String)>,
    /// Started at or after (ms since the Unix epoch).
    pub since_unix_ms: Option<i64>,
    pub limit: Option<i64>,
}

/// The largest report read back: as for a report file.
const MAX_REPORT: usize = 512 << 20;

pub struct Store {
    db: Db,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh run id: 16 hex digits from the clock, the process and a counter.
fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{:016x}", h.finish())
}

/// A count as the store keeps it (BIGINT).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (creating and migrating) the store at `location`.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        let mut db = Db::open(location)?;
        schema::migrate(&mut db)?;
        Ok(Store { db })
    }

    /// Where it is, as messages show it.
    pub fn shown(&self) -> &str {
        &self.db.shown
    }

    /// Saves `run` in one transaction; its new id.
    pub fn save(&mut self, run: &NewRun<'_>) -> Result<String, StoreError> {
        let r = run.report;
        let id = fresh_id();
        let json = serde_json::to_string(r).map_err(|e| StoreError::Invalid(format!("cannot encode the report: {e}")))?;
        let (sent, ok) =
            r.stages.iter().fold((0u64, 0u64), |(s, o), st| (s.saturating_add(st.requests.sent), o.saturating_add(st.requests.ok)));
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO runs (id, name, kind, scenario, scenario_source, scenario_digest, params, seed, target, model,
                volley_version, started_unix_ms, duration_s, interrupted, thresholds_failed, sent, ok, stored_unix_ms, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            vec![
                Param::Text(id.clone()),
                Param::Text(run.name.to_string()),
                Param::Text(run.kind.to_string()),
                Param::Text(r.scenario.info.name.clone()),
                Param::Text(r.scenario.source.clone()),
                Param::OptText(r.scenario.digest.clone()),
                Param::Text(r.params.to_string()),
                Param::Int(r.seed as i64),
                Param::Text(r.target.clone()),
                Param::OptText(run.model.map(str::to_string)),
                Param::Text(r.volley_version.clone()),
                Param::Int(int(r.started_unix_ms)),
                Param::Real(r.duration_s),
                Param::Int(i64::from(r.interrupted)),
                Param::Int(i64::from(r.thresholds_failed())),
                Param::Int(int(sent)),
                Param::Int(int(ok)),
                Param::Int(now_ms()),
                Param::Text(json),
            ],
        )];
        for (k, v) in run.labels {
            statements.push((
                "INSERT INTO labels (run_id, key, value) VALUES ($1, $2, $3)",
                vec![Param::Text(id.clone()), Param::Text(k.clone()), Param::Text(v.clone())],
            ));
        }
        for (i, s) in r.stages.iter().enumerate() {
            let p = |m: Option<volley_core::Summary>, p99: bool| Param::OptReal(m.map(|m| if p99 { m.p99 } else { m.p50 }));
            let stage_json = serde_json::to_string(s).map_err(|e| StoreError::Invalid(format!("cannot encode a stage: {e}")))?;
            statements.push((
                "INSERT INTO stages (run_id, idx, name, sent, ok, failed, offered_rps, achieved_rps, goodput_rps,
                    output_tokens_per_s, ttft_p50_ms, ttft_p99_ms, itl_p50_ms, itl_p99_ms, latency_p50_ms, latency_p99_ms, report)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                vec![
                    Param::Text(id.clone()),
                    Param::Int(i as i64),
                    Param::Text(s.name.clone()),
                    Param::Int(int(s.requests.sent)),
                    Param::Int(int(s.requests.ok)),
                    Param::Int(int(s.requests.failed)),
                    Param::Real(s.offered_rps),
                    Param::Real(s.achieved_rps),
                    Param::OptReal(s.goodput_rps),
                    Param::Real(s.output_tokens_per_s),
                    p(s.ttft_ms, false),
                    p(s.ttft_ms, true),
                    p(s.itl_ms, false),
                    p(s.itl_ms, true),
                    p(s.latency_ms, false),
                    p(s.latency_ms, true),
                    Param::Text(stage_json),
                ],
            ));
        }
        for (i, t) in r.thresholds.iter().enumerate() {
            statements.push((
                "INSERT INTO thresholds (run_id, idx, expr, stage, value, passed) VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    Param::Text(id.clone()),
                    Param::Int(i as i64),
                    Param::Text(t.threshold.clone()),
                    Param::Text(t.stage.clone()),
                    Param::OptReal(t.value),
                    Param::Int(i64::from(t.passed)),
                ],
            ));
        }
        self.db.transaction(false, &statements)?;
        Ok(id)
    }

    /// Runs matching `filter`, newest first.
    pub fn list(&mut self, filter: &Filter) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = String::from(
            "SELECT id, name, kind, scenario, target, model, started_unix_ms, duration_s, sent, ok, interrupted, thresholds_failed
             FROM runs WHERE 1 = 1",
        );
        let mut params = Vec::new();
        let mut add = |sql: &mut String, clause: &str, p: Param| {
            params.push(p);
            sql.push_str(&clause.replace('?', &format!("${}", params.len())));
        };
        if let Some(id) = &filter.id {
            add(&mut sql, " AND id = ?", Param::Text(id.clone()));
        }
        if let Some(s) = &filter.scenario {
            add(&mut sql, " AND scenario = ?", Param::Text(s.clone()));
        }
        if let Some(t) = &filter.target {
            add(&mut sql, " AND target = ?", Param::Text(t.clone()));
        }
        if let Some(m) = &filter.model {
            add(&mut sql, " AND model = ?", Param::Text(m.clone()));
        }
        if let Some(since) = filter.since_unix_ms {
            add(&mut sql, " AND started_unix_ms >= ?", Param::Int(since));
        }
        for (k, v) in &filter.labels {
            add(&mut sql, " AND EXISTS (SELECT 1 FROM labels l WHERE l.run_id = runs.id AND l.key = ?", Param::Text(k.clone()));
            add(&mut sql, " AND l.value = ?)", Param::Text(v.clone()));
        }
        sql.push_str(" ORDER BY started_unix_ms DESC, stored_unix_ms DESC");
        if let Some(n) = filter.limit {
            add(&mut sql, " LIMIT ?", Param::Int(n.max(0)));
        }
        let rows = self.db.query(&sql, &params)?;
        let ids: Vec<String> = rows.iter().map(|r| r[0].text().unwrap_or_default().to_string()).collect();
        let mut labels = self.labels_of(&ids)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let text = |i: usize| r[i].text().unwrap_or_default().to_string();
            let id = text(0);
            out.push(RunRow {
                labels: labels.remove(&id).unwrap_or_default(),
                id,
                name: text(1),
                kind: text(2),
                scenario: text(3),
                target: text(4),
                model: r[5].text().map(str::to_string),
                started_unix_ms: r[6].int().unwrap_or(0),
                duration_s: r[7].real().unwrap_or(0.0),
                sent: r[8].int().unwrap_or(0),
                ok: r[9].int().unwrap_or(0),
                interrupted: r[10].int() == Some(1),
                thresholds_failed: r[11].int() == Some(1),
            });
        }
        Ok(out)
    }

    /// The labels of each of `ids`, a query per few hundred runs (not one per run).
    fn labels_of(&mut self, ids: &[String]) -> Result<std::collections::HashMap<String, Vec<(String, String)>>, StoreError> {
        let mut by_run: std::collections::HashMap<String, Vec<(String, String)>> = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT run_id, key, value FROM labels WHERE run_id IN ({}) ORDER BY run_id, key", marks.join(", "));
            let params: Vec<Param> = chunk.iter().map(|id| Param::Text(id.clone())).collect();
            for r in self.db.query(&sql, &params)? {
                let text = |i: usize| r[i].text().unwrap_or_default().to_string();
                by_run.entry(text(0)).or_default().push((text(1), text(2)));
            }
        }
        Ok(by_run)
    }

    /// The id a reference names: an id, a unique prefix of one, or `label:KEY=VALUE` (the
    /// latest run carrying it).
    pub fn resolve(&mut self, reference: &str) -> Result<String, StoreError> {
        if let Some(label) = reference.strip_prefix("label:") {
            let (k, v) =
                label.split_once('=').ok_or_else(|| StoreError::Invalid(format!("'{reference}': a label reference is label:KEY=VALUE")))?;
            let filter = Filter { labels: vec![(k.to_string(), v.to_string())], limit: Some(1), ..Filter::default() };
            return self
                .list(&filter)?
                .into_iter()
                .next()
                .map(|r| r.id)
                .ok_or_else(|| StoreError::NotFound(format!("no run in {} carries label {k}={v}", self.db.shown)));
        }
        if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(format!("'{reference}' is not a run id (hex digits), a prefix of one, or label:KEY=VALUE")));
        }
        let rows = self.db.query("SELECT id FROM runs WHERE id LIKE $1 ORDER BY id LIMIT 2", &[Param::Text(format!("{reference}%"))])?;
        match rows.as_slice() {
            [one] => Ok(one[0].text().unwrap_or_default().to_string()),
            [] => Err(StoreError::NotFound(format!("no run {reference} in {}", self.db.shown))),
            _ => Err(StoreError::Invalid(format!("'{reference}' names more than one run; give more of its id"))),
        }
    }

    /// The report of run `id`, as it was saved.
    pub fn report(&mut self, id: &str) -> Result<Report, StoreError> {
        let rows = self.db.query("SELECT report FROM runs WHERE id = $1", &[Param::Text(id.to_string())])?;
        let Some(Cell::Text(json)) = rows.into_iter().next().and_then(|r| r.into_iter().next()) else {
            return Err(StoreError::NotFound(format!("no run {id} in {}", self.db.shown)));
        };
        if json.len() > MAX_REPORT {
            return Err(StoreError::Invalid(format!("run {id}'s report is over {} MiB", MAX_REPORT >> 20)));
        }
        serde_json::from_str(&json).map_err(|e| StoreError::Invalid(format!("run {id}'s stored report does not read: {e}")))
    }

    /// Deletes run `id` (its stages, labels and thresholds with it); whether it was there.
    pub fn delete(&mut self, id: &str) -> Result<bool, StoreError> {
        let there = !self.db.query("SELECT id FROM runs WHERE id = $1", &[Param::Text(id.to_string())])?.is_empty();
        let id = Param::Text(id.to_string());
        // Children first: PostgreSQL cascades, SQLite only with its pragma; this works either way.
        self.db.transaction(
            false,
            &[
                ("DELETE FROM labels WHERE run_id = $1", vec![id.clone()]),
                ("DELETE FROM stages WHERE run_id = $1", vec![id.clone()]),
                ("DELETE FROM thresholds WHERE run_id = $1", vec![id.clone()]),
                ("DELETE FROM runs WHERE id = $1", vec![id]),
            ],
        )?;
        Ok(there)
    }

    /// How many rows each table holds (runs, stages, labels, thresholds): a consistency
    /// check's raw material.
    pub fn counts(&mut self) -> Result<[i64; 4], StoreError> {
        let mut out = [0; 4];
        let counts =
            ["SELECT COUNT(*) FROM runs", "SELECT COUNT(*) FROM stages", "SELECT COUNT(*) FROM labels", "SELECT COUNT(*) FROM thresholds"];
        for (n, sql) in out.iter_mut().zip(counts) {
            *n = self.db.query(sql, &[])?.first().and_then(|r| r.first()).and_then(Cell::int).unwrap_or(0);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_report::testing::{one_run, stage_with_ttfts};

    fn temp_store(name: &str) -> (std::path::PathBuf, Location) {
        let dir = std::env::temp_dir().join(format!("volley-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (dir.clone(), Location::Sqlite(dir.join("runs.sqlite")))
    }

    #[test]
    fn runs_are_saved_whole_listed_named_and_deleted() {
        let (dir, location) = temp_store("crud");
        let mut store = Store::open(&location).unwrap();
        let report = one_run(vec![stage_with_ttfts("s", &[10, 20, 30])]);
        let labels = vec![("build".to_string(), "a".to_string())];
        let a = store.save(&NewRun { kind: "run", name: "x-1", labels: &labels, model: Some("m"), report: &report }).unwrap();
        let labels_b = vec![("build".to_string(), "b".to_string())];
        let b = store.save(&NewRun { kind: "run", name: "x-2", labels: &labels_b, model: None, report: &report }).unwrap();
        assert_ne!(a, b);
        // Reopened (migrations run once): both are there, with their stage and labels.
        let mut store = Store::open(&location).unwrap();
        assert_eq!(store.counts().unwrap(), [2, 2, 2, 0]);
        let all = store.list(&Filter::default()).unwrap();
        assert_eq!(all.len(), 2);
        let only_a = store.list(&Filter { labels: labels.clone(), ..Filter::default() }).unwrap();
        assert_eq!((only_a.len(), only_a[0].id.as_str(), only_a[0].model.as_deref(), only_a[0].sent), (1, a.as_str(), Some("m"), 3));
        assert_eq!(store.resolve("label:build=b").unwrap(), b);
        assert_eq!(store.resolve(&a[..10]).unwrap(), a);
        assert!(store.resolve("label:build=c").unwrap_err().to_string().contains("carries label build=c"));
        assert!(store.resolve("zz").unwrap_err().to_string().contains("not a run id"));
        let back = store.report(&a).unwrap();
        assert_eq!(back.stages[0].ttft_ms.unwrap().p50, report.stages[0].ttft_ms.unwrap().p50);
        assert!(store.delete(&a).unwrap());
        assert_eq!(store.counts().unwrap(), [1, 1, 1, 0]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_each_land_once() {
        let (dir, location) = temp_store("concurrent");
        let report = one_run(vec![stage_with_ttfts("s", &[5])]);
        std::thread::scope(|s| {
            for i in 0..4 {
                let (location, report) = (&location, &report);
                s.spawn(move || {
                    let mut store = Store::open(location).unwrap();
                    for k in 0..5 {
                        let name = format!("w{i}-{k}");
                        store.save(&NewRun { kind: "run", name: &name, labels: &[], model: None, report }).unwrap();
                    }
                });
            }
        });
        assert_eq!(Store::open(&location).unwrap().counts().unwrap(), [20, 20, 0, 0]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
