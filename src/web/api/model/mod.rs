//! The API's JSON bodies: what it returns and what it accepts, with their OpenAPI schemas, one file per resource
//! (`users`, `groups`, `apps`, `attributes`, `certificates`, `idm`, `mfa`, `catalog`, `events`), each with the conversions from and to
//! the services' types. Request bodies refuse unknown fields, so a misspelt setting is a 422 instead of being
//! ignored. No service is called here.

use utoipa::IntoParams;

/// A page of a list: its items and the way to the next page.
macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; null on the last page.
            pub next_cursor: Option<String>,
            /// The URL of the next page, with the same filters; null on the last page.
            pub next: Option<String>,
        }
    };
}

pub mod apps;
pub mod attributes;
pub mod catalog;
pub mod certificates;
pub mod events;
pub mod groups;
pub mod idm;
pub mod mfa;
pub mod users;

/// Paging of a list: `limit` items (default 50, at most 500) after `cursor`.
#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
