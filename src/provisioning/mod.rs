//! Provisioning: keeping service providers' accounts and groups in step with the directory.
//!
//! `Provisioner` is the interface a kind of SP integration implements; SCIM 2.0 (`scim`) is the first, sending what
//! the mapping engine (`crate::mapping`) builds from the connector's table (`catalog`). Directory changes enqueue jobs
//! (`store::jobs`) in their own transaction; `worker` delivers them with retries and records an event for every
//! attempt; `reconcile` repairs drift; `import` brings an SP's accounts into the directory; `job` holds what those
//! share. This file holds the plain types and the interface every part uses, and imports none of its parts.
//!
//! Architecture Invariant: services reach provisioning only through `enqueue_*`, which only writes job rows, and
//! `remote` (probing an endpoint, listing and importing an SP's accounts for an admin), and `address`, the outbound
//! address policy that SP metadata fetches share; they see its plain data types, never its other parts. It knows nothing of `web`, `services`, templates or SAML.
//!
//! Architecture Invariant: the SCIM token is used only in the Authorization header and never logged or recorded.

pub mod address;
pub mod import;
pub mod job;
pub mod reconcile;
pub mod remote;
pub mod scim;
pub mod worker;

use std::time::Duration;

use async_trait::async_trait;

use crate::catalog::Catalog;
use crate::directory::{AppId, Application, GroupId, User, UserId};
use crate::mapping::UserMapping;
use crate::store::idm::Integration;
use crate::store::jobs::{self, JobKind};
use crate::store::{idm, Conn};

/// A user as the SP holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct RemoteUser {
    pub id: String,
    pub user_name: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    /// `preferredLanguage`, and the parts of the address of type work (RFC 7643 §4.1.2).
    pub preferred_language: String,
    pub work_street: String,
    pub work_locality: String,
    pub work_region: String,
    pub work_postal_code: String,
    pub work_country: String,
    pub external_id: String,
    pub active: bool,
    /// The whole resource, for drift comparison.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

/// A group as the SP holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteGroup {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

/// What went wrong talking to the SP. `detail` is the SP's own error text where it gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .status { Some(s) => format!("HTTP {s}: {}", .detail), None => .detail.clone() })]
pub struct ProvisionError {
    pub status: Option<u16>,
    pub detail: String,
    /// From `Retry-After` on 429 and 503.
    pub retry_after: Option<Duration>,
    /// The SCIM error's `scimType` (RFC 7644 §3.12), e.g. `uniqueness`.
    pub scim_type: Option<String>,
}

impl ProvisionError {
    pub fn network(detail: impl Into<String>) -> Self {
        Self { status: None, detail: detail.into(), retry_after: None, scim_type: None }
    }

    /// Worth another attempt later: no answer, throttling, or a server-side failure.
    pub fn is_transient(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s == 408 || s == 429 || s >= 500,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }

    /// The resource exists already: 409 (RFC 7644 §3.3), or 400 with `scimType` `uniqueness`, which some SPs send.
    pub fn is_conflict(&self) -> bool {
        self.status == Some(409) || (self.status == Some(400) && self.scim_type.as_deref() == Some("uniqueness"))
    }
}

/// What an SP integration can do. Methods are idempotent where the protocol allows.
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Checks the URL and credentials, before an integration is saved.
    async fn verify(&self) -> Result<(), ProvisionError>;
    /// The value that identifies the user's account in the SP (SCIM: `userName`), as listings show it.
    fn account_name(&self, user: &User) -> String;
    /// Looks the user up by the attribute that identifies accounts in the SP (SCIM: `userName eq`).
    async fn find_user(&self, user: &User) -> Result<Option<RemoteUser>, ProvisionError>;
    async fn get_user(&self, id: &str) -> Result<RemoteUser, ProvisionError>;
    async fn create_user(&self, user: &User, active: bool) -> Result<RemoteUser, ProvisionError>;
    /// Sends the user's current properties (and `active`) to the SP.
    async fn update_user(&self, id: &str, user: &User, active: bool) -> Result<(), ProvisionError>;
    /// Deactivates (`active = false`) without sending other properties; works for deleted directory users.
    async fn deactivate_user(&self, id: &str) -> Result<(), ProvisionError>;
    async fn delete_user(&self, id: &str) -> Result<(), ProvisionError>;
    /// Whether the SP's copy of an assigned user is active and carries what we would send now (drift check).
    fn is_current(&self, user: &User, remote: &RemoteUser) -> bool;
    async fn list_users(&self, start_index: usize, count: usize) -> Result<Page<RemoteUser>, ProvisionError>;
    async fn find_group(&self, display_name: &str) -> Result<Option<RemoteGroup>, ProvisionError>;
    async fn get_group(&self, id: &str) -> Result<RemoteGroup, ProvisionError>;
    async fn create_group(&self, display_name: &str, members: &[String]) -> Result<RemoteGroup, ProvisionError>;
    /// Sets the name and the complete member list.
    async fn update_group(&self, id: &str, display_name: &str, members: &[String]) -> Result<(), ProvisionError>;
    async fn delete_group(&self, id: &str) -> Result<(), ProvisionError>;
}

/// The attributes sent for an application's users: its connector's table (or the default one), without the
/// optional entries the admin excluded.
pub fn user_mapping(catalog: &Catalog, app: &Application, integration: &Integration) -> UserMapping {
    catalog.user_mapping(app).without(&integration.excluded_attributes)
}

/// Enqueues what a change of `user` (properties, status, deletion) needs: a user job per integrated app.
/// Call before deleting the user, inside the change's transaction.
pub async fn enqueue_user_change(conn: &mut Conn, user: UserId, now_ms: i64) -> Result<(), crate::store::Error> {
    for app in idm::list_apps_for_user(conn, user).await? {
        jobs::enqueue(conn, app, JobKind::User, user.0, now_ms).await?;
    }
    Ok(())
}

/// Enqueues what a membership change needs: the user and the group, for every integrated app the group is bound to.
pub async fn enqueue_membership_change(
    conn: &mut Conn,
    group: GroupId,
    user: UserId,
    now_ms: i64,
) -> Result<(), crate::store::Error> {
    for app in idm::list_apps_for_group(conn, group).await? {
        jobs::enqueue(conn, app, JobKind::User, user.0, now_ms).await?;
        jobs::enqueue(conn, app, JobKind::Group, group.0, now_ms).await?;
    }
    Ok(())
}

/// Enqueues what a group change (rename, deletion, binding) needs: the group and each member, per integrated app.
/// Call before deleting the group, inside the change's transaction.
pub async fn enqueue_group_change(conn: &mut Conn, group: GroupId, now_ms: i64) -> Result<(), crate::store::Error> {
    for app in idm::list_apps_for_group(conn, group).await? {
        enqueue_group_for_app(conn, app, group, now_ms).await?;
    }
    Ok(())
}

/// The group job and one user job per member, for one app (binding and unbinding).
pub async fn enqueue_group_for_app(
    conn: &mut Conn,
    app: AppId,
    group: GroupId,
    now_ms: i64,
) -> Result<(), crate::store::Error> {
    jobs::enqueue(conn, app, JobKind::Group, group.0, now_ms).await?;
    jobs::enqueue_members(conn, app, group, now_ms).await
}

/// Enqueues the first step of background import `import` (a row of `store::imports`); each step enqueues the next.
pub async fn enqueue_import(conn: &mut Conn, app: AppId, import: i64, now_ms: i64) -> Result<(), crate::store::Error> {
    jobs::enqueue(conn, app, JobKind::Import, import, now_ms).await
}

/// Enqueues a full comparison of the app with its SP (activation, the periodic reconciliation).
pub async fn enqueue_reconcile(conn: &mut Conn, app: AppId, now_ms: i64) -> Result<(), crate::store::Error> {
    jobs::enqueue(conn, app, JobKind::Reconcile, 0, now_ms).await
}

/// Seconds between an integration's reconciliations: its own interval (`own_secs`, 0 for none), else
/// `default_secs` (`reconcile_interval_secs`).
pub fn reconcile_interval_secs(own_secs: i64, default_secs: u64) -> u64 {
    u64::try_from(own_secs).ok().filter(|s| *s > 0).unwrap_or(default_secs)
}

/// The reconciliation schedule at `now_ms`: enqueues a reconciliation for every active integration whose own
/// schedule is due, and moves that schedule on by its interval from now (a server that was down does not catch up
/// run by run). Replicas may all call it: each due reconciliation is claimed once. Returns how many it enqueued.
pub async fn schedule_reconciliations(
    conn: &mut Conn,
    now_ms: i64,
    default_secs: u64,
) -> Result<usize, crate::store::Error> {
    let mut enqueued = 0;
    for integration in idm::list_due_reconciliations(conn, now_ms).await? {
        let interval_ms = i64::try_from(reconcile_interval_secs(integration.reconcile_interval_secs, default_secs))
            .unwrap_or(i64::MAX / 1_000)
            .saturating_mul(1_000);
        let next = now_ms.saturating_add(interval_ms);
        if idm::claim_reconciliation(conn, integration.app, integration.next_reconcile_at, next).await? {
            enqueue_reconcile(conn, integration.app, now_ms).await?;
            enqueued += 1;
        }
    }
    Ok(enqueued)
}
