//! The General tab of an application's page: its label, description, portal tile (colour, image URL and an
//! uploaded logo) and bookmark URL, and "Deactivate SSO". It renders what `services::apps` returns and sends changes back there; the rules (which
//! values are valid, what an inactive application refuses) are the service's.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;

use crate::directory::application::TILE_HUES;
use crate::directory::Application;
use crate::services::apps as app_service;
use crate::services::apps::change::AppChange;
use crate::services::apps::logo::LogoInfo;
use crate::web::console::apps::{app_url, update, Choice};
use crate::web::console::{Console, Fields, Upload};
use crate::web::error::PageError;
use crate::web::AppState;

/// What the General tab shows beside the application's own settings: the tile's colours, its preview and the
/// uploaded logo.
pub struct GeneralView {
    pub hues: Vec<Choice>,
    pub tile_hue: u8,
    pub initial: String,
    /// Where the uploaded logo is served, if there is one.
    pub logo_url: Option<String>,
    /// The uploaded logo's format and size, e.g. "PNG, 12 KiB".
    pub logo_summary: String,
}

impl GeneralView {
    pub fn of(app: &Application, logo: Option<&LogoInfo>) -> Self {
        let selected = app.sp.tile_hue.map(|h| h.to_string()).unwrap_or_default();
        let mut options = vec![(String::new(), "automatic".to_owned())];
        options.extend((0_u8..).zip(TILE_HUES).map(|(i, n)| (i.to_string(), n.to_owned())));
        Self {
            hues: options
                .into_iter()
                .map(|(value, label)| Choice { is_selected: value == selected, value, label })
                .collect(),
            tile_hue: crate::web::portal::tile_hue(app),
            initial: app.display_label.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default(),
            logo_url: logo.map(|l| l.url(app.name.as_str())),
            logo_summary: logo
                .map(|l| format!("{}, {} KiB", l.image_type.name(), l.size.div_ceil(1024)))
                .unwrap_or_default(),
        }
    }
}

pub async fn save_general(
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

/// Uploads (or replaces) the portal tile logo, or removes it (`action=remove`). The upload form is multipart;
/// `Upload` has checked its CSRF token before any file is looked at, and the service takes the file only if its
/// bytes are a PNG, JPEG or WebP image of at most 256 KiB, so a refusal stores nothing.
pub async fn change_logo(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    upload: Upload,
) -> Result<Response, PageError> {
    let back = app_url(&name, "general");
    let (ctx, actor, now) = (&state.ctx, console.actor(), Utc::now());
    let result = if upload.fields.get("action") == "remove" {
        app_service::logo::remove_logo(ctx, &actor, &name, now)
            .await
            .map(|()| "Logo removed: the tile shows its image URL or its initial again.".to_owned())
    } else {
        let Some(file) = upload.file("logo") else {
            return console.refuse("Choose a PNG, JPEG or WebP image to upload.", &back).await;
        };
        app_service::logo::set_logo(ctx, &actor, &name, &file.bytes, None, now)
            .await
            .map(|l| format!("Logo saved ({}, {} KiB).", l.image_type.name(), l.size.div_ceil(1024)))
    };
    console.done(result, &back).await
}

/// "Deactivate SSO" (and activating it again): an inactive application refuses sign-ins at `/saml2/{app}` with a
/// page that says so and is hidden from the portal; its settings stay.
pub async fn change_activation(
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
