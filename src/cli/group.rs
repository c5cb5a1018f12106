//! `sesame group …`: create, rename and delete groups, and change their members.
//! It must not know how groups are stored or provisioned: each command calls one `services::admin` function.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::audit::Actor;
use crate::services::groups;
use crate::services::Ctx;

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

pub async fn run(ctx: &Ctx, actor: &Actor, command: GroupCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        GroupCommand::Add { name } => {
            groups::create_group(ctx, actor, &name, now).await?;
            println!("created group {name}");
        }
        GroupCommand::AddMember { group, username } => {
            groups::change_member(ctx, actor, &group, &username, true, now).await?;
            println!("added {username} to {group}");
        }
        GroupCommand::RemoveMember { group, username } => {
            groups::change_member(ctx, actor, &group, &username, false, now).await?;
            println!("removed {username} from {group}");
        }
        GroupCommand::Rename { name, new_name } => {
            groups::rename_group(ctx, actor, &name, &new_name, now).await?;
            println!("renamed group {name} to {new_name}");
        }
        GroupCommand::Delete { name } => {
            groups::delete_group(ctx, actor, &name, now).await?;
            println!("deleted group {name}");
        }
    }
    Ok(())
}
