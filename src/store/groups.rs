//! Groups and memberships.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::directory::{Group, GroupId, UserId};
use crate::store::{touched, Conn, Error};

pub async fn insert_group(conn: &mut Conn, name: &str, description: &str, now_ms: i64) -> Result<GroupId, Error> {
    let row = sqlx::query("INSERT INTO user_groups (name, description, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(name)
        .bind(description)
        .bind(now_ms)
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::conflict_as("group"))?;
    Ok(GroupId(row.try_get("id")?))
}

pub async fn get_group_by_name(conn: &mut Conn, name: &str) -> Result<Group, Error> {
    let row = sqlx::query("SELECT id, name, description FROM user_groups WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| group_from_row(&r)).transpose()?.ok_or(Error::NotFound { what: "group" })
}

pub async fn find_group(conn: &mut Conn, id: GroupId) -> Result<Option<Group>, Error> {
    let row = sqlx::query("SELECT id, name, description FROM user_groups WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| group_from_row(&r)).transpose()
}

pub async fn update_group_name(conn: &mut Conn, id: GroupId, name: &str) -> Result<(), Error> {
    sqlx::query("UPDATE user_groups SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(Error::conflict_as("group"))?;
    Ok(())
}

pub async fn delete_group(conn: &mut Conn, id: GroupId) -> Result<(), Error> {
    sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id.0).execute(&mut *conn).await?;
    Ok(())
}

/// Members of a group (their user jobs follow the group's deletion).
pub async fn list_member_ids(conn: &mut Conn, id: GroupId) -> Result<Vec<UserId>, Error> {
    let rows =
        sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1").bind(id.0).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok(UserId(r.try_get("user_id")?))).collect()
}

pub async fn list_groups(conn: &mut Conn) -> Result<Vec<Group>, Error> {
    let rows = sqlx::query("SELECT id, name, description FROM user_groups ORDER BY name").fetch_all(&mut *conn).await?;
    rows.iter().map(group_from_row).collect()
}

/// Adds a member; adding one who is already a member is refused as a conflict.
pub async fn insert_member(conn: &mut Conn, group: GroupId, user: UserId) -> Result<(), Error> {
    sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
        .bind(group.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(Error::conflict_as("membership"))?;
    Ok(())
}

/// Adds a member unless already one; true when added. Never fails on an existing membership (so a PostgreSQL
/// transaction goes on).
pub async fn insert_member_if_absent(conn: &mut Conn, group: GroupId, user: UserId) -> Result<bool, Error> {
    let done = sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(group.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_member(conn: &mut Conn, group: GroupId, user: UserId) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    touched(done, "membership")
}

fn group_from_row(row: &AnyRow) -> Result<Group, Error> {
    Ok(Group { id: GroupId(row.try_get("id")?), name: row.try_get("name")?, description: row.try_get("description")? })
}

/// Groups whose name contains `text` (case-insensitive), after `after`, ordered by name, at most `limit`.
pub async fn list_groups_page(
    conn: &mut Conn,
    text: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Group>, Error> {
    let rows = sqlx::query(
        "SELECT id, name, description FROM user_groups WHERE ($1 IS NULL OR name > $1) \
         AND ($2 IS NULL OR LOWER(name) LIKE $2 ESCAPE '\\') ORDER BY name LIMIT $3",
    )
    .bind(after)
    .bind(text.map(crate::store::like_pattern))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(group_from_row).collect()
}

/// Usernames of a group's members after `after`, ordered, at most `limit`.
pub async fn list_member_names(
    conn: &mut Conn,
    id: GroupId,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT u.username FROM users u JOIN group_members gm ON gm.user_id = u.id \
         WHERE gm.group_id = $1 AND ($2 IS NULL OR u.username > $2) ORDER BY u.username LIMIT $3",
    )
    .bind(id.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("username")?)).collect()
}

/// Names of the applications a group is bound to.
pub async fn list_bound_app_names(conn: &mut Conn, id: GroupId) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT a.name FROM applications a JOIN app_groups ag ON ag.app_id = a.id WHERE ag.group_id = $1 \
         ORDER BY a.name",
    )
    .bind(id.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
}

/// Every binding of a group to an application, as (group name, application name), by group then application.
/// Every membership as (group name, username).
pub async fn list_memberships(conn: &mut Conn) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query(
        "SELECT g.name AS group_name, u.username AS username FROM group_members m \
         JOIN user_groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("group_name")?, r.try_get("username")?))).collect()
}

pub async fn list_bindings(conn: &mut Conn) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query(
        "SELECT g.name AS group_name, a.name AS app_name FROM app_groups ag \
         JOIN user_groups g ON g.id = ag.group_id JOIN applications a ON a.id = ag.app_id ORDER BY g.name, a.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("group_name")?, r.try_get("app_name")?))).collect()
}
