//! `/admin`: the dashboard, with a chart of sign-ins and failures drawn as SVG on the server (no script).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Timelike, Utc};

use crate::audit::EventFilter;
use crate::services::events::{self, Slot, Span};
use crate::web::console::events::EventRow;
use crate::web::console::{render, Chrome, Console};
use crate::web::error::PageError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(dashboard))
}

#[derive(Debug, serde::Deserialize)]
pub struct DashboardQuery {
    #[serde(default)]
    span: String,
}

/// Chart geometry, in the SVG's own units.
const WIDTH: i64 = 720;
const HEIGHT: i64 = 240;
const LEFT: i64 = 40;
const BOTTOM: i64 = 28;
const TOP: i64 = 12;

/// One bar of the chart.
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub class: &'static str,
    pub title: String,
}

/// A label under the x axis or beside a grid line.
pub struct Tick {
    pub x: i64,
    pub y: i64,
    pub text: String,
}

pub struct Chart {
    pub bars: Vec<Bar>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub total_ok: i64,
    pub total_failed: i64,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    is_fortnight: bool,
    chart: Chart,
    recent: Vec<EventRow>,
}

async fn dashboard(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let span = if q.span == "14d" { Span::Fortnight } else { Span::Day };
    let now = Utc::now();
    let slots = events::activity(&state.ctx, span, now).await?;
    let recent = events::page_events(&state.ctx, &EventFilter { limit: 8, ..EventFilter::default() }).await?;
    render(&DashboardPage {
        chrome: console.chrome("dashboard"),
        is_fortnight: span == Span::Fortnight,
        chart: chart(&slots, span),
        recent: recent.items.into_iter().map(EventRow::of).collect(),
    })
}

/// Lays out one pair of bars per slot: successful sign-ins (portal and SSO) and failures (wrong passwords and
/// denials), on a scale whose top is a round number.
pub fn chart(slots: &[Slot], span: Span) -> Chart {
    let ok = |s: &Slot| s.logins + s.sso_logins;
    let failed = |s: &Slot| s.failures + s.denials;
    let peak = slots.iter().map(|s| ok(s).max(failed(s))).max().unwrap_or(0);
    let top = nice_ceiling(peak);
    let plot_h = HEIGHT - BOTTOM - TOP;
    let n = i64::try_from(slots.len()).unwrap_or(1).max(1);
    let slot_w = (WIDTH - LEFT) / n;
    let bar_w = ((slot_w - 4) / 2).max(1);
    let scale = |v: i64| v * plot_h / top;
    let label = |s: &Slot| match span {
        Span::Day => s.start.format("%H:00").to_string(),
        Span::Fortnight => s.start.format("%b %d").to_string(),
    };
    let mut bars = Vec::new();
    let mut x_ticks = Vec::new();
    for (i, s) in (0_i64..).zip(slots) {
        let x = LEFT + i * slot_w + 2;
        for (j, (value, class, what)) in
            [(ok(s), "bar-ok", "successful sign-ins"), (failed(s), "bar-fail", "failures and denials")]
                .into_iter()
                .enumerate()
        {
            let h = scale(value);
            let offset = if j == 0 { 0 } else { bar_w };
            bars.push(Bar {
                x: x + offset,
                y: TOP + plot_h - h,
                w: bar_w,
                h,
                class,
                title: format!("{}: {value} {what}", label(s)),
            });
        }
        let is_tick = match span {
            Span::Day => s.start.hour() % 3 == 0,
            Span::Fortnight => i % 2 == 0,
        };
        if is_tick {
            x_ticks.push(Tick { x: x + bar_w, y: HEIGHT - 8, text: label(s) });
        }
    }
    let y_ticks = (0..=4)
        .map(|k| Tick { x: LEFT - 6, y: TOP + plot_h - plot_h * k / 4, text: (top * k / 4).to_string() })
        .collect();
    let total_ok: i64 = slots.iter().map(ok).sum();
    let total_failed: i64 = slots.iter().map(failed).sum();
    let period = if span == Span::Day { "the last 24 hours" } else { "the last 14 days" };
    Chart {
        bars,
        x_ticks,
        y_ticks,
        total_ok,
        total_failed,
        summary: format!("{total_ok} successful sign-ins and {total_failed} failures or denials in {period}"),
    }
}

/// The smallest of 4, 8, 20, 40, 80, 200, … at or above `peak`: 4 × (1, 2 or 5) × 10ⁿ, so each quarter of the scale
/// is a whole number.
fn nice_ceiling(peak: i64) -> i64 {
    let mut base = 1_i64;
    while base < i64::MAX / 100 {
        for m in [1, 2, 5] {
            if 4 * m * base >= peak {
                return 4 * m * base;
            }
        }
        base *= 10;
    }
    peak.max(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_a_round_number_at_or_above_the_peak() {
        assert_eq!(nice_ceiling(0), 4);
        assert_eq!(nice_ceiling(4), 4);
        assert_eq!(nice_ceiling(5), 8);
        assert_eq!(nice_ceiling(9), 20);
        assert_eq!(nice_ceiling(41), 80);
    }

    #[test]
    fn bars_stay_inside_the_plot() {
        let now = Utc::now();
        let slots: Vec<Slot> =
            (0..24).map(|i| Slot { start: now, logins: i, sso_logins: i, failures: 24 - i, denials: 1 }).collect();
        let c = chart(&slots, Span::Day);
        assert_eq!(c.bars.len(), 48);
        for b in &c.bars {
            assert!(b.y >= TOP && b.y + b.h <= HEIGHT - BOTTOM && b.x + b.w <= WIDTH, "{}", b.title);
        }
        assert_eq!(c.total_ok, (0..24).map(|i| 2 * i).sum::<i64>());
    }
}
