//! The provisioning job table: a durable outbox. Rows are written in the transaction of the change that causes
//! them, claimed with a lease, and deleted when delivered.
//!
//! A job names its target by id only (`Job`); the worker loads current state when it runs, so a retry always sends
//! the newest data and a pending job absorbs later ones for the same target.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::{AppId, GroupId, UserId};
use crate::store::{Conn, Error};

/// What a job is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Make the SP's copy of one user match the directory.
    User,
    /// Make the SP's copy of one group (name, members) match the directory.
    Group,
    /// Compare everything with the SP and enqueue repairs.
    Reconcile,
    /// One step of a background import (`store::imports`); the target is the import's id.
    Import,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Reconcile => "reconcile",
            Self::Import => "import",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "group" => Some(Self::Group),
            "reconcile" => Some(Self::Reconcile),
            "import" => Some(Self::Import),
            _ => None,
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub app: AppId,
    pub kind: JobKind,
    pub target: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// What the enqueuer knew that saves a call: `absent` (a user job whose account the SP's listing did not
    /// have, so it is created without a lookup first), or empty.
    pub hint: String,
}

/// The hint of a user job whose account was not in the SP's listing a moment ago.
pub const HINT_ABSENT: &str = "absent";

impl Job {
    pub fn user(&self) -> UserId {
        UserId(self.target)
    }

    pub fn group(&self) -> GroupId {
        GroupId(self.target)
    }
}

/// Enqueues a job unless one is already pending for the same target.
pub async fn enqueue(conn: &mut Conn, app: AppId, kind: JobKind, target: i64, now_ms: i64) -> Result<(), Error> {
    enqueue_with_hint(conn, app, kind, target, "", now_ms).await
}

/// `enqueue` with a hint. A pending job for the same target keeps its own hint (hints only save calls; the job
/// finds the truth either way).
pub async fn enqueue_with_hint(
    conn: &mut Conn,
    app: AppId,
    kind: JobKind,
    target: i64,
    hint: &str,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO provisioning_jobs (app_id, kind, target_id, state, not_before, created_at, hint) \
         VALUES ($1, $2, $3, 'pending', $4, $4, $5) \
         ON CONFLICT (app_id, kind, target_id) WHERE state = 'pending' DO NOTHING",
    )
    .bind(app.0)
    .bind(kind.as_str())
    .bind(target)
    .bind(now_ms)
    .bind(hint)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Enqueues a user job for every member of `group` (one statement, whatever the group's size).
pub async fn enqueue_members(conn: &mut Conn, app: AppId, group: GroupId, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO provisioning_jobs (app_id, kind, target_id, state, not_before, created_at) \
         SELECT $1, 'user', gm.user_id, 'pending', $2, $2 FROM group_members gm WHERE gm.group_id = $3 \
         ON CONFLICT (app_id, kind, target_id) WHERE state = 'pending' DO NOTHING",
    )
    .bind(app.0)
    .bind(now_ms)
    .bind(group.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims the oldest due job whose target has no other job in flight, for `lease_ms`. A job whose lease expired
/// (its worker died) is due again, before any pending one. Returns `None` when nothing is due.
///
/// Each of the two statements walks one index in order and stops at the first row that qualifies, so a claim costs
/// the same with ten jobs waiting or a hundred thousand (an `OR` of both conditions made SQLite collect and sort
/// every due row, once per claim).
pub async fn claim(conn: &mut Conn, now_ms: i64, lease_ms: i64, postgres: bool) -> Result<Option<Job>, Error> {
    for due in ["j.state = 'running' AND j.locked_until < $2", "j.state = 'pending' AND j.not_before <= $2"] {
        // SKIP LOCKED lets replicas claim different rows without waiting; SQLite's single writer needs no lock clause.
        let lock = if postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE provisioning_jobs SET state = 'running', locked_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT j.id FROM provisioning_jobs j WHERE {due} \
               AND NOT EXISTS (SELECT 1 FROM provisioning_jobs r WHERE r.app_id = j.app_id AND r.kind = j.kind \
                 AND r.target_id = j.target_id AND r.id <> j.id AND r.state = 'running' AND r.locked_until >= $2) \
               ORDER BY j.not_before, j.id LIMIT 1 {lock}) \
             RETURNING id, app_id, kind, target_id, attempts, hint"
        );
        let row = sqlx::query(&sql).bind(now_ms + lease_ms).bind(now_ms).fetch_optional(&mut *conn).await?;
        if let Some(row) = row {
            return job_from_row(&row).map(Some);
        }
    }
    Ok(None)
}

/// Removes a delivered job.
pub async fn complete(conn: &mut Conn, id: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM provisioning_jobs WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Puts a job back for another attempt at `not_before_ms`, unless a pending job for the same target already
/// exists (it absorbs this one). A failed job (`give_up`) stays for an admin to see and retry.
pub async fn retry_later(
    conn: &mut Conn,
    job: &Job,
    not_before_ms: i64,
    error: &str,
    give_up: bool,
) -> Result<(), Error> {
    // No statement here may fail on the unique index: on PostgreSQL an error would abort the caller's transaction.
    if !give_up {
        let absorbed = sqlx::query(
            "DELETE FROM provisioning_jobs WHERE id = $1 AND EXISTS (SELECT 1 FROM provisioning_jobs p \
             WHERE p.app_id = $2 AND p.kind = $3 AND p.target_id = $4 AND p.state = 'pending' AND p.id <> $1)",
        )
        .bind(job.id)
        .bind(job.app.0)
        .bind(job.kind.as_str())
        .bind(job.target)
        .execute(&mut *conn)
        .await?;
        if absorbed.rows_affected() > 0 {
            return Ok(());
        }
    }
    let state = if give_up { "failed" } else { "pending" };
    sqlx::query(
        "UPDATE provisioning_jobs SET state = $1, not_before = $2, locked_until = 0, last_error = $3 WHERE id = $4",
    )
    .bind(state)
    .bind(not_before_ms)
    .bind(error)
    .bind(job.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Makes every waiting job of an app due now, failed ones included (the admin's "retry now"). A failed job
/// whose target already has a pending job is dropped instead: the pending one does the same work.
pub async fn retry_now(conn: &mut Conn, app: AppId, now_ms: i64) -> Result<u64, Error> {
    sqlx::query(
        "DELETE FROM provisioning_jobs WHERE app_id = $1 AND state = 'failed' AND EXISTS \
         (SELECT 1 FROM provisioning_jobs p WHERE p.app_id = provisioning_jobs.app_id AND p.kind = provisioning_jobs.kind \
          AND p.target_id = provisioning_jobs.target_id AND p.state = 'pending')",
    )
    .bind(app.0)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "UPDATE provisioning_jobs SET state = 'pending', not_before = $1, attempts = 0 \
         WHERE app_id = $2 AND state IN ('pending', 'failed')",
    )
    .bind(now_ms)
    .bind(app.0)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Jobs that are pending or running, for tests and the admin view.
pub async fn count_open(conn: &mut Conn) -> Result<i64, Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM provisioning_jobs WHERE state IN ('pending', 'running')")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// The earliest time a pending job becomes due, if any.
pub async fn next_due(conn: &mut Conn) -> Result<Option<i64>, Error> {
    let row = sqlx::query("SELECT MIN(not_before) AS t FROM provisioning_jobs WHERE state = 'pending'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("t")?)
}

fn job_from_row(row: &AnyRow) -> Result<Job, Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Job {
        id: row.try_get("id")?,
        app: AppId(row.try_get("app_id")?),
        kind: JobKind::parse(&kind).ok_or(Error::Corrupt { what: "job kind", reason: kind })?,
        target: row.try_get("target_id")?,
        attempts: row.try_get("attempts")?,
        hint: row.try_get("hint")?,
    })
}
