//! `sesame app idm …`: identity management (SCIM provisioning) for one application: activate, deactivate, the
//! attribute mapping, and imports of the SP's users into the directory.
//! It must not know SCIM or the provisioning queue: each command calls one `services::idm` function.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::audit::Actor;
use crate::cli::{parse_key_value, print_json, read_password};
use crate::services::idm::{self, MappingRow};
use crate::services::Ctx;

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
        #[arg(long, value_name = "SECS")]
        reconcile_interval_secs: Option<u64>,
    },
    /// How often the integration is reconciled: `--interval-secs`, or `--default` (the connector's, else the
    /// configured one).
    Schedule {
        app: String,
        #[arg(long, value_name = "SECS", required_unless_present = "default")]
        interval_secs: Option<u64>,
        #[arg(long, conflicts_with = "interval_secs")]
        default: bool,
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

pub async fn run(ctx: &Ctx, actor: &Actor, command: IdmCommand, now: DateTime<Utc>) -> anyhow::Result<()> {
    match command {
        IdmCommand::Activate {
            app,
            base_url,
            set,
            token_stdin,
            manage_groups,
            soft_delete,
            hard_delete,
            reconcile_interval_secs,
        } => {
            // A token on the command line would be visible to other users of the machine (ps, shell history).
            if !token_stdin {
                anyhow::bail!("the token is read from standard input: pass --token-stdin");
            }
            let token = secrecy::SecretString::from(read_password()?);
            let soft_delete = soft_delete_choice(soft_delete, hard_delete);
            let activation =
                idm::Activation { base_url, values: set, token, manage_groups, soft_delete, reconcile_interval_secs };
            idm::activate(ctx, actor, &app, activation, now).await?;
            println!("identity management for {app} is active; provisioning has started");
        }
        IdmCommand::Mapping { app, exclude, restore, restore_all, json } => {
            if !exclude.is_empty() || !restore.is_empty() || restore_all {
                let restore = (!restore_all).then_some(restore.as_slice());
                idm::change_mapping(ctx, actor, &app, &exclude, restore, now).await?;
            }
            print_mapping(&idm::mapping(ctx, &app).await?, json)?;
        }
        IdmCommand::Imports { app, json } => print_imports(ctx, &app, json).await?,
        IdmCommand::Schedule { app, interval_secs, default: _ } => {
            let secs = idm::change_schedule(ctx, actor, &app, interval_secs, now).await?;
            println!("{app} is reconciled every {}", idm::minutes(secs));
        }
        IdmCommand::Deactivate { app } => {
            idm::deactivate(ctx, actor, &app, now).await?;
            println!("identity management for {app} is deactivated");
        }
        IdmCommand::Import { app, users, all_new, background, json } => {
            let import = ImportArgs { app, users, all_new, json };
            if background {
                import.start_background(ctx, actor, now).await?;
            } else if import.users.is_empty() && !import.all_new {
                import.list_candidates(ctx).await?;
            } else {
                import.import_here(ctx, actor, now).await?;
            }
        }
    }
    Ok(())
}

/// `--soft-delete` or `--hard-delete` (clap allows one at most); neither leaves the choice to the connector.
fn soft_delete_choice(soft_delete: bool, hard_delete: bool) -> Option<bool> {
    match (soft_delete, hard_delete) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn print_mapping(rows: &[MappingRow], json: bool) -> anyhow::Result<()> {
    for row in rows {
        if json {
            print_json(row)?;
        } else {
            let state = match (row.required, row.excluded) {
                (true, _) => "required",
                (false, true) => "excluded",
                (false, false) => "optional",
            };
            println!("{state:<9} {:<64} {}", row.scim, row.source);
        }
    }
    Ok(())
}

async fn print_imports(ctx: &Ctx, app: &str, json: bool) -> anyhow::Result<()> {
    for import in idm::imports(ctx, app).await? {
        if json {
            print_json(&import)?;
        } else {
            let error = if import.last_error.is_empty() { String::new() } else { format!(" ({})", import.last_error) };
            println!(
                "import {:<5} {:<9} {}/{} imported, {} skipped{error}",
                import.id, import.state, import.imported, import.total, import.skipped
            );
        }
    }
    Ok(())
}

/// `sesame app idm import`: which SP users were asked for, and how to print the outcome.
struct ImportArgs {
    app: String,
    users: Vec<String>,
    all_new: bool,
    json: bool,
}

impl ImportArgs {
    /// The selection: the named users, or `None` for every one the directory lacks (`--all-new`).
    fn selected(&self) -> Option<&[String]> {
        (!self.all_new).then_some(self.users.as_slice())
    }

    /// `--background`: the workers of `sesame serve` run the import; we print its id.
    async fn start_background(&self, ctx: &Ctx, actor: &Actor, now: DateTime<Utc>) -> anyhow::Result<()> {
        // A background import needs exactly one selection: listing candidates is never a background job.
        if self.users.is_empty() != self.all_new {
            anyhow::bail!("--background needs --all-new or --user (not both)");
        }
        let id = idm::start_import(ctx, actor, &self.app, self.selected(), now).await?;
        self.print_started(id)
    }

    fn print_started(&self, id: i64) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::json!({ "import_id": id }));
        } else {
            println!("import {id} started in the background; `sesame app idm imports {}` shows its progress", self.app);
        }
        Ok(())
    }

    /// Without a selection: the SP's users, new or imported, and nothing changes.
    async fn list_candidates(&self, ctx: &Ctx) -> anyhow::Result<()> {
        for c in idm::list_import_candidates(ctx, &self.app).await? {
            if self.json {
                print_json(&c)?;
            } else {
                println!("{:<9} {:<32} {}", c.status, c.user.user_name, c.user.email);
            }
        }
        Ok(())
    }

    /// With a selection and no `--background`: the import runs here, at once, unless it has more than
    /// `idm::INLINE_IMPORT_LIMIT` accounts; then it runs in the background by itself.
    async fn import_here(&self, ctx: &Ctx, actor: &Actor, now: DateTime<Utc>) -> anyhow::Result<()> {
        let (imported, skipped) = match idm::import_users(ctx, actor, &self.app, self.selected(), now).await? {
            idm::ImportOutcome::Done { imported, skipped } => (imported, skipped),
            idm::ImportOutcome::Background(id) => return self.print_started(id),
        };
        for name in &imported {
            println!("imported {name}");
        }
        for (name, why) in &skipped {
            println!("skipped {name}: {why}");
        }
        Ok(())
    }
}
