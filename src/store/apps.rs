//! Applications, their bound groups, and the portal's view of them.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::application::SpSettings;
use crate::directory::{AppId, AppKind, AppName, Application, GroupId, UserId};
use crate::store::{flag, touched, Conn, Error};

const COLUMNS: &str = "id, name, display_label, description, show_in_portal, kind, bookmark_url, is_active, settings";

/// The parts of an application that are written together.
#[derive(Debug)]
pub struct AppRecord<'a> {
    pub display_label: &'a str,
    pub description: &'a str,
    pub show_in_portal: bool,
    pub kind: AppKind,
    pub bookmark_url: Option<&'a str>,
    pub is_active: bool,
    pub sp: &'a SpSettings,
}

pub async fn insert_app(conn: &mut Conn, name: &AppName, app: &AppRecord<'_>, now_ms: i64) -> Result<AppId, Error> {
    let settings = settings_json(app.sp)?;
    let row = sqlx::query(
        "INSERT INTO applications (name, display_label, description, show_in_portal, kind, bookmark_url, is_active, \
         settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(name.as_str())
    .bind(app.display_label)
    .bind(app.description)
    .bind(flag(app.show_in_portal))
    .bind(app.kind.as_str())
    .bind(app.bookmark_url)
    .bind(flag(app.is_active))
    .bind(settings)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::conflict_as("application"))?;
    Ok(AppId(row.try_get("id")?))
}

/// Rewrites everything but the immutable name.
pub async fn update_app(conn: &mut Conn, id: AppId, app: &AppRecord<'_>, now_ms: i64) -> Result<(), Error> {
    let settings = settings_json(app.sp)?;
    let done = sqlx::query(
        "UPDATE applications SET display_label = $1, description = $2, show_in_portal = $3, kind = $4, \
         bookmark_url = $5, is_active = $6, settings = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(app.display_label)
    .bind(app.description)
    .bind(flag(app.show_in_portal))
    .bind(app.kind.as_str())
    .bind(app.bookmark_url)
    .bind(flag(app.is_active))
    .bind(settings)
    .bind(now_ms)
    .bind(id.0)
    .execute(&mut *conn)
    .await?;
    touched(done, "application")
}

/// Locks application `name` until the transaction ends, and says whether it exists. Changes that read and then
/// write an application's certificates start with it, so processes take turns: a row lock on PostgreSQL, the write
/// lock on SQLite (taken first, so another writer waits instead of failing to upgrade a read).
pub async fn lock_app(conn: &mut Conn, name: &str) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE applications SET updated_at = updated_at WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find_app(conn: &mut Conn, name: &str) -> Result<Option<Application>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM applications WHERE name = $1");
    let row = sqlx::query(&sql).bind(name).fetch_optional(&mut *conn).await?;
    row.map(|r| app_from_row(&r)).transpose()
}

pub async fn get_app(conn: &mut Conn, name: &str) -> Result<Application, Error> {
    find_app(conn, name).await?.ok_or(Error::NotFound { what: "application" })
}

pub async fn get_app_by_id(conn: &mut Conn, id: AppId) -> Result<Application, Error> {
    let sql = format!("SELECT {COLUMNS} FROM applications WHERE id = $1");
    let row = sqlx::query(&sql).bind(id.0).fetch_optional(&mut *conn).await?;
    row.map(|r| app_from_row(&r)).transpose()?.ok_or(Error::NotFound { what: "application" })
}

pub async fn list_apps(conn: &mut Conn) -> Result<Vec<Application>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM applications ORDER BY display_label, name");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(app_from_row).collect()
}

/// Applications shown in the portal that a group containing the user is bound to.
pub async fn list_portal_apps(conn: &mut Conn, user: UserId) -> Result<Vec<Application>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE show_in_portal = 1 AND is_active = 1 AND id IN \
         (SELECT ag.app_id FROM app_groups ag JOIN group_members gm ON gm.group_id = ag.group_id \
          WHERE gm.user_id = $1) ORDER BY display_label, name"
    );
    let rows = sqlx::query(&sql).bind(user.0).fetch_all(&mut *conn).await?;
    rows.iter().map(app_from_row).collect()
}

pub async fn insert_binding(conn: &mut Conn, app: AppId, group: GroupId) -> Result<(), Error> {
    sqlx::query("INSERT INTO app_groups (app_id, group_id) VALUES ($1, $2)")
        .bind(app.0)
        .bind(group.0)
        .execute(&mut *conn)
        .await
        .map_err(Error::conflict_as("binding"))?;
    Ok(())
}

pub async fn delete_binding(conn: &mut Conn, app: AppId, group: GroupId) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM app_groups WHERE app_id = $1 AND group_id = $2")
        .bind(app.0)
        .bind(group.0)
        .execute(&mut *conn)
        .await?;
    touched(done, "binding")
}

pub async fn list_bound_group_ids(conn: &mut Conn, app: AppId) -> Result<Vec<GroupId>, Error> {
    let rows =
        sqlx::query("SELECT group_id FROM app_groups WHERE app_id = $1").bind(app.0).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok(GroupId(r.try_get("group_id")?))).collect()
}

fn settings_json(sp: &SpSettings) -> Result<String, Error> {
    serde_json::to_string(sp).map_err(|e| Error::Corrupt { what: "application settings", reason: e.to_string() })
}

fn app_from_row(row: &AnyRow) -> Result<Application, Error> {
    let name: String = row.try_get("name")?;
    let name = AppName::parse(&name).map_err(|e| Error::Corrupt { what: "application name", reason: e.to_string() })?;
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "saml" => AppKind::Saml,
        "bookmark" => AppKind::Bookmark,
        _ => return Err(Error::Corrupt { what: "application kind", reason: kind }),
    };
    let settings: String = row.try_get("settings")?;
    let sp = serde_json::from_str(&settings)
        .map_err(|e| Error::Corrupt { what: "application settings", reason: e.to_string() })?;
    Ok(Application {
        id: AppId(row.try_get("id")?),
        name,
        display_label: row.try_get("display_label")?,
        description: row.try_get("description")?,
        show_in_portal: row.try_get::<i64, _>("show_in_portal")? != 0,
        kind,
        bookmark_url: row.try_get("bookmark_url")?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        sp,
    })
}

/// Applications whose name, label or description contains `text` (case-insensitive), of `kind`, after the name
/// `after`, ordered by name, at most `limit`.
pub async fn list_apps_page(
    conn: &mut Conn,
    text: Option<&str>,
    kind: Option<AppKind>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Application>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM applications WHERE ($1 IS NULL OR name > $1) \
         AND ($2 IS NULL OR LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(display_label) LIKE $2 ESCAPE '\\' \
              OR LOWER(description) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR kind = $3) ORDER BY name LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(text.map(crate::store::like_pattern))
        .bind(kind.map(AppKind::as_str))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(app_from_row).collect()
}

/// Deletes an application; its bindings, certificates, integration and jobs go with it (foreign keys).
pub async fn delete_app(conn: &mut Conn, id: AppId) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM applications WHERE id = $1").bind(id.0).execute(&mut *conn).await?;
    touched(done, "application")
}

/// Names of the groups bound to an application.
pub async fn list_bound_group_names(conn: &mut Conn, app: AppId) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT g.name FROM user_groups g JOIN app_groups ag ON ag.group_id = g.id WHERE ag.app_id = $1 \
         ORDER BY g.name",
    )
    .bind(app.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
}
