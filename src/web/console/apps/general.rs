//! The General tab of an application's page: its label, description, portal tile and bookmark URL, and
//! "Deactivate SSO". It renders what `services::apps` returns and sends changes back there; the rules (which
//! values are valid, what an inactive application refuses) are the service's.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;

use crate::directory::application::TILE_HUES;
use crate::directory::Application;
use crate::services::apps as app_service;
use crate::services::apps::change::AppChange;
use crate::web::console::apps::{app_url, update, Choice};
use crate::web::console::{Console, Fields};
use crate::web::error::PageError;
use crate::web::AppState;

/// What the General tab shows beside the application's own settings: the tile's colours and its preview.
pub struct GeneralView {
    pub hues: Vec<Choice>,
    pub tile_hue: u8,
    pub initial: String,
}

impl GeneralView {
    pub fn of(app: &Application) -> Self {
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
