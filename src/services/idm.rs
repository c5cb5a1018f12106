//! Identity management per application: activating and deactivating the SCIM integration (an SP whose connector
//! says SCIM needs SSO is refused while SSO is off; a token is changed by deactivating first), its reconciliation
//! schedule (each integration's own interval; the schedule's step takes the time from its caller), and importing the
//! SP's users into the directory (New or Imported by the userName the mapping sends; at once up to 100 accounts).
//! Directory changes enqueue provisioning jobs in `admin`, in their own transactions.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::audit::{Actor, Event, EventName};
use crate::catalog::Catalog;
use crate::directory::Application;
use crate::provisioning::remote::{self, Connection};
use crate::provisioning::{enqueue_import, enqueue_reconcile, RemoteUser};
use crate::services::{millis, record, Ctx, Error};
use crate::store::idm::{self, Integration};
use crate::store::imports::{self, Import};
use crate::store::sealed::SCIM_TOKEN;
use crate::store::{apps, events};

/// Why an activation is refused for a connector whose SP needs SSO before SCIM (the catalog's `sso_required`).
pub const SSO_REQUIRED: &str =
    "this service provider needs SSO to use SCIM: activate the application's SSO first, then identity management";

/// What an admin asks for when activating.
#[derive(Debug)]
pub struct Activation {
    /// The SCIM Base URL; `None` takes the connector's Base URL template, filled with the application's placeholder
    /// values and `values`.
    pub base_url: Option<String>,
    /// Values for the placeholders only the connector's SCIM Base URL uses (`NAME`, `VALUE`).
    pub values: Vec<(String, String)>,
    pub token: SecretString,
    pub manage_groups: bool,
    /// Deactivate instead of delete when a user is deleted; `None` takes what the connector says (else `false`).
    pub soft_delete: Option<bool>,
    /// Seconds between reconciliations; `None` keeps the integration's, else takes the connector's (Hoxhunt: 40
    /// minutes), else the configured `reconcile_interval_secs`.
    pub reconcile_interval_secs: Option<u64>,
}

impl Activation {
    /// An activation with a Base URL and the connector's defaults.
    pub fn new(base_url: impl Into<String>, token: SecretString, manage_groups: bool) -> Self {
        Self {
            base_url: Some(base_url.into()),
            values: Vec::new(),
            token,
            manage_groups,
            soft_delete: None,
            reconcile_interval_secs: None,
        }
    }
}

/// Verifies the connection, then saves the integration and starts provisioning. Nothing is saved when the SP
/// refuses. The token of an active integration is changed by deactivating and activating again (a reauth).
/// A connector's facts apply: group management is refused for an SP without groups, and soft delete defaults to
/// what the SP does.
pub async fn activate(
    ctx: &Ctx,
    actor: &Actor,
    app_name: &str,
    a: Activation,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut conn = ctx.db.conn().await?;
    let app =
        apps::find_app(&mut conn, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let current = idm::find_integration(&mut conn, app.id).await?;
    drop(conn);
    let fail = |reason: String| Error::Idm { app: app_name.to_owned(), reason };
    let connector = ctx.catalog.connector_scim(&app);
    if a.manage_groups && connector.is_some_and(|c| !c.groups_supported) {
        return Err(fail("this service provider does not support groups over SCIM; activate without them".into()));
    }
    if connector.is_some_and(|c| c.sso_required == Some(true)) && !app.is_active {
        return Err(fail(SSO_REQUIRED.into()));
    }
    let base_url = match &a.base_url {
        Some(url) => url.trim().to_owned(),
        None => connector_base_url(&ctx.catalog, &app, &a.values).map_err(fail)?,
    };
    let base_url = remote::check_base_url(&base_url, ctx.config.scim_allow_private_targets).map_err(fail)?;
    if a.token.expose_secret().trim().is_empty() {
        return Err(fail("the token is empty".into()));
    }
    let same_token = match &current {
        Some(c) => ctx
            .secret
            .open(&c.token_sealed, &SCIM_TOKEN.binding(app.id.0))
            .is_ok_and(|t| t.expose_secret() == a.token.expose_secret()),
        None => false,
    };
    let event_name = match &current {
        Some(c) if c.is_active && !same_token => {
            let reason = "to change the token, deactivate the integration, then activate it with the new token";
            let event = Event::new(now, EventName::IdmIntegrationReauth, actor).app(app_name).target(&c.base_url);
            record(ctx, event.failed(reason)).await?;
            return Err(fail(reason.into()));
        }
        Some(c) if c.is_active => EventName::IdmIntegrationUpdate,
        Some(_) if !same_token => EventName::IdmIntegrationReauth,
        _ => EventName::IdmIntegrationActivate,
    };
    let reconcile_interval_secs = match a.reconcile_interval_secs {
        Some(secs) => check_interval(secs).map_err(fail)?,
        None => match &current {
            Some(c) if c.reconcile_interval_secs > 0 => c.reconcile_interval_secs,
            _ => connector.and_then(|c| c.reconcile_interval_secs).and_then(|s| i64::try_from(s).ok()).unwrap_or(0),
        },
    };
    let interval =
        crate::provisioning::reconcile_interval_secs(reconcile_interval_secs, ctx.config.reconcile_interval_secs);
    let integration = Integration {
        app: app.id,
        kind: "scim".into(),
        base_url: base_url.clone(),
        token_sealed: ctx
            .secret
            .seal(a.token.expose_secret(), &SCIM_TOKEN.binding(app.id.0))
            .map_err(|e| fail(e.to_string()))?,
        manage_groups: a.manage_groups,
        soft_delete: a.soft_delete.unwrap_or_else(|| connector.is_some_and(|c| c.soft_delete)),
        is_active: true,
        excluded_attributes: current.map(|c| c.excluded_attributes).unwrap_or_default(),
        reconcile_interval_secs,
        // Activation reconciles at once; the schedule takes over from there.
        next_reconcile_at: millis(now).saturating_add(i64::try_from(interval).unwrap_or(0).saturating_mul(1_000)),
    };

    let event = Event::new(now, event_name, actor).app(app_name).target(&base_url);
    if let Err(e) = remote::probe(&ctx.worker, &ctx.catalog, &app, &integration, a.token.clone()).await {
        record(ctx, event.failed(e.to_string())).await?;
        return Err(fail(format!("the SCIM service did not accept the connection: {e}")));
    }
    let mut detail = String::from(if a.manage_groups { "users and groups" } else { "users" });
    if integration.soft_delete {
        detail.push_str(", soft delete");
    }
    detail.push_str(&format!(", reconciled every {}", minutes(interval)));
    let mut tx = ctx.db.begin().await?;
    idm::upsert_integration(&mut tx, &integration, millis(now)).await?;
    enqueue_reconcile(&mut tx, app.id, millis(now)).await?;
    events::insert_event(&mut tx, &event.detail(detail)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// The shortest and longest reconciliation intervals an admin may set (as `reconcile_interval_secs`).
pub const RECONCILE_INTERVAL_RANGE: (u64, u64) = (60, 30 * 86_400);

fn check_interval(secs: u64) -> Result<i64, String> {
    let (low, high) = RECONCILE_INTERVAL_RANGE;
    if !(low..=high).contains(&secs) {
        return Err(format!("the reconciliation interval must be between {} and {}", minutes(low), minutes(high)));
    }
    i64::try_from(secs).map_err(|e| e.to_string())
}

/// An interval for people: whole minutes where it is, else seconds.
pub fn minutes(secs: u64) -> String {
    match (secs % 60, secs / 60) {
        (0, 1) => "minute".to_owned(),
        (0, m) => format!("{m} minutes"),
        _ => format!("{secs} seconds"),
    }
}

/// Sets how often the integration is reconciled (`None`: the connector's interval, else the configured default),
/// from now on.
pub async fn change_schedule(
    ctx: &Ctx,
    actor: &Actor,
    app_name: &str,
    secs: Option<u64>,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let fail = |reason: String| Error::Idm { app: app_name.to_owned(), reason };
    let mut tx = ctx.db.begin().await?;
    let app =
        apps::find_app(&mut tx, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let Some(mut integration) = idm::find_integration(&mut tx, app.id).await?.filter(|i| i.is_active) else {
        return Err(fail("identity management is not active".into()));
    };
    integration.reconcile_interval_secs = match secs {
        Some(secs) => check_interval(secs).map_err(fail)?,
        None => ctx
            .catalog
            .connector_scim(&app)
            .and_then(|c| c.reconcile_interval_secs)
            .and_then(|s| i64::try_from(s).ok())
            .unwrap_or(0),
    };
    let interval = crate::provisioning::reconcile_interval_secs(
        integration.reconcile_interval_secs,
        ctx.config.reconcile_interval_secs,
    );
    integration.next_reconcile_at =
        millis(now).saturating_add(i64::try_from(interval).unwrap_or(0).saturating_mul(1_000));
    idm::upsert_integration(&mut tx, &integration, millis(now)).await?;
    let event = Event::new(now, EventName::IdmIntegrationUpdate, actor)
        .app(app_name)
        .detail(format!("reconciled every {}", minutes(interval)));
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(interval)
}

/// One look of the reconciliation schedule at `now` (the clock is the caller's: `serve`'s loop passes the time, tests
/// their own): enqueues a reconciliation for each active integration whose own interval has passed since its last
/// one. Returns how many it enqueued.
pub async fn schedule_reconciliations(ctx: &Ctx, now: DateTime<Utc>) -> Result<usize, Error> {
    let mut tx = ctx.db.begin().await?;
    let n =
        crate::provisioning::schedule_reconciliations(&mut tx, millis(now), ctx.config.reconcile_interval_secs).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    if n > 0 {
        ctx.worker.wake();
    }
    Ok(n)
}

/// The connector's SCIM Base URL for an application, with every placeholder filled and checked.
fn connector_base_url(catalog: &Catalog, app: &Application, given: &[(String, String)]) -> Result<String, String> {
    let (Some(from), Some(scim)) = (&app.sp.connector, catalog.connector_scim(app)) else {
        return Err("give the SCIM Base URL (the application is not from a catalog connector)".into());
    };
    let Some(template) = &scim.base_url else {
        return Err(format!("give the SCIM Base URL: the {} connector has none to fill in", from.id));
    };
    let mut values = from.values.clone();
    for (name, value) in given {
        let Some(placeholder) = scim.placeholders.iter().find(|p| &p.name == name) else {
            let known: Vec<&str> = scim.placeholders.iter().map(|p| p.name.as_str()).collect();
            return Err(format!("{name} is not a placeholder of the SCIM Base URL (known: {})", known.join(", ")));
        };
        let checked = placeholder.kind.check(value).map_err(|problem| format!("{name}: {problem}"))?;
        values.insert(name.clone(), checked);
    }
    template
        .render(&values)
        .map_err(|names| format!("the SCIM Base URL {} needs a value for {}", template.as_str(), names.join(", ")))
}

/// One entry of an application's SCIM user mapping, as shown to admins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MappingRow {
    pub scim: String,
    pub source: String,
    pub required: bool,
    pub excluded: bool,
    pub allowed_values: Vec<String>,
}

/// The application's SCIM user mapping with what is excluded.
pub async fn mapping(ctx: &Ctx, app_name: &str) -> Result<Vec<MappingRow>, Error> {
    let mut conn = ctx.db.conn().await?;
    let app =
        apps::find_app(&mut conn, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let excluded = idm::find_integration(&mut conn, app.id).await?.map(|i| i.excluded_attributes).unwrap_or_default();
    let full = ctx.catalog.user_mapping(&app);
    Ok(full
        .entries
        .into_iter()
        .map(|e| MappingRow {
            excluded: !e.required && excluded.contains(&e.path),
            source: e.from.as_str().to_owned(),
            scim: e.path,
            required: e.required,
            allowed_values: e.allowed_values,
        })
        .collect())
}

/// Excludes optional mapping entries (`exclude`) or restores them (`restore`; `None` restores every one), then
/// brings the SP's copies up to date. Required entries cannot be excluded.
pub async fn change_mapping(
    ctx: &Ctx,
    actor: &Actor,
    app_name: &str,
    exclude: &[String],
    restore: Option<&[String]>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let fail = |reason: String| Error::Idm { app: app_name.to_owned(), reason };
    let rows = mapping(ctx, app_name).await?;
    for path in exclude.iter().chain(restore.unwrap_or_default()) {
        match rows.iter().find(|r| &r.scim == path) {
            None => {
                let known: Vec<&str> = rows.iter().map(|r| r.scim.as_str()).collect();
                return Err(fail(format!("{path} is not in the mapping (it has: {})", known.join(", "))));
            }
            Some(r) if r.required && exclude.contains(path) => {
                return Err(fail(format!("{path} is required by the service provider and cannot be excluded")))
            }
            Some(_) => {}
        }
    }
    let mut tx = ctx.db.begin().await?;
    let app =
        apps::find_app(&mut tx, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let Some(mut integration) = idm::find_integration(&mut tx, app.id).await? else {
        return Err(fail("identity management was never activated for this application".into()));
    };
    match restore {
        None => integration.excluded_attributes.clear(),
        Some(paths) => paths.iter().for_each(|p| {
            integration.excluded_attributes.remove(p);
        }),
    }
    integration.excluded_attributes.extend(exclude.iter().cloned());
    idm::upsert_integration(&mut tx, &integration, millis(now)).await?;
    if integration.is_active {
        enqueue_reconcile(&mut tx, app.id, millis(now)).await?;
    }
    let excluded: Vec<&str> = integration.excluded_attributes.iter().map(String::as_str).collect();
    let detail = if excluded.is_empty() {
        "mapping: every attribute sent".to_owned()
    } else {
        format!("mapping: excluded {}", excluded.join(", "))
    };
    let event = Event::new(now, EventName::IdmIntegrationUpdate, actor).app(app_name).detail(detail);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Stops provisioning to the SP. Its accounts are left as they are; pending jobs are dropped when they run.
pub async fn deactivate(ctx: &Ctx, actor: &Actor, app_name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let app =
        apps::find_app(&mut tx, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let Some(mut integration) = idm::find_integration(&mut tx, app.id).await?.filter(|i| i.is_active) else {
        return Err(Error::Idm { app: app_name.to_owned(), reason: "identity management is not active".into() });
    };
    integration.is_active = false;
    idm::upsert_integration(&mut tx, &integration, millis(now)).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::IdmIntegrationDelete, actor).app(app_name)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// An SP account and whether the directory already has it.
#[derive(Debug, serde::Serialize)]
pub struct ImportCandidate {
    #[serde(flatten)]
    pub user: RemoteUser,
    /// `new`, `imported` (the directory has it: a user whose account name under the application's mapping is its
    /// userName, or who is linked to it) or `suspended` (inactive in the SP, so not imported).
    pub status: &'static str,
}

/// Imports of more accounts than this run in the background (`start_import`), as the seeds' "more than 100 users".
pub const INLINE_IMPORT_LIMIT: usize = 100;

/// Lists every account of the SP (all pages), sorted by userName, marking those the directory has as `imported`
/// and those the SP suspended as `suspended`.
pub async fn list_import_candidates(ctx: &Ctx, app_name: &str) -> Result<Vec<ImportCandidate>, Error> {
    let (integration, sp) = provisioner_for(ctx, app_name).await?;
    let remote = sp.list_users().await.map_err(|e| Error::Idm { app: app_name.to_owned(), reason: e.to_string() })?;
    let mut conn = ctx.db.conn().await?;
    let known = sp.known(&mut conn, integration.app).await?;
    drop(conn);
    let mut sorted: Vec<RemoteUser> = remote.into_values().collect();
    sorted.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    Ok(sorted
        .into_iter()
        .map(|user| {
            let status = match known.holder(&user.user_name, &user.id) {
                Some(_) => "imported",
                None if !user.active => "suspended",
                None => "new",
            };
            ImportCandidate { user, status }
        })
        .collect())
}

/// What an import did: at once, or started in the background.
#[derive(Debug)]
pub enum ImportOutcome {
    /// The userNames imported, and those skipped with why.
    Done { imported: Vec<String>, skipped: Vec<(String, String)> },
    /// More than `INLINE_IMPORT_LIMIT` accounts: background import `id` (see `imports`).
    Background(i64),
}

/// Creates directory users for the selected SP accounts (by userName; `None` selects every new one): at once for up
/// to `INLINE_IMPORT_LIMIT` accounts, else as a background import. Without a selection, an SP holding more accounts
/// than that goes to the background at once (one request tells), so a request never lists a large SP. Accounts the
/// directory has already, that the SP suspended, or that lack an email, are skipped and reported.
pub async fn import_users(
    ctx: &Ctx,
    actor: &Actor,
    app_name: &str,
    selected: Option<&[String]>,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, Error> {
    let is_large = match selected {
        Some(names) => names.len() > INLINE_IMPORT_LIMIT,
        None => {
            let (_, sp) = provisioner_for(ctx, app_name).await?;
            let n =
                sp.count_users().await.map_err(|e| Error::Idm { app: app_name.to_owned(), reason: e.to_string() })?;
            n > INLINE_IMPORT_LIMIT
        }
    };
    if is_large {
        return start_import(ctx, actor, app_name, selected, now).await.map(ImportOutcome::Background);
    }
    let chosen: Vec<ImportCandidate> = list_import_candidates(ctx, app_name)
        .await?
        .into_iter()
        .filter(|c| match selected {
            Some(names) => names.contains(&c.user.user_name),
            None => c.status == "new",
        })
        .collect();
    if chosen.len() > INLINE_IMPORT_LIMIT {
        return start_import(ctx, actor, app_name, selected, now).await.map(ImportOutcome::Background);
    }
    let (integration, sp) = provisioner_for(ctx, app_name).await?;
    let mut conn = ctx.db.conn().await?;
    let known = sp.known(&mut conn, integration.app).await?;
    drop(conn);
    let mut imported = Vec::new();
    let mut skipped = Vec::new();
    for c in chosen {
        let mut tx = ctx.db.begin().await?;
        match remote::import_account(&mut tx, &c.user, &known, actor, app_name, now).await? {
            Ok(()) => {
                tx.commit().await.map_err(crate::store::Error::from)?;
                imported.push(c.user.user_name);
            }
            Err(why) => skipped.push((c.user.user_name, why)),
        }
    }
    Ok(ImportOutcome::Done { imported, skipped })
}

/// Starts a background import of the selected SP accounts (`None`: every one the directory lacks); the
/// provisioning workers of `serve` run it in steps. Returns its id, for `imports`.
pub async fn start_import(
    ctx: &Ctx,
    actor: &Actor,
    app_name: &str,
    selected: Option<&[String]>,
    now: DateTime<Utc>,
) -> Result<i64, Error> {
    let (integration, _) = provisioner_for(ctx, app_name).await?;
    let mut tx = ctx.db.begin().await?;
    let id = imports::insert_import(&mut tx, integration.app, selected, &actor.label(), millis(now)).await?;
    enqueue_import(&mut tx, integration.app, id, millis(now)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(id)
}

/// The application's background imports and their progress, newest first.
pub async fn imports(ctx: &Ctx, app_name: &str) -> Result<Vec<Import>, Error> {
    let mut conn = ctx.db.conn().await?;
    let app =
        apps::find_app(&mut conn, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    Ok(imports::list_imports(&mut conn, app.id, 20).await?)
}

/// Makes the app's waiting and failed jobs due now (after an outage is fixed, say).
pub async fn retry_now(ctx: &Ctx, app_name: &str, now: DateTime<Utc>) -> Result<u64, Error> {
    let mut conn = ctx.db.conn().await?;
    let app =
        apps::find_app(&mut conn, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let n = crate::store::jobs::retry_now(&mut conn, app.id, millis(now)).await?;
    ctx.worker.wake();
    Ok(n)
}

async fn provisioner_for(ctx: &Ctx, app_name: &str) -> Result<(Integration, Connection), Error> {
    let mut conn = ctx.db.conn().await?;
    let app =
        apps::find_app(&mut conn, app_name).await?.ok_or_else(|| Error::UnknownApp { name: app_name.to_owned() })?;
    let Some(integration) = idm::find_integration(&mut conn, app.id).await?.filter(|i| i.is_active) else {
        return Err(Error::Idm { app: app_name.to_owned(), reason: "identity management is not active".into() });
    };
    let sp = Connection::open(&ctx.worker, &app, &integration)
        .map_err(|e| Error::Idm { app: app_name.to_owned(), reason: e.to_string() })?;
    Ok((integration, sp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_in_minutes_where_they_are_whole() {
        assert_eq!(minutes(60), "minute");
        assert_eq!(minutes(2400), "40 minutes");
        assert_eq!(minutes(90), "90 seconds");
        assert!(check_interval(59).is_err() && check_interval(30 * 86_400 + 1).is_err());
        assert_eq!(check_interval(600), Ok(600));
    }
}
