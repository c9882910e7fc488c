//! Where the run store is: `--store` (a path, or a `postgres://` URL), else
//! `$VOLLEY_STORE`, else `runs.sqlite` in Volley's folder of the user's data directory
//! (`$XDG_DATA_HOME/volley`, else `~/.local/share/volley`).

use std::path::PathBuf;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL (credentials may be in it: see [`Location::shown`]).
    Postgres(String),
}

impl Location {
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }

    /// The flag's value, else `$VOLLEY_STORE`, else the default file.
    pub fn resolve(flag: Option<&str>) -> Result<Location, StoreError> {
        if let Some(f) = flag.filter(|f| !f.is_empty()) {
            return Ok(Location::parse(f));
        }
        if let Some(v) = std::env::var("VOLLEY_STORE").ok().filter(|v| !v.is_empty()) {
            return Ok(Location::parse(&v));
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".local/share")))
            .ok_or_else(|| StoreError::Invalid("no run store: set VOLLEY_STORE, or HOME for the default one".into()))?;
        Ok(Location::Sqlite(data.join("volley").join("runs.sqlite")))
    }

    /// As messages show it: a URL's password replaced by `***`.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => redact(url),
        }
    }

    /// A PostgreSQL store's host and port, for the egress gate.
    pub fn postgres_endpoint(&self) -> Option<(String, u16)> {
        let Location::Postgres(url) = self else { return None };
        let rest = url.split_once("://")?.1;
        let authority = rest.split(['/', '?']).next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
            _ => (host_port, 5432),
        };
        Some((host.trim_matches(['[', ']']).to_string(), port))
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_their_passwords_never_show() {
        let l = Location::parse("postgres://volley:s3cret@db.local:6543/runs?sslmode=disable");
        assert_eq!(l.shown(), "postgres://volley:***@db.local:6543/runs?sslmode=disable");
        assert_eq!(l.postgres_endpoint(), Some(("db.local".into(), 6543)));
        assert_eq!(Location::parse("postgresql://h/db").postgres_endpoint(), Some(("h".into(), 5432)));
        assert_eq!(Location::parse("runs.db"), Location::Sqlite("runs.db".into()));
    }
}
