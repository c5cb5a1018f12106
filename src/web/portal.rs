//! The user portal: a tile for each application the signed-in user may use.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_sessions::Session;

use crate::directory::AppKind;
use crate::services::apps;
use crate::web::error::PageError;
use crate::web::login::login_url;
use crate::web::session::{csrf_token, signed_in};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(portal))
}

struct Tile {
    href: String,
    label: String,
    description: String,
    initial: String,
    hue: u8,
    /// The tile's image instead of the initial: the logo an admin uploaded (served by us), else the https URL an
    /// admin chose.
    image_url: Option<String>,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    shown_name: &'a str,
    csrf_token: &'a str,
    tiles: Vec<Tile>,
}

async fn portal(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let Some(idp) = signed_in(&state.ctx, &session).await? else {
        return Ok(Redirect::to(&login_url("/", false)).into_response());
    };
    let Some((user, apps)) = apps::view::portal(&state.ctx, &idp).await? else {
        // The account was deleted since sign-in.
        let _ = session.flush().await;
        return Ok(Redirect::to("/login").into_response());
    };
    let tiles = apps
        .iter()
        .map(|apps::view::PortalApp { app, logo_url }| Tile {
            href: match (app.kind, &app.bookmark_url) {
                (AppKind::Bookmark, Some(url)) => url.clone(),
                _ => format!("/saml2/{}", app.name),
            },
            label: app.display_label.clone(),
            description: app.description.clone(),
            initial: app.display_label.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default(),
            hue: tile_hue(app),
            image_url: logo_url.clone().or_else(|| Some(app.sp.tile_image_url.clone()).filter(|u| !u.is_empty())),
        })
        .collect();
    let token = csrf_token(&session).await?;
    let page = PortalPage { shown_name: &user.shown_name(), csrf_token: &token, tiles };
    let html = page.render().map_err(PageError::from)?;
    // Tile images are uploaded logos (from us) or come from the https URLs admins chose; everything else stays as
    // strict as on every page.
    Ok(([(header::CONTENT_SECURITY_POLICY, PORTAL_CSP)], Html(html)).into_response())
}

const PORTAL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The tile's colour: the one the admin chose, or one derived from the name (stable across restarts).
pub fn tile_hue(app: &crate::directory::Application) -> u8 {
    app.sp
        .tile_hue
        .unwrap_or_else(|| app.name.as_str().bytes().fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(b)) % 8)
}
