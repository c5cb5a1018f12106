//! API tokens for `/api/v1`: 256 random bits behind a recognisable `sesame_` prefix (so secret scanners can find
//! leaked ones), shown once at creation. Only the SHA-256 is stored; a presented token is hashed and looked up,
//! so no comparison ever runs on the token itself. A token's scope is fixed at creation: full, or read-only (it may
//! read but change nothing; `web::api` refuses its other methods).

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::check_name;
use crate::services::error::named;
use crate::services::{millis, Ctx, Error};
use crate::store::{api_tokens, events};

pub const PREFIX: &str = "sesame_";

/// What a token may do (its scope, in RFC 6750's words).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every operation of the API.
    #[default]
    Full,
    /// Reads only: nothing it sends may change anything.
    ReadOnly,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::ReadOnly => "read-only",
        }
    }

    pub fn allows_changes(self) -> bool {
        self == Self::Full
    }

    /// The stored value; anything unknown reads as the narrower scope.
    fn parse(value: &str) -> Self {
        if value == "full" {
            Self::Full
        } else {
            Self::ReadOnly
        }
    }
}

/// The client a presented token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub name: String,
    pub scope: Scope,
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates token `name` with `scope` and returns it: the only time it is seen.
pub async fn create(ctx: &Ctx, actor: &Actor, name: &str, scope: Scope, now: DateTime<Utc>) -> Result<String, Error> {
    check_name("token name", name)?;
    let bytes: [u8; 32] = rand::random();
    let token = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let mut tx = ctx.db.begin().await?;
    api_tokens::insert_token(&mut tx, name, &hash(&token), scope.as_str(), &actor.label(), millis(now))
        .await
        .map_err(named("API token", name))?;
    let event =
        Event::new(now, EventName::AdminApiTokenCreate, actor).target(name).detail(format!("scope {}", scope.as_str()));
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(token)
}

pub async fn list(ctx: &Ctx) -> Result<Vec<TokenInfo>, Error> {
    let rows = api_tokens::list_tokens(&mut *ctx.db.conn().await?).await?;
    Ok(rows
        .into_iter()
        .map(|r| TokenInfo {
            name: r.name,
            scope: Scope::parse(&r.scope),
            created_by: r.created_by,
            created_at: time(r.created_at),
            last_used_at: r.last_used_at.map(time),
            revoked_at: r.revoked_at.map(time),
        })
        .collect())
}

pub async fn revoke(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    api_tokens::revoke_token(&mut tx, name, millis(now)).await.map_err(named("API token", name))?;
    events::insert_event(&mut tx, &Event::new(now, EventName::AdminApiTokenRevoke, actor).target(name)).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// The name (for the actor of the changes it makes) and scope of the token `presented`: `BadToken` when it is
/// unknown or malformed, `RevokedToken` when it was revoked.
pub async fn authenticate(ctx: &Ctx, presented: &str, now: DateTime<Utc>) -> Result<ApiClient, Error> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Err(Error::BadToken);
    }
    let mut conn = ctx.db.conn().await?;
    let Some(row) = api_tokens::find_by_hash(&mut conn, &hash(presented)).await? else {
        return Err(Error::BadToken);
    };
    if row.revoked_at.is_some() {
        return Err(Error::RevokedToken { name: row.name });
    }
    api_tokens::touch_token(&mut conn, row.id, millis(now)).await?;
    Ok(ApiClient { scope: Scope::parse(&row.scope), name: row.name })
}

fn hash(token: &str) -> String {
    hex::encode(openssl::sha::sha256(token.as_bytes()))
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
