//! `/admin/events`: the audit log with filters (name or type, application, user, outcome, time), newest first.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::audit::{Event, EventFilter, EventName};
use crate::services::events;
use crate::web::console::{encode, parse_utc, render, Chrome, Console};
use crate::web::error::PageError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/events", get(list))
}

/// The event types the filter offers: the prefixes of the names.
const TYPES: [&str; 8] = ["admin", "user", "sso", "slo", "group", "idm", "cert", "sp"];
const PAGE: u32 = 50;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct EventQuery {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    app: String,
    user: String,
    success: String,
    since: String,
    until: String,
    before: String,
}

/// One event as a table row.
pub struct EventRow {
    pub at: String,
    pub name: &'static str,
    pub actor: String,
    pub target: String,
    pub app: String,
    pub username: String,
    pub success: bool,
    pub detail: String,
}

impl EventRow {
    pub fn of(e: Event) -> Self {
        Self {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            name: e.name.as_str(),
            actor: e.actor,
            target: e.target,
            app: e.app,
            username: e.username,
            success: e.success,
            detail: e.detail,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    chrome: Chrome,
    q: EventQuery,
    names: Vec<&'static str>,
    types: [&'static str; 8],
    rows: Vec<EventRow>,
    error: Option<String>,
    older: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<EventQuery>,
) -> Result<Response, PageError> {
    let (filter, error) = filter_of(&q);
    let rows = if error.is_some() { Vec::new() } else { events::page_events(&state.ctx, &filter).await?.items };
    let older = (rows.len() == usize::try_from(PAGE).unwrap_or(usize::MAX))
        .then(|| rows.last())
        .flatten()
        .map(|e| older_link(&q, &format!("{}:{}", e.at.timestamp_millis(), e.id.unwrap_or_default())));
    render(&EventsPage {
        chrome: console.chrome("events"),
        names: EventName::ALL.iter().map(|n| n.as_str()).collect(),
        types: TYPES,
        rows: rows.into_iter().map(EventRow::of).collect(),
        error,
        older,
        q,
    })
}

/// The filter the query asks for, and the message about a value it cannot use (then nothing is listed).
fn filter_of(q: &EventQuery) -> (EventFilter, Option<String>) {
    let mut error = None;
    let mut filter = EventFilter { limit: PAGE, ..EventFilter::default() };
    if !q.name.is_empty() {
        filter.name = EventName::parse(&q.name);
        if filter.name.is_none() {
            error = Some(format!("There is no event named {}.", q.name));
        }
    }
    if TYPES.contains(&q.kind.as_str()) {
        filter.name_prefix = Some(format!("{}_", q.kind));
    }
    filter.app = Some(q.app.trim().to_owned()).filter(|v| !v.is_empty());
    filter.username = Some(q.user.trim().to_owned()).filter(|v| !v.is_empty());
    filter.success = match q.success.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    for (value, slot, field) in [(&q.since, &mut filter.since, "From"), (&q.until, &mut filter.until, "Until")] {
        if value.is_empty() {
            continue;
        }
        match parse_utc(value) {
            Some(t) => *slot = Some(t),
            None => error = Some(format!("{field}: {value:?} is not a date and time (YYYY-MM-DDTHH:MM, UTC).")),
        }
    }
    filter.before = events::parse_event_key(&q.before);
    (filter, error)
}

fn older_link(q: &EventQuery, before: &str) -> String {
    let pairs = [
        ("name", &q.name),
        ("type", &q.kind),
        ("app", &q.app),
        ("user", &q.user),
        ("success", &q.success),
        ("since", &q.since),
        ("until", &q.until),
    ];
    let mut link = String::from("/admin/events?");
    for (k, v) in pairs {
        if !v.is_empty() {
            link.push_str(&format!("{k}={}&", encode(v)));
        }
    }
    link.push_str(&format!("before={}", encode(before)));
    link
}
