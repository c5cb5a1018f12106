//! Users: creation, profile changes, suspension, deletion and passwords, for every caller (CLI, console, API),
//! and the pages and details that admins look up. Each change commits together with its event and the
//! provisioning jobs it causes.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::user::{check_user, Profile};
use crate::directory::{password, User, UserStatus};
use crate::provisioning;
use crate::services::error::named;
use crate::services::{millis, Ctx, Error, Page, MAX_PAGE};
use crate::store::users::UserQuery;
use crate::store::{events, users};

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
    password::check_new("password", &password, ctx.config.min_password_chars())?;
    let hash = crate::services::login::hash_password(password).await?;
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_password(&mut tx, user.id, &hash, millis(now)).await?;
    let event = Event::new(now, EventName::AdminUserPassword, actor).target(username).user(username);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

pub async fn create_user(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    profile: Profile,
    password: Option<String>,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    check_user(username, &profile)?;
    if let Some(p) = &password {
        password::check_new("password", p, ctx.config.min_password_chars())?;
    }
    let hash = match password {
        Some(p) => Some(crate::services::login::hash_password(p).await?),
        None => None,
    };
    let mut tx = ctx.db.begin().await?;
    if users::find_username_by_email(&mut tx, &profile.email).await?.is_some() {
        return Err(email_taken(&profile.email));
    }
    let id = users::insert_user(&mut tx, username, &profile, hash.as_deref(), millis(now))
        .await
        .map_err(named("user", username))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserCreate, actor).target(username).user(username))
        .await?;
    let user = users::get_user(&mut tx, id).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(user)
}

pub async fn suspend_user(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_status(&mut tx, user.id, UserStatus::Suspended, millis(now)).await?;
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserSuspend, actor).target(username).user(username))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

pub async fn delete_user(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    // Jobs first: they must know which apps the user was provisioned to, which the deletion forgets.
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    users::delete_user(&mut tx, user.id).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserDelete, actor).target(username).user(username))
        .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// One user, by username.
pub async fn find_user(ctx: &Ctx, username: &str) -> Result<User, Error> {
    let mut conn = ctx.db.conn().await?;
    users::get_user_by_username(&mut conn, username).await.map_err(named("user", username))
}

/// Rewrites a user's profile; the SPs the user is provisioned to receive the change.
pub async fn update_user(
    ctx: &Ctx,
    actor: &Actor,
    username: &str,
    profile: Profile,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    check_user(username, &profile)?;
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    // Only the e-mail index can refuse this update (the username is not changed).
    users::update_profile(&mut tx, user.id, &profile, millis(now)).await.map_err(|e| match e {
        crate::store::Error::Conflict { .. } => email_taken(&profile.email),
        e => e.into(),
    })?;
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminUserUpdate, actor).target(username).user(username))
        .await?;
    let user = users::get_user(&mut tx, user.id).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(user)
}

/// Users that share an e-mail address from before addresses were unique: each set's usernames. Nothing merges
/// them; `lib::build` warns about each set at start-up, and an administrator gives each user its own address.
pub async fn duplicate_emails(ctx: &Ctx) -> Result<Vec<Vec<String>>, Error> {
    Ok(users::list_duplicate_emails(&mut *ctx.db.conn().await?).await?)
}

fn email_taken(email: &str) -> Error {
    Error::Conflict { what: "a user with e-mail address", name: email.to_owned() }
}

/// Lifts a suspension.
pub async fn activate_user(ctx: &Ctx, actor: &Actor, username: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let user = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    users::update_status(&mut tx, user.id, UserStatus::Active, millis(now)).await?;
    provisioning::enqueue_user_change(&mut tx, user.id, millis(now)).await?;
    events::insert_event(
        &mut tx,
        &Event::new(now, EventName::AdminUserUpdate, actor).target(username).user(username).detail("activated"),
    )
    .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}
