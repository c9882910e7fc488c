//! # volley-store
//!
//! The run store: every `volley run`, trial and `merge` keeps its report here (unless
//! told not to), beside the directory outputs, so runs can be listed, compared over time
//! and used as baselines. An embedded SQLite file by default (`$VOLLEY_STORE`, else
//! `runs.sqlite` under the user's data directory), PostgreSQL (`postgres://…`) for teams
//! and clusters.
//!
//! - [`location`]: where the store is, from the flag, the environment or the default;
//! - [`schema`]: the versioned schema and its migrations, applied on open;
//! - [`db`]: one connection, SQLite or PostgreSQL, behind the few statements Volley uses;
//! - [`runs`]: saving a run in one transaction, listing, reading back, naming a run
//!   (`id`, a unique prefix, `label:KEY=VALUE`) and deleting;
//! - [`sink`]: the store as one of a run's outputs.

pub mod db;
pub mod location;
pub mod runs;
pub mod schema;
pub mod sink;

pub use location::Location;
pub use runs::{Filter, NewRun, RunRow, Store};
pub use sink::StoreSink;

/// Why the store could not be used, in one line (a PostgreSQL password never shows).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run store {where_}: {message}")]
    Db { where_: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}
