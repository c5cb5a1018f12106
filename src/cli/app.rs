//! `sesame app …`: applications: import from SP metadata, create from a catalog connector, bind and unbind groups,
//! show, rotate the signing certificate, export its key, refresh SP metadata and decide an ACS change a refresh
//! held, change an attribute; `app idm …` is in `cli::idm`.
//! It must not know SAML XML, certificate files or SQL: each command calls one service and formats its result.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::audit::Actor;
use crate::cli::app_view::AppView;
use crate::cli::idm::{self, IdmCommand};
use crate::cli::{parse_key_value, print_json};
use crate::directory::attributes::AttributeChange;
use crate::directory::AttributeSource;
use crate::services::apps;
use crate::services::apps::create::CreateFromConnector;
use crate::services::apps::refresh::Outcome;
use crate::services::certs::{self, Activation};
use crate::services::Ctx;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create or update an application from SP metadata (a file or an http(s) URL).
    Import {
        name: String,
        #[arg(long, value_name = "FILE_OR_URL")]
        metadata: String,
        #[arg(long, value_name = "FILE.toml")]
        settings: Option<PathBuf>,
    },
    /// Give a group's members access to an application.
    Bind { app: String, group: String },
    /// Take a group's access away.
    Unbind { app: String, group: String },
    /// Show an application's IdP URL, entity ID, metadata URL and certificate.
    Show {
        app: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the application's signing certificate: without a flag, at once (the old one is retired).
    RotateCert(Box<RotateCert>),
    /// Fetch the SP metadata of an application registered from a URL now (housekeeping does it periodically).
    RefreshMetadata { app: String },
    /// Decide an ACS change that a metadata refresh held for approval (`app show` lists it as held_acs).
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Write the private key and certificate of the application's current signing certificate to stdout (PEM),
    /// for a backup.
    ExportKey { app: String },
    /// Identity management (SCIM provisioning) for an application.
    #[command(subcommand)]
    Idm(IdmCommand),
    /// Create an application from a catalog connector (or update one created from it).
    Create(Box<AppCreate>),
    /// Change what an application attribute sends: switch it on or off, or give it a new source.
    Attribute(Box<AppAttribute>),
}

/// `sesame app metadata approve|reject APP`: a refresh that moves the ACS URLs to a new host (scheme, host or
/// port) waits for one of these.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Apply the held ACS URLs (the held document is checked again first).
    Approve { app: String },
    /// Drop the held ACS URLs; the current ones stay.
    Reject { app: String },
}

/// `sesame app rotate-cert APP [--stage | --activate [--at RFC3339] | --retire]`.
#[derive(Debug, Args)]
pub struct RotateCert {
    pub app: String,
    /// Generate the next certificate and publish it in the metadata after the current one.
    #[arg(long, conflicts_with_all = ["activate", "retire"])]
    pub stage: bool,
    /// Make the staged certificate the one that signs (the old one stays published until --retire).
    #[arg(long, conflicts_with = "retire")]
    pub activate: bool,
    /// With --activate: do it at this time (RFC 3339) instead of now; housekeeping applies it.
    #[arg(long, requires = "activate", value_name = "RFC3339")]
    pub at: Option<String>,
    /// Stop publishing the certificate that signed before the last activation.
    #[arg(long)]
    pub retire: bool,
}

#[derive(Debug, Args)]
pub struct AppCreate {
    pub name: String,
    /// The connector id (see `sesame catalog list`).
    #[arg(long)]
    pub connector: String,
    /// A placeholder value, e.g. --set YOUR_SUBDOMAIN=acme (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// The SP's request-signing certificate (PEM), for SPs that sign their AuthnRequests.
    #[arg(long, value_name = "FILE")]
    pub sp_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("switch").args(["on", "off"])))]
#[command(group(clap::ArgGroup::new("source").args(["property", "constant"])))]
pub struct AppAttribute {
    pub app: String,
    /// The attribute's SP-side name.
    pub name: String,
    /// Send the attribute.
    #[arg(long)]
    pub on: bool,
    /// Do not send the attribute (it keeps its source).
    #[arg(long)]
    pub off: bool,
    /// Take the value from this user property.
    #[arg(long)]
    pub property: Option<String>,
    /// Send this constant value.
    #[arg(long)]
    pub constant: Option<String>,
}

pub async fn run(ctx: &Ctx, actor: &Actor, command: AppCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        AppCommand::Import { name, metadata, settings } => import(ctx, actor, &name, &metadata, settings, now).await?,
        AppCommand::Bind { app, group } => {
            apps::change::change_binding(ctx, actor, &app, &group, true, now).await?;
            println!("bound group {group} to {app}");
        }
        AppCommand::Unbind { app, group } => {
            apps::change::change_binding(ctx, actor, &app, &group, false, now).await?;
            println!("unbound group {group} from {app}");
        }
        AppCommand::Show { app, json } => {
            let view = AppView::of(&apps::view::details(ctx, &app).await?, now);
            if json {
                print_json(&view)?;
            } else {
                view.print();
            }
        }
        AppCommand::RotateCert(r) => rotate_cert(ctx, actor, *r, now).await?,
        AppCommand::RefreshMetadata { app } => refresh_metadata(ctx, actor, &app, now).await?,
        AppCommand::Metadata(MetadataCommand::Approve { app }) => {
            let changes = apps::refresh::approve_held(ctx, actor, &app, now).await?;
            println!("approved the held ACS change of {app}: {}", changes.join("; "));
        }
        AppCommand::Metadata(MetadataCommand::Reject { app }) => {
            apps::refresh::reject_held(ctx, actor, &app, now).await?;
            println!("rejected the held ACS change of {app}; its ACS URLs stay");
        }
        AppCommand::ExportKey { app } => {
            let pem = certs::export_key(ctx, actor, &app, now).await?;
            print!("{}", secrecy::ExposeSecret::expose_secret(&pem));
        }
        AppCommand::Idm(command) => idm::run(ctx, actor, command, now).await?,
        AppCommand::Create(a) => create(ctx, actor, &a, now).await?,
        AppCommand::Attribute(a) => attribute(ctx, actor, &a, now).await?,
    }
    Ok(())
}

async fn import(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    metadata: &str,
    settings: Option<PathBuf>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let settings = match settings {
        Some(path) => Some(read_file(&path, "settings file")?),
        None => None,
    };
    let (app, created) = apps::create::import_app(ctx, actor, name, metadata, settings.as_deref(), now).await?;
    let verb = if created { "created" } else { "updated" };
    println!("{verb} application {} for SP {}", app.name, app.sp.entity_id);
    println!("idp_url {}", ctx.sso_url(app.name.as_str()));
    Ok(())
}

/// Reads a file named on the command line; `what` names it in the one-line error.
fn read_file(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))
}

async fn rotate_cert(ctx: &Ctx, actor: &Actor, r: RotateCert, now: DateTime<Utc>) -> anyhow::Result<()> {
    let app = r.app;
    if r.stage {
        let cert = certs::stage(ctx, actor, &app, now).await?;
        println!(
            "staged next signing certificate for {app}: {} valid until {} (published after the current one)",
            cert.fingerprint,
            cert.not_after.to_rfc3339()
        );
    } else if r.activate {
        let at = r.at.as_deref().map(parse_at).transpose()?;
        match certs::activate(ctx, actor, &app, at, now).await? {
            Activation::Activated { fingerprint } => {
                println!("activated signing certificate {fingerprint} for {app}")
            }
            Activation::Scheduled { fingerprint, at } => {
                println!("signing certificate {fingerprint} for {app} will be activated at {}", at.to_rfc3339())
            }
        }
    } else if r.retire {
        let fingerprint = certs::retire(ctx, actor, &app, now).await?;
        println!("retired signing certificate {fingerprint} of {app}");
    } else {
        let cert = certs::rotate(ctx, actor, &app, now).await?;
        println!("new signing certificate for {app}: {} valid until {}", cert.fingerprint, cert.not_after.to_rfc3339());
    }
    Ok(())
}

/// `--at`: when a scheduled activation applies.
fn parse_at(s: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)
        .map_err(|e| anyhow::anyhow!("--at {s:?} is not an RFC 3339 time: {e}"))?
        .with_timezone(&Utc))
}

async fn refresh_metadata(ctx: &Ctx, actor: &Actor, app: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let refreshed = apps::refresh::refresh_now(ctx, actor, app, now).await?;
    let next = refreshed.next_refresh.to_rfc3339();
    match refreshed.outcome {
        Outcome::Changed(changes) => println!("refreshed {app}: {}; next refresh {next}", changes.join("; ")),
        Outcome::Unchanged => println!("refreshed {app}: no changes; next refresh {next}"),
        // A failed refresh is a refusal (exit 1), though nothing was lost: the last good copy stays.
        Outcome::Failed(reason) => {
            anyhow::bail!("the metadata of {app} was not refreshed ({reason}); the last good copy stays in use")
        }
    }
    Ok(())
}

async fn create(ctx: &Ctx, actor: &Actor, a: &AppCreate, now: DateTime<Utc>) -> anyhow::Result<()> {
    let pem = match &a.sp_cert {
        Some(path) => Some(read_file(path, "SP certificate")?),
        None => None,
    };
    let request = CreateFromConnector {
        name: &a.name,
        connector: &a.connector,
        values: &a.set,
        sp_certificate_pem: pem.as_deref(),
        display_label: None,
    };
    let created = apps::create::apply_connector(ctx, actor, &request, now).await?;
    let verb = if created.is_new { "created" } else { "updated" };
    println!(
        "{verb} application {} from connector {} for SP {}",
        created.app.name, a.connector, created.app.sp.entity_id
    );
    println!("idp_url {}", ctx.sso_url(created.app.name.as_str()));
    if created.awaits_sp_certificate {
        println!(
            "note: the SP signs its requests and no certificate is registered: SSO refuses them until you run \
             sesame app create {} --connector {} --sp-cert FILE",
            created.app.name, a.connector
        );
    }
    Ok(())
}

async fn attribute(ctx: &Ctx, actor: &Actor, a: &AppAttribute, now: DateTime<Utc>) -> anyhow::Result<()> {
    let source = match (&a.property, &a.constant) {
        (Some(p), _) => Some(AttributeSource::Property(apps::sp_metadata::property(p)?)),
        (None, Some(c)) => Some(AttributeSource::Constant(c.clone())),
        (None, None) => None,
    };
    let is_enabled = if a.on {
        Some(true)
    } else if a.off {
        Some(false)
    } else {
        None
    };
    let change = AttributeChange { source, is_enabled };
    let changed = apps::change::change_attribute(ctx, actor, &a.app, &a.name, &change, now).await?;
    let state = if changed.is_enabled { "on" } else { "off" };
    println!("attribute {} of {}: {state}, {}", changed.name, a.app, apps::change::describe(&changed.source));
    Ok(())
}
