//! `sesame user …`: create, update, set a password, suspend, activate, unlock and delete directory users.
//! It must not know how users are stored or provisioned: each command calls one `services::admin` function.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::audit::Actor;
use crate::cli::read_password;
use crate::directory::user::Profile;
use crate::services::throttle::{self, Realm};
use crate::services::users;
use crate::services::Ctx;

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
    /// Lift the sign-in backoff that failed passwords put on a username, from every client.
    Unlock { username: String },
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
    #[arg(long)]
    pub locale: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub work_address: Option<String>,
    #[arg(long)]
    /// A language tag (RFC 5646): en, en-GB.
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
    #[arg(long)]
    /// A language tag (RFC 5646): en, en-GB.
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
        UserCommand::Unlock { username } => {
            let n = throttle::unlock(ctx, actor, Realm::User, &username, now).await?;
            println!("unlocked user {username} ({n} client(s) were waiting)");
        }
    }
    Ok(())
}

async fn add(ctx: &Ctx, actor: &Actor, a: UserAdd, now: DateTime<Utc>) -> anyhow::Result<()> {
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
        locale: a.locale.unwrap_or_default(),
        phone: a.phone.unwrap_or_default(),
        work_address: a.work_address.unwrap_or_default(),
        preferred_language: a.preferred_language.unwrap_or_default(),
        work_street: a.work_street.unwrap_or_default(),
        work_locality: a.work_locality.unwrap_or_default(),
        work_region: a.work_region.unwrap_or_default(),
        work_postal_code: a.work_postal_code.unwrap_or_default(),
        work_country: a.work_country.unwrap_or_default(),
    };
    let user = users::create_user(ctx, actor, &a.username, profile, password, now).await?;
    println!("created user {} ({})", user.username, user.profile.email);
    Ok(())
}

/// Changes only the properties given on the command line; the others keep their stored values.
async fn update(ctx: &Ctx, actor: &Actor, u: UserUpdate, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut p = users::find_user(ctx, &u.username).await?.profile;
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
    set(&mut p.preferred_language, u.preferred_language);
    set(&mut p.work_street, u.work_street);
    set(&mut p.work_locality, u.work_locality);
    set(&mut p.work_region, u.work_region);
    set(&mut p.work_postal_code, u.work_postal_code);
    set(&mut p.work_country, u.work_country);
    users::update_user(ctx, actor, &u.username, p, now).await?;
    println!("updated user {}", u.username);
    Ok(())
}
