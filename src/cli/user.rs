//! `sesame user …`: create, update, set a password, suspend, activate, unlock and delete directory users, and
//! list or reset their second factors (`sesame user mfa list|reset`).
//! It must not know how users are stored or provisioned: each command calls one `services::admin` function.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::audit::Actor;
use crate::cli::{print_json, read_password};
use crate::directory::user::Profile;
use crate::services::throttle::{self, Realm};
use crate::services::user_import::{self, Action, ImportReport};
use crate::services::Ctx;
use crate::services::{links, mfa, users};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add(Box<UserAdd>),
    /// Change a user's properties (only the options given).
    Update(Box<UserUpdate>),
    /// Set (or replace) a user's password, read from standard input (one line); the user's IdP sessions end.
    SetPassword {
        username: String,
        /// Read the password from standard input (one line); the only way the password is given.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Suspend a user: sign-in and SSO are refused, and provisioned accounts are deactivated.
    Suspend { username: String },
    /// Lift a suspension.
    Activate { username: String },
    /// Delete a user.
    Delete { username: String },
    /// Mail a user without a password a single-use link to choose one (replacing an earlier unused link).
    Invite { username: String },
    /// Lift the sign-in backoff that failed passwords put on a username, from every client.
    Unlock { username: String },
    /// Create and update users from a CSV file (a header naming the columns: username, email, first_name, ...,
    /// groups separated by ";"); all rows or none.
    Import {
        file: std::path::PathBuf,
        /// Check the file and list what each row would do, changing nothing.
        #[arg(long)]
        dry_run: bool,
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
        /// After the import, mail every created user an invitation to choose a password.
        #[arg(long, conflicts_with = "dry_run")]
        invite: bool,
    },
    /// Write every user, with their groups, in the format `user import` reads.
    Export {
        /// CSV (the default).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// One JSON object per user.
        #[arg(long)]
        json: bool,
    },
    /// A user's second factors: `list` them (never secrets), or `reset` them (the user enrols again).
    #[command(subcommand)]
    Mfa(MfaCommand),
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// The user's second factors: kind, name, created, last used.
    List {
        username: String,
        /// One JSON object per factor, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove every factor and recovery code of the user and end their sessions; the user enrols again at the
    /// next sign-in.
    Reset { username: String },
}

#[derive(Debug, Args)]
pub struct UserAdd {
    pub username: String,
    #[arg(long)]
    pub email: String,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Read the password from standard input (one line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Mail the new user a single-use link to choose a password (instead of setting one).
    #[arg(long, conflicts_with = "password_stdin")]
    pub invite: bool,
}

#[derive(Debug, Args)]
pub struct UserUpdate {
    pub username: String,
    #[arg(long)]
    pub email: Option<String>,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// The profile properties `user add` and `user update` take besides the e-mail address.
#[derive(Debug, Args)]
pub struct ProfileArgs {
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
    /// A language tag (RFC 5646): en, en-GB.
    #[arg(long)]
    pub preferred_language: Option<String>,
    #[arg(long)]
    pub work_street: Option<String>,
    #[arg(long)]
    pub work_locality: Option<String>,
    #[arg(long)]
    pub work_region: Option<String>,
    #[arg(long)]
    pub work_postal_code: Option<String>,
    #[arg(long)]
    pub work_country: Option<String>,
}

impl ProfileArgs {
    /// Sets the properties given on the command line; the others keep their values.
    fn apply(self, profile: &mut Profile) {
        let set = |field: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut profile.first_name, self.first_name);
        set(&mut profile.last_name, self.last_name);
        set(&mut profile.display_name, self.display_name);
        set(&mut profile.department, self.department);
        set(&mut profile.job_title, self.job_title);
        set(&mut profile.employee_type, self.employee_type);
        set(&mut profile.company, self.company);
        set(&mut profile.employee_id, self.employee_id);
        set(&mut profile.locale, self.locale);
        set(&mut profile.phone, self.phone);
        set(&mut profile.work_address, self.work_address);
        set(&mut profile.preferred_language, self.preferred_language);
        set(&mut profile.work_street, self.work_street);
        set(&mut profile.work_locality, self.work_locality);
        set(&mut profile.work_region, self.work_region);
        set(&mut profile.work_postal_code, self.work_postal_code);
        set(&mut profile.work_country, self.work_country);
    }
}

pub async fn run(ctx: &Ctx, actor: &Actor, command: UserCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(a) => add(ctx, actor, *a, now).await?,
        UserCommand::Update(u) => update(ctx, actor, *u, now).await?,
        UserCommand::SetPassword { username, password_stdin: _ } => {
            let password = read_password()?;
            users::set_password(ctx, actor, &username, password, now).await?;
            println!("set the password of user {username}");
        }
        UserCommand::Activate { username } => {
            users::activate_user(ctx, actor, &username, now).await?;
            println!("activated user {username}");
        }
        UserCommand::Suspend { username } => {
            users::suspend_user(ctx, actor, &username, now).await?;
            println!("suspended user {username}");
        }
        UserCommand::Delete { username } => {
            users::delete_user(ctx, actor, &username, now).await?;
            println!("deleted user {username}");
        }
        UserCommand::Invite { username } => {
            let expires = links::invite(ctx, actor, &username, now).await?;
            println!("invited user {username}: the link is valid until {}", expires.to_rfc3339());
        }
        UserCommand::Unlock { username } => {
            let n = throttle::unlock(ctx, actor, Realm::User, &username, now).await?;
            println!("unlocked user {username} ({n} client(s) were waiting)");
        }
        UserCommand::Import { file, dry_run, json, invite } => {
            if invite {
                links::require_mail(ctx)?;
            }
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let report = user_import::import_csv(ctx, actor, &bytes, dry_run, now).await?;
            if json {
                crate::cli::print_json(&report)?;
            } else {
                print_import(&report, dry_run);
            }
            if dry_run && report.refused > 0 {
                anyhow::bail!("{} row(s) would be refused; nothing was changed", report.refused);
            }
            if invite && report.applied {
                invite_created(ctx, actor, &report, now).await?;
            }
        }
        UserCommand::Export { csv: _, json } => {
            if json {
                for (user, groups) in user_import::export_rows(ctx).await? {
                    crate::cli::print_json(&serde_json::json!({
                        "username": user.username,
                        "status": user.status,
                        "profile": user.profile,
                        "groups": groups,
                    }))?;
                }
            } else {
                print!("{}", user_import::export_csv(ctx).await?);
            }
        }
        UserCommand::Mfa(MfaCommand::List { username, json }) => {
            let factors = mfa::list_factors(ctx, &username).await?;
            let time = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339();
            for f in factors {
                let last_used = f.last_used_at_ms.map(time);
                if json {
                    print_json(&serde_json::json!({
                        "kind": f.kind,
                        "name": f.name,
                        "created_at": time(f.created_at_ms),
                        "last_used_at": last_used,
                    }))?;
                } else {
                    let last_used = last_used.unwrap_or_else(|| "never".to_owned());
                    println!("{:<15} {:<40} created {}  last used {last_used}", f.kind, f.name, time(f.created_at_ms));
                }
            }
        }
        UserCommand::Mfa(MfaCommand::Reset { username }) => {
            mfa::reset(ctx, actor, &username, now).await?;
            println!("reset the second factors of {username}: enrolment at the next sign-in");
        }
    }
    Ok(())
}

async fn add(ctx: &Ctx, actor: &Actor, a: UserAdd, now: DateTime<Utc>) -> anyhow::Result<()> {
    let password = if a.password_stdin { Some(read_password()?) } else { None };
    let mut profile = Profile { email: a.email, ..Profile::default() };
    a.profile.apply(&mut profile);
    if a.invite {
        links::require_mail(ctx)?;
    }
    let user = users::create_user(ctx, actor, &a.username, profile, password, now).await?;
    println!("created user {} ({})", user.username, user.profile.email);
    if a.invite {
        let expires = links::invite(ctx, actor, &user.username, now).await?;
        println!("invited user {}: the link is valid until {}", user.username, expires.to_rfc3339());
    }
    Ok(())
}

/// Invites every user the import created, each on its own; fails at the end when any could not be invited.
async fn invite_created(ctx: &Ctx, actor: &Actor, report: &ImportReport, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut failed = 0;
    for row in report.rows.iter().filter(|r| r.action == Action::Create) {
        match links::invite(ctx, actor, &row.username, now).await {
            Ok(_) => println!("invited user {}", row.username),
            Err(e) => {
                failed += 1;
                eprintln!("user {} was not invited: {e}", row.username);
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} created user(s) could not be invited; invite them with sesame user invite");
    }
    Ok(())
}

/// Changes only the properties given on the command line; the others keep their stored values.
async fn update(ctx: &Ctx, actor: &Actor, u: UserUpdate, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut p = users::find_user(ctx, &u.username).await?.profile;
    if let Some(email) = u.email {
        p.email = email;
    }
    u.profile.apply(&mut p);
    users::update_user(ctx, actor, &u.username, p, now).await?;
    println!("updated user {}", u.username);
    Ok(())
}

fn print_import(report: &ImportReport, dry_run: bool) {
    if dry_run {
        for row in &report.rows {
            let what = match &row.action {
                Action::Create => "create".to_owned(),
                Action::Update => "update".to_owned(),
                Action::Unchanged => "unchanged".to_owned(),
                Action::Refuse(reason) => format!("refused: {reason}"),
            };
            println!("line {} {}: {what}", row.line, row.username);
        }
    }
    let verb = if report.applied { "" } else { "would be " };
    println!(
        "{} {verb}created, {} {verb}updated, {} unchanged, {} refused{}",
        report.created,
        report.updated,
        report.unchanged,
        report.refused,
        if report.new_groups.is_empty() {
            String::new()
        } else {
            format!("; new groups: {}", report.new_groups.join(", "))
        }
    );
}
