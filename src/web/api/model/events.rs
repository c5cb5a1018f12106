//! The bodies of `/api/v1/events`: an event of the audit log, the list's page and filters.

use chrono::{DateTime, Utc};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{Event, EventFilter, EventName};
use crate::web::api::problem::Problem;

/// One event of the audit log.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub name: String,
    pub actor: String,
    pub target: String,
    pub app: String,
    pub username: String,
    pub success: bool,
    pub detail: String,
}

impl EventView {
    pub fn of(e: Event) -> Self {
        Self {
            id: e.id.unwrap_or_default(),
            at: e.at,
            name: e.name.as_str().to_owned(),
            actor: e.actor,
            target: e.target,
            app: e.app,
            username: e.username,
            success: e.success,
            detail: e.detail,
        }
    }
}

page_type!(EventPage, EventView, "A page of events, newest first.");

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// An exact event name, e.g. `admin_user_create`.
    pub name: Option<String>,
    /// The type: the part of the name before its first `_` (`admin`, `user`, `sso`, `idm`, `group`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub app: Option<String>,
    pub user: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    pub until: Option<String>,
    pub success: Option<bool>,
}

impl EventListQuery {
    /// The event name asked for; an unknown one is a 400.
    pub fn event_name(&self) -> Result<Option<EventName>, Problem> {
        match self.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => {
                Ok(Some(EventName::parse(n).ok_or_else(|| Problem::bad_request(format!("unknown event name {n}")))?))
            }
            None => Ok(None),
        }
    }

    /// The filter of the query, with its `name` (`event_name`) and the position (`before`) of its cursor.
    pub fn filter(
        &self,
        name: Option<EventName>,
        before: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<EventFilter, Problem> {
        Ok(EventFilter {
            name,
            name_prefix: self.kind.as_deref().filter(|k| !k.is_empty()).map(|k| format!("{k}_")),
            app: self.app.clone().filter(|v| !v.is_empty()),
            username: self.user.clone().filter(|v| !v.is_empty()),
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
            success: self.success,
            before,
            limit,
        })
    }

    /// The query's filters, for the next page's URL.
    pub fn filters(self) -> [(&'static str, Option<String>); 7] {
        [
            ("name", self.name),
            ("type", self.kind),
            ("app", self.app),
            ("user", self.user),
            ("since", self.since),
            ("until", self.until),
            ("success", self.success.map(|s| s.to_string())),
        ]
    }
}

/// An RFC 3339 time of the query; a malformed one is a 400 that names `field`.
fn time(value: &Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, Problem> {
    match value.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| Problem::bad_request(format!("{field} {v:?} is not an RFC 3339 time: {e}"))),
        None => Ok(None),
    }
}
