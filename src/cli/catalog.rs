//! `sesame catalog list`: the connectors compiled into the binary, optionally searched.
//! It must not know how connectors are parsed: it calls `services::catalog::search` and formats the result.

use clap::Subcommand;

use crate::cli::print_json;
use crate::services::{catalog, Ctx};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the connectors (id, name, placeholders), optionally those matching every word of QUERY.
    List {
        query: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, command: CatalogCommand) -> anyhow::Result<()> {
    let CatalogCommand::List { query, json } = command;
    for connector in catalog::search(ctx, query.as_deref().unwrap_or_default()) {
        if json {
            print_json(&catalog::ConnectorView::of(connector))?;
        } else {
            let names: Vec<&str> = connector.placeholders.iter().map(|p| p.name.as_str()).collect();
            println!("{:<10} {:<18} {}", connector.id, connector.name, names.join(" "));
        }
    }
    Ok(())
}
