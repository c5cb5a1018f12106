//! `sesame secret-key rotate` and `sesame secret-key drop-previous`: rotating the key that seals secrets at rest,
//! in two steps, without downtime (`services::secrets`).

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::audit::Actor;
use crate::services::{secrets, Ctx};

#[derive(Debug, Subcommand)]
pub enum SecretKeyCommand {
    /// Add a new key to the key file (the previous ones stay, for opening) and seal every stored secret again
    /// under it.
    Rotate {
        /// Rotate to the key file's second key (placed on every host beforehand) instead of a new one.
        #[arg(long)]
        staged: bool,
    },
    /// Seal again what is still sealed under a previous key, then remove the previous keys from the key file.
    DropPrevious,
}

pub async fn run(ctx: &Ctx, actor: &Actor, command: SecretKeyCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        SecretKeyCommand::Rotate { staged } => {
            let rotation = secrets::rotate(ctx, actor, staged, now).await?;
            println!(
                "new secret key {}: {} stored secret(s) sealed again",
                rotation.key_id, rotation.resealed.resealed
            );
            for place in &rotation.resealed.unreadable {
                eprintln!("warning: the stored secret in {place} does not open with any key");
            }
            println!("previous keys still open secrets; run `sesame secret-key drop-previous` once every replica has the new key file");
        }
        SecretKeyCommand::DropPrevious => {
            let dropped = secrets::drop_previous(ctx, actor, now).await?;
            if dropped.is_empty() {
                println!("no previous secret key to drop");
            } else {
                println!("dropped previous secret key(s) {}", dropped.join(", "));
            }
        }
    }
    Ok(())
}
