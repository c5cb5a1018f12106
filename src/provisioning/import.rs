//! Importing an SP's accounts into the directory (the seeds' "Importing Users"): inline for a few, or in the
//! background for many, as a job that lists the SP once and then imports in batches, recording progress after each
//! batch in the same transaction as the users it created, so a restart resumes where it stopped.
//!
//! An SP account is the directory's already when a directory user's account name (the value the application's
//! mapping sends as `userName`: the e-mail for OneTrust and Hoxhunt) is the account's `userName`, compared without
//! case (RFC 7643 §4.1.1), or when the account is linked to a user; accounts suspended in the SP (`active` false) are
//! not imported.
//!
//! It knows the store and the `Provisioner` interface, not the worker that schedules its steps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::user::{check_user, Profile};
use crate::provisioning::job::{list_all_users, JobError};
use crate::provisioning::{Provisioner, RemoteUser};
use crate::store::imports::{self, Account};
use crate::store::{events, idm, users, Conn, Db};

/// Accounts imported per step of a background import.
pub const BATCH: usize = 200;

/// The accounts the directory has in an application's SP, by the SP's `userName` lower-cased: each directory user's
/// account name under the application's mapping, and each linked account's, with the directory username.
pub struct Known {
    names: HashMap<String, String>,
    linked: HashMap<String, String>,
}

impl Known {
    /// Reads every directory user and the application's account links.
    pub async fn load(
        conn: &mut Conn,
        app: crate::directory::AppId,
        sp: &dyn Provisioner,
    ) -> Result<Self, crate::store::Error> {
        let all = users::list_users(conn).await?;
        let names = all.iter().map(|u| (sp.account_name(u).to_lowercase(), u.username.clone())).collect();
        let usernames: HashMap<_, _> = all.into_iter().map(|u| (u.id, u.username)).collect();
        let linked = idm::list_user_links(conn, app)
            .await?
            .into_iter()
            .filter_map(|(user, link)| usernames.get(&user).map(|name| (link.remote_id, name.clone())))
            .collect();
        Ok(Self { names, linked })
    }

    /// The directory user that has this SP account, if any.
    pub fn holder(&self, user_name: &str, remote_id: &str) -> Option<&str> {
        self.linked.get(remote_id).or_else(|| self.names.get(&user_name.to_lowercase())).map(String::as_str)
    }
}

impl From<&RemoteUser> for Account {
    fn from(u: &RemoteUser) -> Self {
        Self {
            user_name: u.user_name.clone(),
            id: u.id.clone(),
            email: u.email.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            display_name: u.display_name.clone(),
            preferred_language: u.preferred_language.clone(),
            work_street: u.work_street.clone(),
            work_locality: u.work_locality.clone(),
            work_region: u.work_region.clone(),
            work_postal_code: u.work_postal_code.clone(),
            work_country: u.work_country.clone(),
        }
    }
}

/// Creates a directory user for an SP account, with its event, in the caller's transaction. `Ok(Err(why))` when
/// the account is skipped: the directory has it already (`known`, or the name), or the account lacks what a user
/// needs.
pub async fn import_account(
    conn: &mut Conn,
    account: &Account,
    known: &Known,
    actor: &Actor,
    app_name: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, crate::store::Error> {
    if let Some(holder) = known.holder(&account.user_name, &account.id) {
        return Ok(Err(format!("already in the directory as user {holder}")));
    }
    if users::find_user_by_username(conn, &account.user_name).await?.is_some() {
        return Ok(Err("already in the directory".into()));
    }
    let profile = Profile {
        email: account.email.clone(),
        first_name: account.given_name.clone(),
        last_name: account.family_name.clone(),
        display_name: account.display_name.clone(),
        preferred_language: account.preferred_language.clone(),
        work_street: account.work_street.clone(),
        work_locality: account.work_locality.clone(),
        work_region: account.work_region.clone(),
        work_postal_code: account.work_postal_code.clone(),
        work_country: account.work_country.clone(),
        ..Profile::default()
    };
    if let Err(e) = check_user(&account.user_name, &profile) {
        return Ok(Err(e.to_string()));
    }
    if let Some(holder) = users::find_username_by_email(conn, &profile.email).await? {
        return Ok(Err(format!("e-mail address {} is already used by user {holder}", profile.email)));
    }
    users::insert_user(conn, &account.user_name, &profile, None, now.timestamp_millis()).await?;
    let event =
        Event::new(now, EventName::UserImport, actor).app(app_name).user(&account.user_name).target(&account.id);
    events::insert_event(conn, &event).await?;
    Ok(Ok(()))
}

/// One step of background import `id`: the first lists the SP's accounts (every page) and keeps those asked for;
/// each later one imports the next `BATCH`. Returns whether another step is needed.
pub async fn step(db: &Db, app_name: &str, sp: &dyn Provisioner, id: i64) -> Result<bool, JobError> {
    let mut conn = db.conn().await?;
    let Some(mut import) = imports::find_import(&mut conn, id).await? else { return Ok(false) };
    drop(conn);
    let now = Utc::now();
    match import.state.as_str() {
        "listing" => {
            let listed = match list_all_users(sp).await {
                Ok(listed) => listed,
                Err(e) => {
                    // Shown in the progress while the job waits to try again.
                    import.last_error = e.to_string();
                    let mut conn = db.conn().await?;
                    imports::save_progress(&mut conn, &import, now.timestamp_millis()).await?;
                    return Err(e);
                }
            };
            let selected: Vec<_> = listed
                .values()
                .filter(|u| import.selected.as_ref().is_none_or(|names| names.contains(&u.user_name)))
                .collect();
            // Accounts suspended in the SP are not imported: counted, and skipped at once.
            let (active, suspended): (Vec<_>, Vec<_>) = selected.into_iter().partition(|u| u.active);
            let mut accounts: Vec<Account> = active.into_iter().map(Account::from).collect();
            accounts.sort_by(|a, b| a.user_name.cmp(&b.user_name));
            import.total = i64::try_from(accounts.len() + suspended.len()).unwrap_or(i64::MAX);
            import.skipped = i64::try_from(suspended.len()).unwrap_or(i64::MAX);
            import.remaining = accounts;
            import.state = "importing".into();
            import.last_error.clear();
            let mut conn = db.conn().await?;
            imports::save_progress(&mut conn, &import, now.timestamp_millis()).await?;
            Ok(true)
        }
        "importing" => {
            let actor = Actor::from_label(&import.actor);
            let rest = import.remaining.split_off(import.remaining.len().min(BATCH));
            let batch = std::mem::replace(&mut import.remaining, rest);
            let mut tx = db.begin().await?;
            let known = Known::load(&mut tx, import.app, sp).await?;
            for account in &batch {
                match import_account(&mut tx, account, &known, &actor, app_name, now).await? {
                    Ok(()) => import.imported += 1,
                    Err(_) => import.skipped += 1,
                }
            }
            let more = !import.remaining.is_empty();
            if !more {
                import.state = "done".into();
            }
            imports::save_progress(&mut tx, &import, now.timestamp_millis()).await?;
            tx.commit().await.map_err(crate::store::Error::from)?;
            Ok(more)
        }
        _ => Ok(false),
    }
}
