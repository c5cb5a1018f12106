//! The Identity Management tab of an application's page: SCIM provisioning's Base URL and token (never shown
//! back), its mapping with the entries the admin excluded, and imports of the SP's accounts with their progress.
//! Provisioning itself (`services::idm`, `provisioning`) is not reached from here but through those services.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;
use secrecy::SecretString;

use crate::audit::Actor;
use crate::services::apps::view::AppDetails;
use crate::services::{idm, Ctx, Error};
use crate::web::console::apps::app_url;
use crate::web::console::{Console, Fields, FormFields};
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

/// What the tab shows: the integration's settings, and while it is active (on this tab only) the mapping and the
/// imports.
pub struct IdmView {
    pub idm_base_url: String,
    pub idm_is_active: bool,
    pub idm_manage_groups: bool,
    pub connector: String,
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
        Ok(Self {
            idm_base_url: d.idm.as_ref().map(|i| i.base_url.clone()).unwrap_or_default(),
            idm_is_active,
            idm_manage_groups: d.idm.as_ref().is_some_and(|i| i.manage_groups),
            connector: d.app.sp.connector.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
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
        "deactivate" => idm::deactivate(ctx, &actor, &name, now)
            .await
            .map(|()| "Identity management is deactivated; the SP's accounts are left as they are.".to_owned()),
        "exclude" => idm::change_mapping(ctx, &actor, &name, std::slice::from_ref(&scim), Some(&[]), now)
            .await
            .map(|()| format!("{scim} is no longer sent.")),
        "restore" => idm::change_mapping(ctx, &actor, &name, &[], Some(std::slice::from_ref(&scim)), now)
            .await
            .map(|()| format!("{scim} is sent again.")),
        "import" => idm::start_import(ctx, &actor, &name, None, now)
            .await
            .map(|id| format!("Import {id} started: its progress shows below.")),
        _ => return console.refuse("Unknown action.", &back).await,
    };
    console.done(result, &back).await
}

async fn activate(ctx: &Ctx, actor: &Actor, name: &str, f: &FormFields) -> Result<String, Error> {
    let activation = idm::Activation {
        base_url: f.optional("base_url"),
        values: Vec::new(),
        token: SecretString::from(f.raw("token").to_owned()),
        manage_groups: f.is_checked("manage_groups"),
        soft_delete: None,
    };
    idm::activate(ctx, actor, name, activation, Utc::now()).await.map(|_| "Identity management is active.".to_owned())
}
