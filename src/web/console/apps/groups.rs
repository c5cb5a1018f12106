//! The User Groups tab of an application's page: the groups bound to it (whose members may use it) and binding or
//! unbinding one. Who may use an application is decided by `directory::access`, never here.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;

use crate::services::apps::view::AppDetails;
use crate::services::groups;
use crate::services::MAX_PAGE;
use crate::services::{Ctx, Error};
use crate::web::console::apps::app_url;
use crate::web::console::{Console, Fields};
use crate::web::error::PageError;
use crate::web::AppState;

/// The groups bound to the application, and the others, which may be bound.
pub struct GroupsView {
    pub bound_groups: Vec<String>,
    pub other_groups: Vec<String>,
}

impl GroupsView {
    pub async fn load(ctx: &Ctx, d: &AppDetails) -> Result<Self, Error> {
        let all_groups = groups::list_groups(ctx, None, None, MAX_PAGE).await?.items;
        let other_groups = all_groups.into_iter().map(|g| g.name).filter(|g| !d.bound_groups.contains(g)).collect();
        Ok(Self { bound_groups: d.bound_groups.clone(), other_groups })
    }
}

pub async fn change_groups(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let group = f.get("group");
    let is_bind = f.get("action") != "unbind";
    let result =
        crate::services::apps::change::change_binding(&state.ctx, &console.actor(), &name, group, is_bind, Utc::now())
            .await
            .map(|()| if is_bind { format!("Group {group} bound.") } else { format!("Group {group} unbound.") });
    console.done(result, &app_url(&name, "groups")).await
}
