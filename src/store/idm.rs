//! Identity-management integrations (one per application) and the links between our users and groups and the
//! SP's resources.

use std::collections::BTreeSet;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::{AppId, GroupId, UserId};
use crate::store::{flag, users, Conn, Error};

/// An application's SCIM integration as stored (the token stays sealed here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub app: AppId,
    pub kind: String,
    pub base_url: String,
    pub token_sealed: String,
    pub manage_groups: bool,
    pub soft_delete: bool,
    pub is_active: bool,
    /// Optional SCIM mapping entries (by path) the admin excluded.
    pub excluded_attributes: BTreeSet<String>,
    /// Seconds between reconciliations; 0: the configured `reconcile_interval_secs`.
    pub reconcile_interval_secs: i64,
    /// When the next reconciliation is due (Unix milliseconds; 0: at once).
    pub next_reconcile_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub remote_id: String,
    pub remote_name: String,
    pub is_active: bool,
}

const INTEGRATION_COLUMNS: &str = "app_id, kind, base_url, token_enc, manage_groups, soft_delete, is_active, \
     excluded_attributes, reconcile_interval_secs, next_reconcile_at";

pub async fn upsert_integration(conn: &mut Conn, i: &Integration, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO idm_integrations (app_id, kind, base_url, token_enc, manage_groups, soft_delete, is_active, \
         excluded_attributes, reconcile_interval_secs, next_reconcile_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $9, $9) \
         ON CONFLICT (app_id) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, \
         token_enc = excluded.token_enc, manage_groups = excluded.manage_groups, soft_delete = excluded.soft_delete, \
         is_active = excluded.is_active, excluded_attributes = excluded.excluded_attributes, \
         reconcile_interval_secs = excluded.reconcile_interval_secs, next_reconcile_at = excluded.next_reconcile_at, \
         updated_at = excluded.updated_at",
    )
    .bind(i.app.0)
    .bind(&i.kind)
    .bind(&i.base_url)
    .bind(&i.token_sealed)
    .bind(flag(i.manage_groups))
    .bind(flag(i.soft_delete))
    .bind(flag(i.is_active))
    .bind(
        serde_json::to_string(&i.excluded_attributes)
            .map_err(|e| Error::Corrupt { what: "excluded attributes", reason: e.to_string() })?,
    )
    .bind(now_ms)
    .bind(i.reconcile_interval_secs)
    .bind(i.next_reconcile_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn find_integration(conn: &mut Conn, app: AppId) -> Result<Option<Integration>, Error> {
    let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM idm_integrations WHERE app_id = $1");
    let row = sqlx::query(&sql).bind(app.0).fetch_optional(&mut *conn).await?;
    row.map(|r| integration_from_row(&r)).transpose()
}

pub async fn list_active_integrations(conn: &mut Conn) -> Result<Vec<Integration>, Error> {
    let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM idm_integrations WHERE is_active = 1");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(integration_from_row).collect()
}

/// Active integrations whose next reconciliation is due at `now_ms`.
pub async fn list_due_reconciliations(conn: &mut Conn, now_ms: i64) -> Result<Vec<Integration>, Error> {
    let sql = format!(
        "SELECT {INTEGRATION_COLUMNS} FROM idm_integrations WHERE is_active = 1 AND next_reconcile_at <= $1 \
         ORDER BY app_id"
    );
    let rows = sqlx::query(&sql).bind(now_ms).fetch_all(&mut *conn).await?;
    rows.iter().map(integration_from_row).collect()
}

/// Moves an integration's next reconciliation from `due` (as read) to `next`. `false` when another replica moved it
/// first, so each due reconciliation is scheduled once.
pub async fn claim_reconciliation(conn: &mut Conn, app: AppId, due: i64, next: i64) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE idm_integrations SET next_reconcile_at = $1 WHERE app_id = $2 AND next_reconcile_at = $3 \
         AND is_active = 1",
    )
    .bind(next)
    .bind(app.0)
    .bind(due)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Applications with an active integration that `user` is provisioned to or may be: linked, or in a bound group.
pub async fn list_apps_for_user(conn: &mut Conn, user: UserId) -> Result<Vec<AppId>, Error> {
    let rows = sqlx::query(
        "SELECT i.app_id FROM idm_integrations i WHERE i.is_active = 1 AND ( \
           EXISTS (SELECT 1 FROM idm_user_links l WHERE l.app_id = i.app_id AND l.user_id = $1) \
           OR EXISTS (SELECT 1 FROM app_groups ag JOIN group_members gm ON gm.group_id = ag.group_id \
                      WHERE ag.app_id = i.app_id AND gm.user_id = $1))",
    )
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(AppId(r.try_get("app_id")?))).collect()
}

/// Applications with an active integration that `group` is bound to or linked with.
pub async fn list_apps_for_group(conn: &mut Conn, group: GroupId) -> Result<Vec<AppId>, Error> {
    let rows = sqlx::query(
        "SELECT i.app_id FROM idm_integrations i WHERE i.is_active = 1 AND ( \
           EXISTS (SELECT 1 FROM idm_group_links l WHERE l.app_id = i.app_id AND l.group_id = $1) \
           OR EXISTS (SELECT 1 FROM app_groups ag WHERE ag.app_id = i.app_id AND ag.group_id = $1))",
    )
    .bind(group.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(AppId(r.try_get("app_id")?))).collect()
}

/// What a user job needs, in one statement: the user (if not deleted), the link to the SP's account, and whether
/// the user is assigned (active and in a bound group; the same rule as SSO access).
pub async fn user_state(
    conn: &mut Conn,
    app: AppId,
    user: UserId,
) -> Result<(Option<crate::directory::User>, Option<Link>, bool), Error> {
    let columns: Vec<String> = users::COLUMNS.split(", ").map(|c| format!("u.{c}")).collect();
    let sql = format!(
        "SELECT {}, l.remote_id, l.remote_name, l.is_active AS link_active, \
           CAST(CASE WHEN u.status = 'active' AND EXISTS (SELECT 1 FROM group_members gm \
             JOIN app_groups ag ON ag.group_id = gm.group_id WHERE gm.user_id = u.id AND ag.app_id = $2) \
           THEN 1 ELSE 0 END AS BIGINT) AS assigned \
         FROM users u LEFT JOIN idm_user_links l ON l.app_id = $2 AND l.user_id = u.id WHERE u.id = $1",
        columns.join(", ")
    );
    let Some(row) = sqlx::query(&sql).bind(user.0).bind(app.0).fetch_optional(&mut *conn).await? else {
        // Deleted: only the link is left to act on.
        return Ok((None, find_user_link(conn, app, user).await?, false));
    };
    let link = match row.try_get::<Option<String>, _>("remote_id")? {
        Some(remote_id) => Some(Link {
            remote_id,
            remote_name: row.try_get::<Option<String>, _>("remote_name")?.unwrap_or_default(),
            is_active: row.try_get::<Option<i64>, _>("link_active")?.unwrap_or(0) != 0,
        }),
        None => None,
    };
    let assigned = row.try_get::<i64, _>("assigned")? != 0;
    Ok((Some(users::user_from_row(&row)?), link, assigned))
}

pub async fn is_bound(conn: &mut Conn, app: AppId, group: GroupId) -> Result<bool, Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM app_groups WHERE app_id = $1 AND group_id = $2")
        .bind(app.0)
        .bind(group.0)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Remote ids of the group's members that are provisioned (linked and active) in the app's SP.
pub async fn list_linked_members(conn: &mut Conn, app: AppId, group: GroupId) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT l.remote_id FROM group_members gm JOIN idm_user_links l ON l.user_id = gm.user_id AND l.app_id = $1 \
         WHERE gm.group_id = $2 AND l.is_active = 1 ORDER BY l.remote_id",
    )
    .bind(app.0)
    .bind(group.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("remote_id")?)).collect()
}

/// The bound groups of the app that contain the user (their group jobs follow a user's creation).
pub async fn list_bound_groups_of_user(conn: &mut Conn, app: AppId, user: UserId) -> Result<Vec<GroupId>, Error> {
    let rows = sqlx::query(
        "SELECT ag.group_id FROM app_groups ag JOIN group_members gm ON gm.group_id = ag.group_id \
         WHERE ag.app_id = $1 AND gm.user_id = $2",
    )
    .bind(app.0)
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(GroupId(r.try_get("group_id")?))).collect()
}

pub async fn list_bound_groups(conn: &mut Conn, app: AppId) -> Result<Vec<GroupId>, Error> {
    let rows = sqlx::query("SELECT group_id FROM app_groups WHERE app_id = $1 ORDER BY group_id")
        .bind(app.0)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok(GroupId(r.try_get("group_id")?))).collect()
}

pub async fn find_user_link(conn: &mut Conn, app: AppId, user: UserId) -> Result<Option<Link>, Error> {
    let row =
        sqlx::query("SELECT remote_id, remote_name, is_active FROM idm_user_links WHERE app_id = $1 AND user_id = $2")
            .bind(app.0)
            .bind(user.0)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| link_from_row(&r)).transpose()
}

/// All user links of an app: (user id, link).
pub async fn list_user_links(conn: &mut Conn, app: AppId) -> Result<Vec<(UserId, Link)>, Error> {
    let rows = sqlx::query("SELECT user_id, remote_id, remote_name, is_active FROM idm_user_links WHERE app_id = $1")
        .bind(app.0)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((UserId(r.try_get("user_id")?), link_from_row(r)?))).collect()
}

pub async fn upsert_user_link(
    conn: &mut Conn,
    app: AppId,
    user: UserId,
    link: &Link,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO idm_user_links (app_id, user_id, remote_id, remote_name, is_active, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, user_id) DO UPDATE SET remote_id = excluded.remote_id, \
         remote_name = excluded.remote_name, is_active = excluded.is_active, updated_at = excluded.updated_at",
    )
    .bind(app.0)
    .bind(user.0)
    .bind(&link.remote_id)
    .bind(&link.remote_name)
    .bind(flag(link.is_active))
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_user_link(conn: &mut Conn, app: AppId, user: UserId) -> Result<(), Error> {
    sqlx::query("DELETE FROM idm_user_links WHERE app_id = $1 AND user_id = $2")
        .bind(app.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn find_group_link(conn: &mut Conn, app: AppId, group: GroupId) -> Result<Option<Link>, Error> {
    let row = sqlx::query("SELECT remote_id, remote_name, CAST(1 AS BIGINT) AS is_active FROM idm_group_links WHERE app_id = $1 AND group_id = $2")
        .bind(app.0)
        .bind(group.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| link_from_row(&r)).transpose()
}

pub async fn list_group_links(conn: &mut Conn, app: AppId) -> Result<Vec<(GroupId, Link)>, Error> {
    let rows = sqlx::query("SELECT group_id, remote_id, remote_name, CAST(1 AS BIGINT) AS is_active FROM idm_group_links WHERE app_id = $1")
        .bind(app.0)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((GroupId(r.try_get("group_id")?), link_from_row(r)?))).collect()
}

pub async fn upsert_group_link(
    conn: &mut Conn,
    app: AppId,
    group: GroupId,
    link: &Link,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO idm_group_links (app_id, group_id, remote_id, remote_name, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, group_id) DO UPDATE SET remote_id = excluded.remote_id, \
         remote_name = excluded.remote_name, updated_at = excluded.updated_at",
    )
    .bind(app.0)
    .bind(group.0)
    .bind(&link.remote_id)
    .bind(&link.remote_name)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_group_link(conn: &mut Conn, app: AppId, group: GroupId) -> Result<(), Error> {
    sqlx::query("DELETE FROM idm_group_links WHERE app_id = $1 AND group_id = $2")
        .bind(app.0)
        .bind(group.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn integration_from_row(row: &AnyRow) -> Result<Integration, Error> {
    Ok(Integration {
        app: AppId(row.try_get("app_id")?),
        kind: row.try_get("kind")?,
        base_url: row.try_get("base_url")?,
        token_sealed: row.try_get("token_enc")?,
        manage_groups: row.try_get::<i64, _>("manage_groups")? != 0,
        soft_delete: row.try_get::<i64, _>("soft_delete")? != 0,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        excluded_attributes: serde_json::from_str(&row.try_get::<String, _>("excluded_attributes")?)
            .map_err(|e| Error::Corrupt { what: "excluded attributes", reason: e.to_string() })?,
        reconcile_interval_secs: row.try_get("reconcile_interval_secs")?,
        next_reconcile_at: row.try_get("next_reconcile_at")?,
    })
}

fn link_from_row(row: &AnyRow) -> Result<Link, Error> {
    Ok(Link {
        remote_id: row.try_get("remote_id")?,
        remote_name: row.try_get("remote_name")?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
    })
}
