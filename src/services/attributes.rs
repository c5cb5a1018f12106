//! Changing the attributes an application sends: a new source (a user property or a constant) or switching one
//! off or on. Names are not edited here; a JIT attribute's name is fixed by its connector or settings file.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::application::check_settings;
use crate::directory::attributes::{self, AttributeChange};
use crate::directory::{AttributeMapping, AttributeSource};
use crate::services::{millis, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::events;

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
