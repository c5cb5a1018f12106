//! `/api/v1/catalog`: the connectors applications can be created from.

use axum::extract::{Query, State};
use axum::Json;

use crate::services::catalog;
use crate::web::api::model::catalog::{CatalogQuery, ConnectorView, PlaceholderView};
use crate::web::api::problem::Problem;
use crate::web::api::Caller;
use crate::web::AppState;

/// The connector catalog: the SPs applications can be created from with `connector` and `values`.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "applications", params(CatalogQuery),
    responses((status = 200, description = "Connectors", body = Vec<ConnectorView>)))]
pub async fn list_connectors(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<CatalogQuery>,
) -> Result<Json<Vec<ConnectorView>>, Problem> {
    let connectors = catalog::search(&state.ctx, q.q.as_deref().unwrap_or_default());
    Ok(Json(
        connectors
            .into_iter()
            .map(|c| ConnectorView {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                placeholders: c
                    .placeholders
                    .iter()
                    .map(|p| PlaceholderView {
                        name: p.name.clone(),
                        label: p.label.clone(),
                        example: p.example.clone(),
                    })
                    .collect(),
                sp_signs_requests: c.sso.sp_signs_requests,
                jit_attributes: c.jit_attributes().map(str::to_owned).collect(),
            })
            .collect(),
    ))
}
