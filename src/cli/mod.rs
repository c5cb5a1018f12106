//! The `sesame` command line (a contract: DESIGN.md "Command line"): the top-level command, its dispatch to one
//! module per noun, and the helpers those modules share.
//! Each admin command calls one service and formats its output (text or `--json`) next to its clap types.
//! Exit status: 0 done, 1 refused or failed (one line on stderr), 2 usage error (clap).
//! It must not know SQL, HTTP or SAML XML: everything it does goes through `services`.

mod admin;
mod app;
pub mod app_view;
mod catalog;
mod events;
mod group;
mod idm;
mod mail;
mod secret_key;
mod token;
mod user;

use std::io::Read;
use std::path::PathBuf;

use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::audit::Actor;
use crate::cli::admin::AdminCommand;
use crate::cli::app::AppCommand;
use crate::cli::catalog::CatalogCommand;
use crate::cli::events::EventsArgs;
use crate::cli::group::GroupCommand;
use crate::cli::mail::MailCommand;
use crate::cli::token::ApiTokenCommand;
use crate::cli::user::UserCommand;
use crate::services::error::ErrorKind;
use crate::services::Ctx;

#[derive(Debug, Parser)]
#[command(name = "sesame", version, about = "A SAML 2.0 identity provider")]
pub struct Cli {
    /// TOML configuration file (also SESAME_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server.
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage applications.
    #[command(subcommand)]
    App(AppCommand),
    /// List events, newest first.
    Events(EventsArgs),
    /// The connector catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Administrators of the admin console and API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// API tokens for /api/v1.
    #[command(subcommand)]
    ApiToken(ApiTokenCommand),
    /// Outbound mail: a test message, the queue.
    #[command(subcommand)]
    Mail(MailCommand),
    /// The key that seals secrets at rest (SCIM tokens, TOTP secrets, private signing keys).
    #[command(subcommand)]
    SecretKey(secret_key::SecretKeyCommand),
}

/// Runs an admin command. Errors are printed by `main` as one line.
pub async fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    let now = Utc::now();
    let actor = Actor::Cli;
    match command {
        Command::Serve => anyhow::bail!("serve is started by main, not as an admin command"),
        Command::User(command) => user::run(ctx, &actor, command, now).await,
        Command::Group(command) => group::run(ctx, &actor, command, now).await,
        Command::App(command) => app::run(ctx, &actor, command, now).await,
        Command::Events(args) => events::run(ctx, args).await,
        Command::Catalog(command) => catalog::run(ctx, command),
        Command::Admin(command) => admin::run(ctx, &actor, command, now).await,
        Command::ApiToken(command) => token::run(ctx, &actor, command, now).await,
        Command::Mail(command) => mail::run(ctx, &actor, command, now).await,
        Command::SecretKey(command) => secret_key::run(ctx, &actor, command, now).await,
    }
}

/// What a failed command prints on its one line of stderr (its exit status is 1 either way, as DESIGN.md fixes it):
/// a refusal says what to change; our own failure says so, so that nobody changes their input in vain.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let more = cause.to_string();
        if !text.contains(&more) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&more);
        }
    }
    let text = text.replace('\n', " ");
    let Some(error) = e.downcast_ref::<crate::services::Error>() else {
        return text;
    };
    match error.kind() {
        ErrorKind::NotFound
        | ErrorKind::Conflict
        | ErrorKind::Invalid
        | ErrorKind::Refused
        | ErrorKind::TooLarge
        | ErrorKind::Expired
        | ErrorKind::Denied
        | ErrorKind::Unauthenticated
        | ErrorKind::Throttled
        | ErrorKind::Upstream => text,
        ErrorKind::Unavailable => format!("database unavailable: {text}"),
        ErrorKind::Internal => format!("internal error: {text}"),
    }
}

/// Reads a secret (a password or a SCIM token) as the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input)?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password)
}

/// Parses a repeatable `--set KEY=VALUE` (a connector placeholder's value).
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// Prints one value as one line of JSON, as every `--json` list does.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
