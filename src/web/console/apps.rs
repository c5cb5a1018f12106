//! `/admin/apps`: SSO Applications, as the seeds' admin portal shows them: the list with search and deletion,
//! "+ Add New Application" (SP metadata as an uploaded file, by URL or pasted, a catalog connector, or a bookmark),
//! and an application's page with the tabs General, SSO (with new SP metadata, the signing certificates and their
//! staged rotation, and encryption), User Groups and Identity Management, and "Deactivate SSO".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::directory::application::TILE_HUES;
use crate::directory::attributes::AttributeChange;
use crate::directory::{Application, AttributeMapping, AttributeSource, UserProperty};
use crate::saml::metadata::MAX_SP_METADATA;
use crate::saml::{DataEncryption, NameIdFormat, SigningMode};
use crate::services::apps as app_service;
use crate::services::apps::change::AppChange;
use crate::services::apps::create::CreateFromConnector;
use crate::services::apps::create::MetadataSource;
use crate::services::apps::view::AppDetails;
use crate::services::catalog;
use crate::services::certs::{self, Activation};
use crate::services::groups;
use crate::services::MAX_PAGE;
use crate::services::{apps, idm, Error};
use crate::web::console::{encode, parse_utc, render, Chrome, Console, Fields, Upload, UploadedFile};
use crate::web::error::PageError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/apps", get(list))
        .route("/admin/apps/delete", post(delete_many))
        .route("/admin/apps/new", get(new_page).post(create))
        .route("/admin/apps/{name}", get(show))
        .route("/admin/apps/{name}/general", post(save_general))
        .route("/admin/apps/{name}/sso", post(save_sso))
        .route("/admin/apps/{name}/metadata", post(import_metadata))
        .route("/admin/apps/{name}/encryption", post(save_encryption))
        .route("/admin/apps/{name}/attributes", post(change_attributes))
        .route("/admin/apps/{name}/groups", post(change_groups))
        .route("/admin/apps/{name}/activation", post(change_activation))
        .route("/admin/apps/{name}/certificate/rotate", post(rotate_certificate))
        .route("/admin/apps/{name}/certificate/stage", post(stage_certificate))
        .route("/admin/apps/{name}/certificate/activate", post(activate_certificate))
        .route("/admin/apps/{name}/certificate/retire", post(retire_certificate))
        .route("/admin/apps/{name}/idm", post(change_idm))
}

const PAGE: u32 = 50;
/// A certificate this close to its end is flagged on the SSO tab.
const EXPIRY_WARNING_DAYS: i64 = 30;

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
    let f = &upload.fields;
    let ctx = &state.ctx;
    let actor = console.actor();
    let now = Utc::now();
    let name = f.get("name").to_owned();
    let label = f.optional("display_label");
    let description = f.optional("description");
    let result: Result<(), Error> = match f.get("kind") {
        "metadata" => {
            let source = match (f.optional("metadata_url"), metadata_text(&upload)) {
                (Some(url), Ok(None)) => MetadataSource::Url(url),
                (None, Ok(Some(xml))) => MetadataSource::Xml(xml),
                (_, Err(text)) => return console.refuse(&text, "/admin/apps/new").await,
                _ => {
                    let text = "Give exactly one of the SP's metadata: a file, its URL or the pasted XML.";
                    return console.refuse(text, "/admin/apps/new").await;
                }
            };
            let created = app_service::create::create_from_metadata(
                ctx,
                &actor,
                &name,
                source,
                None,
                (label.as_deref(), description.as_deref()),
                now,
            )
            .await
            .map(|_| ());
            match (created, upload.file("metadata_file")) {
                (Err(e), Some(file)) if !e.is_internal() => {
                    let text = format!("{} was not imported: {e}.", file_label(file));
                    return console.refuse(&text, "/admin/apps/new").await;
                }
                (created, _) => created,
            }
        }
        "connector" => {
            let connector = f.get("connector").to_owned();
            let values = f.all_with_prefix("value.");
            let certificate = Some(f.raw("sp_certificate_pem").trim()).filter(|c| !c.is_empty());
            let request = CreateFromConnector {
                name: &name,
                connector: &connector,
                values: &values,
                sp_certificate_pem: certificate,
                display_label: label.as_deref(),
            };
            match app_service::create::create_from_connector(ctx, &actor, &request, now).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    return console.done(Err(e), &format!("/admin/apps/new?connector={}", encode(&connector))).await
                }
            }
        }
        "bookmark" => {
            let url = f.get("bookmark_url");
            app_service::create::create_bookmark(ctx, &actor, &name, url, label.as_deref(), description.as_deref(), now)
                .await
                .map(|_| ())
        }
        _ => return console.refuse("Choose how to create the application.", "/admin/apps/new").await,
    };
    match result {
        Ok(()) => {
            console.done(Ok(format!("Application {name} created.")), &format!("/admin/apps/{name}?tab=sso")).await
        }
        Err(e) => console.done(Err(e), "/admin/apps/new").await,
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

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TabQuery {
    tab: String,
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

/// One attribute row of the SSO tab.
pub struct AttributeRow {
    pub name: String,
    pub source_kind: &'static str,
    pub sources: Vec<Choice>,
    pub constant: String,
    pub is_enabled: bool,
    pub is_jit: bool,
    pub description: String,
}

/// A certificate as the SSO tab shows it: one of ours (with its rotation state) or one of the SP's.
pub struct CertificateInfo {
    /// `current`, `next`, `previous` (ours) or empty (the SP's).
    pub state: &'static str,
    pub subject: String,
    pub fingerprint: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub is_expiring: bool,
    /// When housekeeping activates a staged certificate.
    pub activate_at: Option<String>,
}

impl CertificateInfo {
    fn new(
        state: &'static str,
        fingerprint: &str,
        validity: (DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
    ) -> Self {
        let (not_before, not_after) = validity;
        let days_left = (not_after - now).num_days();
        Self {
            state,
            subject: String::new(),
            fingerprint: fingerprint.to_owned(),
            not_before: utc(not_before),
            not_after: utc(not_after),
            days_left,
            is_expiring: days_left < EXPIRY_WARNING_DAYS,
            activate_at: None,
        }
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

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

#[derive(Template)]
#[template(path = "admin/app.html")]
struct AppPage {
    chrome: Chrome,
    tab: &'static str,
    app: Application,
    is_saml: bool,
    idp_url: String,
    idp_entity_id: String,
    metadata_url: String,
    certificate_url: String,
    acs_urls: Vec<String>,
    /// Our published certificates: current, next, previous.
    certificates: Vec<CertificateInfo>,
    n_retired: usize,
    has_next: bool,
    has_previous: bool,
    sp_encryption_certificates: Vec<CertificateInfo>,
    encryption_algorithms: Vec<Choice>,
    name_id_formats: Vec<Choice>,
    name_id_sources: Vec<Choice>,
    signing_modes: Vec<Choice>,
    new_attribute_sources: Vec<Choice>,
    hues: Vec<Choice>,
    tile_hue: u8,
    initial: String,
    attributes: Vec<AttributeRow>,
    bound_groups: Vec<String>,
    other_groups: Vec<String>,
    idm_base_url: String,
    idm_is_active: bool,
    idm_manage_groups: bool,
    connector: String,
    mapping: Vec<MappingRowInfo>,
    imports: Vec<ImportInfo>,
}

impl AppPage {
    fn tab_is(&self, tab: &str) -> bool {
        self.tab == tab
    }
}

/// The attribute sources offered: every user property, the groups, or a constant.
fn source_choices(selected: &str) -> Vec<Choice> {
    let mut options: Vec<(&str, &str)> = UserProperty::ALL.iter().map(|p| (p.as_str(), p.as_str())).collect();
    options.push(("groups", "group names (bound groups)"));
    options.push(("constant", "constant value"));
    choices(options, selected)
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    Query(q): Query<TabQuery>,
) -> Result<Response, PageError> {
    let d: AppDetails = app_service::view::details(&state.ctx, &name).await?;
    let is_saml = d.app.is_saml();
    let tab = match q.tab.as_str() {
        "sso" if is_saml => "sso",
        "groups" => "groups",
        "idm" if is_saml => "idm",
        _ => "general",
    };
    let now = Utc::now();
    let all_certificates = if tab == "sso" { certs::list_certificates(&state.ctx, &name).await? } else { Vec::new() };
    let n_retired = all_certificates.iter().filter(|c| c.state.as_str() == "retired").count();
    let certificates: Vec<CertificateInfo> = all_certificates
        .iter()
        .filter(|c| c.state.as_str() != "retired")
        .map(|c| CertificateInfo {
            activate_at: c.activate_at.map(utc),
            ..CertificateInfo::new(c.state.as_str(), &c.fingerprint, (c.not_before, c.not_after), now)
        })
        .collect();
    let sp_encryption_certificates = d
        .sp_encryption_certificates
        .iter()
        .map(|c| CertificateInfo {
            subject: c.subject.clone(),
            ..CertificateInfo::new("", &c.fingerprint, (c.not_before, c.not_after), now)
        })
        .collect();
    let sp = &d.app.sp;
    let attributes = sp
        .attributes
        .iter()
        .map(|a| {
            let (kind, selected, constant) = match &a.source {
                AttributeSource::Property(p) => ("property", p.as_str().to_owned(), String::new()),
                AttributeSource::Constant(c) => ("constant", "constant".to_owned(), c.clone()),
                AttributeSource::Groups => ("groups", "groups".to_owned(), String::new()),
            };
            AttributeRow {
                name: a.name.clone(),
                source_kind: kind,
                sources: source_choices(&selected),
                constant,
                is_enabled: a.is_enabled,
                is_jit: a.is_jit,
                description: apps::change::describe(&a.source),
            }
        })
        .collect();
    let all_groups = groups::list_groups(&state.ctx, None, None, MAX_PAGE).await?.items;
    let other_groups = all_groups.into_iter().map(|g| g.name).filter(|g| !d.bound_groups.contains(g)).collect();
    let (mapping, imports) = if tab == "idm" && d.idm.as_ref().is_some_and(|i| i.is_active) {
        let mapping = idm::mapping(&state.ctx, &name)
            .await?
            .into_iter()
            .map(|r| MappingRowInfo { scim: r.scim, source: r.source, required: r.required, excluded: r.excluded })
            .collect();
        let imports = idm::imports(&state.ctx, &name).await?.into_iter().map(import_info).collect();
        (mapping, imports)
    } else {
        (Vec::new(), Vec::new())
    };
    let source = sp.name_id_source.map(|p| p.as_str()).unwrap_or_default();
    let mut sources: Vec<(&str, &str)> = vec![("", "the format's default")];
    sources.extend(UserProperty::ALL.iter().map(|p| (p.as_str(), p.as_str())));
    let page = AppPage {
        chrome: console.chrome("apps"),
        tab,
        is_saml,
        idp_url: d.idp_url.clone(),
        idp_entity_id: d.idp_entity_id.clone(),
        metadata_url: d.metadata_url.clone(),
        certificate_url: d.certificate_url.clone(),
        acs_urls: sp.acs.iter().map(|a| a.url.clone()).collect(),
        has_next: certificates.iter().any(|c| c.state == "next"),
        has_previous: certificates.iter().any(|c| c.state == "previous"),
        certificates,
        n_retired,
        sp_encryption_certificates,
        encryption_algorithms: choices(
            [("aes256-gcm", "AES-256-GCM"), ("aes256-cbc", "AES-256-CBC (old SPs)")],
            sp.data_encryption.as_str(),
        ),
        name_id_formats: choices(
            NameIdFormat::ALL.iter().map(|f| (f.as_str(), f.as_str())),
            sp.name_id_format.as_str(),
        ),
        name_id_sources: choices(sources, source),
        signing_modes: choices(
            [("assertion", "sign the assertion"), ("response", "sign the response"), ("both", "sign both")],
            sp.signing_mode.as_str(),
        ),
        new_attribute_sources: source_choices("email"),
        hues: {
            let selected = sp.tile_hue.map(|h| h.to_string()).unwrap_or_default();
            let mut options = vec![(String::new(), "automatic".to_owned())];
            options.extend((0_u8..).zip(TILE_HUES).map(|(i, n)| (i.to_string(), n.to_owned())));
            options.into_iter().map(|(value, label)| Choice { is_selected: value == selected, value, label }).collect()
        },
        tile_hue: crate::web::portal::tile_hue(&d.app),
        initial: d.app.display_label.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default(),
        attributes,
        bound_groups: d.bound_groups.clone(),
        other_groups,
        idm_base_url: d.idm.as_ref().map(|i| i.base_url.clone()).unwrap_or_default(),
        idm_is_active: d.idm.as_ref().is_some_and(|i| i.is_active),
        idm_manage_groups: d.idm.as_ref().is_some_and(|i| i.manage_groups),
        connector: sp.connector.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
        mapping,
        imports,
        app: d.app,
    };
    render(&page)
}

fn import_info(i: crate::store::imports::Import) -> ImportInfo {
    let done = i.imported + i.skipped;
    ImportInfo {
        id: i.id,
        percent: if i.total > 0 {
            (done * 100 / i.total).clamp(0, 100)
        } else if i.state == "done" {
            100
        } else {
            0
        },
        state: i.state,
        total: i.total,
        imported: i.imported,
        skipped: i.skipped,
        last_error: i.last_error,
        updated_at: chrono::DateTime::from_timestamp_millis(i.updated_at)
            .unwrap_or_default()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
    }
}

fn app_url(name: &str, tab: &str) -> String {
    format!("/admin/apps/{}?tab={tab}", crate::web::console::segment(name))
}

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

async fn save_general(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let change = AppChange {
        display_label: Some(f.get("display_label").to_owned()),
        description: Some(f.get("description").to_owned()),
        show_in_portal: Some(f.is_checked("show_in_portal")),
        bookmark_url: f.optional("bookmark_url"),
        tile_hue: Some(f.get("tile_hue").parse().ok()),
        tile_image_url: Some(f.get("tile_image_url").to_owned()),
        ..AppChange::default()
    };
    update(&state, &console, &name, change, "general").await
}

async fn save_sso(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let Some(format) = NameIdFormat::parse(f.get("name_id_format")) else {
        return console.refuse("Choose a NameID format.", &back).await;
    };
    let Some(signing) = SigningMode::parse(f.get("signing_mode")) else {
        return console.refuse("Choose a signing mode.", &back).await;
    };
    let source = match f.get("name_id_source") {
        "" => None,
        v => match UserProperty::parse(v) {
            Some(p) => Some(p),
            None => return console.refuse("Choose a NameID source.", &back).await,
        },
    };
    let change = AppChange {
        name_id_format: Some(format),
        name_id_source: Some(source),
        signing_mode: Some(signing),
        sp_login_url: Some(f.get("sp_login_url").to_owned()),
        default_relay_state: Some(f.get("default_relay_state").to_owned()),
        require_signed_requests: Some(f.is_checked("require_signed_requests")),
        ..AppChange::default()
    };
    update(&state, &console, &name, change, "sso").await
}

fn source_of(f: &Fields) -> Result<AttributeSource, String> {
    match f.get("source") {
        "groups" => Ok(AttributeSource::Groups),
        "constant" => Ok(AttributeSource::Constant(f.get("constant").to_owned())),
        v => {
            UserProperty::parse(v).map(AttributeSource::Property).ok_or_else(|| "Choose the attribute's source.".into())
        }
    }
}

/// Adds, changes (source and switch, JIT attributes too) or removes an attribute.
async fn change_attributes(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let attribute = f.get("attribute").to_owned();
    let source = match source_of(&f) {
        Ok(s) => s,
        Err(text) if f.get("action") != "remove" => return console.refuse(&text, &back).await,
        Err(_) => AttributeSource::Groups,
    };
    let now = Utc::now();
    let actor = console.actor();
    let result = match f.get("action") {
        "change" => {
            let change = AttributeChange { source: Some(source), is_enabled: Some(f.is_checked("enabled")) };
            apps::change::change_attribute(&state.ctx, &actor, &name, &attribute, &change, now)
                .await
                .map(|a| format!("Attribute {} saved.", a.name))
        }
        action @ ("add" | "remove") => {
            let current = app_service::view::details(&state.ctx, &name).await?.app.sp.attributes;
            let mut list: Vec<AttributeMapping> = current.into_iter().filter(|a| a.name != attribute).collect();
            if action == "add" {
                if attribute.is_empty() {
                    return console.refuse("Give the attribute's name.", &back).await;
                }
                list.push(AttributeMapping::new(&attribute, source));
            }
            let change = AppChange { attributes: Some(list), ..AppChange::default() };
            app_service::change::update(&state.ctx, &actor, &name, &change, now).await.map(|_| {
                if action == "add" {
                    format!("Attribute {attribute} added.")
                } else {
                    format!("Attribute {attribute} removed.")
                }
            })
        }
        _ => return console.refuse("Unknown attribute action.", &back).await,
    };
    console.done(result, &back).await
}

async fn change_groups(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let group = f.get("group");
    let is_bind = f.get("action") != "unbind";
    let result = apps::change::change_binding(&state.ctx, &console.actor(), &name, group, is_bind, Utc::now())
        .await
        .map(|()| if is_bind { format!("Group {group} bound.") } else { format!("Group {group} unbound.") });
    console.done(result, &app_url(&name, "groups")).await
}

/// "Deactivate SSO" (and activating it again): an inactive application refuses sign-ins at `/saml2/{app}` with a
/// page that says so and is hidden from the portal; its settings stay.
async fn change_activation(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let is_active = f.get("active") == "yes";
    let change = AppChange { is_active: Some(is_active), ..AppChange::default() };
    let result =
        app_service::change::update(&state.ctx, &console.actor(), &name, &change, Utc::now()).await.map(|_| {
            if is_active {
                "SSO is active again.".to_owned()
            } else {
                "SSO is deactivated: sign-ins are refused.".to_owned()
            }
        });
    console.done(result, &app_url(&name, "general")).await
}

async fn rotate_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = certs::rotate(&state.ctx, &console.actor(), &name, Utc::now())
        .await
        .map(|_| "A new certificate signs from now on: give the SP the new metadata or certificate.".to_owned());
    console.done(result, &app_url(&name, "sso")).await
}

/// Rotation without downtime, step 1: a next certificate, published after the current one.
async fn stage_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = certs::stage(&state.ctx, &console.actor(), &name, Utc::now()).await.map(|cert| {
        format!(
            "Next certificate {} staged: it is published in the metadata after the current one. Activate it once \
             the SP has loaded the new metadata.",
            short(&cert.fingerprint)
        )
    });
    console.done(result, &app_url(&name, "sso")).await
}

/// Rotation step 2: the staged certificate signs from now on, or from the time given (a `datetime-local` value,
/// read as UTC, as the page says).
async fn activate_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let at = match f.optional("at") {
        None => None,
        Some(value) => match parse_utc(&value) {
            Some(at) => Some(at),
            None => {
                let text = format!("{value:?} is not a date and time (YYYY-MM-DDTHH:MM, UTC).");
                return console.refuse(&text, &back).await;
            }
        },
    };
    let result = certs::activate(&state.ctx, &console.actor(), &name, at, Utc::now()).await.map(|a| match a {
        Activation::Activated { fingerprint } => format!(
            "Certificate {} signs from now on; the old one stays published as previous until you retire it.",
            short(&fingerprint)
        ),
        Activation::Scheduled { fingerprint, at } => {
            format!("Certificate {} will sign from {}.", short(&fingerprint), utc(at))
        }
    });
    console.done(result, &back).await
}

/// Rotation step 3: the previous certificate is no longer published.
async fn retire_certificate(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = certs::retire(&state.ctx, &console.actor(), &name, Utc::now())
        .await
        .map(|fingerprint| format!("Previous certificate {} retired: it is no longer published.", short(&fingerprint)));
    console.done(result, &app_url(&name, "sso")).await
}

/// The start of a fingerprint, enough to tell certificates apart in a message.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// Encryption of assertions (and NameIDs) to the SP's encryption certificate; without one the service refuses,
/// and the page says so.
async fn save_encryption(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let Some(algorithm) = DataEncryption::parse(f.get("encryption_algorithm")) else {
        return console.refuse("Choose an encryption algorithm.", &back).await;
    };
    let change = AppChange {
        encrypt_assertions: Some(f.is_checked("encrypt_assertions")),
        data_encryption: Some(algorithm),
        encrypt_name_id: Some(f.is_checked("encrypt_name_id")),
        ..AppChange::default()
    };
    let result = app_service::change::update(&state.ctx, &console.actor(), &name, &change, Utc::now())
        .await
        .map(|_| "Encryption settings saved.".to_owned());
    console.done(result, &back).await
}

/// New SP metadata for an existing application (an uploaded file or pasted XML), merged like every re-import:
/// the entity ID, ACS URLs and SP certificates follow the document, the settings stay, and a requirement for
/// signed requests is never relaxed.
async fn import_metadata(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    upload: Upload,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    // The import would create a missing application; this form only updates one.
    app_service::view::details(&state.ctx, &name).await?;
    let xml = match metadata_text(&upload) {
        Ok(Some(xml)) => xml,
        Ok(None) => return console.refuse("Choose the SP's metadata file or paste its metadata.", &back).await,
        Err(text) => return console.refuse(&text, &back).await,
    };
    let result = app_service::create::import_metadata(&state.ctx, &console.actor(), &name, &xml, Utc::now()).await.map(
        |(app, _)| {
            format!(
                "SP metadata imported: entity ID {}, {} ACS URL{}.",
                app.sp.entity_id,
                app.sp.acs.len(),
                if app.sp.acs.len() == 1 { "" } else { "s" }
            )
        },
    );
    match (result, upload.file("metadata_file")) {
        (Err(e), Some(file)) if !e.is_internal() => {
            console.refuse(&format!("{} was not imported: {e}.", file_label(file)), &back).await
        }
        (result, _) => console.done(result, &back).await,
    }
}

/// Identity management: activate (Base URL and token, which is never shown back), deactivate, exclude or restore
/// mapping entries, and start an import of the SP's accounts.
async fn change_idm(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let ctx = &state.ctx;
    let actor = console.actor();
    let now = Utc::now();
    let back = app_url(&name, "idm");
    let result = match f.get("action") {
        "activate" => {
            if f.raw("token").is_empty() {
                return console.refuse("Give the SP's API token.", &back).await;
            }
            let activation = idm::Activation {
                base_url: f.optional("base_url"),
                values: Vec::new(),
                token: SecretString::from(f.raw("token").to_owned()),
                manage_groups: f.is_checked("manage_groups"),
                soft_delete: None,
            };
            idm::activate(ctx, &actor, &name, activation, now)
                .await
                .map(|_| "Identity management is active.".to_owned())
        }
        "deactivate" => idm::deactivate(ctx, &actor, &name, now)
            .await
            .map(|()| "Identity management is deactivated; the SP's accounts are left as they are.".to_owned()),
        "exclude" => idm::change_mapping(ctx, &actor, &name, &[f.get("scim").to_owned()], Some(&[]), now)
            .await
            .map(|()| format!("{} is no longer sent.", f.get("scim"))),
        "restore" => idm::change_mapping(ctx, &actor, &name, &[], Some(&[f.get("scim").to_owned()]), now)
            .await
            .map(|()| format!("{} is sent again.", f.get("scim"))),
        "import" => idm::start_import(ctx, &actor, &name, None, now)
            .await
            .map(|id| format!("Import {id} started: its progress shows below.")),
        _ => return console.refuse("Unknown action.", &back).await,
    };
    console.done(result, &back).await
}
