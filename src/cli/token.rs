//! `sesame api-token …`: bearer tokens for the REST API under /api/v1 (create, list, revoke).
//! It must not know how tokens are hashed or stored: each command calls one `services::api_tokens` function.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::audit::Actor;
use crate::cli::print_json;
use crate::services::tokens::{self, Scope, TokenInfo};
use crate::services::Ctx;

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token and print it once on standard output.
    Create {
        name: String,
        /// The token may read (GET and HEAD) but change nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: requests with it are refused from now on.
    Revoke { name: String },
}

pub async fn run(ctx: &Ctx, actor: &Actor, command: ApiTokenCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        ApiTokenCommand::Create { name, read_only } => {
            let scope = if read_only { Scope::ReadOnly } else { Scope::Full };
            let token = tokens::create(ctx, actor, &name, scope, now).await?;
            // The token alone goes to standard output, so a script can capture it; the notice goes to stderr.
            println!("{token}");
            eprintln!("{} API token {name} created; it is shown once: store it now", scope.as_str());
        }
        ApiTokenCommand::List { json } => {
            for t in tokens::list(ctx).await? {
                if json {
                    print_json(&t)?;
                } else {
                    print_line(&t);
                }
            }
        }
        ApiTokenCommand::Revoke { name } => {
            tokens::revoke(ctx, actor, &name, now).await?;
            println!("revoked API token {name}");
        }
    }
    Ok(())
}

fn print_line(t: &TokenInfo) {
    let state = match t.revoked_at {
        Some(at) => format!("revoked {}", at.to_rfc3339()),
        None => "active".to_owned(),
    };
    let used = t.last_used_at.map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
    println!(
        "{:<24} {:<9} {:<30} created {} by {}, last used {used}",
        t.name,
        t.scope.as_str(),
        state,
        t.created_at.to_rfc3339(),
        t.created_by
    );
}
