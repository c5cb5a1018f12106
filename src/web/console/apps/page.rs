//! An application's page (`/admin/apps/{name}`): the tab asked for, and the page assembled from the application's
//! details and each tab's view (`general`, `sso` with `certificates`, `groups`, `idm`), which read what the tab
//! shows. It only lays out; what is shown is decided by the services.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;

use crate::directory::Application;
use crate::services::apps as app_service;
use crate::services::apps::view::AppDetails;
use crate::web::console::apps::general::GeneralView;
use crate::web::console::apps::groups::GroupsView;
use crate::web::console::apps::idm::{self, IdmView};
use crate::web::console::apps::sso::{self, SsoView};
use crate::web::console::apps::{certificates, Choice};
use crate::web::console::{render, Chrome, Console};
use crate::web::error::PageError;
use crate::web::AppState;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TabQuery {
    tab: String,
}

/// An application's page, every tab's fields side by side as the template reads them; each tab's file builds its
/// part (`GeneralView`, `SsoView`, `GroupsView`, `IdmView`).
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
    held_acs: Vec<String>,
    /// Our published certificates: current, next, previous.
    certificates: Vec<certificates::CertificateInfo>,
    n_retired: usize,
    has_next: bool,
    has_previous: bool,
    sp_encryption_certificates: Vec<certificates::CertificateInfo>,
    encryption_algorithms: Vec<Choice>,
    name_id_formats: Vec<Choice>,
    name_id_sources: Vec<Choice>,
    name_id_requestable: Vec<&'static str>,
    name_id_takes_source: bool,
    signing_modes: Vec<Choice>,
    new_attribute_sources: Vec<Choice>,
    hues: Vec<Choice>,
    tile_hue: u8,
    initial: String,
    logo_url: Option<String>,
    logo_summary: String,
    attributes: Vec<sso::AttributeRow>,
    attribute_origin: &'static str,
    automatic_attributes: Vec<sso::AutomaticRow>,
    bound_groups: Vec<String>,
    other_groups: Vec<String>,
    idm_base_url: String,
    idm_is_active: bool,
    idm_manage_groups: bool,
    connector: String,
    idm_base_url_template: String,
    idm_placeholders: Vec<idm::PlaceholderField>,
    idm_sso_required: bool,
    idm_reconcile_every: String,
    idm_reconcile_minutes: u64,
    idm_next_reconcile: String,
    mapping: Vec<idm::MappingRowInfo>,
    imports: Vec<idm::ImportInfo>,
}

impl AppPage {
    fn new(chrome: Chrome, tab: &'static str, d: AppDetails, sso: SsoView, groups: GroupsView, idm: IdmView) -> Self {
        let general = GeneralView::of(&d.app, d.logo.as_ref());
        Self {
            chrome,
            tab,
            is_saml: d.app.is_saml(),
            idp_url: d.idp_url,
            idp_entity_id: d.idp_entity_id,
            metadata_url: d.metadata_url,
            certificate_url: d.certificate_url,
            acs_urls: sso.acs_urls,
            held_acs: sso.held_acs,
            certificates: sso.certificates,
            n_retired: sso.n_retired,
            has_next: sso.has_next,
            has_previous: sso.has_previous,
            sp_encryption_certificates: sso.sp_encryption_certificates,
            encryption_algorithms: sso.encryption_algorithms,
            name_id_formats: sso.name_id_formats,
            name_id_sources: sso.name_id_sources,
            name_id_requestable: sso.name_id_requestable,
            name_id_takes_source: sso.name_id_takes_source,
            signing_modes: sso.signing_modes,
            new_attribute_sources: sso.new_attribute_sources,
            hues: general.hues,
            tile_hue: general.tile_hue,
            initial: general.initial,
            logo_url: general.logo_url,
            logo_summary: general.logo_summary,
            attributes: sso.attributes,
            attribute_origin: sso.attribute_origin,
            automatic_attributes: sso.automatic_attributes,
            bound_groups: groups.bound_groups,
            other_groups: groups.other_groups,
            idm_base_url: idm.idm_base_url,
            idm_is_active: idm.idm_is_active,
            idm_manage_groups: idm.idm_manage_groups,
            connector: idm.connector,
            idm_base_url_template: idm.idm_base_url_template,
            idm_placeholders: idm.idm_placeholders,
            idm_sso_required: idm.idm_sso_required,
            idm_reconcile_every: idm.idm_reconcile_every,
            idm_reconcile_minutes: idm.idm_reconcile_minutes,
            idm_next_reconcile: idm.idm_next_reconcile,
            mapping: idm.mapping,
            imports: idm.imports,
            app: d.app,
        }
    }

    fn tab_is(&self, tab: &str) -> bool {
        self.tab == tab
    }
}

/// The tab asked for, if the application has it (a bookmark has no SSO or Identity Management tab).
fn tab_of(asked: &str, is_saml: bool) -> &'static str {
    match asked {
        "sso" if is_saml => "sso",
        "groups" => "groups",
        "idm" if is_saml => "idm",
        _ => "general",
    }
}

pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    Query(q): Query<TabQuery>,
) -> Result<Response, PageError> {
    let ctx = &state.ctx;
    let d = app_service::view::details(ctx, &name).await?;
    let tab = tab_of(&q.tab, d.app.is_saml());
    let sso = SsoView::new(&d, tab == "sso", Utc::now());
    let groups = GroupsView::load(ctx, &d).await?;
    let idm = IdmView::load(ctx, &name, &d, tab == "idm").await?;
    render(&AppPage::new(console.chrome("apps"), tab, d, sso, groups, idm))
}
