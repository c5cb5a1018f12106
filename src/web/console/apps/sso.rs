//! The SSO tab of an application's page: the NameID, signing and encryption settings, the attributes sent, new SP
//! metadata for the application (an uploaded file or pasted XML), and our signing certificates with their staged
//! rotation (`certificates`). Validation and the merge of re-imported metadata are `services::apps`' rules.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::audit::Actor;
use crate::directory::attributes::{self, AttributeChange, Filled, Planned};
use crate::directory::{AttributeMapping, AttributeSource, UserProperty};
use crate::saml::authn_request::offered_name_id_formats;
use crate::saml::{DataEncryption, NameIdFormat, SigningMode};
use crate::services::apps as app_service;
use crate::services::apps::change::AppChange;
use crate::services::apps::view::AppDetails;
use crate::services::{Ctx, Error};
use crate::web::console::apps::certificates::CertificateInfo;
use crate::web::console::apps::{app_url, choices, file_label, metadata_text, update, Choice};
use crate::web::console::{Console, Fields, FormFields, Upload};
use crate::web::error::PageError;
use crate::web::AppState;

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

/// One attribute the application sends without an admin's list (the default set or the SP's request).
pub struct AutomaticRow {
    pub name: String,
    pub friendly_name: String,
    pub name_format: String,
    /// What fills it, or why it is not sent.
    pub source: String,
    pub is_sent: bool,
}

/// What the SSO tab shows beside the application's own settings.
pub struct SsoView {
    pub acs_urls: Vec<String>,
    /// ACS URLs of refreshed metadata that names a new ACS host: applied only when an administrator approves.
    pub held_acs: Vec<String>,
    /// Our published certificates: current, next, previous.
    pub certificates: Vec<CertificateInfo>,
    pub n_retired: usize,
    pub has_next: bool,
    pub has_previous: bool,
    pub sp_encryption_certificates: Vec<CertificateInfo>,
    pub encryption_algorithms: Vec<Choice>,
    pub name_id_formats: Vec<Choice>,
    pub name_id_sources: Vec<Choice>,
    /// The NameID formats an SP may ask for (NameIDPolicy), the configured one first: those that reveal no more.
    pub name_id_requestable: Vec<&'static str>,
    /// Whether the configured format carries a user property (e-mail, unspecified) and so uses the NameID source;
    /// persistent and transient identifiers are opaque.
    pub name_id_takes_source: bool,
    pub signing_modes: Vec<Choice>,
    pub new_attribute_sources: Vec<Choice>,
    pub attributes: Vec<AttributeRow>,
    /// Why the application sends what it sends: `configured`, `requested by SP metadata` or `default set`.
    pub attribute_origin: &'static str,
    pub automatic_attributes: Vec<AutomaticRow>,
}

impl SsoView {
    /// The tab's view; our certificates are listed only when the tab is shown.
    pub fn new(d: &AppDetails, is_shown: bool, now: DateTime<Utc>) -> Self {
        let (certificates, n_retired) = CertificateInfo::published(d, is_shown, now);
        let sp = &d.app.sp;
        let plan = attributes::plan(sp);
        Self {
            acs_urls: sp.acs.iter().map(|a| a.url.clone()).collect(),
            held_acs: d.metadata_source.as_ref().map(|m| m.held_acs.clone()).unwrap_or_default(),
            has_next: certificates.iter().any(|c| c.state == "next"),
            has_previous: certificates.iter().any(|c| c.state == "previous"),
            certificates,
            n_retired,
            sp_encryption_certificates: CertificateInfo::of_sp(d, now),
            encryption_algorithms: choices(
                [("aes256-gcm", "AES-256-GCM"), ("aes256-cbc", "AES-256-CBC (old SPs)")],
                sp.data_encryption.as_str(),
            ),
            name_id_formats: choices(
                NameIdFormat::ALL.iter().map(|f| (f.as_str(), f.as_str())),
                sp.name_id_format.as_str(),
            ),
            name_id_sources: name_id_sources(sp.name_id_source),
            name_id_requestable: offered_name_id_formats(sp.name_id_format, &sp.allowed_name_id_formats)
                .into_iter()
                .map(NameIdFormat::as_str)
                .collect(),
            name_id_takes_source: matches!(sp.name_id_format, NameIdFormat::Email | NameIdFormat::Unspecified),
            signing_modes: choices(
                [("assertion", "sign the assertion"), ("response", "sign the response"), ("both", "sign both")],
                sp.signing_mode.as_str(),
            ),
            new_attribute_sources: source_choices("email"),
            attributes: sp.attributes.iter().map(attribute_row).collect(),
            attribute_origin: plan.origin.as_str(),
            automatic_attributes: plan.automatic.iter().map(automatic_row).collect(),
        }
    }
}

fn name_id_sources(selected: Option<UserProperty>) -> Vec<Choice> {
    let mut sources: Vec<(&str, &str)> = vec![("", "the format's default")];
    sources.extend(UserProperty::ALL.iter().map(|p| (p.as_str(), p.as_str())));
    choices(sources, selected.map(|p| p.as_str()).unwrap_or_default())
}

fn automatic_row(p: &Planned) -> AutomaticRow {
    AutomaticRow {
        name: p.name.clone(),
        friendly_name: p.friendly_name.clone().unwrap_or_default(),
        name_format: p.name_format.clone(),
        source: p.filled.map_or_else(|| "not sent: unknown name or name format".to_owned(), Filled::describe),
        is_sent: p.filled.is_some(),
    }
}

fn attribute_row(a: &AttributeMapping) -> AttributeRow {
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
        description: app_service::change::describe(&a.source),
    }
}

/// The attribute sources offered: every user property, the groups, or a constant.
fn source_choices(selected: &str) -> Vec<Choice> {
    let mut options: Vec<(&str, &str)> = UserProperty::ALL.iter().map(|p| (p.as_str(), p.as_str())).collect();
    options.push(("groups", "group names (bound groups)"));
    options.push(("constant", "constant value"));
    choices(options, selected)
}

/// Approves (`action=approve`) or rejects the ACS URLs held from a metadata refresh that named a new ACS host.
pub async fn decide_held_acs(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let (ctx, actor, now) = (&state.ctx, console.actor(), Utc::now());
    let result = match f.get("action") {
        "approve" => app_service::refresh::approve_held(ctx, &actor, &name, now)
            .await
            .map(|_| "The new ACS URLs are applied.".to_owned()),
        "reject" => app_service::refresh::reject_held(ctx, &actor, &name, now)
            .await
            .map(|()| "The held ACS URLs are rejected; the current ones stay.".to_owned()),
        _ => return console.refuse("Approve or reject the held ACS URLs.", &back).await,
    };
    console.done(result, &back).await
}

pub async fn save_sso(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let change = match sso_change(&f) {
        Ok(change) => change,
        Err(text) => return console.refuse(text, &back).await,
    };
    update(&state, &console, &name, change, "sso").await
}

/// The SSO settings of the form; the refusal is the page's message.
fn sso_change(f: &FormFields) -> Result<AppChange, &'static str> {
    let format = NameIdFormat::parse(f.get("name_id_format")).ok_or("Choose a NameID format.")?;
    let signing = SigningMode::parse(f.get("signing_mode")).ok_or("Choose a signing mode.")?;
    let source = match f.get("name_id_source") {
        "" => None,
        v => Some(UserProperty::parse(v).ok_or("Choose a NameID source.")?),
    };
    Ok(AppChange {
        name_id_format: Some(format),
        name_id_source: Some(source),
        signing_mode: Some(signing),
        sp_login_url: Some(f.get("sp_login_url").to_owned()),
        default_relay_state: Some(f.get("default_relay_state").to_owned()),
        require_signed_requests: Some(f.is_checked("require_signed_requests")),
        require_mfa: Some(f.is_checked("require_mfa")),
        ..AppChange::default()
    })
}

fn source_of(f: &FormFields) -> Result<AttributeSource, String> {
    match f.get("source") {
        "groups" => Ok(AttributeSource::Groups),
        "constant" => Ok(AttributeSource::Constant(f.get("constant").to_owned())),
        v => {
            UserProperty::parse(v).map(AttributeSource::Property).ok_or_else(|| "Choose the attribute's source.".into())
        }
    }
}

/// Adds, changes (source and switch, JIT attributes too) or removes an attribute.
pub async fn change_attributes(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = app_url(&name, "sso");
    let (attribute, action) = (f.get("attribute").to_owned(), f.get("action"));
    let source = match source_of(&f) {
        Ok(s) => s,
        Err(text) if action != "remove" => return console.refuse(&text, &back).await,
        Err(_) => AttributeSource::Groups,
    };
    let (ctx, actor, now) = (&state.ctx, console.actor(), Utc::now());
    let result = match action {
        "change" => {
            let change = AttributeChange { source: Some(source), is_enabled: Some(f.is_checked("enabled")) };
            app_service::change::change_attribute(ctx, &actor, &name, &attribute, &change, now)
                .await
                .map(|a| format!("Attribute {} saved.", a.name))
        }
        "add" | "remove" => {
            let current = app_service::view::details(ctx, &name).await?.app.sp.attributes;
            if action == "add" && attribute.is_empty() {
                return console.refuse("Give the attribute's name.", &back).await;
            }
            let added = (action == "add").then_some(source);
            replace_attribute(ctx, &actor, &name, current, &attribute, added, now).await
        }
        _ => return console.refuse("Unknown attribute action.", &back).await,
    };
    console.done(result, &back).await
}

/// Saves the application's attribute list without `attribute`, or with it from `source` (appended).
async fn replace_attribute(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    current: Vec<AttributeMapping>,
    attribute: &str,
    source: Option<AttributeSource>,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let is_add = source.is_some();
    let mut list: Vec<AttributeMapping> = current.into_iter().filter(|a| a.name != attribute).collect();
    if let Some(source) = source {
        list.push(AttributeMapping::new(attribute, source));
    }
    let change = AppChange { attributes: Some(list), ..AppChange::default() };
    app_service::change::update(ctx, actor, name, &change, now).await.map(|_| {
        if is_add {
            format!("Attribute {attribute} added.")
        } else {
            format!("Attribute {attribute} removed.")
        }
    })
}

/// Encryption of assertions (and NameIDs) to the SP's encryption certificate; without one the service refuses,
/// and the page says so.
pub async fn save_encryption(
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
pub async fn import_metadata(
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
    let result = app_service::create::import_metadata(&state.ctx, &console.actor(), &name, &xml, Utc::now()).await;
    let result = result.map(|(app, _)| {
        let n = app.sp.acs.len();
        format!("SP metadata imported: entity ID {}, {n} ACS URL{}.", app.sp.entity_id, if n == 1 { "" } else { "s" })
    });
    match (result, upload.file("metadata_file")) {
        (Err(e), Some(file)) if !e.is_internal() => {
            console.refuse(&format!("{} was not imported: {e}.", file_label(file)), &back).await
        }
        (result, _) => console.done(result, &back).await,
    }
}
