//! Users and their memberships.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::user::Profile;
use crate::directory::{AppId, User, UserId, UserStatus};
use crate::store::{touched, Conn, Error};

pub(crate) const COLUMNS: &str = "id, username, email, first_name, last_name, display_name, department, job_title, \
    employee_type, company, employee_id, locale, phone, work_address, preferred_language, work_street, work_locality, \
    work_region, work_postal_code, work_country, status";

pub async fn insert_user(
    conn: &mut Conn,
    username: &str,
    profile: &Profile,
    password_hash: Option<&str>,
    now_ms: i64,
) -> Result<UserId, Error> {
    let row = sqlx::query(
        "INSERT INTO users (username, email, first_name, last_name, display_name, department, job_title, \
         employee_type, company, employee_id, locale, phone, work_address, preferred_language, work_street, \
         work_locality, work_region, work_postal_code, work_country, status, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 'active', $20, \
         $21, $21) RETURNING id",
    )
    .bind(username)
    .bind(&profile.email)
    .bind(&profile.first_name)
    .bind(&profile.last_name)
    .bind(&profile.display_name)
    .bind(&profile.department)
    .bind(&profile.job_title)
    .bind(&profile.employee_type)
    .bind(&profile.company)
    .bind(&profile.employee_id)
    .bind(&profile.locale)
    .bind(&profile.phone)
    .bind(&profile.work_address)
    .bind(&profile.preferred_language)
    .bind(&profile.work_street)
    .bind(&profile.work_locality)
    .bind(&profile.work_region)
    .bind(&profile.work_postal_code)
    .bind(&profile.work_country)
    .bind(password_hash)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::conflict_as("user"))?;
    Ok(UserId(row.try_get("id")?))
}

pub async fn find_user_by_username(conn: &mut Conn, username: &str) -> Result<Option<User>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    let row = sqlx::query(&sql).bind(username).fetch_optional(&mut *conn).await?;
    row.map(|r| user_from_row(&r)).transpose()
}

pub async fn get_user_by_username(conn: &mut Conn, username: &str) -> Result<User, Error> {
    find_user_by_username(conn, username).await?.ok_or(Error::NotFound { what: "user" })
}

/// The active users in a group bound to `app` (who should have an account in its SP), in one statement.
pub async fn list_assigned_to_app(conn: &mut Conn, app: AppId) -> Result<Vec<User>, Error> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("u.{c}")).collect();
    let sql = format!(
        "SELECT {} FROM users u WHERE u.status = 'active' AND EXISTS (SELECT 1 FROM group_members gm \
         JOIN app_groups ag ON ag.group_id = gm.group_id WHERE gm.user_id = u.id AND ag.app_id = $1) ORDER BY u.id",
        columns.join(", ")
    );
    let rows = sqlx::query(&sql).bind(app.0).fetch_all(&mut *conn).await?;
    rows.iter().map(user_from_row).collect()
}

/// The user and the names of their groups that are bound to `app`, in one statement: SSO reads both on every
/// response, and each statement is a round trip to the database.
pub async fn get_user_with_bound_groups(conn: &mut Conn, id: UserId, app: AppId) -> Result<(User, Vec<String>), Error> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("u.{c}")).collect();
    let sql = format!(
        "SELECT {}, g.name AS group_name FROM users u \
         LEFT JOIN group_members gm ON gm.user_id = u.id \
         LEFT JOIN app_groups ag ON ag.group_id = gm.group_id AND ag.app_id = $2 \
         LEFT JOIN user_groups g ON g.id = ag.group_id \
         WHERE u.id = $1 ORDER BY g.name",
        columns.join(", ")
    );
    let rows = sqlx::query(&sql).bind(id.0).bind(app.0).fetch_all(&mut *conn).await?;
    let Some(first) = rows.first() else {
        return Err(Error::NotFound { what: "user" });
    };
    let user = user_from_row(first)?;
    let mut groups = Vec::new();
    for row in &rows {
        if let Some(name) = row.try_get::<Option<String>, _>("group_name")? {
            groups.push(name);
        }
    }
    Ok((user, groups))
}

pub async fn find_user(conn: &mut Conn, id: UserId) -> Result<Option<User>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id.0).fetch_optional(&mut *conn).await?;
    row.map(|r| user_from_row(&r)).transpose()
}

/// Rewrites a user's profile (everything but the username, status and password).
/// A unique violation (the e-mail index) is `Conflict`.
pub async fn update_profile(conn: &mut Conn, id: UserId, p: &Profile, now_ms: i64) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE users SET email_duplicate = CASE WHEN lower(email) = lower($1) THEN email_duplicate ELSE 0 END, \
         email = $1, first_name = $2, last_name = $3, display_name = $4, department = $5, \
         job_title = $6, employee_type = $7, company = $8, employee_id = $9, locale = $10, phone = $11, \
         work_address = $12, preferred_language = $13, work_street = $14, work_locality = $15, work_region = $16, \
         work_postal_code = $17, work_country = $18, updated_at = $19 WHERE id = $20",
    )
    .bind(&p.email)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.display_name)
    .bind(&p.department)
    .bind(&p.job_title)
    .bind(&p.employee_type)
    .bind(&p.company)
    .bind(&p.employee_id)
    .bind(&p.locale)
    .bind(&p.phone)
    .bind(&p.work_address)
    .bind(&p.preferred_language)
    .bind(&p.work_street)
    .bind(&p.work_locality)
    .bind(&p.work_region)
    .bind(&p.work_postal_code)
    .bind(&p.work_country)
    .bind(now_ms)
    .bind(id.0)
    .execute(&mut *conn)
    .await
    .map_err(Error::conflict_as("user"))?;
    touched(done, "user")
}

/// The username of a user with this e-mail address, compared without case as the unique index compares it.
pub async fn find_username_by_email(conn: &mut Conn, email: &str) -> Result<Option<String>, Error> {
    let row = sqlx::query("SELECT username FROM users WHERE lower(email) = lower($1) ORDER BY id LIMIT 1")
        .bind(email)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("username")).transpose()?)
}

/// Users that share an e-mail address (from before addresses were unique): each set's usernames, in order.
pub async fn list_duplicate_emails(conn: &mut Conn) -> Result<Vec<Vec<String>>, Error> {
    let rows = sqlx::query(
        "SELECT lower(email) AS address, username FROM users WHERE lower(email) IN \
         (SELECT lower(email) FROM users GROUP BY lower(email) HAVING count(*) > 1) ORDER BY address, username",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut sets: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let address: String = row.try_get("address")?;
        let username: String = row.try_get("username")?;
        match sets.last_mut() {
            Some((last, names)) if *last == address => names.push(username),
            _ => sets.push((address, vec![username])),
        }
    }
    Ok(sets.into_iter().map(|(_, names)| names).collect())
}

pub async fn get_user(conn: &mut Conn, id: UserId) -> Result<User, Error> {
    find_user(conn, id).await?.ok_or(Error::NotFound { what: "user" })
}

/// The stored argon2 hash and the user, for sign-in.
pub async fn find_credentials(conn: &mut Conn, username: &str) -> Result<Option<(User, Option<String>)>, Error> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE username = $1");
    let Some(row) = sqlx::query(&sql).bind(username).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?)))
}

pub async fn list_users(conn: &mut Conn) -> Result<Vec<User>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(user_from_row).collect()
}

pub async fn update_status(conn: &mut Conn, id: UserId, status: UserStatus, now_ms: i64) -> Result<(), Error> {
    let done = sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now_ms)
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    touched(done, "user")
}

pub async fn delete_user(conn: &mut Conn, id: UserId) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id.0).execute(&mut *conn).await?;
    touched(done, "user")
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User, Error> {
    let status: String = row.try_get("status")?;
    let status = UserStatus::parse(&status).ok_or(Error::Corrupt { what: "user status", reason: status })?;
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get(name)?) };
    Ok(User {
        id: UserId(row.try_get("id")?),
        username: text("username")?,
        profile: Profile {
            email: text("email")?,
            first_name: text("first_name")?,
            last_name: text("last_name")?,
            display_name: text("display_name")?,
            department: text("department")?,
            job_title: text("job_title")?,
            employee_type: text("employee_type")?,
            company: text("company")?,
            employee_id: text("employee_id")?,
            locale: text("locale")?,
            phone: text("phone")?,
            work_address: text("work_address")?,
            preferred_language: text("preferred_language")?,
            work_street: text("work_street")?,
            work_locality: text("work_locality")?,
            work_region: text("work_region")?,
            work_postal_code: text("work_postal_code")?,
            work_country: text("work_country")?,
        },
        status,
    })
}

/// Filters and position of a page of users (`list_users_page`).
#[derive(Debug, Clone, Default)]
pub struct UserQuery<'a> {
    /// A case-insensitive substring of the username, email or display name.
    pub text: Option<&'a str>,
    pub status: Option<UserStatus>,
    /// Users after this username (the previous page's last).
    pub after: Option<&'a str>,
    pub limit: u32,
}

/// Users matching `q`, ordered by username, at most `q.limit`.
pub async fn list_users_page(conn: &mut Conn, q: &UserQuery<'_>) -> Result<Vec<User>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE ($1 IS NULL OR username > $1) \
         AND ($2 IS NULL OR LOWER(username) LIKE $2 ESCAPE '\\' OR LOWER(email) LIKE $2 ESCAPE '\\' \
              OR LOWER(display_name) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR status = $3) ORDER BY username LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(q.after)
        .bind(q.text.map(crate::store::like_pattern))
        .bind(q.status.map(UserStatus::as_str))
        .bind(i64::from(q.limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(user_from_row).collect()
}

/// Sets the password hash; the credentials count as changed now.
pub async fn update_password(conn: &mut Conn, id: UserId, password_hash: &str, now_ms: i64) -> Result<(), Error> {
    let done =
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2, credentials_changed_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now_ms)
            .bind(id.0)
            .execute(&mut *conn)
            .await?;
    touched(done, "user")
}

/// When the user's password was last set after creation (Unix milliseconds, 0 if never), or `None` when there is
/// no such user.
pub async fn find_credentials_changed_at(conn: &mut Conn, id: UserId) -> Result<Option<i64>, Error> {
    let row = sqlx::query("SELECT credentials_changed_at FROM users WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("credentials_changed_at")).transpose()?)
}

/// Names of the groups the user is a member of.
pub async fn list_group_names(conn: &mut Conn, id: UserId) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT g.name FROM user_groups g JOIN group_members gm ON gm.group_id = g.id WHERE gm.user_id = $1 \
         ORDER BY g.name",
    )
    .bind(id.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
}
