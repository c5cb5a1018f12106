//! Delivers provisioning jobs: claims one with a lease, makes the SP match the directory for its target, records
//! an event for every SP call, and retries transient failures with exponential backoff and jitter (or the SP's
//! `Retry-After`). A crash leaves the lease to expire, and the job runs again; jobs are idempotent.
//!
//! The group rules follow the seeds: empty groups are not created, a same-named SP group is taken over, renames
//! propagate, an unbound group is left as it is in the SP, a deleted group is deleted, and users who lose their last
//! bound group are deactivated (deleted users are deleted, or deactivated where the integration soft-deletes).
//!
//! It is the top of provisioning: it runs the job modules (`reconcile`, `import`) and owns the provisioners they
//! use; none of them knows it. Services hold a `Worker` only to wake it and to pass it to `remote`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::audit::{Actor, Event, EventName};
use crate::catalog::Catalog;
use crate::directory::{AppId, Application, Group, GroupId, User, UserId};
use crate::mapping::UserMapping;
use crate::provisioning::job::JobError;
use crate::provisioning::scim::{check_base_url, http_client, ScimProvisioner};
use crate::provisioning::{import, reconcile, user_mapping, ProvisionError, Provisioner};
use crate::secret::SecretKey;
use crate::store::idm::{self, Integration, Link};
use crate::store::jobs::{self, Job, JobKind};
use crate::store::sealed::SCIM_TOKEN;
use crate::store::{apps, events, groups, Backend, Conn, Db};

/// Attempts before a job is marked failed (about a day of backoff at the cap).
const MAX_ATTEMPTS: i64 = 12;
/// The default lease of a claimed job (`provisioning_lease_secs`).
const LEASE: Duration = Duration::from_secs(120);
const BACKOFF_CAP: Duration = Duration::from_secs(30 * 60);

/// Provisioners by application, with what they were built from and when.
type ProvisionerCache = HashMap<AppId, CachedProvisioner>;

struct CachedProvisioner {
    /// The integration's base URL, sealed token and exclusions.
    fingerprint: String,
    mapping: UserMapping,
    app_name: String,
    built: std::time::Instant,
    provisioner: Arc<dyn Provisioner>,
}

/// How long a job may use a provisioner without reloading its application (whose connector decides the mapping);
/// the integration itself (active, URL, token, exclusions) is read for every job.
const APP_TTL: Duration = Duration::from_secs(2);

/// Everything a worker needs. Clone it into each worker task.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    secret: Arc<SecretKey>,
    http: reqwest::Client,
    allow_private: bool,
    wake: Arc<Notify>,
    provisioners: Arc<Mutex<ProvisionerCache>>,
    catalog: Arc<Catalog>,
    /// How long a claim lasts: a job whose worker died is due again when it expires.
    lease: Duration,
    /// On SQLite, this process's workers take turns for their write transactions (claim, commit): SQLite has
    /// one writer, and workers racing for its lock wait in its busy handler's sleeps (1 ms and up) instead.
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl Worker {
    pub fn new(
        db: Db,
        secret: Arc<SecretKey>,
        allow_private: bool,
        catalog: Arc<Catalog>,
    ) -> Result<Self, ProvisionError> {
        Ok(Self {
            db,
            secret,
            http: http_client(allow_private)?,
            allow_private,
            wake: Arc::new(Notify::new()),
            provisioners: Arc::default(),
            catalog,
            lease: LEASE,
            writes: Arc::default(),
        })
    }

    /// The same worker with another lease (`provisioning_lease_secs`).
    #[must_use]
    pub fn with_lease(self, lease: Duration) -> Self {
        Self { lease, ..self }
    }

    /// The HTTP client of the SCIM integrations (with the address policy).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// Wakes idle workers at once (after a change enqueued jobs in this process).
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// The provisioner for an application's integration, built once per (app, base URL, token, mapping).
    pub fn provisioner(&self, app: &Application, integration: &Integration) -> Result<Arc<dyn Provisioner>, JobError> {
        let mapping = user_mapping(&self.catalog, app, integration);
        let fingerprint = fingerprint(integration);
        if let Ok(cache) = self.provisioners.lock() {
            if let Some(c) = cache.get(&integration.app) {
                if c.fingerprint == fingerprint && c.mapping == mapping {
                    return Ok(c.provisioner.clone());
                }
            }
        }
        check_base_url(&integration.base_url, self.allow_private).map_err(JobError::Config)?;
        let token = self
            .secret
            .open(&integration.token_sealed, &SCIM_TOKEN.binding(integration.app.0))
            .map_err(|e| JobError::Config(e.to_string()))?;
        let p: Arc<dyn Provisioner> =
            Arc::new(ScimProvisioner::new(self.http.clone(), &integration.base_url, token, mapping.clone()));
        if let Ok(mut cache) = self.provisioners.lock() {
            let cached = CachedProvisioner {
                fingerprint,
                mapping,
                app_name: app.name.to_string(),
                built: std::time::Instant::now(),
                provisioner: p.clone(),
            };
            cache.insert(integration.app, cached);
        }
        Ok(p)
    }

    /// The application's name and provisioner for a job: from the cache when it is fresh and built from the same
    /// integration settings, else after loading the application.
    async fn job_provisioner(&self, integration: &Integration) -> Result<(String, Arc<dyn Provisioner>), JobError> {
        let fingerprint = fingerprint(integration);
        if let Ok(cache) = self.provisioners.lock() {
            if let Some(c) = cache.get(&integration.app) {
                if c.fingerprint == fingerprint && c.built.elapsed() < APP_TTL {
                    return Ok((c.app_name.clone(), c.provisioner.clone()));
                }
            }
        }
        let mut conn = self.db.conn().await?;
        let app = apps::get_app_by_id(&mut conn, integration.app).await?;
        drop(conn);
        let sp = self.provisioner(&app, integration)?;
        if let Ok(mut cache) = self.provisioners.lock() {
            if let Some(c) = cache.get_mut(&integration.app) {
                c.built = std::time::Instant::now();
            }
        }
        Ok((app.name.to_string(), sp))
    }

    /// Runs every job that is due now, one after another, and returns how many ran. Tests and the CLI use it to
    /// drive the queue explicitly.
    pub async fn run_due(&self) -> Result<usize, crate::store::Error> {
        let mut ran = 0;
        while self.run_one().await? {
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs `n` worker loops until `shutdown` turns true; each finishes its current job first.
    pub async fn run(self, n: usize, shutdown: watch::Receiver<bool>) {
        let mut tasks = Vec::new();
        for _ in 0..n.max(1) {
            let worker = self.clone();
            let mut shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                while !*shutdown.borrow() {
                    match worker.run_one().await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => warn!("provisioning queue: {e}"),
                    }
                    let pause = worker.time_to_next_job().await;
                    tokio::select! {
                        () = worker.wake.notified() => {},
                        () = tokio::time::sleep(pause) => {},
                        _ = shutdown.changed() => {},
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    async fn time_to_next_job(&self) -> Duration {
        let Ok(mut conn) = self.db.conn().await else { return Duration::from_secs(1) };
        match jobs::next_due(&mut conn).await {
            Ok(Some(t)) => {
                let wait = t - Utc::now().timestamp_millis();
                Duration::from_millis(u64::try_from(wait.clamp(50, 1_000)).unwrap_or(1_000))
            }
            _ => Duration::from_secs(1),
        }
    }

    /// Claims and runs one due job; `false` when none was due.
    async fn run_one(&self) -> Result<bool, crate::store::Error> {
        let now = Utc::now().timestamp_millis();
        let lease = i64::try_from(self.lease.as_millis()).unwrap_or(120_000);
        let turn = self.write_turn().await;
        let mut conn = self.db.conn().await?;
        let Some(job) = jobs::claim(&mut conn, now, lease, self.db.backend == Backend::Postgres).await? else {
            return Ok(false);
        };
        drop(conn);
        drop(turn);
        let writes = Mutex::new(Vec::new());
        let result = self.deliver(&job, &writes).await;
        let writes = writes.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        // What the job learnt (events, links, follow-up jobs) and its completion or retry commit together.
        let _turn = self.write_turn().await;
        let mut tx = self.db.begin().await?;
        apply(&mut tx, job.app, writes).await?;
        match result {
            Ok(()) => jobs::complete(&mut tx, job.id).await?,
            Err(e) => {
                let transient = match &e {
                    JobError::Sp(sp) => sp.is_transient(),
                    JobError::Store(_) => true,
                    JobError::Config(_) => false,
                };
                let give_up = !transient || job.attempts >= MAX_ATTEMPTS;
                let delay = match &e {
                    JobError::Sp(ProvisionError { retry_after: Some(wait), .. }) => *wait,
                    _ => backoff(job.attempts),
                };
                let not_before = Utc::now().timestamp_millis() + i64::try_from(delay.as_millis()).unwrap_or(0);
                warn!(job.id = job.id, app.id = %job.app, attempts = job.attempts, give_up, "provisioning job failed: {e}");
                jobs::retry_later(&mut tx, &job, not_before, &e.to_string(), give_up).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// This worker's turn to write, on SQLite; `None` on PostgreSQL, where row locks let workers write at once.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db.backend {
            Backend::Sqlite => Some(self.writes.lock().await),
            Backend::Postgres => None,
        }
    }

    async fn deliver(&self, job: &Job, writes: &Mutex<Vec<Write>>) -> Result<(), JobError> {
        let mut conn = self.db.conn().await?;
        let Some(integration) = idm::find_integration(&mut conn, job.app).await?.filter(|i| i.is_active) else {
            // The integration was deactivated since: nothing more goes to that SP.
            return Ok(());
        };
        drop(conn);
        let (app_name, sp) = self.job_provisioner(&integration).await?;
        let run = JobRun { db: &self.db, integration: &integration, app: &app_name, sp: sp.as_ref(), writes };
        match job.kind {
            JobKind::User => run.sync_user(job).await,
            JobKind::Group => run.sync_group(job).await,
            JobKind::Reconcile => reconcile::run(&self.db, &integration, sp.as_ref()).await,
            JobKind::Import => {
                if import::step(&self.db, &app_name, sp.as_ref(), job.target).await? {
                    run.write(Write::Enqueue(JobKind::Import, job.target));
                }
                Ok(())
            }
        }
    }
}

fn fingerprint(integration: &Integration) -> String {
    let excluded: Vec<&str> = integration.excluded_attributes.iter().map(String::as_str).collect();
    format!("{}\n{}\n{}", integration.base_url, integration.token_sealed, excluded.join("\n"))
}

/// Exponential backoff from 2 s, capped, with up to 50 % random jitter so retries of many jobs spread out.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let base = Duration::from_secs(2).saturating_mul(2u32.saturating_pow(exponent)).min(BACKOFF_CAP);
    let jitter = rand::random::<f64>() * 0.5;
    base.mul_f64(1.0 + jitter)
}

/// One job's context.
struct JobRun<'a> {
    db: &'a Db,
    integration: &'a Integration,
    app: &'a str,
    sp: &'a dyn Provisioner,
    writes: &'a Mutex<Vec<Write>>,
}

/// A database write a job makes after its SP calls. They are applied, in order, in the transaction that completes
/// or reschedules the job, so a job's events, links and follow-up jobs are never half written. A crash before that
/// commit runs the job again, which finds the SP's account by its name (or gets 409 for a create) and takes it
/// over: the calls are idempotent.
enum Write {
    Event(Event),
    UserLink(UserId, Link),
    DeleteUserLink(UserId),
    GroupLink(GroupId, Link),
    DeleteGroupLink(GroupId),
    /// Sync the bound groups that contain the user (they need the user's SP id).
    BoundGroupsOf(UserId),
    /// Sync every linked group (a user left them in the SP).
    LinkedGroups,
    /// A follow-up job (the next step of an import).
    Enqueue(JobKind, i64),
}

async fn apply(conn: &mut Conn, app: AppId, writes: Vec<Write>) -> Result<(), crate::store::Error> {
    let now = Utc::now().timestamp_millis();
    for write in writes {
        match write {
            Write::Event(event) => events::insert_event(conn, &event).await?,
            Write::UserLink(user, link) => idm::upsert_user_link(conn, app, user, &link, now).await?,
            Write::DeleteUserLink(user) => idm::delete_user_link(conn, app, user).await?,
            Write::GroupLink(group, link) => idm::upsert_group_link(conn, app, group, &link, now).await?,
            Write::DeleteGroupLink(group) => idm::delete_group_link(conn, app, group).await?,
            Write::BoundGroupsOf(user) => {
                for group in idm::list_bound_groups_of_user(conn, app, user).await? {
                    jobs::enqueue(conn, app, JobKind::Group, group.0, now).await?;
                }
            }
            Write::Enqueue(kind, target) => jobs::enqueue(conn, app, kind, target, now).await?,
            Write::LinkedGroups => {
                for (group, _) in idm::list_group_links(conn, app).await? {
                    jobs::enqueue(conn, app, JobKind::Group, group.0, now).await?;
                }
            }
        }
    }
    Ok(())
}

impl JobRun<'_> {
    async fn sync_user(&self, job: &Job) -> Result<(), JobError> {
        let app = self.integration.app;
        let mut conn = self.db.conn().await?;
        let (user, link, assigned) = idm::user_state(&mut conn, app, job.user()).await?;
        drop(conn);
        match (user, link, assigned) {
            (Some(user), link, true) => self.provision_user(job, &user, link).await,
            (Some(user), Some(link), false) => {
                if link.is_active {
                    let outcome = self.sp.deactivate_user(&link.remote_id).await;
                    let outcome = tolerate_missing(outcome);
                    self.record(EventName::UserDeprovision, &user.username, &outcome).await?;
                    outcome?;
                    self.save_link(job, Link { is_active: false, ..link }).await?;
                    self.enqueue_linked_groups().await?;
                }
                Ok(())
            }
            (None, Some(link), _) => {
                let (name, outcome) = if self.integration.soft_delete {
                    (EventName::UserDeprovision, tolerate_missing(self.sp.deactivate_user(&link.remote_id).await))
                } else {
                    (EventName::UserDeleteProvision, self.sp.delete_user(&link.remote_id).await)
                };
                self.record(name, &link.remote_name, &outcome).await?;
                outcome?;
                self.write(Write::DeleteUserLink(job.user()));
                self.enqueue_linked_groups().await
            }
            (_, None, _) => Ok(()),
        }
    }

    /// Creates, finds or updates the SP's account for an assigned user, and links it.
    async fn provision_user(&self, job: &Job, user: &User, link: Option<Link>) -> Result<(), JobError> {
        if let Some(link) = link {
            let outcome = self.sp.update_user(&link.remote_id, user, true).await;
            if !matches!(&outcome, Err(e) if e.is_not_found()) {
                self.record(EventName::UserUpdateProvision, &user.username, &outcome).await?;
                outcome?;
                let newly_active = !link.is_active;
                self.save_link(job, Link { is_active: true, remote_name: user.username.clone(), ..link }).await?;
                if newly_active {
                    self.enqueue_bound_groups(job).await?;
                }
                return Ok(());
            }
            // Deleted in the SP behind our back: create it again below.
        }
        // The SP's listing a moment ago had no such account: create it without a lookup first. If it appeared
        // since (409), it is looked up and taken over below.
        let created = if job.hint == jobs::HINT_ABSENT {
            match self.sp.create_user(user, true).await {
                Err(e) if e.is_conflict() => None,
                outcome => {
                    let as_unit = outcome.as_ref().map(drop).map_err(Clone::clone);
                    self.record(EventName::UserCreateProvision, &user.username, &as_unit).await?;
                    Some(outcome?.id)
                }
            }
        } else {
            None
        };
        let remote_id = match created {
            Some(id) => id,
            None => self.find_or_create_user(user).await?,
        };
        self.save_link(job, Link { remote_id, remote_name: user.username.clone(), is_active: true }).await?;
        self.enqueue_bound_groups(job).await
    }

    /// Looks the account up by its name and takes it over (bringing it up to date), or creates it.
    async fn find_or_create_user(&self, user: &User) -> Result<String, JobError> {
        let found = self.sp.find_user(user).await;
        if let Err(e) = &found {
            self.record(EventName::UserLookupProvision, &user.username, &Err::<(), _>(e.clone())).await?;
        }
        match found? {
            Some(existing) => {
                // An account with this userName exists already: take it over and bring it up to date.
                let outcome = self.sp.update_user(&existing.id, user, true).await;
                self.record(EventName::UserUpdateProvision, &user.username, &outcome).await?;
                outcome?;
                Ok(existing.id)
            }
            None => {
                let outcome = self.sp.create_user(user, true).await;
                let as_unit = outcome.as_ref().map(drop).map_err(Clone::clone);
                self.record(EventName::UserCreateProvision, &user.username, &as_unit).await?;
                Ok(outcome?.id)
            }
        }
    }

    async fn sync_group(&self, job: &Job) -> Result<(), JobError> {
        if !self.integration.manage_groups {
            // Group management is off: groups stay as they are in the SP.
            return Ok(());
        }
        let app = self.integration.app;
        let mut conn = self.db.conn().await?;
        let group = groups::find_group(&mut conn, job.group()).await?;
        let link = idm::find_group_link(&mut conn, app, job.group()).await?;
        let bound = idm::is_bound(&mut conn, app, job.group()).await?;
        let members = idm::list_linked_members(&mut conn, app, job.group()).await?;
        drop(conn);
        match (group, link) {
            (Some(group), link) if bound => self.provision_group(job, &group, link, &members).await,
            (None, Some(link)) => {
                let outcome = self.sp.delete_group(&link.remote_id).await;
                self.record(EventName::GroupDeleteProvision, &link.remote_name, &outcome).await?;
                outcome?;
                self.write(Write::DeleteGroupLink(job.group()));
                Ok(())
            }
            (Some(_), Some(_)) => {
                // Unbound: syncing stops and the SP's group is left as it is.
                self.write(Write::DeleteGroupLink(job.group()));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn provision_group(
        &self,
        job: &Job,
        group: &Group,
        link: Option<Link>,
        members: &[String],
    ) -> Result<(), JobError> {
        if let Some(link) = link {
            let outcome = self.sp.update_group(&link.remote_id, &group.name, members).await;
            if !matches!(&outcome, Err(e) if e.is_not_found()) {
                self.record(EventName::GroupUpdateProvision, &group.name, &outcome).await?;
                outcome?;
                return self.save_group_link(job, &link.remote_id, &group.name).await;
            }
        }
        if members.is_empty() {
            // Empty groups are not created.
            return Ok(());
        }
        let remote_id = match self.sp.find_group(&group.name).await? {
            Some(existing) => {
                // A same-named group in the SP is taken over.
                let outcome = self.sp.update_group(&existing.id, &group.name, members).await;
                self.record(EventName::GroupUpdateProvision, &group.name, &outcome).await?;
                outcome?;
                existing.id
            }
            None => {
                let outcome = self.sp.create_group(&group.name, members).await;
                let as_unit = outcome.as_ref().map(drop).map_err(Clone::clone);
                self.record(EventName::GroupCreateProvision, &group.name, &as_unit).await?;
                outcome?.id
            }
        };
        self.save_group_link(job, &remote_id, &group.name).await
    }

    fn write(&self, write: Write) {
        if let Ok(mut writes) = self.writes.lock() {
            writes.push(write);
        }
    }

    async fn save_link(&self, job: &Job, link: Link) -> Result<(), JobError> {
        self.write(Write::UserLink(job.user(), link));
        Ok(())
    }

    async fn save_group_link(&self, job: &Job, remote_id: &str, name: &str) -> Result<(), JobError> {
        let link = Link { remote_id: remote_id.to_owned(), remote_name: name.to_owned(), is_active: true };
        self.write(Write::GroupLink(job.group(), link));
        Ok(())
    }

    /// After a user is provisioned, the bound groups that contain them are synced (they need the user's SP id).
    async fn enqueue_bound_groups(&self, job: &Job) -> Result<(), JobError> {
        if self.integration.manage_groups {
            self.write(Write::BoundGroupsOf(job.user()));
        }
        Ok(())
    }

    /// After a user is deactivated or deleted, the linked groups are synced so their member lists drop the user.
    async fn enqueue_linked_groups(&self) -> Result<(), JobError> {
        if self.integration.manage_groups {
            self.write(Write::LinkedGroups);
        }
        Ok(())
    }

    /// One event per SP call, with the SP's error text on failure.
    async fn record(
        &self,
        name: EventName,
        target: &str,
        outcome: &Result<(), ProvisionError>,
    ) -> Result<(), JobError> {
        let mut event = Event::new(Utc::now(), name, &Actor::System).app(self.app).target(target);
        if matches!(
            name,
            EventName::UserCreateProvision
                | EventName::UserUpdateProvision
                | EventName::UserDeprovision
                | EventName::UserDeleteProvision
                | EventName::UserLookupProvision
        ) {
            event = event.user(target);
        }
        if let Err(e) = outcome {
            event = event.failed(e.to_string());
        } else {
            info!(app.name = %self.app, event = name.as_str(), "provisioned {target} to {}", self.app);
        }
        self.write(Write::Event(event));
        Ok(())
    }
}

/// Deactivating an account the SP no longer has is done.
fn tolerate_missing(outcome: Result<(), ProvisionError>) -> Result<(), ProvisionError> {
    match outcome {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(2) && backoff(1) <= Duration::from_secs(3));
        assert!(backoff(4) >= Duration::from_secs(16));
        assert!(backoff(40) <= BACKOFF_CAP.mul_f64(1.5));
    }
}
