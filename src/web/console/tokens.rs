//! `/admin/tokens`: API tokens for `/api/v1` (create with a scope, list, revoke). A new token is shown once, in
//! the answer to the form that created it: never in a URL, a redirect, the session or a later page.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};

use crate::services::tokens::{self, Scope};
use crate::web::console::{render, segment, Chrome, Console, Fields};
use crate::web::error::PageError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/tokens", get(list_tokens).post(create_token))
        .route("/admin/tokens/{name}/revoke", post(revoke_token))
}

/// A token as the list shows it.
pub struct TokenRow {
    pub name: String,
    pub scope: &'static str,
    pub created_by: String,
    pub created_at: String,
    pub last_used: String,
    pub revoked: Option<String>,
    pub revoke_path: String,
}

/// The token just created, for the one page that shows it.
pub struct Created {
    pub name: String,
    pub scope: &'static str,
    pub token: String,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    created: Option<Created>,
}

async fn list_tokens(State(state): State<AppState>, console: Console) -> Result<Response, PageError> {
    page(&state, &console, None).await
}

/// Creates the token and answers with the page that shows it, once (not a redirect: the token must not travel
/// in a URL or wait in the session).
async fn create_token(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let name = f.get("name").to_owned();
    let scope = if f.is_checked("read_only") { Scope::ReadOnly } else { Scope::Full };
    match tokens::create(&state.ctx, &console.actor(), &name, scope, Utc::now()).await {
        Ok(token) => page(&state, &console, Some(Created { name, scope: scope.as_str(), token })).await,
        Err(e) => console.done(Err(e), "/admin/tokens").await,
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = tokens::revoke(&state.ctx, &console.actor(), &name, Utc::now())
        .await
        .map(|()| format!("API token {name} revoked: the API refuses it from now on."));
    console.done(result, "/admin/tokens").await
}

async fn page(state: &AppState, console: &Console, created: Option<Created>) -> Result<Response, PageError> {
    let tokens = tokens::list(&state.ctx)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            revoke_path: format!("/admin/tokens/{}/revoke", segment(&t.name)),
            scope: t.scope.as_str(),
            created_by: t.created_by,
            created_at: shown(t.created_at),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), shown),
            revoked: t.revoked_at.map(shown),
            name: t.name,
        })
        .collect();
    render(&TokensPage { chrome: console.chrome("tokens"), tokens, created })
}

fn shown(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
