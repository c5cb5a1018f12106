//! Changes to an existing application: its settings (`AppChange`), one attribute's source or switch, its group
//! bindings, and its deletion. Each commits with its event; a binding change reaches the SPs that manage the
//! group through provisioning jobs in the same transaction.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::application::{check_http_url, check_settings, check_tile};
use crate::directory::attributes::{self, AttributeChange};
use crate::directory::Application;
use crate::directory::{check_name, AttributeMapping, AttributeSource, Invalid, UserProperty};
use crate::provisioning;
use crate::saml::{NameIdFormat, SigningMode};
use crate::services::error::named;
use crate::services::{millis, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::{events, groups, idm};

/// A change of settings: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppChange {
    pub display_label: Option<String>,
    pub description: Option<String>,
    pub show_in_portal: Option<bool>,
    pub is_active: Option<bool>,
    pub bookmark_url: Option<String>,
    pub name_id_format: Option<NameIdFormat>,
    /// `Some(None)` goes back to the format's default source.
    pub name_id_source: Option<Option<UserProperty>>,
    pub signing_mode: Option<SigningMode>,
    pub default_relay_state: Option<String>,
    pub sp_login_url: Option<String>,
    pub require_signed_requests: Option<bool>,
    pub assertion_lifetime_secs: Option<u32>,
    pub session_lifetime_secs: Option<u32>,
    /// The whole attribute list; JIT attributes missing from it are kept (their names are fixed).
    pub attributes: Option<Vec<AttributeMapping>>,
    /// Encrypt assertions to the SP's encryption certificate (from its metadata).
    pub encrypt_assertions: Option<bool>,
    pub data_encryption: Option<crate::saml::DataEncryption>,
    pub encrypt_name_id: Option<bool>,
    /// Users of the application sign in with a second factor.
    pub require_mfa: Option<bool>,
    /// The portal tile's colour (`Some(None)`: derived from the name).
    pub tile_hue: Option<Option<u8>>,
    /// The portal tile's image URL (empty: none).
    pub tile_image_url: Option<String>,
}

impl AppChange {
    fn touches_sso(&self) -> bool {
        self.name_id_format.is_some()
            || self.name_id_source.is_some()
            || self.signing_mode.is_some()
            || self.default_relay_state.is_some()
            || self.sp_login_url.is_some()
            || self.require_signed_requests.is_some()
            || self.assertion_lifetime_secs.is_some()
            || self.session_lifetime_secs.is_some()
            || self.attributes.is_some()
            || self.encrypt_assertions.is_some()
            || self.data_encryption.is_some()
            || self.encrypt_name_id.is_some()
            || self.require_mfa.is_some()
    }
}

/// Applies `change` and returns the application as it now is; the event lists the fields changed.
pub async fn update(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    change: &AppChange,
    now: DateTime<Utc>,
) -> Result<Application, Error> {
    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    if change.touches_sso() && !current.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    if change.bookmark_url.is_some() && current.is_saml() {
        return Err(Invalid::new("bookmark_url", "only bookmark applications have one").into());
    }
    // The other side of the catalog's `sso_required`: SSO stays on while such an SP's SCIM integration is active.
    if change.is_active == Some(false)
        && current.is_active
        && ctx.catalog.connector_scim(&current).is_some_and(|c| c.sso_required == Some(true))
        && idm::find_integration(&mut tx, current.id).await?.is_some_and(|i| i.is_active)
    {
        let why =
            "cannot be switched off while identity management is active: this service provider needs SSO to use SCIM";
        return Err(Invalid::new("SSO", why).into());
    }
    let mut changed = Vec::new();
    let mut note = |field: &str, is_set: bool| {
        if is_set {
            changed.push(field.to_owned());
        }
    };
    let display_label = change.display_label.clone().unwrap_or_else(|| current.display_label.clone());
    check_name("display label", &display_label)?;
    note("display_label", change.display_label.is_some());
    let description = change.description.clone().unwrap_or_else(|| current.description.clone());
    note("description", change.description.is_some());
    let bookmark_url = change.bookmark_url.clone().or_else(|| current.bookmark_url.clone());
    if let Some(url) = &change.bookmark_url {
        check_http_url("bookmark_url", url)?;
    }
    note("bookmark_url", change.bookmark_url.is_some());
    note("show_in_portal", change.show_in_portal.is_some());
    note("is_active", change.is_active.is_some());
    let mut sp = current.sp.clone();
    if let Some(v) = change.name_id_format {
        sp.name_id_format = v;
    }
    note("name_id_format", change.name_id_format.is_some());
    if let Some(v) = change.name_id_source {
        sp.name_id_source = v;
    }
    note("name_id_source", change.name_id_source.is_some());
    if let Some(v) = change.signing_mode {
        sp.signing_mode = v;
    }
    note("signing_mode", change.signing_mode.is_some());
    if let Some(v) = &change.default_relay_state {
        sp.default_relay_state.clone_from(v);
    }
    note("default_relay_state", change.default_relay_state.is_some());
    if let Some(v) = &change.sp_login_url {
        sp.sp_login_url.clone_from(v);
    }
    note("sp_login_url", change.sp_login_url.is_some());
    if let Some(v) = change.require_signed_requests {
        sp.require_signed_requests = v;
    }
    note("require_signed_requests", change.require_signed_requests.is_some());
    if let Some(v) = change.assertion_lifetime_secs {
        sp.assertion_lifetime_secs = v;
    }
    note("assertion_lifetime_secs", change.assertion_lifetime_secs.is_some());
    if let Some(v) = change.session_lifetime_secs {
        sp.session_lifetime_secs = v;
    }
    note("session_lifetime_secs", change.session_lifetime_secs.is_some());
    if let Some(v) = &change.attributes {
        sp.attributes = crate::directory::attributes::replace_keeping_jit(&sp.attributes, v.clone());
    }
    note("attributes", change.attributes.is_some());
    if let Some(v) = change.encrypt_assertions {
        sp.encrypt_assertions = v;
    }
    note("encrypt_assertions", change.encrypt_assertions.is_some());
    if let Some(v) = change.data_encryption {
        sp.data_encryption = v;
    }
    note("encryption_algorithm", change.data_encryption.is_some());
    if let Some(v) = change.encrypt_name_id {
        sp.encrypt_name_id = v;
    }
    note("encrypt_name_id", change.encrypt_name_id.is_some());
    if let Some(v) = change.require_mfa {
        sp.require_mfa = v;
    }
    note("require_mfa", change.require_mfa.is_some());
    if let Some(v) = change.tile_hue {
        sp.tile_hue = v;
    }
    note("tile_hue", change.tile_hue.is_some());
    if let Some(v) = &change.tile_image_url {
        sp.tile_image_url.clone_from(v);
    }
    note("tile_image_url", change.tile_image_url.is_some());
    check_tile(sp.tile_hue, &sp.tile_image_url)?;
    if current.is_saml() {
        check_settings(&sp)?;
    }
    let record = AppRecord {
        display_label: &display_label,
        description: &description,
        show_in_portal: change.show_in_portal.unwrap_or(current.show_in_portal),
        kind: current.kind,
        bookmark_url: bookmark_url.as_deref(),
        is_active: change.is_active.unwrap_or(current.is_active),
        sp: &sp,
    };
    apps::update_app(&mut tx, current.id, &record, millis(now)).await?;
    let event = Event::new(now, EventName::AdminAppUpdate, actor)
        .target(name)
        .app(name)
        .detail(format!("changed {}", changed.join(", ")));
    events::insert_event(&mut tx, &event).await?;
    let app = apps::get_app(&mut tx, name).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(app)
}

/// Deletes an application with its bindings, certificates (with their sealed keys) and integration. Its SPs'
/// accounts are left as they are.
pub async fn delete(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let app = apps::find_app(&mut tx, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })?;
    apps::delete_app(&mut tx, app.id).await?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminAppDelete, actor).target(name).app(name)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// Binds (`is_bind`) or unbinds a group.
pub async fn change_binding(
    ctx: &Ctx,
    actor: &Actor,
    app: &str,
    group: &str,
    is_bind: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let a = apps::find_app(&mut tx, app).await?.ok_or_else(|| Error::UnknownApp { name: app.to_owned() })?;
    let g = groups::get_group_by_name(&mut tx, group).await.map_err(named("group", group))?;
    let pair = format!("{group} to {app}");
    let name = if is_bind {
        apps::insert_binding(&mut tx, a.id, g.id).await.map_err(named("binding", &pair))?;
        EventName::AdminAppBind
    } else {
        apps::delete_binding(&mut tx, a.id, g.id).await.map_err(named("binding", &pair))?;
        EventName::AdminAppUnbind
    };
    if idm::find_integration(&mut tx, a.id).await?.is_some_and(|i| i.is_active) {
        provisioning::enqueue_group_for_app(&mut tx, a.id, g.id, millis(now)).await?;
    }
    events::insert_event(&mut tx, &Event::new(now, name, actor).target(group).app(app)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.worker.wake();
    Ok(())
}

/// Applies `change` to attribute `attribute` of application `app` and returns the attribute as it now is.
pub async fn change_attribute(
    ctx: &Ctx,
    actor: &Actor,
    app: &str,
    attribute: &str,
    change: &AttributeChange,
    now: DateTime<Utc>,
) -> Result<AttributeMapping, Error> {
    let mut tx = ctx.db.begin().await?;
    let current = apps::find_app(&mut tx, app).await?.ok_or_else(|| Error::UnknownApp { name: app.to_owned() })?;
    if !current.is_saml() {
        return Err(Error::NotSaml { name: app.to_owned() });
    }
    let mut sp = current.sp.clone();
    attributes::change(&mut sp.attributes, attribute, change)?;
    check_settings(&sp)?;
    let record = AppRecord {
        display_label: &current.display_label,
        description: &current.description,
        show_in_portal: current.show_in_portal,
        kind: current.kind,
        bookmark_url: current.bookmark_url.as_deref(),
        is_active: current.is_active,
        sp: &sp,
    };
    apps::update_app(&mut tx, current.id, &record, millis(now)).await?;
    let changed = sp.attributes.iter().find(|a| a.name == attribute).cloned();
    let Some(changed) = changed else {
        return Err(Error::NotFound { what: "attribute", name: attribute.to_owned() });
    };
    let detail = format!(
        "attribute {attribute}: {} {}",
        if changed.is_enabled { "on" } else { "off" },
        describe(&changed.source)
    );
    events::insert_event(
        &mut tx,
        &Event::new(now, EventName::AdminAppUpdate, actor).target(app).app(app).detail(detail),
    )
    .await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(changed)
}

/// A short description of an attribute's source, for events and the CLI.
pub fn describe(source: &AttributeSource) -> String {
    match source {
        AttributeSource::Property(p) => format!("property {}", p.as_str()),
        AttributeSource::Constant(c) => format!("constant {c:?}"),
        AttributeSource::Groups => "groups".to_owned(),
    }
}
