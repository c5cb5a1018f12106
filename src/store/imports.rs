//! Background imports of an SP's accounts into the directory: one row per import, with its progress.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::AppId;
use crate::store::{touched, Conn, Error};

/// An SP account waiting to be imported (what the directory needs of it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub user_name: String,
    pub id: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    /// Added after the first imports: rows saved before read as empty.
    #[serde(default)]
    pub preferred_language: String,
    #[serde(default)]
    pub work_street: String,
    #[serde(default)]
    pub work_locality: String,
    #[serde(default)]
    pub work_region: String,
    #[serde(default)]
    pub work_postal_code: String,
    #[serde(default)]
    pub work_country: String,
}

/// One import and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Import {
    pub id: i64,
    #[serde(skip)]
    pub app: AppId,
    /// The userNames asked for; `None`: every account the directory does not have.
    pub selected: Option<Vec<String>>,
    /// `listing`, `importing`, `done` or `failed`.
    pub state: String,
    #[serde(skip)]
    pub remaining: Vec<Account>,
    pub total: i64,
    pub imported: i64,
    pub skipped: i64,
    pub last_error: String,
    pub actor: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, app_id, selected, state, remaining, total, imported, skipped, last_error, actor, created_at, updated_at";

pub async fn insert_import(
    conn: &mut Conn,
    app: AppId,
    selected: Option<&[String]>,
    actor: &str,
    now_ms: i64,
) -> Result<i64, Error> {
    let selected = selected.map(serde_json::to_string).transpose().map_err(corrupt)?;
    let row = sqlx::query(
        "INSERT INTO idm_imports (app_id, selected, state, actor, created_at, updated_at) \
         VALUES ($1, $2, 'listing', $3, $4, $4) RETURNING id",
    )
    .bind(app.0)
    .bind(selected)
    .bind(actor)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("id")?)
}

pub async fn find_import(conn: &mut Conn, id: i64) -> Result<Option<Import>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM idm_imports WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await?;
    row.map(|r| import_from_row(&r)).transpose()
}

/// The app's imports, newest first.
pub async fn list_imports(conn: &mut Conn, app: AppId, limit: i64) -> Result<Vec<Import>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM idm_imports WHERE app_id = $1 ORDER BY id DESC LIMIT $2");
    let rows = sqlx::query(&sql).bind(app.0).bind(limit).fetch_all(&mut *conn).await?;
    rows.iter().map(import_from_row).collect()
}

/// Saves an import's state and progress.
pub async fn save_progress(conn: &mut Conn, import: &Import, now_ms: i64) -> Result<(), Error> {
    let remaining = serde_json::to_string(&import.remaining).map_err(corrupt)?;
    let result = sqlx::query(
        "UPDATE idm_imports SET state = $1, remaining = $2, total = $3, imported = $4, skipped = $5, \
         last_error = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&import.state)
    .bind(remaining)
    .bind(import.total)
    .bind(import.imported)
    .bind(import.skipped)
    .bind(&import.last_error)
    .bind(now_ms)
    .bind(import.id)
    .execute(&mut *conn)
    .await?;
    touched(result, "import")
}

fn corrupt(e: serde_json::Error) -> Error {
    Error::Corrupt { what: "import", reason: e.to_string() }
}

fn import_from_row(row: &AnyRow) -> Result<Import, Error> {
    let selected: Option<String> = row.try_get("selected")?;
    let remaining: String = row.try_get("remaining")?;
    Ok(Import {
        id: row.try_get("id")?,
        app: AppId(row.try_get("app_id")?),
        selected: selected.map(|s| serde_json::from_str(&s)).transpose().map_err(corrupt)?,
        state: row.try_get("state")?,
        remaining: serde_json::from_str(&remaining).map_err(corrupt)?,
        total: row.try_get("total")?,
        imported: row.try_get("imported")?,
        skipped: row.try_get("skipped")?,
        last_error: row.try_get("last_error")?,
        actor: row.try_get("actor")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
