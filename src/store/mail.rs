//! The mail outbox: sealed messages written in the transaction of the change that causes them, claimed with a
//! lease by the mail worker (`crate::mail`), deleted once delivered, retried later after a failure, and kept as
//! `failed` when retries are exhausted (for an administrator to see).

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::{Conn, Error};

/// A claimed mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    /// Subject and parts, sealed (`crate::mail::Message` as JSON).
    pub message_enc: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// Mails by state, for the console and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub pending: i64,
    pub failed: i64,
    /// When the oldest waiting mail was queued (Unix milliseconds).
    pub oldest_pending_ms: Option<i64>,
}

/// Queues a mail, due at once, and returns its id; its sealed content follows with `set_message` (it is sealed
/// for this row, whose id only the insert knows), in the same transaction.
pub async fn enqueue(conn: &mut Conn, kind: &str, recipient: &str, now_ms: i64) -> Result<i64, Error> {
    let row = sqlx::query(
        "INSERT INTO mail_outbox (kind, recipient, message_enc, state, not_before, created_at) \
         VALUES ($1, $2, '', 'pending', $3, $3) RETURNING id",
    )
    .bind(kind)
    .bind(recipient)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("id")?)
}

/// Stores a queued mail's sealed content.
pub async fn set_message(conn: &mut Conn, id: i64, message_enc: &str) -> Result<(), Error> {
    sqlx::query("UPDATE mail_outbox SET message_enc = $1 WHERE id = $2")
        .bind(message_enc)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Claims the oldest due mail for `lease_ms`: one whose sender died (lease expired) first, then a pending one.
pub async fn claim(conn: &mut Conn, now_ms: i64, lease_ms: i64, postgres: bool) -> Result<Option<Outgoing>, Error> {
    for due in ["m.state = 'sending' AND m.locked_until < $2", "m.state = 'pending' AND m.not_before <= $2"] {
        let lock = if postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE mail_outbox SET state = 'sending', locked_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT m.id FROM mail_outbox m WHERE {due} ORDER BY m.not_before, m.id LIMIT 1 {lock}) \
             RETURNING id, kind, recipient, message_enc, attempts"
        );
        let row = sqlx::query(&sql).bind(now_ms + lease_ms).bind(now_ms).fetch_optional(&mut *conn).await?;
        if let Some(row) = row {
            return outgoing(&row).map(Some);
        }
    }
    Ok(None)
}

/// Removes a delivered mail (with the only copy of its sealed content).
pub async fn delivered(conn: &mut Conn, id: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM mail_outbox WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Puts a mail back for another attempt at `not_before_ms`, or marks it failed for good.
pub async fn retry_later(
    conn: &mut Conn,
    id: i64,
    not_before_ms: i64,
    error: &str,
    give_up: bool,
) -> Result<(), Error> {
    let state = if give_up { "failed" } else { "pending" };
    sqlx::query("UPDATE mail_outbox SET state = $1, not_before = $2, locked_until = 0, last_error = $3 WHERE id = $4")
        .bind(state)
        .bind(not_before_ms)
        .bind(error)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The earliest time a pending mail becomes due, if any.
pub async fn next_due(conn: &mut Conn) -> Result<Option<i64>, Error> {
    let row = sqlx::query("SELECT MIN(not_before) AS t FROM mail_outbox WHERE state = 'pending'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("t")?)
}

/// How many mails wait and how many failed for good.
pub async fn counts(conn: &mut Conn) -> Result<QueueCounts, Error> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN state IN ('pending', 'sending') THEN 1 ELSE 0 END), 0) AS pending, \
                COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
                MIN(CASE WHEN state IN ('pending', 'sending') THEN created_at END) AS oldest \
         FROM mail_outbox",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(QueueCounts {
        pending: row.try_get("pending")?,
        failed: row.try_get("failed")?,
        oldest_pending_ms: row.try_get("oldest")?,
    })
}

fn outgoing(row: &AnyRow) -> Result<Outgoing, Error> {
    Ok(Outgoing {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        recipient: row.try_get("recipient")?,
        message_enc: row.try_get("message_enc")?,
        attempts: row.try_get("attempts")?,
    })
}
