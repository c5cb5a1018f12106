//! Sealed values at rest (`secret`, the columns of `store::sealed`): sealing again what was sealed before values
//! were bound to their place (at start-up), and rotating the secret key without downtime.
//!
//! A rotation has two steps. `rotate` writes a new key first into the key file, keeping the old ones after it (all
//! of them open; the first seals), and seals every value again under the new key. Every process learns the new key
//! from the file when it meets a value sealed under it, and reads the file before it seals, so replicas that share
//! the file keep working meanwhile. `drop_previous` seals again what was sealed under an old key since (a replica
//! that sealed just before it read the file), then removes the old keys from the file.
//!
//! Each value is replaced only if it is still the one that was read (`store::sealed::replace_sealed`), so a value
//! changed meanwhile (a new SCIM token) is never overwritten with an older one, and replicas may do this at once.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use tracing::{info, warn};

use crate::audit::{Actor, Event, EventName};
use crate::directory::Invalid;
use crate::secret::{Sealing, SecretKey};
use crate::services::{record, Ctx, Error};
use crate::store::sealed::{self, SealedColumn, SEALED_COLUMNS};

/// What a pass over the sealed values did.
#[derive(Debug, Default)]
pub struct Resealed {
    /// Values sealed again.
    pub resealed: usize,
    /// Values that could not be opened with any key held (table, field and row; never the value).
    pub unreadable: Vec<String>,
}

/// The outcome of `rotate`.
#[derive(Debug)]
pub struct Rotation {
    pub key_id: String,
    pub resealed: Resealed,
}

/// Seals again, bound to their place, the values sealed before bindings existed; run at start-up by every
/// process. Values that do not open are left alone (and logged by place).
pub async fn seal_unbound(ctx: &Ctx) -> Result<Resealed, Error> {
    let done = reseal(ctx, |s| *s == Sealing::Unbound).await?;
    if done.resealed > 0 {
        info!("sealed {} stored secret(s) again, bound to their records", done.resealed);
    }
    for place in &done.unreadable {
        warn!("the stored secret in {place} could not be opened with the secret key");
    }
    Ok(done)
}

/// Starts a rotation of the secret key: a new key seals from now on and every sealed value is sealed again under
/// it; the previous keys stay in the key file, for opening, until `drop_previous`.
/// With `staged`, the new key is the second one of the key file (placed there on every host beforehand).
pub async fn rotate(ctx: &Ctx, actor: &Actor, staged: bool, now: DateTime<Utc>) -> Result<Rotation, Error> {
    let key_id = ctx.secret.add_new_key(staged)?;
    let current = key_id.clone();
    let resealed = reseal(ctx, |s| *s != Sealing::Key(current.clone())).await?;
    let detail = format!("new key {key_id}; {} value(s) sealed again", resealed.resealed);
    record(ctx, Event::new(now, EventName::SecretKeyRotate, actor).target(&key_id).detail(detail)).await?;
    info!("rotated the secret key to {key_id}; {} value(s) sealed again", resealed.resealed);
    Ok(Rotation { key_id, resealed })
}

/// Ends a rotation: seals again under the current key what is still sealed under another, then removes every
/// other key from the key file. Refused while a value sealed under a key to be dropped does not open (it would be
/// lost). Returns the ids of the dropped keys.
pub async fn drop_previous(ctx: &Ctx, actor: &Actor, now: DateTime<Utc>) -> Result<Vec<String>, Error> {
    let current = ctx.secret.current_id();
    let done = reseal(ctx, |s| *s != Sealing::Key(current.clone())).await?;
    if !done.unreadable.is_empty() {
        let problem =
            format!("keeps its previous keys: these stored secrets do not open: {}", done.unreadable.join(", "));
        return Err(Invalid::new("the secret key", problem).into());
    }
    let dropped = ctx.secret.drop_previous_keys()?;
    let detail = format!("dropped key(s) {}; {} value(s) sealed again", dropped.join(", "), done.resealed);
    record(ctx, Event::new(now, EventName::SecretKeyRotate, actor).target(&current).detail(detail)).await?;
    info!("dropped the previous secret key(s) {}", dropped.join(", "));
    Ok(dropped)
}

async fn reseal(ctx: &Ctx, wanted: impl Fn(&Sealing) -> bool) -> Result<Resealed, Error> {
    let mut done = Resealed::default();
    let mut conn = ctx.db.conn().await?;
    for column in SEALED_COLUMNS {
        for (row, value) in sealed::list_sealed(&mut conn, column).await? {
            let place = || format!("{}.{} of {}", column.table, column.field, row);
            let Some(sealing) = SecretKey::sealing(&value) else {
                done.unreadable.push(place());
                continue;
            };
            if !wanted(&sealing) {
                continue;
            }
            let Ok(plain) = open(ctx, column, &row, &value, &sealing) else {
                done.unreadable.push(place());
                continue;
            };
            let new = ctx.secret.seal(plain.expose_secret(), &column.binding(&row))?;
            if sealed::replace_sealed(&mut conn, column, &row, &value, &new).await? {
                done.resealed += 1;
            }
        }
    }
    Ok(done)
}

fn open(
    ctx: &Ctx,
    column: &SealedColumn,
    row: &str,
    value: &str,
    sealing: &Sealing,
) -> Result<secrecy::SecretString, crate::secret::Error> {
    match sealing {
        Sealing::Unbound => ctx.secret.open_unbound(value),
        Sealing::Key(_) => ctx.secret.open(value, &column.binding(row)),
    }
}
