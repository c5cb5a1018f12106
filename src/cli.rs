//! The `sesame` command line (a contract: DESIGN.md "Command line"). Each admin command calls one service.
//! Exit status: 0 done, 1 refused or failed (one line on stderr), 2 usage error (clap).

use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::audit::{Actor, EventFilter, EventName};
use crate::directory::user::Profile;
use crate::services::{admin, idm, Ctx};

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
    /// Replace the application's signing certificate.
    RotateCert { app: String },
    /// Identity management (SCIM provisioning) for an application.
    #[command(subcommand)]
    Idm(IdmCommand),
}

#[derive(Debug, Subcommand)]
pub enum IdmCommand {
    /// Verify the SCIM connection, then save it and start provisioning.
    Activate {
        app: String,
        #[arg(long)]
        base_url: String,
        /// Read the SCIM bearer token from standard input (one line).
        #[arg(long)]
        token_stdin: bool,
        /// Also create, rename, delete and fill the groups bound to the application.
        #[arg(long)]
        manage_groups: bool,
        /// Deactivate deleted users instead of deleting them in the SP.
        #[arg(long)]
        soft_delete: bool,
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
        #[arg(long)]
        json: bool,
    },
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
            let user = admin::create_user(ctx, &actor, &a.username, profile, password, now).await?;
            println!("created user {} ({})", user.username, user.profile.email);
        }
        Command::User(UserCommand::Update(u)) => {
            let current = admin::find_user(ctx, &u.username).await?;
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
            admin::update_user(ctx, &actor, &u.username, p, now).await?;
            println!("updated user {}", u.username);
        }
        Command::User(UserCommand::Activate { username }) => {
            admin::activate_user(ctx, &actor, &username, now).await?;
            println!("activated user {username}");
        }
        Command::User(UserCommand::Suspend { username }) => {
            admin::suspend_user(ctx, &actor, &username, now).await?;
            println!("suspended user {username}");
        }
        Command::User(UserCommand::Delete { username }) => {
            admin::delete_user(ctx, &actor, &username, now).await?;
            println!("deleted user {username}");
        }
        Command::Group(GroupCommand::Add { name }) => {
            admin::create_group(ctx, &actor, &name, now).await?;
            println!("created group {name}");
        }
        Command::Group(GroupCommand::AddMember { group, username }) => {
            admin::change_member(ctx, &actor, &group, &username, true, now).await?;
            println!("added {username} to {group}");
        }
        Command::Group(GroupCommand::RemoveMember { group, username }) => {
            admin::change_member(ctx, &actor, &group, &username, false, now).await?;
            println!("removed {username} from {group}");
        }
        Command::Group(GroupCommand::Rename { name, new_name }) => {
            admin::rename_group(ctx, &actor, &name, &new_name, now).await?;
            println!("renamed group {name} to {new_name}");
        }
        Command::Group(GroupCommand::Delete { name }) => {
            admin::delete_group(ctx, &actor, &name, now).await?;
            println!("deleted group {name}");
        }
        Command::App(AppCommand::Idm(IdmCommand::Activate {
            app,
            base_url,
            token_stdin,
            manage_groups,
            soft_delete,
        })) => {
            if !token_stdin {
                anyhow::bail!("the token is read from standard input: pass --token-stdin");
            }
            let token = secrecy::SecretString::from(read_password()?);
            let activation = idm::Activation { base_url, token, manage_groups, soft_delete };
            idm::activate(ctx, &actor, &app, activation, now).await?;
            println!("identity management for {app} is active; provisioning has started");
        }
        Command::App(AppCommand::Idm(IdmCommand::Deactivate { app })) => {
            idm::deactivate(ctx, &actor, &app, now).await?;
            println!("identity management for {app} is deactivated");
        }
        Command::App(AppCommand::Idm(IdmCommand::Import { app, users, all_new, json })) => {
            if users.is_empty() && !all_new {
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
            let (app, created) = admin::import_app(ctx, &actor, &name, &metadata, settings.as_deref(), now).await?;
            let verb = if created { "created" } else { "updated" };
            println!("{verb} application {} for SP {}", app.name, app.sp.entity_id);
            println!("idp_url {}", ctx.sso_url(app.name.as_str()));
        }
        Command::App(AppCommand::Bind { app, group }) => {
            admin::change_binding(ctx, &actor, &app, &group, true, now).await?;
            println!("bound group {group} to {app}");
        }
        Command::App(AppCommand::Unbind { app, group }) => {
            admin::change_binding(ctx, &actor, &app, &group, false, now).await?;
            println!("unbound group {group} from {app}");
        }
        Command::App(AppCommand::Show { app, json }) => {
            let view = admin::show_app(ctx, &app, now).await?;
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                println!("name             {}", view.name);
                println!("label            {}", view.display_label);
                println!("idp_url          {}", view.idp_url);
                println!("entity_id        {}", view.entity_id);
                println!("metadata_url     {}", view.metadata_url);
                println!("certificate_url  {}", view.certificate_url);
                println!(
                    "certificate      {} valid {} to {} ({} days left)",
                    view.cert_fingerprint.get(..16).unwrap_or_default(),
                    view.cert_not_before,
                    view.cert_not_after,
                    view.cert_days_left
                );
                println!("sp_entity_id     {}", view.sp_entity_id);
                println!("acs_urls         {}", view.acs_urls.join(" "));
                println!("signing          {}", view.signing);
                println!("nameid_format    {}", view.nameid_format);
                println!("signed_requests  {}", if view.require_signed_requests { "required" } else { "optional" });
                println!("bound_groups     {}", view.bound_groups.join(", "));
            }
        }
        Command::App(AppCommand::RotateCert { app }) => {
            let cert = admin::rotate_cert(ctx, &actor, &app, now).await?;
            println!(
                "new signing certificate for {app}: {} valid until {}",
                cert.fingerprint,
                cert.not_after.to_rfc3339()
            );
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
            };
            for event in admin::list_events(ctx, &filter).await? {
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
