//! Storage: sqlx repositories and migrations. SQLite (WAL) by default, PostgreSQL by URL.
//!
//! Architecture Invariant: only this module writes SQL. DDL lives per backend under `migrations/{sqlite,postgres}`
//! with the same numbers; DML is written once, with `$n` placeholders, integers for booleans and Unix milliseconds
//! for times, so both backends run the same queries. Functions take a connection, so a service can run several in
//! one transaction, and they hold no business rules.

pub mod admins;
pub mod api_tokens;
pub mod apps;
pub mod certs;
pub mod events;
pub mod groups;
pub mod idm;
pub mod imports;
pub mod jobs;
pub mod links;
pub mod logos;
pub mod mail;
pub mod metadata_sources;
pub mod mfa;
pub mod sealed;
pub mod sessions;
pub mod slo;
pub mod sso;
pub mod throttle;
pub mod users;
pub mod webauthn;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    #[error("stored {what} could not be read: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("file {path} could not be {action}")]
    File {
        path: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl Error {
    /// Maps a unique-constraint violation to `Conflict`, the one place where that translation happens.
    pub fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict { what },
            _ => Self::Database(e),
        }
    }

    /// Whether the database could not be reached (not running yet, restarting, refusing connections for now), as
    /// opposed to a refusal that waiting does not change (a wrong password, a missing database, a bad URL).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => true,
            // PostgreSQL: class 08 is a connection exception; 57P01-57P03 are a server shutting down, crashing or
            // starting up; 53300 is too many connections.
            Self::Database(sqlx::Error::Database(e)) => e.code().is_some_and(|code| {
                code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
            }),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool and which backend it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects, creating an SQLite file when missing, and runs migrations.
    ///
    /// One connection is opened first on its own, so an unreachable server fails at once with its real reason
    /// (the pool would retry until its timeout and report only that); `lib::open` decides whether to wait.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        AnyConnection::connect_with(&options).await?.close().await?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(acquire_timeout(backend))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the CLI write while `serve` reads; busy_timeout makes writers queue instead
                        // of failing; foreign keys are off by default in SQLite.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Self { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), Error> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    /// A transaction for a change. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), waiting for it
    /// in the busy handler: a deferred transaction that reads and then writes fails at once with `SQLITE_BUSY`
    /// when another connection wrote in between (its snapshot cannot become a write), which the busy handler
    /// cannot wait out. On PostgreSQL rows are locked as they are written.
    pub async fn begin(&self) -> Result<Tx<'static>, Error> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, Error> {
        Ok(self.pool.acquire().await?)
    }
}

/// How long a request waits for a pooled connection. On PostgreSQL it is short, so that while the server is down
/// a request fails within seconds (the page says the service is briefly unavailable) instead of hanging until the
/// request timeout; sqlx keeps trying to connect within it, so the first request after the server is back
/// succeeds. SQLite is a local file: its waits are for the write lock, which the busy handler serves.
pub fn acquire_timeout(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_secs(10),
        Backend::Postgres => Duration::from_secs(3),
    }
}

/// Shorthand for the connection type repository functions take.
pub type Conn = AnyConnection;

/// `NotFound` when a statement that names one row by key changed none.
pub(crate) fn touched(done: sqlx::any::AnyQueryResult, what: &'static str) -> Result<(), Error> {
    if done.rows_affected() == 0 {
        return Err(Error::NotFound { what });
    }
    Ok(())
}

pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// A `LIKE … ESCAPE '\'` pattern matching `text` anywhere, case-folded (callers compare with `LOWER(column)`),
/// with the wildcards in `text` taken literally.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
