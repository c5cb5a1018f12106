//! Applications: every change to them for every caller (CLI, console, API, files of `sp-metadata/`), and what
//! admins look up about them. `create` registers one (SP metadata, a catalog connector, a bookmark),
//! `sp_metadata` reads SP metadata and settings files, `change` edits settings, attributes and group bindings,
//! `refresh` fetches metadata registered from a URL again, `logo` keeps the portal tile logos administrators
//! upload, and `view` is the one lookup every caller shows.
//! This module holds the loading and saving that those share.

pub mod change;
pub mod create;
pub mod logo;
pub mod refresh;
pub mod sp_metadata;
pub mod view;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::{AppName, Application};
use crate::services::{millis, Ctx, Error};
use crate::store::apps::{self, AppRecord};
use crate::store::{events, Conn};

/// An application by name (`UnknownApp` when there is none).
pub async fn load(conn: &mut Conn, name: &str) -> Result<Application, Error> {
    apps::find_app(conn, name).await?.ok_or_else(|| Error::UnknownApp { name: name.to_owned() })
}

/// A SAML application by name: `UnknownApp` for a name that cannot be an application's (without a query) or
/// that no application has, `NotSaml` for a bookmark.
pub async fn load_saml(conn: &mut Conn, name: &str) -> Result<Application, Error> {
    let parsed = AppName::parse(name).map_err(|_| Error::UnknownApp { name: name.to_owned() })?;
    let app = load(conn, parsed.as_str()).await?;
    if !app.is_saml() {
        return Err(Error::NotSaml { name: name.to_owned() });
    }
    Ok(app)
}

/// Refuses a name that is invalid or taken, for the "create" calls (imports and connectors update instead).
pub(crate) async fn refuse_existing(ctx: &Ctx, name: &str) -> Result<(), Error> {
    AppName::parse(name)?;
    if apps::find_app(&mut *ctx.db.conn().await?, name).await?.is_some() {
        return Err(Error::Conflict { what: "application", name: name.to_owned() });
    }
    Ok(())
}

/// Writes an application (insert or update) with its `admin_app_create`/`admin_app_update` event, and reads it back.
pub(crate) async fn save(
    conn: &mut Conn,
    actor: &Actor,
    name: &AppName,
    current: Option<&Application>,
    record: &AppRecord<'_>,
    now: DateTime<Utc>,
) -> Result<Application, Error> {
    let event = match current {
        Some(app) => {
            apps::update_app(conn, app.id, record, millis(now)).await?;
            EventName::AdminAppUpdate
        }
        None => {
            apps::insert_app(conn, name, record, millis(now)).await?;
            EventName::AdminAppCreate
        }
    };
    events::insert_event(conn, &Event::new(now, event, actor).target(name.as_str()).app(name.as_str())).await?;
    Ok(apps::get_app(conn, name.as_str()).await?)
}
