//! What the admin API and console look up about users and groups (pages with filters, details), and the one
//! user change `admin` lacks: setting a password.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventFilter, EventName};
use crate::directory::{Group, Invalid, User, UserStatus};
use crate::services::admin::named;
use crate::services::{millis, Ctx, Error};
use crate::store::users::UserQuery;
use crate::store::{events, groups, users};

/// The most items one page holds.
pub const MAX_PAGE: u32 = 500;

/// One page of a list, and the key to ask for the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// Cuts the `limit + 1` rows fetched to `limit`, keeping the last key when there is more.
    pub(crate) fn of(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_after = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Self { items: rows, next_after }
    }
}

/// Filters of the user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub text: Option<String>,
    pub status: Option<UserStatus>,
}

pub async fn list_users(ctx: &Ctx, filter: &UserFilter, after: Option<&str>, limit: u32) -> Result<Page<User>, Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    let q = UserQuery { text: filter.text.as_deref(), status: filter.status, after, limit: limit + 1 };
    let rows = users::list_users_page(&mut *ctx.db.conn().await?, &q).await?;
    Ok(Page::of(rows, limit, |u| u.username.clone()))
}

/// A user and the names of their groups.
pub async fn get_user(ctx: &Ctx, username: &str) -> Result<(User, Vec<String>), Error> {
    let mut conn = ctx.db.conn().await?;
    let user = users::get_user_by_username(&mut conn, username).await.map_err(named("user", username))?;
    let groups = users::list_group_names(&mut conn, user.id).await?;
    Ok((user, groups))
}

/// Sets (or replaces) a user's password; the event says so, never what it is.
pub async fn set_password(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    password: String,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if password.is_empty() {
        return Err(Invalid::new("password", "must not be empty").into());
    }
    if password.len() > 1024 {
        return Err(Invalid::new("password", "must be at most 1024 bytes").into());
    }
    let hash = crate::services::login::hash_password(password).await?;
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_password(&mut tx, user.id, &hash, millis(now)).await?;
    let event = Event::new(now, EventName::AdminUserPassword, actor).target(username).user(username);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

pub async fn list_groups(ctx: &Ctx, text: Option<&str>, after: Option<&str>, limit: u32) -> Result<Page<Group>, Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows = groups::list_groups_page(&mut *ctx.db.conn().await?, text, after, limit + 1).await?;
    Ok(Page::of(rows, limit, |g| g.name.clone()))
}

/// A group and the names of the applications it is bound to.
pub async fn get_group(ctx: &Ctx, name: &str) -> Result<(Group, Vec<String>), Error> {
    let mut conn = ctx.db.conn().await?;
    let group = groups::get_group_by_name(&mut conn, name).await.map_err(named("group", name))?;
    let apps = groups::list_bound_app_names(&mut conn, group.id).await?;
    Ok((group, apps))
}

/// A page of a group's members (usernames).
pub async fn list_members(ctx: &Ctx, name: &str, after: Option<&str>, limit: u32) -> Result<Page<String>, Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut conn = ctx.db.conn().await?;
    let group = groups::get_group_by_name(&mut conn, name).await.map_err(named("group", name))?;
    let rows = groups::list_member_names(&mut conn, group.id, after, limit + 1).await?;
    Ok(Page::of(rows, limit, Clone::clone))
}

/// A page of events, newest first; the key of the next page is the last event's `at:id`.
pub async fn list_events(ctx: &Ctx, filter: &EventFilter) -> Result<Page<crate::audit::Event>, Error> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let filter = EventFilter { limit: limit + 1, ..filter.clone() };
    let rows = events::list_events(&mut *ctx.db.conn().await?, &filter).await?;
    Ok(Page::of(rows, limit, |e| format!("{}:{}", e.at.timestamp_millis(), e.id.unwrap_or_default())))
}

/// Parses an event page key made by `list_events`.
pub fn parse_event_key(key: &str) -> Option<(DateTime<Utc>, i64)> {
    let (at, id) = key.split_once(':')?;
    Some((DateTime::from_timestamp_millis(at.parse().ok()?)?, id.parse().ok()?))
}
