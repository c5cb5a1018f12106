//! The Identity Management tab of an application's page: SCIM provisioning's Base URL (or the connector's, with its
//! placeholders) and token (never shown back), the reconciliation interval, a deactivation that needs its
//! confirmation box, its mapping with the entries the admin excluded and a restore of the defaults, and imports of
//! the SP's accounts with their progress; and the page that lists those accounts (New, Imported, Suspended) to pick.
//! Provisioning itself (`services::idm`, `provisioning`) is not reached from here but through those services.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use secrecy::SecretString;

use crate::audit::Actor;
use crate::services::apps::view::AppDetails;
use crate::services::{idm, Ctx, Error};
use crate::web::console::apps::app_url;
use crate::web::console::{render, Chrome, Console, Fields, FormFields};
use crate::web::error::PageError;
use crate::web::AppState;

pub struct MappingRowInfo {
    pub scim: String,
    pub source: String,
    pub required: bool,
    pub excluded: bool,
}

pub struct ImportInfo {
    pub id: i64,
    pub state: String,
    pub total: i64,
    pub imported: i64,
    pub skipped: i64,
    pub percent: i64,
    pub last_error: String,
    pub updated_at: String,
}

/// A value the connector's SCIM Base URL needs (Netskope's subdomain and tenant ID, Zscaler's organization and IdP
/// IDs), asked for in the activation form as `value.NAME`.
pub struct PlaceholderField {
    pub name: String,
    pub label: String,
    pub example: String,
}

/// What the tab shows: the integration's settings, and while it is active (on this tab only) the mapping and the
/// imports.
pub struct IdmView {
    pub idm_base_url: String,
    pub idm_is_active: bool,
    pub idm_manage_groups: bool,
    pub connector: String,
    /// The connector's SCIM Base URL template, when it has one.
    pub idm_base_url_template: String,
    pub idm_placeholders: Vec<PlaceholderField>,
    /// The connector's SP needs SSO for SCIM (the catalog's `sso_required`).
    pub idm_sso_required: bool,
    /// The reconciliation interval, for people, and when the next one is due.
    pub idm_reconcile_every: String,
    pub idm_reconcile_minutes: u64,
    pub idm_next_reconcile: String,
    pub mapping: Vec<MappingRowInfo>,
    pub imports: Vec<ImportInfo>,
}

impl IdmView {
    pub async fn load(ctx: &Ctx, name: &str, d: &AppDetails, is_shown: bool) -> Result<Self, Error> {
        let idm_is_active = d.idm.as_ref().is_some_and(|i| i.is_active);
        let (mapping, imports) = if is_shown && idm_is_active {
            (mapping(ctx, name).await?, imports(ctx, name).await?)
        } else {
            (Vec::new(), Vec::new())
        };
        let scim = ctx.catalog.connector_scim(&d.app);
        let interval = d.idm.as_ref().map_or(ctx.config.reconcile_interval_secs, |i| i.reconcile_interval_secs);
        Ok(Self {
            idm_base_url: d.idm.as_ref().map(|i| i.base_url.clone()).unwrap_or_default(),
            idm_is_active,
            idm_manage_groups: d.idm.as_ref().is_some_and(|i| i.manage_groups),
            connector: d.app.sp.connector.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            idm_base_url_template: scim
                .and_then(|s| s.base_url.as_ref())
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            idm_placeholders: scim
                .map(|s| {
                    s.placeholders
                        .iter()
                        .map(|p| PlaceholderField {
                            name: p.name.clone(),
                            label: p.label.clone(),
                            example: p.example.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            idm_sso_required: scim.is_some_and(|s| s.sso_required == Some(true)),
            idm_reconcile_every: idm::minutes(interval),
            idm_reconcile_minutes: interval / 60,
            idm_next_reconcile: d
                .idm
                .as_ref()
                .map(|i| i.next_reconcile_at.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            mapping,
            imports,
        })
    }
}

async fn mapping(ctx: &Ctx, name: &str) -> Result<Vec<MappingRowInfo>, Error> {
    let rows = idm::mapping(ctx, name).await?;
    Ok(rows
        .into_iter()
        .map(|r| MappingRowInfo { scim: r.scim, source: r.source, required: r.required, excluded: r.excluded })
        .collect())
}

async fn imports(ctx: &Ctx, name: &str) -> Result<Vec<ImportInfo>, Error> {
    let imports = idm::imports(ctx, name).await?;
    Ok(imports
        .into_iter()
        .map(|i| ImportInfo {
            id: i.id,
            percent: percent(i.imported + i.skipped, i.total, &i.state),
            state: i.state,
            total: i.total,
            imported: i.imported,
            skipped: i.skipped,
            last_error: i.last_error,
            updated_at: chrono::DateTime::from_timestamp_millis(i.updated_at)
                .unwrap_or_default()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        })
        .collect())
}

/// How far an import is, for its progress bar.
fn percent(done: i64, total: i64, state: &str) -> i64 {
    if total > 0 {
        (done * 100 / total).clamp(0, 100)
    } else if state == "done" {
        100
    } else {
        0
    }
}

/// Identity management: activate (Base URL and token, which is never shown back), deactivate, exclude or restore
/// mapping entries, and start an import of the SP's accounts.
pub async fn change_idm(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let (ctx, actor, now) = (&state.ctx, console.actor(), Utc::now());
    let back = app_url(&name, "idm");
    let scim = f.get("scim").to_owned();
    let result = match f.get("action") {
        "activate" if f.raw("token").is_empty() => return console.refuse("Give the SP's API token.", &back).await,
        "activate" => activate(ctx, &actor, &name, &f).await,
        "deactivate" if !f.is_checked("confirm") => {
            return console.refuse("Tick the box to confirm: provisioning to the SP stops.", &back).await
        }
        "deactivate" => idm::deactivate(ctx, &actor, &name, now)
            .await
            .map(|()| "Identity management is deactivated; the SP's accounts are left as they are.".to_owned()),
        "restore_all" => idm::change_mapping(ctx, &actor, &name, &[], None, now)
            .await
            .map(|()| "The mapping is back to its defaults: every attribute is sent.".to_owned()),
        "schedule" => {
            let minutes = match f.get("interval_minutes") {
                "" => None,
                m => match m.parse::<u64>() {
                    Ok(m) => Some(m.saturating_mul(60)),
                    Err(_) => return console.refuse("The interval is a whole number of minutes.", &back).await,
                },
            };
            idm::change_schedule(ctx, &actor, &name, minutes, now)
                .await
                .map(|secs| format!("Reconciled every {} from now on.", idm::minutes(secs)))
        }
        "exclude" => idm::change_mapping(ctx, &actor, &name, std::slice::from_ref(&scim), Some(&[]), now)
            .await
            .map(|()| format!("{scim} is no longer sent.")),
        "restore" => idm::change_mapping(ctx, &actor, &name, &[], Some(std::slice::from_ref(&scim)), now)
            .await
            .map(|()| format!("{scim} is sent again.")),
        "import" => import(ctx, &actor, &name, None).await,
        "import_selected" => {
            let selected = f.all("user");
            if selected.is_empty() {
                let choose = format!("/admin/apps/{}/idm/import", crate::web::console::segment(&name));
                return console.refuse("Choose at least one account to import.", &choose).await;
            }
            import(ctx, &actor, &name, Some(&selected)).await
        }
        _ => return console.refuse("Unknown action.", &back).await,
    };
    console.done(result, &back).await
}

/// How many imported and skipped accounts a message names.
const FIRST: usize = 10;

/// Imports at once (up to `idm::INLINE_IMPORT_LIMIT` accounts) or starts a background import.
async fn import(ctx: &Ctx, actor: &Actor, name: &str, selected: Option<&[String]>) -> Result<String, Error> {
    Ok(match idm::import_users(ctx, actor, name, selected, Utc::now()).await? {
        idm::ImportOutcome::Done { imported, skipped } => {
            // The first few of each, so the message stays short (the events list every import).
            let first = |items: Vec<String>| {
                let n = items.len();
                let mut shown: Vec<String> = items.into_iter().take(FIRST).collect();
                if n > FIRST {
                    shown.push(format!("and {} more", n - FIRST));
                }
                shown.join(", ")
            };
            let mut message = format!("{} imported", imported.len());
            if !imported.is_empty() {
                message.push_str(&format!(" ({})", first(imported)));
            }
            message.push_str(&format!(", {} skipped", skipped.len()));
            if !skipped.is_empty() {
                let why: Vec<String> = skipped.iter().map(|(n, why)| format!("{n}: {why}")).collect();
                message.push_str(&format!(" ({})", first(why)));
            }
            message.push('.');
            message
        }
        idm::ImportOutcome::Background(id) => {
            format!(
                "More than {} accounts: import {id} runs in the background; its progress shows below.",
                idm::INLINE_IMPORT_LIMIT
            )
        }
    })
}

async fn activate(ctx: &Ctx, actor: &Actor, name: &str, f: &FormFields) -> Result<String, Error> {
    let minutes = match f.get("interval_minutes") {
        "" => None,
        m => Some(m.parse::<u64>().map_err(|_| Error::Idm {
            app: name.to_owned(),
            reason: "the reconciliation interval is a whole number of minutes".into(),
        })?),
    };
    let activation = idm::Activation {
        base_url: f.optional("base_url"),
        values: f.all_with_prefix("value."),
        token: SecretString::from(f.raw("token").to_owned()),
        manage_groups: f.is_checked("manage_groups"),
        soft_delete: None,
        reconcile_interval_secs: minutes.map(|m| m.saturating_mul(60)),
    };
    idm::activate(ctx, actor, name, activation, Utc::now()).await.map(|_| "Identity management is active.".to_owned())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ImportQuery {
    /// `new`: only the accounts the directory lacks.
    show: String,
}

/// One SP account on the import page.
pub struct CandidateRow {
    pub user_name: String,
    pub email: String,
    pub display_name: String,
    pub status: &'static str,
}

/// The SP's accounts to pick from, New and Imported (and Suspended, which are not imported).
#[derive(Template)]
#[template(path = "admin/app_import.html")]
struct ImportPage {
    chrome: Chrome,
    name: String,
    is_new_only: bool,
    n_new: usize,
    n_all: usize,
    inline_limit: usize,
    candidates: Vec<CandidateRow>,
}

/// `/admin/apps/{name}/idm/import`: lists the SP's accounts (one listing of the SP, every page) so the admin picks
/// which to import; `?show=new` keeps the new ones only.
pub async fn import_page(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    Query(q): Query<ImportQuery>,
) -> Result<Response, PageError> {
    let listed = match idm::list_import_candidates(&state.ctx, &name).await {
        Ok(listed) => listed,
        Err(e) => return console.done(Err(e), &app_url(&name, "idm")).await,
    };
    let is_new_only = q.show == "new";
    let n_new = listed.iter().filter(|c| c.status == "new").count();
    let n_all = listed.len();
    let candidates = listed
        .into_iter()
        .filter(|c| !is_new_only || c.status == "new")
        .map(|c| CandidateRow {
            user_name: c.user.user_name,
            email: c.user.email,
            display_name: c.user.display_name,
            status: c.status,
        })
        .collect();
    let chrome = console.chrome("apps");
    render(&ImportPage { chrome, name, is_new_only, n_new, n_all, inline_limit: idm::INLINE_IMPORT_LIMIT, candidates })
}
