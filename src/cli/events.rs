//! `sesame events`: the audit log, newest first, filtered by application, user, event name and time.
//! It must not know how events are stored: it builds an `EventFilter` and calls one `services::admin` function.

use chrono::{DateTime, Utc};
use clap::Args;

use crate::audit::{Event, EventFilter, EventName};
use crate::cli::print_json;
use crate::services::events;
use crate::services::Ctx;

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<()> {
    let is_json = args.json;
    for event in events::list_events(ctx, &filter(args)?).await? {
        if is_json {
            print_json(&event)?;
        } else {
            print_line(&event);
        }
    }
    Ok(())
}

fn filter(args: EventsArgs) -> anyhow::Result<EventFilter> {
    let name = match &args.name {
        Some(n) => Some(EventName::parse(n).ok_or_else(|| anyhow::anyhow!("unknown event name {n}"))?),
        None => None,
    };
    let since = match &args.since {
        Some(s) => {
            Some(DateTime::parse_from_rfc3339(s).map_err(|e| anyhow::anyhow!("--since {s}: {e}"))?.with_timezone(&Utc))
        }
        None => None,
    };
    Ok(EventFilter {
        name,
        app: args.app,
        username: args.user,
        since,
        success: None,
        limit: args.limit,
        ..EventFilter::default()
    })
}

fn print_line(event: &Event) {
    let outcome = if event.success { "ok" } else { "FAILED" };
    println!(
        "{} {:<26} {:<6} actor={} app={} user={} target={} {}",
        event.at.to_rfc3339(),
        event.name.as_str(),
        outcome,
        event.actor,
        event.app,
        event.username,
        event.target,
        event.detail
    );
}
