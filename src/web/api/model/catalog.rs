//! The bodies of `/api/v1/catalog`: a connector with its placeholders, and the search.

use utoipa::{IntoParams, ToSchema};

/// A catalog connector.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The placeholders `values` must fill when creating an application from it.
    pub placeholders: Vec<PlaceholderView>,
    pub sp_signs_requests: bool,
    pub jit_attributes: Vec<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PlaceholderView {
    pub name: String,
    pub label: String,
    pub example: String,
}

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Connectors matching every word (case-insensitive).
    pub q: Option<String>,
}
