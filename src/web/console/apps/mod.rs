//! `/admin/apps`: SSO Applications, as the seeds' admin portal shows them: the list with search and deletion,
//! "+ Add New Application" (SP metadata as an uploaded file, by URL or pasted, a catalog connector, or a bookmark),
//! and an application's page (`page`) with the tabs General (with the portal tile's logo upload and "Deactivate
//! SSO", `general`), SSO (with new SP
//! metadata and encryption, `sso`; the signing certificates and their staged rotation, `certificates`), User
//! Groups (`groups`) and Identity Management (`idm`). This file holds the list, the creation and the helpers the
//! tabs share; no business rules.

pub mod certificates;
pub mod general;
pub mod groups;
pub mod idm;
pub mod page;
pub mod sso;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;

use crate::saml::metadata::MAX_SP_METADATA;
use crate::services::apps as app_service;
use crate::services::apps::change::AppChange;
use crate::services::apps::create::CreateFromConnector;
use crate::services::apps::create::MetadataSource;
use crate::services::catalog;
use crate::services::{Ctx, Error};
use crate::web::console::apps::certificates::{
    activate_certificate, retire_certificate, rotate_certificate, stage_certificate,
};
use crate::web::console::apps::general::{change_activation, change_logo, save_general};
use crate::web::console::apps::groups::change_groups;
use crate::web::console::apps::idm::{change_idm, import_page};
use crate::web::console::apps::page::show;
use crate::web::console::apps::sso::{change_attributes, decide_held_acs, import_metadata, save_encryption, save_sso};
use crate::web::console::{encode, render, Chrome, Console, Fields, FormFields, Upload, UploadedFile};
use crate::web::error::PageError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/apps", get(list))
        .route("/admin/apps/delete", post(delete_many))
        .route("/admin/apps/new", get(new_page).post(create))
        .route("/admin/apps/{name}", get(show))
        .route("/admin/apps/{name}/general", post(save_general))
        .route("/admin/apps/{name}/logo", post(change_logo))
        .route("/admin/apps/{name}/sso", post(save_sso))
        .route("/admin/apps/{name}/metadata", post(import_metadata))
        .route("/admin/apps/{name}/metadata/held", post(decide_held_acs))
        .route("/admin/apps/{name}/encryption", post(save_encryption))
        .route("/admin/apps/{name}/attributes", post(change_attributes))
        .route("/admin/apps/{name}/groups", post(change_groups))
        .route("/admin/apps/{name}/activation", post(change_activation))
        .route("/admin/apps/{name}/certificate/rotate", post(rotate_certificate))
        .route("/admin/apps/{name}/certificate/stage", post(stage_certificate))
        .route("/admin/apps/{name}/certificate/activate", post(activate_certificate))
        .route("/admin/apps/{name}/certificate/retire", post(retire_certificate))
        .route("/admin/apps/{name}/idm", post(change_idm))
        .route("/admin/apps/{name}/idm/import", get(import_page))
}

const PAGE: u32 = 50;
/// Where "+ Add New Application" is, and where its refusals return.
const NEW: &str = "/admin/apps/new";

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    after: String,
}

/// One application in the list.
pub struct AppRow {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub is_active: bool,
    pub show_in_portal: bool,
}

#[derive(Template)]
#[template(path = "admin/apps.html")]
struct AppsPage {
    chrome: Chrome,
    q: ListQuery,
    apps: Vec<AppRow>,
    next: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let text = Some(q.q.trim()).filter(|t| !t.is_empty());
    let after = Some(q.after.as_str()).filter(|a| !a.is_empty());
    let page = app_service::view::list_apps(&state.ctx, text, None, after, PAGE).await?;
    let next = page.next_after.map(|a| format!("/admin/apps?q={}&after={}", encode(&q.q), encode(&a)));
    let apps = page
        .items
        .into_iter()
        .map(|a| AppRow {
            label: a.display_label.clone(),
            kind: if a.is_saml() { "SAML" } else { "Bookmark" },
            is_active: a.is_active,
            show_in_portal: a.show_in_portal,
            name: a.name.to_string(),
        })
        .collect();
    render(&AppsPage { chrome: console.chrome("apps"), q, apps, next })
}

/// Deletes the ticked applications once the admin has typed how many they are (the seeds' confirmation).
async fn delete_many(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let names = f.all("app");
    if names.is_empty() {
        return console.refuse("Tick the applications to delete.", "/admin/apps").await;
    }
    if f.get("confirm") != names.len().to_string() {
        let text = format!(
            "Nothing was deleted: type {} to confirm that {} application{} should be deleted.",
            names.len(),
            names.len(),
            if names.len() == 1 { "" } else { "s" }
        );
        return console.refuse(&text, "/admin/apps").await;
    }
    let now = Utc::now();
    for name in &names {
        if let Err(e) = app_service::change::delete(&state.ctx, &console.actor(), name, now).await {
            return console.done(Err(e), "/admin/apps").await;
        }
    }
    console.done(Ok(format!("Deleted {}.", names.join(", "))), "/admin/apps").await
}

/// A connector as the "+ Add New Application" page offers it.
pub struct ConnectorOption {
    pub id: String,
    pub name: String,
    pub is_selected: bool,
}

pub struct PlaceholderField {
    pub name: String,
    pub label: String,
    pub example: String,
}

pub struct ChosenConnector {
    pub id: String,
    pub name: String,
    pub description: String,
    pub placeholders: Vec<PlaceholderField>,
    pub sp_signs_requests: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewQuery {
    connector: String,
}

#[derive(Template)]
#[template(path = "admin/app_new.html")]
struct NewAppPage {
    chrome: Chrome,
    connectors: Vec<ConnectorOption>,
    chosen: Option<ChosenConnector>,
}

async fn new_page(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let all = catalog::search(&state.ctx, "");
    let connectors = all
        .iter()
        .map(|c| ConnectorOption { id: c.id.clone(), name: c.name.clone(), is_selected: c.id == q.connector })
        .collect();
    let chosen = all.iter().find(|c| c.id == q.connector).map(|c| ChosenConnector {
        id: c.id.clone(),
        name: c.name.clone(),
        description: c.description.clone(),
        placeholders: c
            .placeholders
            .iter()
            .map(|p| PlaceholderField { name: p.name.clone(), label: p.label.clone(), example: p.example.clone() })
            .collect(),
        sp_signs_requests: c.sso.sp_signs_requests,
    });
    render(&NewAppPage { chrome: console.chrome("apps"), connectors, chosen })
}

/// Creates an application of the kind the form says: `metadata` (an uploaded file, a URL or pasted XML; the
/// custom SAML form is multipart for its file input), `connector`, `bookmark`.
async fn create(State(state): State<AppState>, console: Console, upload: Upload) -> Result<Response, PageError> {
    match upload.fields.get("kind") {
        "metadata" => create_from_metadata(&state.ctx, &console, &upload).await,
        "connector" => create_from_connector(&state.ctx, &console, &upload.fields).await,
        "bookmark" => create_bookmark(&state.ctx, &console, &upload.fields).await,
        _ => console.refuse("Choose how to create the application.", NEW).await,
    }
}

async fn create_from_metadata(ctx: &Ctx, console: &Console, upload: &Upload) -> Result<Response, PageError> {
    let f = &upload.fields;
    let source = match (f.optional("metadata_url"), metadata_text(upload)) {
        (Some(url), Ok(None)) => MetadataSource::Url(url),
        (None, Ok(Some(xml))) => MetadataSource::Xml(xml),
        (_, Err(text)) => return console.refuse(&text, NEW).await,
        _ => {
            let text = "Give exactly one of the SP's metadata: a file, its URL or the pasted XML.";
            return console.refuse(text, NEW).await;
        }
    };
    let (name, label, description) = (f.get("name"), f.optional("display_label"), f.optional("description"));
    let texts = (label.as_deref(), description.as_deref());
    let created =
        app_service::create::create_from_metadata(ctx, &console.actor(), name, source, None, texts, Utc::now())
            .await
            .map(|_| ());
    match (created, upload.file("metadata_file")) {
        (Err(e), Some(file)) if !e.is_internal() => {
            console.refuse(&format!("{} was not imported: {e}.", file_label(file)), NEW).await
        }
        (created, _) => created_app(console, name, created).await,
    }
}

async fn create_from_connector(ctx: &Ctx, console: &Console, f: &FormFields) -> Result<Response, PageError> {
    let (name, connector, label) = (f.get("name"), f.get("connector"), f.optional("display_label"));
    let values = f.all_with_prefix("value.");
    let request = CreateFromConnector {
        name,
        connector,
        values: &values,
        sp_certificate_pem: Some(f.raw("sp_certificate_pem").trim()).filter(|c| !c.is_empty()),
        display_label: label.as_deref(),
    };
    match app_service::create::create_from_connector(ctx, &console.actor(), &request, Utc::now()).await {
        Ok(_) => created_app(console, name, Ok(())).await,
        Err(e) => console.done(Err(e), &format!("{NEW}?connector={}", encode(connector))).await,
    }
}

async fn create_bookmark(ctx: &Ctx, console: &Console, f: &FormFields) -> Result<Response, PageError> {
    let (name, url) = (f.get("name"), f.get("bookmark_url"));
    let (label, description) = (f.optional("display_label"), f.optional("description"));
    let created = app_service::create::create_bookmark(
        ctx,
        &console.actor(),
        name,
        url,
        label.as_deref(),
        description.as_deref(),
        Utc::now(),
    )
    .await
    .map(|_| ());
    created_app(console, name, created).await
}

/// Goes on to the new application's SSO tab, or back to the form with the refusal.
async fn created_app(console: &Console, name: &str, created: Result<(), Error>) -> Result<Response, PageError> {
    match created {
        Ok(()) => {
            console.done(Ok(format!("Application {name} created.")), &format!("/admin/apps/{name}?tab=sso")).await
        }
        Err(e) => console.done(Err(e), NEW).await,
    }
}

/// The SP metadata text of a form: the uploaded file (`metadata_file`) or the pasted XML (`metadata_xml`), read
/// alike from here on; `None` when neither was given. The refusal is the page's message.
fn metadata_text(upload: &Upload) -> Result<Option<String>, String> {
    let pasted = Some(upload.fields.raw("metadata_xml").trim()).filter(|x| !x.is_empty());
    match (upload.file("metadata_file"), pasted) {
        (Some(_), Some(_)) => Err("Upload the SP's metadata file or paste its metadata, not both.".into()),
        (Some(file), None) => file_text(file).map(Some),
        (None, Some(xml)) => Ok(Some(xml.to_owned())),
        (None, None) => Ok(None),
    }
}

/// An uploaded metadata file as text: at most `MAX_SP_METADATA` bytes of UTF-8 (a byte-order mark is dropped).
fn file_text(file: &UploadedFile) -> Result<String, String> {
    let name = file_label(file);
    if file.bytes.len() > MAX_SP_METADATA {
        return Err(format!(
            "{name} is {} KiB: SP metadata may be at most {} KiB.",
            file.bytes.len().div_ceil(1024),
            MAX_SP_METADATA / 1024
        ));
    }
    let Ok(text) = std::str::from_utf8(&file.bytes) else {
        return Err(format!("{name} is not a text file (UTF-8): choose the SP's metadata XML."));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
    if text.is_empty() {
        return Err(format!("{name} is empty: choose the SP's metadata XML."));
    }
    Ok(text.to_owned())
}

/// How messages name an uploaded file.
fn file_label(file: &UploadedFile) -> &str {
    if file.file_name.is_empty() {
        "The file"
    } else {
        &file.file_name
    }
}
/// An option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub is_selected: bool,
}

fn choices<'a>(options: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice {
            value: value.to_owned(),
            label: label.to_owned(),
            is_selected: value == selected,
        })
        .collect()
}
fn app_url(name: &str, tab: &str) -> String {
    format!("/admin/apps/{}?tab={tab}", crate::web::console::segment(name))
}

/// Saves a change of the application's settings and returns to `tab` with the outcome.
async fn update(
    state: &AppState,
    console: &Console,
    name: &str,
    change: AppChange,
    tab: &str,
) -> Result<Response, PageError> {
    let result = app_service::change::update(&state.ctx, &console.actor(), name, &change, Utc::now())
        .await
        .map(|_| "Saved.".to_owned());
    console.done(result, &app_url(name, tab)).await
}
