//! `sesame mail …`: proving the mail settings, and the state of the outbox.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::audit::Actor;
use crate::services::{mail, Ctx};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Queue a test message to ADDRESS; the running server sends it (see `sesame events --name mail_sent`).
    Test { address: String },
    /// How many mails wait to be sent and how many failed for good.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Ctx, actor: &Actor, command: MailCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        MailCommand::Test { address } => {
            mail::send_test(ctx, actor, &address, now).await?;
            println!("queued a test message to {address}; the running server sends it");
        }
        MailCommand::Status { json } => {
            let status = mail::queue_status(ctx).await?;
            if json {
                crate::cli::print_json(&status)?;
            } else {
                println!(
                    "configured: {}\npending: {}\nfailed: {}",
                    if status.configured { "yes" } else { "no (set SESAME_SMTP_URL and SESAME_MAIL_FROM)" },
                    status.pending,
                    status.failed
                );
            }
        }
    }
    Ok(())
}
