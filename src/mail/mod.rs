//! Outbound e-mail: the sealed outbox (`store::mail`) delivered over SMTP by lettre, with retries and backoff,
//! one event per send and per failure.
//!
//! Services render a mail (`Message`) and queue it with `Mailer::queue` in the transaction of the change that
//! causes it, so a mail is sent if and only if the change committed. The worker (`Mailer::spawn`) claims due mails
//! with a lease (a sender that dies leaves the lease to expire, and the mail is sent again: at least once), sends,
//! and deletes the row. Without `SESAME_SMTP_URL` nothing is queued: `is_configured` is false, and the features that
//! mail say so where they are used.

pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::audit::{Actor, Event, EventName};
use crate::config::Config;
use crate::secret::SecretKey;
use crate::store::sealed::MAIL_MESSAGE;
use crate::store::{self, events, Backend, Conn, Db};

/// Attempts before a mail is kept as failed (about a day of backoff at the cap).
const MAX_ATTEMPTS: i64 = 16;
const BACKOFF_CAP: Duration = Duration::from_secs(60 * 60);
/// How long a claimed mail is reserved for its sender (an SMTP exchange is bounded by a 30-second timeout).
const LEASE: Duration = Duration::from_secs(120);
/// How often the worker looks for mails queued by another process (the CLI, another replica).
const POLL: Duration = Duration::from_secs(2);

/// A rendered mail: the subject and both parts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A configuration problem of the mail settings.
#[derive(Debug, thiserror::Error)]
#[error("configuration key {key}: {problem}")]
pub struct SettingsError {
    pub key: &'static str,
    pub problem: String,
}

/// A failure to queue a mail.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Seal(#[from] crate::secret::Error),
    #[error("cannot encode a mail: {0}")]
    Encode(#[from] serde_json::Error),
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// The mail side of the product: queues mails and delivers them. Clone it freely.
#[derive(Clone)]
pub struct Mailer {
    smtp: Option<Arc<Smtp>>,
    db: Db,
    secret: Arc<SecretKey>,
    wake: Arc<Notify>,
    base_url: String,
}

impl Mailer {
    /// The mailer of `config`: configured when `smtp_url` is set (then `mail_from` must be too).
    pub fn new(config: &Config, db: Db, secret: Arc<SecretKey>) -> Result<Self, SettingsError> {
        let smtp = match &config.smtp_url {
            None => None,
            Some(url) => {
                let settings = transport::parse_smtp_url(url.expose_secret())
                    .map_err(|problem| SettingsError { key: "smtp_url", problem })?;
                let from = config.mail_from.as_deref().ok_or_else(|| SettingsError {
                    key: "mail_from",
                    problem: "is required when smtp_url is set (the sender's address, e.g. sesame@example.com)".into(),
                })?;
                let from = from.parse::<Mailbox>().map_err(|e| SettingsError {
                    key: "mail_from",
                    problem: format!("{from:?} is not a mail address ({e})"),
                })?;
                let roots = match &config.smtp_ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| SettingsError {
                        key: "smtp_ca_file",
                        problem: format!("cannot read {}: {e}", path.display()),
                    })?),
                    None => None,
                };
                let transport = transport::build(&settings, roots.as_deref())
                    .map_err(|problem| SettingsError { key: "smtp_url", problem })?;
                Some(Arc::new(Smtp { transport, from }))
            }
        };
        Ok(Self { smtp, db, secret, wake: Arc::new(Notify::new()), base_url: config.base_url.clone() })
    }

    /// Whether mail can be sent at all (`SESAME_SMTP_URL` is set).
    pub fn is_configured(&self) -> bool {
        self.smtp.is_some()
    }

    /// The instance's public URL, which every mail names.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Queues `message` for `to` in the caller's transaction (sealed: it may hold a single-use link). Returns
    /// false, queueing nothing, when mail is not configured. Call `wake` after the commit.
    pub async fn queue(&self, conn: &mut Conn, kind: &str, to: &str, message: &Message) -> Result<bool, QueueError> {
        if self.smtp.is_none() {
            return Ok(false);
        }
        // Sealed for its own row, whose id the insert gives: the row goes in first, its content a moment later,
        // in the same transaction.
        let id = store::mail::enqueue(conn, kind, to, Utc::now().timestamp_millis()).await?;
        let sealed = self.secret.seal(&serde_json::to_string(message)?, &MAIL_MESSAGE.binding(id))?;
        store::mail::set_message(conn, id, &sealed).await?;
        Ok(true)
    }

    /// Tells this process's worker that a mail was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs the delivery loop until `shutdown` changes (a mail being sent finishes first).
    pub fn spawn(&self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let mailer = self.clone();
        tokio::spawn(async move {
            if mailer.smtp.is_none() {
                return;
            }
            loop {
                loop {
                    match mailer.deliver_one().await {
                        Ok(true) => continue,
                        Ok(false) => break,
                        Err(e) => {
                            warn!("mail worker: {e}");
                            break;
                        }
                    }
                }
                let pause = match mailer.until_next_due().await {
                    Ok(Some(due)) => due.min(POLL),
                    _ => POLL,
                };
                tokio::select! {
                    _ = mailer.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    async fn until_next_due(&self) -> Result<Option<Duration>, store::Error> {
        let due = store::mail::next_due(&mut *self.db.conn().await?).await?;
        let now = Utc::now().timestamp_millis();
        Ok(due.map(|at| Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))))
    }

    /// Claims and sends one due mail; false when none is due.
    pub async fn deliver_one(&self) -> Result<bool, store::Error> {
        let Some(smtp) = &self.smtp else { return Ok(false) };
        let now = Utc::now();
        let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        let postgres = self.db.backend == Backend::Postgres;
        let claimed = store::mail::claim(&mut *self.db.conn().await?, now.timestamp_millis(), lease, postgres).await?;
        let Some(mail) = claimed else { return Ok(false) };
        let result = match self.build(smtp, &mail) {
            Ok(message) => smtp.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let now = Utc::now();
        let mut tx = self.db.begin().await?;
        let target = format!("{} to {}", mail.kind, mail.recipient);
        match result {
            Ok(()) => {
                store::mail::delivered(&mut tx, mail.id).await?;
                let event =
                    Event::new(now, EventName::MailSent, &Actor::System).target(&mail.recipient).detail(&mail.kind);
                events::insert_event(&mut tx, &event).await?;
                tx.commit().await?;
                info!("sent mail {target}");
            }
            Err(reason) => {
                let give_up = mail.attempts >= MAX_ATTEMPTS;
                let retry_at = now + chrono::Duration::from_std(backoff(mail.attempts)).unwrap_or_default();
                store::mail::retry_later(&mut tx, mail.id, retry_at.timestamp_millis(), &reason, give_up).await?;
                let what = if give_up { "gave up" } else { "will retry" };
                let event = Event::new(now, EventName::MailFailed, &Actor::System)
                    .target(&mail.recipient)
                    .failed(format!("{}: attempt {} {what}: {reason}", mail.kind, mail.attempts));
                events::insert_event(&mut tx, &event).await?;
                tx.commit().await?;
                warn!("could not send mail {target} (attempt {}, {what}): {reason}", mail.attempts);
            }
        }
        Ok(true)
    }

    fn build(&self, smtp: &Smtp, mail: &store::mail::Outgoing) -> Result<lettre::Message, String> {
        let plain = self
            .secret
            .open(&mail.message_enc, &MAIL_MESSAGE.binding(mail.id))
            .map_err(|e| format!("cannot open the queued mail: {e}"))?;
        let message: Message =
            serde_json::from_str(plain.expose_secret()).map_err(|e| format!("cannot read the queued mail: {e}"))?;
        let to = mail.recipient.parse::<Mailbox>().map_err(|e| format!("bad recipient address: {e}"))?;
        lettre::Message::builder()
            .from(smtp.from.clone())
            .to(to)
            .subject(message.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(message.text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(message.html)),
            )
            .map_err(|e| format!("cannot build the mail: {e}"))
    }
}

/// Exponential backoff from 2 s, capped at an hour, with up to 50 % jitter.
fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let base = Duration::from_secs(2).saturating_mul(2u32.saturating_pow(exponent)).min(BACKOFF_CAP);
    base.mul_f64(1.0 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(2) && backoff(1) <= Duration::from_secs(3));
        assert!(backoff(5) >= Duration::from_secs(32));
        assert!(backoff(40) <= BACKOFF_CAP.mul_f64(1.5));
    }
}
