//! Bulk import and export of users as CSV (`directory::user_csv` is the format): `sesame user import`, the
//! console's Users page and `POST /api/v1/users/import`.
//!
//! A file is checked whole before anything is written: each row becomes a create, an update, "unchanged", or a
//! refusal with its reason (a bad value, an e-mail another user or another row has, a username twice, a new user
//! without e-mail). A dry run stops there. A real run applies every row in one transaction, or, when any row is
//! refused, nothing, and names the first refused row. Groups the file names that do not exist are created. The
//! provisioning jobs of every change are queued in the same transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::user::{check_user, Profile, User};
use crate::directory::user_csv::{self, Row};
use crate::directory::{check_name, GroupId};
use crate::provisioning;
use crate::services::{millis, Ctx, Error};
use crate::store::{events, groups, users, Conn};

/// What happens (or would happen) to one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "reason")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Refuse(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowOutcome {
    pub line: u64,
    pub username: String,
    #[serde(flatten)]
    pub action: Action,
}

/// The outcome of a file: per row, the totals, the groups it creates, and whether it was applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub refused: usize,
    pub new_groups: Vec<String>,
    pub rows: Vec<RowOutcome>,
}

impl ImportReport {
    fn first_refusal(&self) -> Option<&RowOutcome> {
        self.rows.iter().find(|r| matches!(r.action, Action::Refuse(_)))
    }
}

/// A planned row: its outcome and, for a change, the profile it writes and the groups it adds.
struct Planned {
    outcome: RowOutcome,
    existing: Option<User>,
    profile: Profile,
    groups: Vec<String>,
}

/// Checks `csv` and, unless `dry_run`, applies it in one transaction. A file that cannot be read is an error
/// (naming its line); a readable file with refused rows is applied only when none is refused, else it is an
/// `Error::ImportRefused` naming the first (a dry run returns the report either way).
pub async fn import_csv(
    ctx: &Ctx,
    actor: &Actor,
    csv: &[u8],
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ImportReport, Error> {
    let rows = user_csv::read(csv).map_err(|e| Error::Csv { line: e.line, reason: e.reason })?;
    let mut tx = ctx.db.begin().await?;
    let (plan, new_groups) = plan(&mut tx, &rows).await?;
    let mut report = report(&plan, new_groups.clone(), false);
    if dry_run {
        return Ok(report);
    }
    if let Some(first) = report.first_refusal() {
        let Action::Refuse(reason) = &first.action else { return Ok(report) };
        return Err(Error::ImportRefused {
            line: first.line,
            username: first.username.clone(),
            reason: reason.clone(),
            refused: report.refused,
        });
    }
    apply(&mut tx, actor, &plan, &new_groups, now).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    report.applied = true;
    Ok(report)
}

/// Every user with their groups, as CSV (the columns `import_csv` reads).
pub async fn export_csv(ctx: &Ctx) -> Result<String, Error> {
    let rows = export_rows(ctx).await?;
    user_csv::write(&rows).map_err(|e| Error::Csv { line: 0, reason: e.to_string() })
}

/// Every user with their groups, by username.
pub async fn export_rows(ctx: &Ctx) -> Result<Vec<(User, Vec<String>)>, Error> {
    let mut conn = ctx.db.conn().await?;
    let mut all = users::list_users(&mut conn).await?;
    all.sort_by(|a, b| a.username.cmp(&b.username));
    let mut memberships: HashMap<String, Vec<String>> = HashMap::new();
    for (group, username) in groups::list_memberships(&mut conn).await? {
        memberships.entry(username).or_default().push(group);
    }
    Ok(all
        .into_iter()
        .map(|u| {
            let mut groups = memberships.remove(&u.username).unwrap_or_default();
            groups.sort();
            (u, groups)
        })
        .collect())
}

async fn plan(conn: &mut Conn, rows: &[Row]) -> Result<(Vec<Planned>, Vec<String>), Error> {
    let existing: HashMap<String, User> =
        users::list_users(conn).await?.into_iter().map(|u| (u.username.clone(), u)).collect();
    // Who holds each e-mail (compared without case, as the unique index does), updated as rows claim theirs.
    let mut email_owner: HashMap<String, String> =
        existing.values().map(|u| (u.profile.email.to_lowercase(), u.username.clone())).collect();
    let known_groups: HashSet<String> = groups::list_groups(conn).await?.into_iter().map(|g| g.name).collect();
    let mut held: HashSet<(String, String)> = HashSet::new();
    for (group, username) in groups::list_memberships(conn).await? {
        held.insert((username, group));
    }
    let mut new_groups = Vec::new();
    let mut seen = HashSet::new();
    let mut plan = Vec::with_capacity(rows.len());
    for row in rows {
        let current = existing.get(&row.username).cloned();
        let base = current.as_ref().map(|u| u.profile.clone()).unwrap_or_default();
        let profile = row.apply_to(base);
        let groups = row.groups.clone().unwrap_or_default();
        let refusal = if !seen.insert(row.username.clone()) {
            Some(format!("username {} appears on an earlier row", row.username))
        } else if let Err(e) = check_user(&row.username, &profile) {
            Some(e.to_string())
        } else if let Some(e) = groups.iter().find_map(|g| check_name("group name", g).err()) {
            Some(e.to_string())
        } else {
            match email_owner.get(&profile.email.to_lowercase()) {
                Some(owner) if *owner != row.username => Some(format!("e-mail {} is already {owner}'s", profile.email)),
                _ => None,
            }
        };
        let action = match (&refusal, &current) {
            (Some(reason), _) => Action::Refuse(reason.clone()),
            (None, None) => Action::Create,
            (None, Some(user))
                if user.profile == profile
                    && groups.iter().all(|g| held.contains(&(row.username.clone(), g.clone()))) =>
            {
                Action::Unchanged
            }
            (None, Some(_)) => Action::Update,
        };
        if refusal.is_none() {
            if let Some(user) = &current {
                email_owner.remove(&user.profile.email.to_lowercase());
            }
            email_owner.insert(profile.email.to_lowercase(), row.username.clone());
            for g in &groups {
                if !known_groups.contains(g) && !new_groups.contains(g) {
                    new_groups.push(g.clone());
                }
            }
        }
        let outcome = RowOutcome { line: row.line, username: row.username.clone(), action };
        plan.push(Planned { outcome, existing: current, profile, groups });
    }
    Ok((plan, new_groups))
}

fn report(plan: &[Planned], new_groups: Vec<String>, applied: bool) -> ImportReport {
    let count = |f: fn(&Action) -> bool| plan.iter().filter(|p| f(&p.outcome.action)).count();
    ImportReport {
        applied,
        created: count(|a| matches!(a, Action::Create)),
        updated: count(|a| matches!(a, Action::Update)),
        unchanged: count(|a| matches!(a, Action::Unchanged)),
        refused: count(|a| matches!(a, Action::Refuse(_))),
        new_groups,
        rows: plan.iter().map(|p| p.outcome.clone()).collect(),
    }
}

async fn apply(
    tx: &mut Conn,
    actor: &Actor,
    plan: &[Planned],
    new_groups: &[String],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let at = millis(now);
    let mut group_ids: HashMap<String, GroupId> =
        groups::list_groups(tx).await?.into_iter().map(|g| (g.name, g.id)).collect();
    for name in new_groups {
        let id = groups::insert_group(tx, name, "", at).await?;
        events::insert_event(
            tx,
            &Event::new(now, EventName::AdminGroupCreate, actor).target(name).detail("CSV import"),
        )
        .await?;
        group_ids.insert(name.clone(), id);
    }
    // E-mail moves between rows (a swap) would trip the unique index midway: free the addresses that change first.
    for p in plan.iter().filter(|p| p.outcome.action == Action::Update) {
        if let Some(user) = &p.existing {
            if !user.profile.email.eq_ignore_ascii_case(&p.profile.email) {
                let placeholder = Profile { email: format!("{}@import.invalid", user.id.0), ..user.profile.clone() };
                users::update_profile(tx, user.id, &placeholder, at).await?;
            }
        }
    }
    for p in plan {
        let username = p.outcome.username.as_str();
        let (id, name) = match (&p.outcome.action, &p.existing) {
            (Action::Create, _) => {
                (users::insert_user(tx, username, &p.profile, None, at).await?, EventName::AdminUserCreate)
            }
            (Action::Update, Some(user)) => {
                users::update_profile(tx, user.id, &p.profile, at).await?;
                provisioning::enqueue_user_change(tx, user.id, at).await?;
                (user.id, EventName::AdminUserUpdate)
            }
            _ => continue,
        };
        events::insert_event(tx, &Event::new(now, name, actor).target(username).user(username).detail("CSV import"))
            .await?;
        for group in &p.groups {
            let Some(gid) = group_ids.get(group).copied() else { continue };
            if groups::insert_member_if_absent(tx, gid, id).await? {
                provisioning::enqueue_membership_change(tx, gid, id, at).await?;
                let event = Event::new(now, EventName::AdminGroupAddMember, actor).target(group).user(username);
                events::insert_event(tx, &event).await?;
            }
        }
    }
    Ok(())
}
