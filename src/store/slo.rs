//! Single logout: the applications each IdP session signed in to, and logouts in progress.

use sqlx::Row;

use crate::directory::{AppId, UserId};
use crate::store::{flag, Conn, Error};

/// Records (or refreshes) that the session `session_index` signed in to `app` with this NameID (JSON).
pub async fn upsert_participation(
    conn: &mut Conn,
    session_index: &str,
    app: AppId,
    user: UserId,
    name_id_json: &str,
    now_ms: i64,
    expires_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sso_participations (session_index, app_id, user_id, name_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_index, app_id) \
         DO UPDATE SET name_id = $4, expires_at = $6",
    )
    .bind(session_index)
    .bind(app.0)
    .bind(user.0)
    .bind(name_id_json)
    .bind(now_ms)
    .bind(expires_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The applications a session signed in to, with the NameID JSON each got.
pub async fn list_participations(conn: &mut Conn, session_index: &str) -> Result<Vec<(AppId, String)>, Error> {
    let rows = sqlx::query("SELECT app_id, name_id FROM sso_participations WHERE session_index = $1 ORDER BY app_id")
        .bind(session_index)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((AppId(r.try_get("app_id")?), r.try_get("name_id")?))).collect()
}

/// Session indexes under which `app` was sent this NameID value (an SP's LogoutRequest names the principal).
pub async fn find_sessions_of(conn: &mut Conn, app: AppId) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query("SELECT session_index, name_id FROM sso_participations WHERE app_id = $1")
        .bind(app.0)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("session_index")?, r.try_get("name_id")?))).collect()
}

pub async fn delete_participations(conn: &mut Conn, session_index: &str) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM sso_participations WHERE session_index = $1")
        .bind(session_index)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn delete_participation(conn: &mut Conn, session_index: &str, app: AppId) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM sso_participations WHERE session_index = $1 AND app_id = $2")
        .bind(session_index)
        .bind(app.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// A logout in progress.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub user: UserId,
    pub origin_app: Option<AppId>,
    pub origin_request_id: String,
    pub relay_state: Option<String>,
    pub is_finished: bool,
    /// The SHA-256 (hex) of the secret that the starting browser's session holds.
    pub browser_hash: String,
}

pub async fn insert_run(conn: &mut Conn, run: &Run, now_ms: i64, expires_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO logout_runs (id, user_id, origin_app_id, origin_request_id, relay_state, created_at, expires_at, \
         browser_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&run.id)
    .bind(run.user.0)
    .bind(run.origin_app.map(|a| a.0))
    .bind(&run.origin_request_id)
    .bind(run.relay_state.as_deref())
    .bind(now_ms)
    .bind(expires_ms)
    .bind(&run.browser_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn find_run(conn: &mut Conn, id: &str, now_ms: i64) -> Result<Option<Run>, Error> {
    let row = sqlx::query(
        "SELECT id, user_id, origin_app_id, origin_request_id, relay_state, is_finished, browser_hash \
         FROM logout_runs \
         WHERE id = $1 AND expires_at > $2",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Run {
            id: r.try_get("id")?,
            user: UserId(r.try_get("user_id")?),
            origin_app: r.try_get::<Option<i64>, _>("origin_app_id")?.map(AppId),
            origin_request_id: r.try_get("origin_request_id")?,
            relay_state: r.try_get("relay_state")?,
            is_finished: r.try_get::<i64, _>("is_finished")? != 0,
            browser_hash: r.try_get("browser_hash")?,
        })
    })
    .transpose()
}

pub async fn update_run_finished(conn: &mut Conn, id: &str) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE logout_runs SET is_finished = $1 WHERE id = $2 AND is_finished = 0")
        .bind(flag(true))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One SP to notify in a logout run.
#[derive(Debug, Clone)]
pub struct Target {
    pub run_id: String,
    pub app: AppId,
    pub name_id_json: String,
    pub session_index: String,
    pub request_id: String,
    pub state: String,
    pub detail: String,
    /// The opaque RelayState our LogoutRequest to this SP carries (never the run id).
    pub relay_state: String,
}

pub async fn insert_target(conn: &mut Conn, t: &Target, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO logout_targets (run_id, app_id, name_id, session_index, request_id, state, detail, updated_at, \
         relay_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.run_id)
    .bind(t.app.0)
    .bind(&t.name_id_json)
    .bind(&t.session_index)
    .bind(&t.request_id)
    .bind(&t.state)
    .bind(&t.detail)
    .bind(now_ms)
    .bind(&t.relay_state)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const TARGET_COLUMNS: &str = "run_id, app_id, name_id, session_index, request_id, state, detail, relay_state";

fn target_from_row(r: &sqlx::any::AnyRow) -> Result<Target, Error> {
    Ok(Target {
        run_id: r.try_get("run_id")?,
        app: AppId(r.try_get("app_id")?),
        name_id_json: r.try_get("name_id")?,
        session_index: r.try_get("session_index")?,
        request_id: r.try_get("request_id")?,
        state: r.try_get("state")?,
        detail: r.try_get("detail")?,
        relay_state: r.try_get("relay_state")?,
    })
}

pub async fn list_targets(conn: &mut Conn, run_id: &str) -> Result<Vec<Target>, Error> {
    let sql = format!("SELECT {TARGET_COLUMNS} FROM logout_targets WHERE run_id = $1 ORDER BY app_id");
    let rows = sqlx::query(&sql).bind(run_id).fetch_all(&mut *conn).await?;
    rows.iter().map(target_from_row).collect()
}

pub async fn find_target_by_request(conn: &mut Conn, app: AppId, request_id: &str) -> Result<Option<Target>, Error> {
    let sql = format!("SELECT {TARGET_COLUMNS} FROM logout_targets WHERE app_id = $1 AND request_id = $2");
    let row = sqlx::query(&sql).bind(app.0).bind(request_id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(target_from_row).transpose()
}

/// Settles a pending target; `false` when it was already settled.
pub async fn settle_target(
    conn: &mut Conn,
    run_id: &str,
    app: AppId,
    state: &str,
    detail: &str,
    now_ms: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE logout_targets SET state = $1, detail = $2, updated_at = $3 \
         WHERE run_id = $4 AND app_id = $5 AND state = 'pending'",
    )
    .bind(state)
    .bind(detail)
    .bind(now_ms)
    .bind(run_id)
    .bind(app.0)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes participations and logout runs past their expiry (housekeeping).
pub async fn purge_expired(conn: &mut Conn, now_ms: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM sso_participations WHERE expires_at <= $1").bind(now_ms).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM logout_runs WHERE expires_at <= $1").bind(now_ms).execute(&mut *conn).await?;
    Ok(())
}
