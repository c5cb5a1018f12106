//! Groups: creation, renaming, deletion and membership, for every caller, and the pages and details admins look
//! up. A change reaches the SPs that manage the group through provisioning jobs committed with it.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{check_name, Group};
use crate::provisioning;
use crate::services::error::named;
use crate::services::{millis, Ctx, Error, Page, MAX_PAGE};
use crate::store::{events, groups, users};

pub async fn create_group(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<Group, Error> {
    check_name("group name", name)?;
    let mut tx = ctx.db.begin().await?;
    groups::insert_group(&mut tx, name, "", millis(now)).await.map_err(named("group", name))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminGroupCreate, actor).target(name)).await?;
    let group = groups::get_group_by_name(&mut tx, name).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(group)
}

/// Renames a group; the new name reaches the SPs that manage it.
pub async fn rename_group(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    new_name: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    check_name("group name", new_name)?;
    let mut tx = ctx.db.begin().await?;
    let g = groups::get_group_by_name(&mut tx, name).await.map_err(named("group", name))?;
    groups::update_group_name(&mut tx, g.id, new_name).await.map_err(named("group", new_name))?;
    provisioning::enqueue_group_change(&mut tx, g.id, millis(now)).await?;
    let event = Event::new(now, EventName::AdminGroupRename, actor).target(new_name).detail(format!("was {name}"));
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Deletes a group: SPs that manage it delete it too, and members left without a bound group are deactivated.
pub async fn delete_group(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let g = groups::get_group_by_name(&mut tx, name).await.map_err(named("group", name))?;
    // Jobs first: the deletion forgets the bindings and members they need to find.
    provisioning::enqueue_group_change(&mut tx, g.id, millis(now)).await?;
    groups::delete_group(&mut tx, g.id).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminGroupDelete, actor).target(name)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Adds (`is_add`) or removes a member.
pub async fn change_member(
    ctx: &Ctx,
    actor: &Actor,
    group: &str,
    username: &str,
    is_add: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let g = groups::get_group_by_name(&mut tx, group).await.map_err(named("group", group))?;
    let u = users::get_user_by_username(&mut tx, username).await.map_err(named("user", username))?;
    let pair = format!("{username} in {group}");
    let name = if is_add {
        groups::insert_member(&mut tx, g.id, u.id).await.map_err(named("membership", &pair))?;
        EventName::AdminGroupAddMember
    } else {
        groups::delete_member(&mut tx, g.id, u.id).await.map_err(named("membership", &pair))?;
        EventName::AdminGroupRemoveMember
    };
    provisioning::enqueue_membership_change(&mut tx, g.id, u.id, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, name, actor).target(group).user(username)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// A page of groups, by name, whose name contains `text` when given.
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

/// Every binding of a group to an application, as (group, application) names, by group then application: what
/// gives whom access, for the pages that show it beside a user's or a group's memberships.
pub async fn list_bindings(ctx: &Ctx) -> Result<Vec<(String, String)>, Error> {
    Ok(groups::list_bindings(&mut *ctx.db.conn().await?).await?)
}

/// A page of a group's members (usernames).
pub async fn list_members(ctx: &Ctx, name: &str, after: Option<&str>, limit: u32) -> Result<Page<String>, Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut conn = ctx.db.conn().await?;
    let group = groups::get_group_by_name(&mut conn, name).await.map_err(named("group", name))?;
    let rows = groups::list_member_names(&mut conn, group.id, after, limit + 1).await?;
    Ok(Page::of(rows, limit, Clone::clone))
}
