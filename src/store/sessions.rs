//! The HTTP session store: tower-sessions over the same database as everything else, so replicas share sessions
//! (the IdP session, the administrator's, CSRF tokens and one-time messages).
//!
//! It owns the store's typed pool (tower-sessions-sqlx-store needs one, apart from the `sqlx::Any` pool) and the
//! creation of its table; it knows nothing of what the sessions hold, which is `web`'s business.

use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The sqlx session store of whichever backend the configuration names, with its pool (to close it).
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore, sqlx::SqlitePool),
    Postgres(PostgresStore, sqlx::PgPool),
}

/// The PostgreSQL advisory lock that replicas starting together take around the session table's creation.
const MIGRATION_LOCK: i64 = 0x5e5a_3e00_5e55;

impl Store {
    /// Connects a typed pool for the session store and creates its table.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(crate::store::acquire_timeout(crate::store::Backend::Postgres))
                .connect(url)
                .await?;
            let store = PostgresStore::new(pool.clone());
            // `migrate` runs CREATE SCHEMA/TABLE IF NOT EXISTS, which two replicas starting at once can race on
            // (a unique violation in the catalog); the lock makes the second one find the table made.
            let mut lock = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *lock).await?;
            let migrated = store.migrate().await;
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *lock).await?;
            migrated?;
            Ok(Self::Postgres(store, pool))
        } else {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
            let store = SqliteStore::new(pool.clone());
            store.migrate().await?;
            Ok(Self::Sqlite(store, pool))
        }
    }

    /// Closes the pool once requests are done.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(_, pool) => pool.close().await,
            Self::Postgres(_, pool) => pool.close().await,
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s, _) => s.create(record).await,
            Self::Postgres(s, _) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s, _) => s.save(record).await,
            Self::Postgres(s, _) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s, _) => s.load(id).await,
            Self::Postgres(s, _) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s, _) => s.delete(id).await,
            Self::Postgres(s, _) => s.delete(id).await,
        }
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s, _) => s.delete_expired().await,
            Self::Postgres(s, _) => s.delete_expired().await,
        }
    }
}
