//! `sesame admin …`: administrators of the admin console and API (separate from portal users), and their TOTP.
//! It must not know how passwords or TOTP secrets are hashed or sealed: each command calls one `services::admins`
//! function.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::audit::Actor;
use crate::cli::read_password;
use crate::services::throttle::{self, Realm};
use crate::services::{admins, Ctx};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator (separate from portal users).
    Add {
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Where the administrator gets notices by mail (certificate expiry, SP metadata problems).
        #[arg(long)]
        email: Option<String>,
    },
    /// Set the e-mail address where an administrator gets notices; an empty address ("") removes it.
    SetEmail { username: String, email: String },
    /// Lift the console sign-in backoff that failed passwords put on an administrator, from every client.
    Unlock { username: String },
    /// Two-factor sign-in with an authenticator app.
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Turn TOTP on (or renew its secret) and print the otpauth:// URI once, for the authenticator app.
    Enable { username: String },
}

pub async fn run(ctx: &Ctx, actor: &Actor, command: AdminCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        AdminCommand::Add { username, password_stdin, email } => {
            // A password on the command line would be visible to other users of the machine (ps, shell history).
            if !password_stdin {
                anyhow::bail!("the password is read from standard input: pass --password-stdin");
            }
            if let Some(email) = &email {
                // Checked first, so a bad address creates nothing.
                crate::services::mail::check_address(email.trim())?;
            }
            admins::create_admin(ctx, actor, &username, read_password()?, now).await?;
            if let Some(email) = &email {
                admins::set_email(ctx, actor, &username, email, now).await?;
            }
            println!("created administrator {username}");
        }
        AdminCommand::SetEmail { username, email } => {
            admins::set_email(ctx, actor, &username, &email, now).await?;
            if email.trim().is_empty() {
                println!("administrator {username} gets no notices by mail");
            } else {
                println!("administrator {username} gets notices at {}", email.trim());
            }
        }
        AdminCommand::Unlock { username } => {
            let n = throttle::unlock(ctx, actor, Realm::Admin, &username, now).await?;
            println!("unlocked administrator {username} ({n} client(s) were waiting)");
        }
        AdminCommand::Totp(TotpCommand::Enable { username }) => {
            let uri = admins::enable_totp(ctx, actor, &username, now).await?;
            println!("{uri}");
            eprintln!("add this URI to the authenticator app now (as text or a QR code); it is not shown again");
        }
    }
    Ok(())
}
