//! Portal tile logos that administrators upload (console, API): PNG, JPEG or WebP, at most 256 KiB, the type
//! decided from the file's own bytes (`directory::logo::sniff`) before anything is stored, kept in the database so
//! every replica serves it, and served from our origin by `web::logo`. An application shows its uploaded logo;
//! without one, the https image URL its settings name, else its coloured initial.

use chrono::{DateTime, Utc};

use crate::audit::{Actor, Event, EventName};
use crate::directory::logo::{sniff, ImageType, LogoError};
use crate::services::apps::load;
use crate::services::{millis, Ctx, Error};
use crate::store::{events, logos};

/// A stored logo, as the console, the API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoInfo {
    pub image_type: ImageType,
    pub size: usize,
    /// Names this image (the start of its SHA-256): its URL and its ETag change when it is replaced.
    pub version: String,
    pub updated_at: DateTime<Utc>,
}

impl LogoInfo {
    /// Where the image is served, versioned so a browser fetches a replaced logo at once (application names are
    /// lower-case letters, digits, `-` and `_`: nothing to encode).
    pub fn url(&self, app: &str) -> String {
        url(app, &self.version)
    }
}

/// Where version `version` of an application's logo is served.
pub fn url(app: &str, version: &str) -> String {
    format!("/logos/{app}?v={version}")
}

/// A logo with its bytes, to serve.
#[derive(Debug, Clone)]
pub struct LogoImage {
    pub image_type: ImageType,
    pub version: String,
    pub bytes: Vec<u8>,
}

/// Stores `bytes` as the application's logo, replacing any. The bytes decide the type; `declared` (the type a
/// client sent, if any) must agree with them. Nothing is stored unless the file is taken.
pub async fn set_logo(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    bytes: &[u8],
    declared: Option<&'static str>,
    now: DateTime<Utc>,
) -> Result<LogoInfo, Error> {
    let image_type = sniff(bytes)?;
    if let Some(declared) = declared.filter(|d| ImageType::from_media_type(d) != Some(image_type)) {
        return Err(LogoError::Mismatch { found: image_type, declared }.into());
    }
    let version = hex::encode(openssl::sha::sha256(bytes).get(..8).unwrap_or_default());
    let mut tx = ctx.db.begin().await?;
    let app = load(&mut tx, name).await?;
    logos::upsert_logo(&mut tx, app.id, image_type.media_type(), bytes, &version, millis(now)).await?;
    let detail = format!("portal tile logo set: {}, {} bytes", image_type.name(), bytes.len());
    let event = Event::new(now, EventName::AdminAppUpdate, actor).target(name).app(name).detail(detail);
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    // As stored (to the millisecond), so this answer and a later lookup agree.
    let updated_at = DateTime::from_timestamp_millis(millis(now)).unwrap_or(now);
    Ok(LogoInfo { image_type, size: bytes.len(), version, updated_at })
}

/// Removes the application's logo (`NotFound` when it has none); its tile shows the image URL or the initial again.
pub async fn remove_logo(ctx: &Ctx, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let mut tx = ctx.db.begin().await?;
    let app = load(&mut tx, name).await?;
    if !logos::delete_logo(&mut tx, app.id).await? {
        return Err(Error::NotFound { what: "portal tile logo of application", name: name.to_owned() });
    }
    let event = Event::new(now, EventName::AdminAppUpdate, actor)
        .target(name)
        .app(name)
        .detail("portal tile logo removed".to_owned());
    events::insert_event(&mut tx, &event).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    Ok(())
}

/// The logo of application `name`, if it has one, to serve.
pub async fn image(ctx: &Ctx, name: &str) -> Result<Option<LogoImage>, Error> {
    let found = logos::find_logo_image(&mut *ctx.db.conn().await?, name).await?;
    Ok(found.and_then(|(media_type, version, bytes)| {
        // A stored type is one `sniff` gave; anything else is not served.
        ImageType::from_media_type(&media_type).map(|image_type| LogoImage { image_type, version, bytes })
    }))
}

/// A stored logo row as shown.
pub(crate) fn info(row: logos::LogoRow) -> Option<LogoInfo> {
    Some(LogoInfo {
        image_type: ImageType::from_media_type(&row.media_type)?,
        size: usize::try_from(row.size).unwrap_or_default(),
        version: row.version,
        updated_at: DateTime::from_timestamp_millis(row.updated_at_ms).unwrap_or_default(),
    })
}
