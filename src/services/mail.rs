//! The mails the product sends (rendered from `templates/mail/`, a plain-text and an HTML part each) and who gets
//! them. Each is queued with `crate::mail::Mailer::queue` in the transaction of the change it reports; the caller
//! wakes the mailer after its commit. Without SMTP settings nothing is queued.

use askama::Template;
use chrono::{DateTime, Utc};

use crate::audit::Actor;
use crate::mail::Message;
use crate::services::{Ctx, Error};
use crate::store::{admins, Conn};

#[derive(Template)]
#[template(path = "mail/cert_expiry.txt")]
struct CertExpiryText<'a> {
    app: &'a str,
    message: &'a str,
    state: &'a str,
    fingerprint: &'a str,
    not_after: &'a str,
    console_url: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/cert_expiry.html")]
struct CertExpiryHtml<'a> {
    subject: &'a str,
    app: &'a str,
    message: &'a str,
    state: &'a str,
    fingerprint: &'a str,
    not_after: &'a str,
    console_url: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/metadata.txt")]
struct MetadataText<'a> {
    headline: &'a str,
    app: &'a str,
    url: &'a str,
    detail: &'a str,
    console_url: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/metadata.html")]
struct MetadataHtml<'a> {
    subject: &'a str,
    headline: &'a str,
    app: &'a str,
    url: &'a str,
    detail: &'a str,
    console_url: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/test.txt")]
struct TestText<'a> {
    requested_by: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/test.html")]
struct TestHtml<'a> {
    subject: &'a str,
    requested_by: &'a str,
    base_url: &'a str,
}

/// What an expiring certificate's notice says.
pub struct CertExpiry<'a> {
    pub app: &'a str,
    /// "expires in 7 days", as the event says.
    pub message: &'a str,
    pub state: &'a str,
    pub fingerprint: &'a str,
    pub not_after: DateTime<Utc>,
}

/// Queues the certificate expiry notice to every administrator with an e-mail address. Returns how many.
pub async fn cert_expiry(ctx: &Ctx, conn: &mut Conn, notice: &CertExpiry<'_>) -> Result<usize, Error> {
    let base_url = ctx.mailer.base_url();
    let console_url = format!("{base_url}/admin/apps/{}", notice.app);
    let not_after = notice.not_after.format("%Y-%m-%d %H:%M UTC").to_string();
    let subject = format!("[sesame] The signing certificate of {} {}", notice.app, notice.message);
    let text = CertExpiryText {
        app: notice.app,
        message: notice.message,
        state: notice.state,
        fingerprint: notice.fingerprint,
        not_after: &not_after,
        console_url: &console_url,
        base_url,
    }
    .render()?;
    let html = CertExpiryHtml {
        subject: &subject,
        app: notice.app,
        message: notice.message,
        state: notice.state,
        fingerprint: notice.fingerprint,
        not_after: &not_after,
        console_url: &console_url,
        base_url,
    }
    .render()?;
    to_admins(ctx, conn, "cert_expiry", &Message { subject, text, html }).await
}

/// Queues a notice about an application's SP metadata (a refresh that failed, an ACS change held for approval)
/// to every administrator with an e-mail address. Returns how many.
pub async fn metadata_notice(
    ctx: &Ctx,
    conn: &mut Conn,
    app: &str,
    url: &str,
    headline: &str,
    detail: &str,
) -> Result<usize, Error> {
    let base_url = ctx.mailer.base_url();
    let console_url = format!("{base_url}/admin/apps/{app}");
    let subject = format!("[sesame] {headline}");
    let text = MetadataText { headline, app, url, detail, console_url: &console_url, base_url }.render()?;
    let html =
        MetadataHtml { subject: &subject, headline, app, url, detail, console_url: &console_url, base_url }.render()?;
    to_admins(ctx, conn, "sp_metadata", &Message { subject, text, html }).await
}

/// Queues a test mail to `to` (`sesame mail test`), which proves the settings end to end once it arrives.
pub async fn send_test(ctx: &Ctx, actor: &Actor, to: &str, _now: DateTime<Utc>) -> Result<(), Error> {
    if !ctx.mailer.is_configured() {
        return Err(Error::MailNotConfigured);
    }
    check_address(to)?;
    let base_url = ctx.mailer.base_url();
    let requested_by = actor.label();
    let subject = "[sesame] Test message".to_owned();
    let text = TestText { requested_by: &requested_by, base_url }.render()?;
    let html = TestHtml { subject: &subject, requested_by: &requested_by, base_url }.render()?;
    let mut tx = ctx.db.begin().await?;
    ctx.mailer.queue(&mut tx, "test", to, &Message { subject, text, html }).await?;
    tx.commit().await.map_err(crate::store::Error::from)?;
    ctx.mailer.wake();
    Ok(())
}

/// The outbox as the CLI and the console show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStatus {
    pub configured: bool,
    pub pending: i64,
    pub failed: i64,
    /// When the oldest waiting mail was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

pub async fn queue_status(ctx: &Ctx) -> Result<QueueStatus, Error> {
    let counts = crate::store::mail::counts(&mut *ctx.db.conn().await?).await?;
    Ok(QueueStatus {
        configured: ctx.mailer.is_configured(),
        pending: counts.pending,
        failed: counts.failed,
        oldest_pending: counts.oldest_pending_ms.and_then(DateTime::from_timestamp_millis),
    })
}

/// A plausible single address (the mailer parses it fully when it sends).
pub fn check_address(address: &str) -> Result<(), Error> {
    let ok = address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::BadAddress { address: crate::audit::bounded(address) })
    }
}

async fn to_admins(ctx: &Ctx, conn: &mut Conn, kind: &str, message: &Message) -> Result<usize, Error> {
    if !ctx.mailer.is_configured() {
        return Ok(0);
    }
    let addresses = admins::notice_addresses(conn).await?;
    for to in &addresses {
        ctx.mailer.queue(conn, kind, to, message).await?;
    }
    Ok(addresses.len())
}
