//! `/api/v1/events`: the audit log, newest first, with filters.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};

use crate::audit::{EventFilter, EventName};
use crate::services::events;
use crate::web::api::model::{EventListQuery, EventPage, EventView};
use crate::web::api::{decode_cursor, limit, next_page, Caller, Problem};
use crate::web::AppState;

/// List events, newest first: filter by name or type, application, user, time and outcome.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventListQuery),
    responses((status = 200, description = "A page of events", body = EventPage)))]
pub async fn list_events(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<EventListQuery>,
) -> Result<Json<EventPage>, Problem> {
    let name = match q.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => Some(EventName::parse(n).ok_or_else(|| Problem::bad_request(format!("unknown event name {n}")))?),
        None => None,
    };
    let time = |value: &Option<String>, field: &str| -> Result<Option<DateTime<Utc>>, Problem> {
        match value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| Problem::bad_request(format!("{field} {v:?} is not an RFC 3339 time: {e}"))),
            None => Ok(None),
        }
    };
    let before = match decode_cursor(q.cursor.as_deref())? {
        Some(key) => Some(
            events::parse_event_key(&key)
                .ok_or_else(|| Problem::bad_request("the cursor is not one this API gave out"))?,
        ),
        None => None,
    };
    let limit = limit(q.limit);
    let filter = EventFilter {
        name,
        name_prefix: q.kind.as_deref().filter(|k| !k.is_empty()).map(|k| format!("{k}_")),
        app: q.app.clone().filter(|v| !v.is_empty()),
        username: q.user.clone().filter(|v| !v.is_empty()),
        since: time(&q.since, "since")?,
        until: time(&q.until, "until")?,
        success: q.success,
        before,
        limit,
    };
    let page = events::page_events(&state.ctx, &filter).await?;
    let filters = [
        ("name", q.name),
        ("type", q.kind),
        ("app", q.app),
        ("user", q.user),
        ("since", q.since),
        ("until", q.until),
        ("success", q.success.map(|s| s.to_string())),
    ];
    let (next_cursor, next) = next_page("/api/v1/events", &filters, limit, page.next_after.as_deref());
    let items = page.items.into_iter().map(EventView::of).collect();
    Ok(Json(EventPage { items, next_cursor, next }))
}
