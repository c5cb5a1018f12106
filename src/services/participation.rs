//! Which SPs an IdP session signed in to: every successful SSO response records a participation (the session
//! index, the application, the NameID it was sent), and single logout reads them to reach each SP with the NameID
//! it knows.

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use crate::audit::{Actor, Event, EventName};
use crate::directory::{Application, UserId};
use crate::saml::response::NameId;
use crate::services::login::IdpSession;
use crate::services::{millis, Ctx, Error};
use crate::store::{events, slo};

/// The NameID of a participation, stored as JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredNameId {
    pub value: String,
    pub format: String,
    pub name_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
}

impl StoredNameId {
    pub fn into_name_id(self) -> NameId {
        NameId {
            value: self.value,
            format: self.format,
            name_qualifier: self.name_qualifier,
            sp_name_qualifier: self.sp_name_qualifier,
        }
    }
}

/// Records that `session` signed in to `app` with `name_id` (called for every successful response).
pub async fn record_participation(
    ctx: &Ctx,
    session: &IdpSession,
    app: &Application,
    user: UserId,
    name_id: &NameId,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let stored = StoredNameId {
        value: name_id.value.clone(),
        format: name_id.format.clone(),
        name_qualifier: name_id.name_qualifier.clone(),
        sp_name_qualifier: name_id.sp_name_qualifier.clone(),
    };
    let json = serde_json::to_string(&stored)?;
    let lifetime = Duration::seconds(i64::try_from(ctx.config.session_lifetime_secs).unwrap_or(8 * 3600));
    let mut conn = ctx.db.conn().await?;
    slo::upsert_participation(
        &mut conn,
        &session.session_index,
        app.id,
        user,
        &json,
        millis(now),
        millis(now + lifetime),
    )
    .await?;
    Ok(())
}

/// The IdP session to keep after a sign-in in a browser that already held `previous`: the same user keeps the
/// session index, so single logout still reaches the SPs used before this sign-in; for another user (a shared
/// browser), the previous user's participations end and a `user_logout` event is recorded before the new
/// session starts with its own index. (The previous user's SPs are not told front-channel: the browser now
/// belongs to the new user's sign-in.)
pub async fn hand_over(
    ctx: &Ctx,
    previous: Option<&IdpSession>,
    signed_in: IdpSession,
    now: DateTime<Utc>,
) -> Result<IdpSession, Error> {
    let Some(previous) = previous else {
        return Ok(signed_in);
    };
    if previous.user_id == signed_in.user_id {
        return Ok(IdpSession { session_index: previous.session_index.clone(), ..signed_in });
    }
    let mut tx = ctx.db.begin().await?;
    let n_ended = slo::delete_participations(&mut tx, &previous.session_index).await?;
    let detail = format!("signed out when {} signed in on the same browser", signed_in.username);
    let event = Event::new(now, EventName::UserLogout, &Actor::User(signed_in.username.clone()))
        .user(&previous.username)
        .detail(detail);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    info!(user.id = %previous.user_id, "ended {n_ended} participations of the previous user of a browser");
    Ok(signed_in)
}

/// The NameID value of a stored participation (empty when it cannot be read).
pub fn stored_value(json: &str) -> String {
    serde_json::from_str::<StoredNameId>(json).map(|n| n.value).unwrap_or_default()
}
