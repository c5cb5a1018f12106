//! Applications from the connector catalog: search it, and create (or update) an application from a connector and
//! the values of its placeholders. The CLI calls these today; the admin API and console call the same functions.
//!
//! A connector whose SP signs its AuthnRequests (Netskope, Zscaler) creates an application that requires signed
//! requests. Without the SP's certificate it is still created, and every SP-initiated request is refused until
//! the certificate is given (running `app create` again with `--sp-cert`): requiring signatures is never relaxed.

use chrono::{DateTime, Utc};
use tracing::info;

use crate::audit::{Actor, Event, EventName};
use crate::catalog::template::Placeholder;
use crate::catalog::Connector;
use crate::directory::{check_name, AppKind, AppName, Application};
use crate::saml::keys::Certificate;
use crate::services::admin::{ensure_certificate, named};
use crate::services::{millis, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::events;

/// What the admin gives to create an application from a connector.
#[derive(Debug, Clone, Default)]
pub struct CreateFromConnector<'a> {
    pub name: &'a str,
    pub connector: &'a str,
    /// Placeholder values, `(NAME, value)`; on an update, placeholders not given keep their earlier values.
    pub values: &'a [(String, String)],
    /// The SP's request-signing certificate (PEM), for connectors whose SP signs its AuthnRequests.
    pub sp_certificate_pem: Option<&'a str>,
    pub display_label: Option<&'a str>,
}

/// The outcome, with what the admin still has to do.
#[derive(Debug)]
pub struct Created {
    pub app: Application,
    pub is_new: bool,
    /// The SP signs its requests and no certificate is registered yet: SSO refuses its requests until one is.
    pub awaits_sp_certificate: bool,
}

/// What `sesame catalog list --json` prints per connector (and what the API will return): stable snake_case keys.
#[derive(Debug, serde::Serialize)]
pub struct ConnectorView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub placeholders: &'a [Placeholder],
    pub sp_signs_requests: bool,
    pub jit_attributes: Vec<&'a str>,
    pub scim_base_url: Option<&'a str>,
    pub scim_sso_required: Option<bool>,
    pub scim_groups_supported: bool,
    pub scim_soft_delete: bool,
}

impl<'a> ConnectorView<'a> {
    pub fn of(c: &'a Connector) -> Self {
        Self {
            id: &c.id,
            name: &c.name,
            description: &c.description,
            placeholders: &c.placeholders,
            sp_signs_requests: c.sso.sp_signs_requests,
            jit_attributes: c.jit_attributes().collect(),
            scim_base_url: c.scim.base_url.as_ref().map(|t| t.as_str()),
            scim_sso_required: c.scim.sso_required,
            scim_groups_supported: c.scim.groups_supported,
            scim_soft_delete: c.scim.soft_delete,
        }
    }
}

/// Connectors matching `query` (every word, case-insensitive); all of them for an empty query.
pub fn search<'a>(ctx: &'a Ctx, query: &str) -> Vec<&'a Connector> {
    ctx.catalog.search(query)
}

/// Creates application `request.name` from a connector, or updates one created from the same connector (new
/// placeholder values, a new SP certificate). Unfilled or invalid placeholders are refused before anything is
/// written. An update keeps the admin's attribute changes and adds JIT attributes the connector gained since.
pub async fn create_app(
    ctx: &Ctx,
    actor: &Actor,
    request: &CreateFromConnector<'_>,
    now: DateTime<Utc>,
) -> Result<Created, Error> {
    let name = AppName::parse(request.name)?;
    let connector = ctx.catalog.get(request.connector)?;
    let certificate = request.sp_certificate_pem.map(|pem| Certificate::from_pem(pem.as_bytes())).transpose()?;

    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, name.as_str()).await?;
    let display_label = match (request.display_label, &current) {
        (Some(label), _) => label.to_owned(),
        (None, Some(app)) => app.display_label.clone(),
        (None, None) => connector.name.clone(),
    };
    check_name("display label", &display_label)?;
    let previous = match &current {
        None => Default::default(),
        Some(app) => match &app.sp.connector {
            Some(from) if app.is_saml() && from.id == connector.id => from.values.clone(),
            _ => return Err(Error::NotFromConnector { app: name.to_string(), connector: connector.id.clone() }),
        },
    };
    let filled = connector.fill(&previous, request.values)?;
    let mut sp = connector.sp_settings(&filled)?;
    if let Some(app) = &current {
        sp.attributes.clone_from(&app.sp.attributes);
        for default in &connector.sso.attributes {
            if default.is_jit && !sp.attributes.iter().any(|a| a.name == default.name) {
                sp.attributes.push(default.clone());
            }
        }
        sp.signing_certificates.clone_from(&app.sp.signing_certificates);
        sp.require_signed_requests |= app.sp.require_signed_requests;
        sp.session_lifetime_secs = app.sp.session_lifetime_secs;
        sp.assertion_lifetime_secs = app.sp.assertion_lifetime_secs;
        sp.default_relay_state.clone_from(&app.sp.default_relay_state);
    }
    if let Some(cert) = &certificate {
        sp.signing_certificates = vec![cert.to_pem()?];
    }
    let awaits_sp_certificate = sp.require_signed_requests && sp.signing_certificates.is_empty();

    let record = AppRecord {
        display_label: &display_label,
        description: &connector.description,
        show_in_portal: current.as_ref().is_none_or(|a| a.show_in_portal),
        kind: AppKind::Saml,
        bookmark_url: None,
        is_active: current.as_ref().is_none_or(|a| a.is_active),
        sp: &sp,
    };
    let event_name = match &current {
        Some(app) => {
            apps::update_app(&mut tx, app.id, &record, millis(now)).await?;
            EventName::AdminAppUpdate
        }
        None => {
            apps::insert_app(&mut tx, &name, &record, millis(now))
                .await
                .map_err(named("application", name.as_str()))?;
            EventName::AdminAppCreate
        }
    };
    let event = Event::new(now, event_name, actor)
        .target(name.as_str())
        .app(name.as_str())
        .detail(format!("connector {}", connector.id));
    events::insert_event(&mut tx, &event).await?;
    let app = apps::get_app(&mut tx, name.as_str()).await?;
    ensure_certificate(ctx, &mut tx, &app, now).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(app.name = %name, connector = %connector.id, "application {name} from connector {}", connector.id);
    Ok(Created { app, is_new: current.is_none(), awaits_sp_certificate })
}
