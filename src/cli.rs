//! The `sesame` command line (a contract: DESIGN.md "Command line"). Each admin command calls one service.
//! Exit status: 0 done, 1 refused or failed (one line on stderr), 2 usage error (clap).

use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::audit::{Actor, EventFilter, EventName};
use crate::directory::attributes::AttributeChange;
use crate::directory::user::Profile;
use crate::directory::AttributeSource;
use crate::services::apps::create::CreateFromConnector;
use crate::services::{admins, catalog, idm, tokens, Ctx};
use crate::services::{apps, events, groups, users};

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
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator (separate from portal users).
    Add {
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Two-factor sign-in with an authenticator app.
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Turn TOTP on (or renew its secret) and print the otpauth:// URI once, for the authenticator app.
    Enable { username: String },
}

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

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the connectors (id, name, placeholders), optionally those matching every word of QUERY.
    List {
        query: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add(Box<UserAdd>),
    /// Change a user's properties (only the options given).
    Update(Box<UserUpdate>),
    /// Suspend a user: sign-in and SSO are refused, and provisioned accounts are deactivated.
    Suspend { username: String },
    /// Lift a suspension.
    Activate { username: String },
    /// Delete a user.
    Delete { username: String },
}

#[derive(Debug, Args)]
pub struct UserAdd {
    pub username: String,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub first_name: Option<String>,
    #[arg(long)]
    pub last_name: Option<String>,
    #[arg(long)]
    pub display_name: Option<String>,
    #[arg(long)]
    pub department: Option<String>,
    #[arg(long)]
    pub job_title: Option<String>,
    #[arg(long)]
    pub employee_type: Option<String>,
    #[arg(long)]
    pub company: Option<String>,
    #[arg(long)]
    pub employee_id: Option<String>,
    /// Read the password from standard input (one line).
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserUpdate {
    pub username: String,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub first_name: Option<String>,
    #[arg(long)]
    pub last_name: Option<String>,
    #[arg(long)]
    pub display_name: Option<String>,
    #[arg(long)]
    pub department: Option<String>,
    #[arg(long)]
    pub job_title: Option<String>,
    #[arg(long)]
    pub employee_type: Option<String>,
    #[arg(long)]
    pub company: Option<String>,
    #[arg(long)]
    pub employee_id: Option<String>,
    #[arg(long)]
    pub locale: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub work_address: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add { name: String },
    /// Add a user to a group.
    AddMember { group: String, username: String },
    /// Remove a user from a group.
    RemoveMember { group: String, username: String },
    /// Rename a group (SPs that manage it follow).
    Rename { name: String, new_name: String },
    /// Delete a group (SPs that manage it delete it too).
    Delete { name: String },
}

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
    /// Identity management (SCIM provisioning) for an application.
    #[command(subcommand)]
    Idm(IdmCommand),
    /// Create an application from a catalog connector (or update one created from it).
    Create(Box<AppCreate>),
    /// Change what an application attribute sends: switch it on or off, or give it a new source.
    Attribute(Box<AppAttribute>),
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

#[derive(Debug, Subcommand)]
pub enum IdmCommand {
    /// Verify the SCIM connection, then save it and start provisioning.
    #[command(group(clap::ArgGroup::new("deletion").args(["soft_delete", "hard_delete"])))]
    Activate {
        app: String,
        /// The SCIM Base URL; without it, the connector's Base URL filled with the application's values and --set.
        #[arg(long)]
        base_url: Option<String>,
        /// A value for a placeholder of the connector's SCIM Base URL, e.g. --set TENANT_ID=1234 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Read the SCIM bearer token from standard input (one line).
        #[arg(long)]
        token_stdin: bool,
        /// Also create, rename, delete and fill the groups bound to the application.
        #[arg(long)]
        manage_groups: bool,
        /// Deactivate deleted users instead of deleting them in the SP (the connector's default otherwise).
        #[arg(long)]
        soft_delete: bool,
        /// Delete deleted users in the SP even where the connector soft-deletes.
        #[arg(long)]
        hard_delete: bool,
    },
    /// Show the SCIM attribute mapping; exclude optional attributes or restore them.
    Mapping {
        app: String,
        /// Stop sending this optional SCIM attribute (its path as listed; repeatable).
        #[arg(long)]
        exclude: Vec<String>,
        /// Send this excluded attribute again (repeatable).
        #[arg(long)]
        restore: Vec<String>,
        /// Restore every excluded attribute (the defaults).
        #[arg(long, conflicts_with = "restore")]
        restore_all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stop provisioning; the SP's accounts are left as they are.
    Deactivate { app: String },
    /// List the SP's users (new or imported); with --user or --all-new, import them into the directory.
    Import {
        app: String,
        /// Import this SP userName (repeatable).
        #[arg(long = "user")]
        users: Vec<String>,
        /// Import every user the directory does not have.
        #[arg(long)]
        all_new: bool,
        /// Run the import in the background (for large imports; `sesame serve` does the work) and print its id.
        #[arg(long)]
        background: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show the application's background imports and their progress.
    Imports {
        app: String,
        #[arg(long)]
        json: bool,
    },
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

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

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

async fn rotate_cert(ctx: &Ctx, actor: &Actor, r: RotateCert, now: DateTime<Utc>) -> anyhow::Result<()> {
    use crate::services::certs::{self, Activation};
    let app = r.app;
    if r.stage {
        let cert = certs::stage(ctx, actor, &app, now).await?;
        println!(
            "staged next signing certificate for {app}: {} valid until {} (published after the current one)",
            cert.fingerprint,
            cert.not_after.to_rfc3339()
        );
    } else if r.activate {
        let at = match r.at.as_deref() {
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| anyhow::anyhow!("--at {s:?} is not an RFC 3339 time: {e}"))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
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

/// Runs an admin command. Errors are printed by `main` as one line.
pub async fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    let now = Utc::now();
    let actor = Actor::Cli;
    match command {
        Command::Serve => anyhow::bail!("serve is started by main, not as an admin command"),
        Command::User(UserCommand::Add(a)) => {
            let password = if a.password_stdin { Some(read_password()?) } else { None };
            let profile = Profile {
                email: a.email,
                first_name: a.first_name.unwrap_or_default(),
                last_name: a.last_name.unwrap_or_default(),
                display_name: a.display_name.unwrap_or_default(),
                department: a.department.unwrap_or_default(),
                job_title: a.job_title.unwrap_or_default(),
                employee_type: a.employee_type.unwrap_or_default(),
                company: a.company.unwrap_or_default(),
                employee_id: a.employee_id.unwrap_or_default(),
                ..Profile::default()
            };
            let user = users::create_user(ctx, &actor, &a.username, profile, password, now).await?;
            println!("created user {} ({})", user.username, user.profile.email);
        }
        Command::User(UserCommand::Update(u)) => {
            let current = users::find_user(ctx, &u.username).await?;
            let mut p = current.profile;
            let set = |field: &mut String, value: Option<String>| {
                if let Some(v) = value {
                    *field = v;
                }
            };
            set(&mut p.email, u.email);
            set(&mut p.first_name, u.first_name);
            set(&mut p.last_name, u.last_name);
            set(&mut p.display_name, u.display_name);
            set(&mut p.department, u.department);
            set(&mut p.job_title, u.job_title);
            set(&mut p.employee_type, u.employee_type);
            set(&mut p.company, u.company);
            set(&mut p.employee_id, u.employee_id);
            set(&mut p.locale, u.locale);
            set(&mut p.phone, u.phone);
            set(&mut p.work_address, u.work_address);
            users::update_user(ctx, &actor, &u.username, p, now).await?;
            println!("updated user {}", u.username);
        }
        Command::User(UserCommand::Activate { username }) => {
            users::activate_user(ctx, &actor, &username, now).await?;
            println!("activated user {username}");
        }
        Command::User(UserCommand::Suspend { username }) => {
            users::suspend_user(ctx, &actor, &username, now).await?;
            println!("suspended user {username}");
        }
        Command::User(UserCommand::Delete { username }) => {
            users::delete_user(ctx, &actor, &username, now).await?;
            println!("deleted user {username}");
        }
        Command::Group(GroupCommand::Add { name }) => {
            groups::create_group(ctx, &actor, &name, now).await?;
            println!("created group {name}");
        }
        Command::Group(GroupCommand::AddMember { group, username }) => {
            groups::change_member(ctx, &actor, &group, &username, true, now).await?;
            println!("added {username} to {group}");
        }
        Command::Group(GroupCommand::RemoveMember { group, username }) => {
            groups::change_member(ctx, &actor, &group, &username, false, now).await?;
            println!("removed {username} from {group}");
        }
        Command::Group(GroupCommand::Rename { name, new_name }) => {
            groups::rename_group(ctx, &actor, &name, &new_name, now).await?;
            println!("renamed group {name} to {new_name}");
        }
        Command::Group(GroupCommand::Delete { name }) => {
            groups::delete_group(ctx, &actor, &name, now).await?;
            println!("deleted group {name}");
        }
        Command::App(AppCommand::Idm(IdmCommand::Activate {
            app,
            base_url,
            set,
            token_stdin,
            manage_groups,
            soft_delete,
            hard_delete,
        })) => {
            if !token_stdin {
                anyhow::bail!("the token is read from standard input: pass --token-stdin");
            }
            let token = secrecy::SecretString::from(read_password()?);
            let soft_delete = match (soft_delete, hard_delete) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let activation = idm::Activation { base_url, values: set, token, manage_groups, soft_delete };
            idm::activate(ctx, &actor, &app, activation, now).await?;
            println!("identity management for {app} is active; provisioning has started");
        }
        Command::App(AppCommand::Idm(IdmCommand::Mapping { app, exclude, restore, restore_all, json })) => {
            if !exclude.is_empty() || !restore.is_empty() || restore_all {
                let restore = (!restore_all).then_some(restore.as_slice());
                idm::change_mapping(ctx, &actor, &app, &exclude, restore, now).await?;
            }
            for row in idm::mapping(ctx, &app).await? {
                if json {
                    println!("{}", serde_json::to_string(&row)?);
                } else {
                    let state = match (row.required, row.excluded) {
                        (true, _) => "required",
                        (false, true) => "excluded",
                        (false, false) => "optional",
                    };
                    println!("{state:<9} {:<64} {}", row.scim, row.source);
                }
            }
        }
        Command::App(AppCommand::Idm(IdmCommand::Imports { app, json })) => {
            for import in idm::imports(ctx, &app).await? {
                if json {
                    println!("{}", serde_json::to_string(&import)?);
                } else {
                    let error =
                        if import.last_error.is_empty() { String::new() } else { format!(" ({})", import.last_error) };
                    println!(
                        "import {:<5} {:<9} {}/{} imported, {} skipped{error}",
                        import.id, import.state, import.imported, import.total, import.skipped
                    );
                }
            }
        }
        Command::App(AppCommand::Idm(IdmCommand::Deactivate { app })) => {
            idm::deactivate(ctx, &actor, &app, now).await?;
            println!("identity management for {app} is deactivated");
        }
        Command::App(AppCommand::Idm(IdmCommand::Import { app, users, all_new, background, json })) => {
            if background && (users.is_empty() == all_new) {
                let selected = (!all_new).then_some(users.as_slice());
                let id = idm::start_import(ctx, &actor, &app, selected, now).await?;
                if json {
                    println!("{}", serde_json::json!({ "import_id": id }));
                } else {
                    println!("import {id} started; `sesame app idm imports {app}` shows its progress");
                }
            } else if background {
                anyhow::bail!("--background needs --all-new or --user (not both)");
            } else if users.is_empty() && !all_new {
                for c in idm::list_import_candidates(ctx, &app).await? {
                    if json {
                        println!("{}", serde_json::to_string(&c)?);
                    } else {
                        println!("{:<9} {:<32} {}", c.status, c.user.user_name, c.user.email);
                    }
                }
            } else {
                let selected = (!all_new).then_some(users.as_slice());
                let (imported, skipped) = idm::import_users(ctx, &actor, &app, selected, now).await?;
                for name in &imported {
                    println!("imported {name}");
                }
                for (name, why) in &skipped {
                    println!("skipped {name}: {why}");
                }
            }
        }
        Command::App(AppCommand::Import { name, metadata, settings }) => {
            let settings = match settings {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read settings file {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let (app, created) =
                apps::create::import_app(ctx, &actor, &name, &metadata, settings.as_deref(), now).await?;
            let verb = if created { "created" } else { "updated" };
            println!("{verb} application {} for SP {}", app.name, app.sp.entity_id);
            println!("idp_url {}", ctx.sso_url(app.name.as_str()));
        }
        Command::App(AppCommand::Bind { app, group }) => {
            apps::change::change_binding(ctx, &actor, &app, &group, true, now).await?;
            println!("bound group {group} to {app}");
        }
        Command::App(AppCommand::Unbind { app, group }) => {
            apps::change::change_binding(ctx, &actor, &app, &group, false, now).await?;
            println!("unbound group {group} from {app}");
        }
        Command::App(AppCommand::Show { app, json }) => {
            let view = apps::view::show_app(ctx, &app, now).await?;
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                println!("name             {}", view.name);
                println!("label            {}", view.display_label);
                println!("idp_url          {}", view.idp_url);
                println!("entity_id        {}", view.entity_id);
                println!("metadata_url     {}", view.metadata_url);
                println!("certificate_url  {}", view.certificate_url);
                for c in &view.certificates {
                    let mut line = format!(
                        "certificate      {} {} valid {} to {} ({} days left)",
                        c.fingerprint.get(..16).unwrap_or_default(),
                        c.state.as_str(),
                        c.not_before,
                        c.not_after,
                        c.expires_in_days
                    );
                    if let Some(at) = &c.activate_at {
                        line.push_str(&format!(", activates at {at}"));
                    }
                    if let Some(warning) = &c.warning {
                        line.push_str(&format!(", WARNING: {warning}"));
                    }
                    println!("{line}");
                }
                println!("sp_entity_id     {}", view.sp_entity_id);
                println!("acs_urls         {}", view.acs_urls.join(" "));
                if !view.slo_urls.is_empty() {
                    println!("slo_urls         {}", view.slo_urls.join(" "));
                }
                println!("signing          {}", view.signing);
                println!("nameid_format    {}", view.nameid_format);
                println!("signed_requests  {}", if view.require_signed_requests { "required" } else { "optional" });
                let encryption = match (view.encrypt_assertions, view.encrypt_name_id) {
                    (false, false) => "off".to_owned(),
                    (true, false) => format!("assertions, {} with rsa-oaep", view.encryption_algorithm),
                    (false, true) => format!("nameid, {} with rsa-oaep", view.encryption_algorithm),
                    (true, true) => format!("assertions and nameid, {} with rsa-oaep", view.encryption_algorithm),
                };
                println!("encryption       {encryption}");
                println!("bound_groups     {}", view.bound_groups.join(", "));
                if let Some(m) = &view.sp_metadata_source {
                    let error =
                        if m.last_error.is_empty() { String::new() } else { format!(", last error: {}", m.last_error) };
                    println!(
                        "sp_metadata      {} (last refreshed {}, next {}{error})",
                        m.url, m.last_success_at, m.next_refresh_at
                    );
                }
                if let Some(connector) = &view.connector {
                    println!("connector        {connector}");
                }
                for a in &view.attributes {
                    let flags = format!("{}{}", if a.enabled { "on" } else { "off" }, if a.jit { ", jit" } else { "" });
                    println!("attribute        {} = {} ({flags})", a.name, a.source);
                }
            }
        }
        Command::App(AppCommand::RotateCert(r)) => rotate_cert(ctx, &actor, *r, now).await?,
        Command::App(AppCommand::RefreshMetadata { app }) => {
            use crate::services::apps::refresh::Outcome;
            let refreshed = apps::refresh::refresh_now(ctx, &actor, &app, now).await?;
            let next = refreshed.next_refresh.to_rfc3339();
            match refreshed.outcome {
                Outcome::Changed(changes) => println!("refreshed {app}: {}; next refresh {next}", changes.join("; ")),
                Outcome::Unchanged => println!("refreshed {app}: no changes; next refresh {next}"),
                Outcome::Failed(reason) => {
                    anyhow::bail!("the metadata of {app} was not refreshed ({reason}); the last good copy stays in use")
                }
            }
        }
        Command::App(AppCommand::Create(a)) => {
            let pem = match &a.sp_cert {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("cannot read SP certificate {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let request = CreateFromConnector {
                name: &a.name,
                connector: &a.connector,
                values: &a.set,
                sp_certificate_pem: pem.as_deref(),
                display_label: None,
            };
            let created = apps::create::apply_connector(ctx, &actor, &request, now).await?;
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
        }
        Command::App(AppCommand::Attribute(a)) => {
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
            let changed = apps::change::change_attribute(ctx, &actor, &a.app, &a.name, &change, now).await?;
            let state = if changed.is_enabled { "on" } else { "off" };
            println!("attribute {} of {}: {state}, {}", changed.name, a.app, apps::change::describe(&changed.source));
        }
        Command::Catalog(CatalogCommand::List { query, json }) => {
            for connector in catalog::search(ctx, query.as_deref().unwrap_or_default()) {
                if json {
                    println!("{}", serde_json::to_string(&catalog::ConnectorView::of(connector))?);
                } else {
                    let names: Vec<&str> = connector.placeholders.iter().map(|p| p.name.as_str()).collect();
                    println!("{:<10} {:<18} {}", connector.id, connector.name, names.join(" "));
                }
            }
        }
        Command::Admin(AdminCommand::Add { username, password_stdin }) => {
            if !password_stdin {
                anyhow::bail!("the password is read from standard input: pass --password-stdin");
            }
            admins::create_admin(ctx, &actor, &username, read_password()?, now).await?;
            println!("created administrator {username}");
        }
        Command::Admin(AdminCommand::Totp(TotpCommand::Enable { username })) => {
            let uri = admins::enable_totp(ctx, &actor, &username, now).await?;
            println!("{uri}");
            eprintln!("add this URI to the authenticator app now (as text or a QR code); it is not shown again");
        }
        Command::ApiToken(ApiTokenCommand::Create { name, read_only }) => {
            let scope = if read_only { tokens::Scope::ReadOnly } else { tokens::Scope::Full };
            let token = tokens::create(ctx, &actor, &name, scope, now).await?;
            println!("{token}");
            eprintln!("{} API token {name} created; it is shown once: store it now", scope.as_str());
        }
        Command::ApiToken(ApiTokenCommand::List { json }) => {
            for t in tokens::list(ctx).await? {
                if json {
                    println!("{}", serde_json::to_string(&t)?);
                } else {
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
            }
        }
        Command::ApiToken(ApiTokenCommand::Revoke { name }) => {
            tokens::revoke(ctx, &actor, &name, now).await?;
            println!("revoked API token {name}");
        }
        Command::Events(args) => {
            let filter = EventFilter {
                name: match &args.name {
                    Some(n) => Some(EventName::parse(n).ok_or_else(|| anyhow::anyhow!("unknown event name {n}"))?),
                    None => None,
                },
                app: args.app,
                username: args.user,
                since: match &args.since {
                    Some(s) => Some(
                        DateTime::parse_from_rfc3339(s)
                            .map_err(|e| anyhow::anyhow!("--since {s}: {e}"))?
                            .with_timezone(&Utc),
                    ),
                    None => None,
                },
                success: None,
                limit: args.limit,
                ..EventFilter::default()
            };
            for event in events::list_events(ctx, &filter).await? {
                if args.json {
                    println!("{}", serde_json::to_string(&event)?);
                } else {
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
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input)?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password)
}
