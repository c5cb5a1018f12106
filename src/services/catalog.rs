//! The connector catalog as admins browse it: search, and each connector as the CLI and API show it. Creating an
//! application from a connector is `apps::create`.

use crate::catalog::template::Placeholder;
use crate::catalog::Connector;
use crate::services::Ctx;

/// What `sesame catalog list --json` prints per connector (and what the API will return): stable snake_case keys.
#[derive(Debug, serde::Serialize)]
pub struct ConnectorView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub placeholders: &'a [Placeholder],
    pub sp_signs_requests: bool,
    pub jit_attributes: Vec<&'a str>,
    pub scim_base_url: Option<&'a str>,
    pub scim_sso_required: Option<bool>,
    pub scim_groups_supported: bool,
    pub scim_soft_delete: bool,
}

impl<'a> ConnectorView<'a> {
    pub fn of(c: &'a Connector) -> Self {
        Self {
            id: &c.id,
            name: &c.name,
            description: &c.description,
            placeholders: &c.placeholders,
            sp_signs_requests: c.sso.sp_signs_requests,
            jit_attributes: c.jit_attributes().collect(),
            scim_base_url: c.scim.base_url.as_ref().map(|t| t.as_str()),
            scim_sso_required: c.scim.sso_required,
            scim_groups_supported: c.scim.groups_supported,
            scim_soft_delete: c.scim.soft_delete,
        }
    }
}

/// Connectors matching `query` (every word, case-insensitive); all of them for an empty query.
pub fn search<'a>(ctx: &'a Ctx, query: &str) -> Vec<&'a Connector> {
    ctx.catalog.search(query)
}
