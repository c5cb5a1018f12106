//! `/api/v1/events`: the audit log, newest first, with filters.

use axum::extract::{Query, State};
use axum::Json;

use crate::services::events;
use crate::web::api::model::events::{EventListQuery, EventPage, EventView};
use crate::web::api::{decode_cursor, limit, next_page, problem::Problem, Caller};
use crate::web::AppState;

/// List events, newest first: filter by name or type, application, user, time and outcome.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventListQuery),
    responses((status = 200, description = "A page of events", body = EventPage)))]
pub async fn list_events(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<EventListQuery>,
) -> Result<Json<EventPage>, Problem> {
    let name = q.event_name()?;
    let before = match decode_cursor(q.cursor.as_deref())? {
        Some(key) => Some(
            events::parse_event_key(&key)
                .ok_or_else(|| Problem::bad_request("the cursor is not one this API gave out"))?,
        ),
        None => None,
    };
    let limit = limit(q.limit);
    let filter = q.filter(name, before, limit)?;
    let page = events::page_events(&state.ctx, &filter).await?;
    let (next_cursor, next) = next_page("/api/v1/events", &q.filters(), limit, page.next_after.as_deref());
    let items = page.items.into_iter().map(EventView::of).collect();
    Ok(Json(EventPage { items, next_cursor, next }))
}
