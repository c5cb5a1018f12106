//! What services ask of an application's SP directly, outside the job queue: checking and probing a SCIM endpoint
//! before an integration is saved, listing the SP's accounts for the import page, and importing accounts into the
//! directory. With `enqueue_*`, this is all that services call in provisioning.
//!
//! It hides the SCIM client, the worker's provisioners and the job modules: callers see plain values (`String`
//! reasons, `RemoteUser`, `ProvisionError`) and the opaque `Connection`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::audit::Actor;
use crate::catalog::Catalog;
use crate::directory::{AppId, Application};
use crate::provisioning::job::{list_all_users, JobError};
use crate::provisioning::worker::Worker;
use crate::provisioning::{import, scim, user_mapping, ProvisionError, Provisioner, RemoteUser};
use crate::store::idm::Integration;
use crate::store::imports::Account;
use crate::store::Conn;

/// Checks a SCIM Base URL against the address policy (`scim_allow_private_targets`) and returns it as it is stored:
/// without a trailing slash. `Err` is a reason an admin can act on.
pub fn check_base_url(base_url: &str, allow_private: bool) -> Result<String, String> {
    let url = scim::check_base_url(base_url, allow_private)?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Probes the SP of an integration that is about to be saved, with the token the admin gave: builds the client the
/// jobs will use (the worker's HTTP client, the application's mapping) and asks the SP for one user, which needs
/// the token on every SP.
pub async fn probe(
    worker: &Worker,
    catalog: &Catalog,
    app: &Application,
    integration: &Integration,
    token: SecretString,
) -> Result<(), ProvisionError> {
    let mapping = user_mapping(catalog, app, integration);
    let sp = scim::ScimProvisioner::new(worker.http(), &integration.base_url, token, mapping);
    sp.verify().await
}

/// An active integration's SP, reached with the provisioner the jobs use (the same address policy and token).
pub struct Connection {
    sp: Arc<dyn Provisioner>,
}

impl Connection {
    /// Fails when the integration cannot be used (a Base URL the policy refuses, a token that cannot be opened).
    pub fn open(worker: &Worker, app: &Application, integration: &Integration) -> Result<Self, JobError> {
        Ok(Self { sp: worker.provisioner(app, integration)? })
    }

    /// Every account the SP holds (all pages), by SP id.
    pub async fn list_users(&self) -> Result<HashMap<String, RemoteUser>, JobError> {
        list_all_users(self.sp.as_ref()).await
    }

    /// How many accounts the SP holds (its listing's `totalResults`), from one request.
    pub async fn count_users(&self) -> Result<usize, JobError> {
        Ok(self.sp.list_users(1, 1).await?.total)
    }

    /// Which SP accounts the directory has: by the value the application's mapping sends as `userName` (the
    /// e-mail for some SPs), or by an account link.
    pub async fn known(&self, conn: &mut Conn, app: AppId) -> Result<import::Known, crate::store::Error> {
        import::Known::load(conn, app, self.sp.as_ref()).await
    }
}

/// Creates a directory user for an SP account, with its event, in the caller's transaction (as a background
/// import does). `Ok(Err(why))` when the account is skipped: the directory has it already (`known`, from
/// `Connection::known`), the SP suspended it, or it lacks what a user needs.
pub async fn import_account(
    conn: &mut Conn,
    account: &RemoteUser,
    known: &import::Known,
    actor: &Actor,
    app_name: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, crate::store::Error> {
    if !account.active {
        return Ok(Err("suspended in the service provider".into()));
    }
    import::import_account(conn, &Account::from(account), known, actor, app_name, now).await
}
