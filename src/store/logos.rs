//! Portal tile logos: one image per application, its bytes in the database so every replica serves the same.

use sqlx::Row;

use crate::directory::AppId;
use crate::store::{Conn, Error};

/// A stored logo without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoRow {
    pub media_type: String,
    pub size: i64,
    pub version: String,
    pub updated_at_ms: i64,
}

/// Stores (or replaces) an application's logo.
pub async fn upsert_logo(
    conn: &mut Conn,
    app: AppId,
    media_type: &str,
    bytes: &[u8],
    version: &str,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO app_logos (app_id, media_type, bytes, size, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (app_id) DO UPDATE SET media_type = $2, bytes = $3, size = $4, version = $5, updated_at = $6",
    )
    .bind(app.0)
    .bind(media_type)
    .bind(bytes.to_vec())
    .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
    .bind(version)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes an application's logo; false when it had none.
pub async fn delete_logo(conn: &mut Conn, app: AppId) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM app_logos WHERE app_id = $1").bind(app.0).execute(&mut *conn).await?;
    Ok(done.rows_affected() > 0)
}

/// An application's logo, without its bytes.
pub async fn find_logo(conn: &mut Conn, app: AppId) -> Result<Option<LogoRow>, Error> {
    let row = sqlx::query("SELECT media_type, size, version, updated_at FROM app_logos WHERE app_id = $1")
        .bind(app.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(LogoRow {
            media_type: r.try_get("media_type")?,
            size: r.try_get("size")?,
            version: r.try_get("version")?,
            updated_at_ms: r.try_get("updated_at")?,
        })
    })
    .transpose()
}

/// The logo of application `name` with its bytes: `(media type, version, bytes)`.
pub async fn find_logo_image(conn: &mut Conn, name: &str) -> Result<Option<(String, String, Vec<u8>)>, Error> {
    let row = sqlx::query(
        "SELECT l.media_type, l.version, l.bytes FROM app_logos l JOIN applications a ON a.id = l.app_id \
         WHERE a.name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((r.try_get("media_type")?, r.try_get("version")?, r.try_get("bytes")?))).transpose()
}

/// The version of every stored logo, by application (the portal names each tile's image by it).
pub async fn list_logo_versions(conn: &mut Conn) -> Result<Vec<(AppId, String)>, Error> {
    let rows = sqlx::query("SELECT app_id, version FROM app_logos").fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok((AppId(r.try_get("app_id")?), r.try_get("version")?))).collect()
}
