//! Reconciliation: compares an application's SP with the directory and enqueues a job for every difference, so
//! changes made in the SP behind our back (an account deleted, deactivated or edited, a group's members changed)
//! are repaired by the ordinary, idempotent jobs. One job per application runs at a time, on one replica.
//!
//! It enqueues repairs and never delivers them: it knows the store and the `Provisioner` interface, not the worker.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::Utc;

use crate::directory::{User, UserId};
use crate::provisioning::job::{list_all_users, JobError};
use crate::provisioning::Provisioner;
use crate::store::idm::{self, Integration};
use crate::store::jobs::{self, JobKind};
use crate::store::{users, Db};

pub async fn run(db: &Db, integration: &Integration, sp: &dyn Provisioner) -> Result<(), JobError> {
    let app = integration.app;
    let remote = list_all_users(sp).await?;
    // One transaction for every repair it enqueues: one commit, whatever the directory's size.
    let mut conn = db.begin().await?;
    let now = Utc::now().timestamp_millis();
    let links: HashMap<_, _> = idm::list_user_links(&mut conn, app).await?.into_iter().collect();
    let assigned: BTreeMap<UserId, User> =
        users::list_assigned_to_app(&mut conn, app).await?.into_iter().map(|u| (u.id, u)).collect();

    let mut repairs = BTreeSet::new();
    for (user_id, link) in &links {
        let is_assigned = assigned.contains_key(user_id);
        let Some(found) = remote.get(&link.remote_id) else {
            // Gone from the SP: an assigned user is created again; otherwise the link is obsolete.
            idm::delete_user_link(&mut conn, app, *user_id).await?;
            if is_assigned {
                repairs.insert(*user_id);
            }
            continue;
        };
        let drifted = match assigned.get(user_id) {
            Some(user) => !sp.is_current(user, found),
            // Should be inactive (or gone): repair if the SP shows it active.
            None => found.active,
        };
        if drifted {
            repairs.insert(*user_id);
        }
    }
    for user_id in &repairs {
        jobs::enqueue(&mut conn, app, JobKind::User, user_id.0, now).await?;
    }
    // Assigned users without an account link: those whose account name the listing lacks are created without a
    // lookup (the hint); the others are looked up and taken over. userName is case-insensitive (RFC 7643 §4.1.1).
    let names: HashSet<String> = remote.values().map(|u| u.user_name.to_lowercase()).collect();
    for (user_id, user) in assigned.iter().filter(|(u, _)| !links.contains_key(u)) {
        let hint = if names.contains(&sp.account_name(user).to_lowercase()) { "" } else { jobs::HINT_ABSENT };
        jobs::enqueue_with_hint(&mut conn, app, JobKind::User, user_id.0, hint, now).await?;
    }
    conn.commit().await.map_err(crate::store::Error::from)?;

    // Groups are compared one SP call at a time, so no transaction (no write lock) is held across those calls.
    let mut conn = db.conn().await?;

    if integration.manage_groups {
        let group_links: HashMap<_, _> = idm::list_group_links(&mut conn, app).await?.into_iter().collect();
        for group in idm::list_bound_groups(&mut conn, app).await? {
            let drifted = match group_links.get(&group) {
                None => true,
                Some(link) => {
                    let expected: BTreeSet<String> =
                        idm::list_linked_members(&mut conn, app, group).await?.into_iter().collect();
                    match sp.get_group(&link.remote_id).await {
                        Ok(g) => {
                            g.members.into_iter().collect::<BTreeSet<_>>() != expected
                                || g.display_name != link.remote_name
                        }
                        Err(e) if e.is_not_found() => {
                            idm::delete_group_link(&mut conn, app, group).await?;
                            true
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if drifted {
                jobs::enqueue(&mut conn, app, JobKind::Group, group.0, now).await?;
            }
        }
    }
    Ok(())
}
