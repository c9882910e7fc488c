//! One connection to the store, SQLite or PostgreSQL, behind the few operations Volley
//! needs: a batch of DDL, a query with parameters, and statements run in one transaction.
//! Statements are written once for both: `$1`, `$2`… placeholders (SQLite reads `$1` as
//! a parameter bound by position, in order of first appearance), `BIGINT`, `DOUBLE
//! PRECISION` and `TEXT` columns.

use std::time::Duration;

use crate::{Location, StoreError};

/// A parameter of a statement.
#[derive(Debug, Clone)]
pub enum Param {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    Real(f64),
    OptReal(Option<f64>),
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    pub fn text(&self) -> Option<&str> {
        if let Cell::Text(t) = self { Some(t) } else { None }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn real(&self) -> Option<f64> {
        match self {
            Cell::Real(r) => Some(*r),
            Cell::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

/// A statement and its parameters, to run in a transaction.
pub type Statement = (&'static str, Vec<Param>);

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

pub struct Db {
    conn: Conn,
    /// The store as messages name it.
    pub shown: String,
    pub postgres: bool,
}

/// How long a writer waits for another's lock (SQLite) or a connection (PostgreSQL).
const WAIT: Duration = Duration::from_secs(30);

impl Db {
    pub fn open(location: &Location) -> Result<Db, StoreError> {
        let shown = location.shown();
        let fail = |e: &dyn std::fmt::Display| StoreError::Db { where_: shown.clone(), message: e.to_string() };
        let (conn, postgres) = match location {
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| fail(&format!("cannot create {}: {e}", dir.display())))?;
                }
                let c = rusqlite::Connection::open(path).map_err(|e| fail(&e))?;
                c.busy_timeout(WAIT).map_err(|e| fail(&e))?;
                // WAL: readers never block the writer; foreign keys: a deleted run takes
                // its stages, labels and thresholds.
                c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                    .map_err(|e| fail(&e))?;
                (Conn::Sqlite(c), false)
            }
            Location::Postgres(url) => {
                let mut config: postgres::Config = url.parse().map_err(|e| fail(&e))?;
                config.connect_timeout(WAIT);
                let c = config.connect(postgres::NoTls).map_err(|e| fail(&e))?;
                (Conn::Postgres(Box::new(c)), true)
            }
        };
        Ok(Db { conn, shown, postgres })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db { where_: self.shown.clone(), message: e.to_string() }
    }

    /// Rows of `sql` with `params`.
    pub fn query(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let result = match &mut self.conn {
            Conn::Sqlite(c) => sqlite_query(c, sql, params),
            Conn::Postgres(c) => postgres_query(c, sql, params),
        };
        result.map_err(|e| self.err(e))
    }

    /// `statements` in one transaction: all of them or none. `lock` first takes the
    /// store's write lock (migrations: concurrent writers migrate one at a time).
    pub fn transaction(&mut self, lock: bool, statements: &[Statement]) -> Result<(), StoreError> {
        let result = match &mut self.conn {
            Conn::Sqlite(c) => (|| {
                // IMMEDIATE: the write lock now, so two writers never both read then write.
                let tx = rusqlite::Transaction::new(c, rusqlite::TransactionBehavior::Immediate)?;
                for (sql, params) in statements {
                    tx.execute(sql, rusqlite::params_from_iter(params.iter().map(sqlite_value)))?;
                }
                tx.commit()
            })()
            .map_err(|e| e.to_string()),
            Conn::Postgres(c) => (|| {
                let mut tx = c.transaction()?;
                if lock {
                    tx.execute("SELECT pg_advisory_xact_lock(7305112)", &[])?;
                }
                for (sql, params) in statements {
                    let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params.iter().map(postgres_value).collect();
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|b| &**b).collect();
                    tx.execute(*sql, &refs)?;
                }
                tx.commit()
            })()
            .map_err(|e| e.to_string()),
        };
        result.map_err(|e| self.err(e))
    }
}

fn sqlite_value(p: &Param) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match p {
        Param::Text(t) => Value::Text(t.clone()),
        Param::OptText(t) => t.clone().map_or(Value::Null, Value::Text),
        Param::Int(i) => Value::Integer(*i),
        Param::Real(r) => Value::Real(*r),
        Param::OptReal(r) => r.map_or(Value::Null, Value::Real),
    }
}

fn sqlite_query(c: &rusqlite::Connection, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
    let mut stmt = c.prepare(sql).map_err(|e| e.to_string())?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter().map(sqlite_value)), |row| {
            (0..n)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Cell::Null,
                        rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
                        rusqlite::types::ValueRef::Real(v) => Cell::Real(v),
                        rusqlite::types::ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                        rusqlite::types::ValueRef::Blob(_) => Cell::Null,
                    })
                })
                .collect::<Result<Vec<_>, rusqlite::Error>>()
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

fn postgres_value(p: &Param) -> Box<dyn postgres::types::ToSql + Sync> {
    match p {
        Param::Text(t) => Box::new(t.clone()),
        Param::OptText(t) => Box::new(t.clone()),
        Param::Int(i) => Box::new(*i),
        Param::Real(r) => Box::new(*r),
        Param::OptReal(r) => Box::new(*r),
    }
}

fn postgres_query(c: &mut postgres::Client, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, String> {
    use postgres::types::Type;
    let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params.iter().map(postgres_value).collect();
    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|b| &**b).collect();
    let rows = c.query(sql, &refs).map_err(|e| e.to_string())?;
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let ty = row.columns()[i].type_().clone();
                    let cell = if ty == Type::INT8 {
                        row.try_get::<_, Option<i64>>(i).map(|v| v.map_or(Cell::Null, Cell::Int))
                    } else if ty == Type::INT4 {
                        row.try_get::<_, Option<i32>>(i).map(|v| v.map_or(Cell::Null, |v| Cell::Int(i64::from(v))))
                    } else if ty == Type::FLOAT8 {
                        row.try_get::<_, Option<f64>>(i).map(|v| v.map_or(Cell::Null, Cell::Real))
                    } else {
                        row.try_get::<_, Option<String>>(i).map(|v| v.map_or(Cell::Null, Cell::Text))
                    };
                    cell.map_err(|e| e.to_string())
                })
                .collect()
        })
        .collect()
}
