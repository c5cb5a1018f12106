//! Users' second factors (TOTP, recovery codes) and the MFA policy (global, per group). Sealed secrets and code
//! hashes never leave `services`.

use sqlx::Row;

use crate::directory::UserId;
use crate::store::{flag, Conn, Error};

/// A user's TOTP authenticator as stored.
#[derive(Debug, Clone)]
pub struct TotpRow {
    pub secret_sealed: String,
    pub last_step: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A recovery code's bookkeeping (never the code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryCounts {
    pub unused: i64,
    pub total: i64,
    pub created_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub async fn find_totp(conn: &mut Conn, user: UserId) -> Result<Option<TotpRow>, Error> {
    let row = sqlx::query("SELECT secret_enc, last_step, created_at, last_used_at FROM user_totp WHERE user_id = $1")
        .bind(user.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(TotpRow {
            secret_sealed: r.try_get("secret_enc")?,
            last_step: r.try_get("last_step")?,
            created_at: r.try_get("created_at")?,
            last_used_at: r.try_get("last_used_at")?,
        })
    })
    .transpose()
}

/// Stores (or replaces) the user's TOTP secret with `step` as its last accepted step (the enrolment's code).
pub async fn upsert_totp(conn: &mut Conn, user: UserId, sealed: &str, step: i64, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO user_totp (user_id, secret_enc, last_step, created_at, last_used_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (user_id) DO UPDATE SET secret_enc = $2, last_step = $3, created_at = $4, last_used_at = $4",
    )
    .bind(user.0)
    .bind(sealed)
    .bind(step)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records `step` as the last accepted TOTP step only if it is later than the one recorded: false when the step
/// (or a later one) was already used, so a code is accepted once, even by two replicas at the same moment.
pub async fn advance_totp_step(conn: &mut Conn, user: UserId, step: i64, now_ms: i64) -> Result<bool, Error> {
    let done =
        sqlx::query("UPDATE user_totp SET last_step = $1, last_used_at = $2 WHERE user_id = $3 AND last_step < $1")
            .bind(step)
            .bind(now_ms)
            .bind(user.0)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes the user's TOTP; false when there was none.
pub async fn delete_totp(conn: &mut Conn, user: UserId) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM user_totp WHERE user_id = $1").bind(user.0).execute(&mut *conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces the user's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    conn: &mut Conn,
    user: UserId,
    hashes: &[String],
    now_ms: i64,
) -> Result<(), Error> {
    delete_recovery_codes(conn, user).await?;
    for hash in hashes {
        sqlx::query("INSERT INTO user_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
            .bind(user.0)
            .bind(hash)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Marks the unused code with this hash as used: false when there is none (wrong, or already used). One
/// statement decides, so a code is accepted once even by two replicas at the same moment.
pub async fn use_recovery_code(conn: &mut Conn, user: UserId, hash: &str, now_ms: i64) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE user_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now_ms)
    .bind(user.0)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_recovery_codes(conn: &mut Conn, user: UserId) -> Result<u64, Error> {
    let done =
        sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1").bind(user.0).execute(&mut *conn).await?;
    Ok(done.rows_affected())
}

pub async fn count_recovery_codes(conn: &mut Conn, user: UserId) -> Result<RecoveryCounts, Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN used_at IS NULL THEN 1 ELSE 0 END), 0) AS unused, \
         MIN(created_at) AS created_at, MAX(used_at) AS last_used_at FROM user_recovery_codes WHERE user_id = $1",
    )
    .bind(user.0)
    .fetch_one(&mut *conn)
    .await?;
    Ok(RecoveryCounts {
        unused: row.try_get("unused")?,
        total: row.try_get("total")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// Whether an administrator's reset asks the user to enrol at the next sign-in.
pub async fn find_enrol_required(conn: &mut Conn, user: UserId) -> Result<bool, Error> {
    let row = sqlx::query("SELECT mfa_enrol_required FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("mfa_enrol_required")).transpose()?.unwrap_or(0) != 0)
}

/// Sets the reset flag; with `changed_ms`, the user's credentials count as changed then (sessions signed in
/// before end).
pub async fn update_enrol_required(
    conn: &mut Conn,
    user: UserId,
    is_required: bool,
    changed_ms: Option<i64>,
) -> Result<(), Error> {
    let query = match changed_ms {
        Some(ms) => sqlx::query(
            "UPDATE users SET mfa_enrol_required = $1, credentials_changed_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(flag(is_required))
        .bind(ms)
        .bind(user.0),
        None => {
            sqlx::query("UPDATE users SET mfa_enrol_required = $1 WHERE id = $2").bind(flag(is_required)).bind(user.0)
        }
    };
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Whether a policy requires MFA of this user: for everyone, or for a group the user is a member of.
pub async fn is_required_for_user(conn: &mut Conn, user: UserId) -> Result<bool, Error> {
    let row = sqlx::query(
        "SELECT (SELECT require_all FROM mfa_policy WHERE id = 1) AS everyone, \
         (SELECT COUNT(*) FROM group_members gm JOIN user_groups g ON g.id = gm.group_id \
          WHERE gm.user_id = $1 AND g.require_mfa = 1) AS by_group",
    )
    .bind(user.0)
    .fetch_one(&mut *conn)
    .await?;
    let everyone: Option<i64> = row.try_get("everyone")?;
    let by_group: i64 = row.try_get("by_group")?;
    Ok(everyone.unwrap_or(0) != 0 || by_group > 0)
}

/// What the policy asks of one user, in one statement (every SSO answer of a password-only session asks):
/// whether MFA is required (for everyone, or by one of the user's groups) and whether an administrator's reset
/// waits for enrolment.
pub async fn policy_for_user(conn: &mut Conn, user: UserId) -> Result<(bool, bool), Error> {
    let row = sqlx::query(
        "SELECT (SELECT require_all FROM mfa_policy WHERE id = 1) AS everyone, \
         (SELECT COUNT(*) FROM group_members gm JOIN user_groups g ON g.id = gm.group_id \
          WHERE gm.user_id = $1 AND g.require_mfa = 1) AS by_group, \
         (SELECT mfa_enrol_required FROM users WHERE id = $1) AS re_enrol",
    )
    .bind(user.0)
    .fetch_one(&mut *conn)
    .await?;
    let everyone: Option<i64> = row.try_get("everyone")?;
    let by_group: i64 = row.try_get("by_group")?;
    let re_enrol: Option<i64> = row.try_get("re_enrol")?;
    Ok((everyone.unwrap_or(0) != 0 || by_group > 0, re_enrol.unwrap_or(0) != 0))
}

/// The global policy and the names of the groups whose members must use MFA.
pub async fn find_policy(conn: &mut Conn) -> Result<(bool, Vec<String>), Error> {
    let row = sqlx::query("SELECT require_all FROM mfa_policy WHERE id = 1").fetch_optional(&mut *conn).await?;
    let everyone = row.map(|r| r.try_get::<i64, _>("require_all")).transpose()?.unwrap_or(0) != 0;
    let rows =
        sqlx::query("SELECT name FROM user_groups WHERE require_mfa = 1 ORDER BY name").fetch_all(&mut *conn).await?;
    let groups = rows.iter().map(|r| r.try_get("name")).collect::<Result<Vec<String>, _>>()?;
    Ok((everyone, groups))
}

pub async fn update_require_all(conn: &mut Conn, is_required: bool, now_ms: i64) -> Result<(), Error> {
    sqlx::query("UPDATE mfa_policy SET require_all = $1, updated_at = $2 WHERE id = 1")
        .bind(flag(is_required))
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets whether members of the named group must use MFA.
pub async fn update_group_required(conn: &mut Conn, group: &str, is_required: bool) -> Result<(), Error> {
    let done = sqlx::query("UPDATE user_groups SET require_mfa = $1 WHERE name = $2")
        .bind(flag(is_required))
        .bind(group)
        .execute(&mut *conn)
        .await?;
    crate::store::touched(done, "group")
}

/// The user's credentials count as changed now: every IdP session signed in before ends.
pub async fn touch_credentials(conn: &mut Conn, user: UserId, now_ms: i64) -> Result<(), Error> {
    let done = sqlx::query("UPDATE users SET credentials_changed_at = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    crate::store::touched(done, "user")
}

/// The user's sign-ins to applications that have not expired, by IdP session, since the user's credentials last
/// changed (sessions from before have ended): (session index, application display
/// label, when it signed in), oldest first.
pub async fn list_user_participations(
    conn: &mut Conn,
    user: UserId,
    now_ms: i64,
) -> Result<Vec<(String, String, i64)>, Error> {
    let rows = sqlx::query(
        "SELECT p.session_index, a.display_label, p.created_at FROM sso_participations p \
         JOIN applications a ON a.id = p.app_id WHERE p.user_id = $1 AND p.expires_at > $2 \
         AND p.created_at >= (SELECT credentials_changed_at FROM users WHERE id = $1) \
         ORDER BY p.created_at, a.display_label",
    )
    .bind(user.0)
    .bind(now_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("session_index")?, r.try_get("display_label")?, r.try_get("created_at")?)))
        .collect()
}
