//! Signing in at the IdP: password check (argon2, off the async workers) and the IdP session it opens.

use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::audit::{Actor, Event, EventName};
use crate::directory::{User, UserId};
use crate::services::throttle::{self, Realm};
use crate::services::{record, Ctx, Error};
use crate::store::users;

/// What the IdP session holds. It is stored server-side; the browser holds only the session id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdpSession {
    pub user_id: UserId,
    pub username: String,
    /// When the user last authenticated (password, or a passkey alone), in Unix milliseconds (the AuthnInstant
    /// of every assertion).
    pub authn_instant_ms: i64,
    /// When a second factor was last proven in this session (a TOTP code, a recovery code, a security key after
    /// the password), or the sign-in was a passkey with user verification (possession and a PIN or biometric):
    /// the session then counts as multi-factor. `None` for a password-only session.
    #[serde(default)]
    pub mfa_instant_ms: Option<i64>,
    /// Identifies this session to SPs (AuthnStatement SessionIndex).
    pub session_index: String,
}

impl IdpSession {
    pub fn authn_instant(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.authn_instant_ms).unwrap_or_default()
    }

    /// The time of the last authentication in this session, a password or a second factor (the AuthnInstant of
    /// every assertion).
    pub fn last_authn_instant(&self) -> DateTime<Utc> {
        let last = self.mfa_instant_ms.map_or(self.authn_instant_ms, |mfa| mfa.max(self.authn_instant_ms));
        DateTime::from_timestamp_millis(last).unwrap_or_default()
    }

    /// Whether two factors were used in this session (`mfa_instant_ms`).
    pub fn is_multi_factor(&self) -> bool {
        self.mfa_instant_ms.is_some()
    }
}

/// Checks a username and password. A failure says only "invalid username or password" to the caller; the event
/// records which it was. A (username, client) pair waiting out its backoff, or a client address past its failures
/// in the throttling window, is refused with `Error::Throttled` before the password is looked at.
pub async fn sign_in(
    ctx: &Ctx,
    username: &str,
    password: &str,
    client: Option<std::net::IpAddr>,
    now: DateTime<Utc>,
) -> Result<IdpSession, Error> {
    throttle::check(ctx, Realm::User, username, client, now).await?;
    let mut conn = ctx.db.conn().await?;
    let found = users::find_credentials(&mut conn, username).await?;
    drop(conn);
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    // Verify even when there is no user or hash, so timing does not reveal which usernames exist.
    let hash = match hash {
        Some(hash) => hash,
        None => dummy_hash().await?,
    };
    let is_valid = verify_password(password.to_owned(), hash).await?;
    let failure = match &user {
        None => Some("unknown username"),
        Some(_) if !is_valid => Some("wrong password"),
        Some(u) if !u.is_active() => Some("account suspended"),
        Some(_) => None,
    };
    let shown = username.chars().take(128).collect::<String>();
    if let Some(reason) = failure {
        record(ctx, Event::new(now, EventName::UserLoginFailed, &Actor::Anonymous).user(shown).failed(reason)).await?;
        throttle::failed(ctx, Realm::User, username, client, now).await?;
        return Err(Error::BadCredentials);
    }
    let Some(user) = user else {
        return Err(Error::BadCredentials);
    };
    record(ctx, Event::new(now, EventName::UserLogin, &Actor::User(user.username.clone())).user(&user.username))
        .await?;
    throttle::succeeded(ctx, Realm::User, username, client).await?;
    Ok(new_session(&user, now))
}

/// Whether an IdP session still stands: its user exists and no password was set for them since the session
/// signed in. An administrator who resets a password thus signs the user out of every browser (a stolen session
/// ends with it). Suspension needs no such check: access is decided from the database on every response.
pub async fn session_is_current(ctx: &Ctx, session: &IdpSession) -> Result<bool, Error> {
    let changed = users::find_credentials_changed_at(&mut *ctx.db.conn().await?, session.user_id).await?;
    Ok(changed.is_some_and(|at| at <= session.authn_instant_ms))
}

pub fn new_session(user: &User, now: DateTime<Utc>) -> IdpSession {
    IdpSession {
        user_id: user.id,
        username: user.username.clone(),
        authn_instant_ms: now.timestamp_millis(),
        mfa_instant_ms: None,
        session_index: crate::saml::new_id(),
    }
}

/// Hashes a password with argon2id (the crate's default parameters) and a random salt, as a PHC string.
pub async fn hash_password(password: String) -> Result<String, Error> {
    with_argon2(move |memory| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let argon2 = Argon2::default();
        let output = compute(&argon2, password.as_bytes(), &salt.as_salt(), None, memory).map_err(Error::Hash)?;
        let params = ParamsString::try_from(argon2.params()).map_err(Error::Hash)?;
        let hash = PasswordHash {
            algorithm: Algorithm::default().ident(),
            version: Some(Version::default().into()),
            params,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    })
    .await?
}

/// Whether `password` matches the PHC string `hash` (with the algorithm, version and parameters it names);
/// an unreadable hash matches nothing.
pub(crate) async fn verify_password(password: String, hash: String) -> Result<bool, Error> {
    with_argon2(move |memory| {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let argon2 = match (
            Algorithm::try_from(parsed.algorithm),
            parsed.version.map_or(Ok(Version::default()), Version::try_from),
            Params::try_from(&parsed),
        ) {
            (Ok(algorithm), Ok(version), Ok(params)) => Argon2::new(algorithm, version, params),
            _ => return false,
        };
        // `Output`'s equality is constant-time.
        compute(&argon2, password.as_bytes(), &salt, Some(expected.len()), memory).is_ok_and(|out| out == expected)
    })
    .await
}

/// Runs `f` on the blocking pool with argon2 working memory, at most one computation per core at a time.
///
/// Argon2 is memory-hard by design (19 MiB per hash with the default parameters). Left to allocate for itself
/// on tokio's blocking pool, every concurrent sign-in took its own 19 MiB: unbounded under a burst of guesses
/// (up to 512 threads), and kept by glibc's per-thread arenas afterwards, which made a long-running server's
/// memory step up whenever a new thread first hashed. Here the computations wait for a permit (in async, holding
/// no thread), and each reuses one of at most `permits` buffers, so argon2's memory is allocated once.
async fn with_argon2<T: Send + 'static>(f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> Result<T, Error> {
    let pool = argon2_pool();
    // The permit moves into the blocking task, so a caller that gives up (a closed connection) does not free
    // it while the computation still runs.
    let permit = pool.permits.clone().acquire_owned().await?;
    tokio::task::spawn_blocking(move || {
        let mut memory = pool.memory.lock().map(|mut free| free.pop()).ok().flatten().unwrap_or_default();
        let out = f(&mut memory);
        if let Ok(mut free) = pool.memory.lock() {
            free.push(memory);
        }
        drop(permit);
        out
    })
    .await
    .map_err(Error::from)
}

struct Argon2Pool {
    permits: Arc<Semaphore>,
    /// Working memory not in use; never more buffers than permits.
    memory: Mutex<Vec<Vec<Block>>>,
}

/// One pool per process: the limit is the machine's cores, whatever number of `Ctx` share them.
fn argon2_pool() -> &'static Argon2Pool {
    static POOL: OnceLock<Argon2Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let permits = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Argon2Pool { permits: Arc::new(Semaphore::new(permits)), memory: Mutex::new(Vec::new()) }
    })
}

/// The argon2 output for `password` and `salt` (`len` bytes, or the parameters' length), computed in `memory`,
/// which grows to the parameters' block count and is reused as it is: every block is written before it is read.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &Salt<'_>,
    len: Option<usize>,
    memory: &mut Vec<Block>,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let memory = memory.get_mut(..blocks).ok_or(argon2::password_hash::Error::Crypto)?;
    let len = len.or(argon2.params().output_len()).unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut *memory)?))
}

/// A valid hash of a random password, computed once (by the argon2 pool, like every hash), for sign-ins of
/// unknown users: they take as long as a wrong password.
pub(crate) async fn dummy_hash() -> Result<String, Error> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let random: [u8; 16] = rand::random();
    HASH.get_or_try_init(|| hash_password(hex::encode(random))).await.cloned()
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    /// Our pooled hashing writes the same PHC strings as the argon2 crate's own API: each verifies the other's,
    /// and a wrong password or a damaged hash matches nothing.
    #[tokio::test]
    async fn pooled_hashes_agree_with_the_argon2_crate() {
        let ours = hash_password("correct horse".to_owned()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horsf", &parsed).is_err());

        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let theirs = Argon2::default().hash_password(b"battery staple", &salt).unwrap().to_string();
        assert!(verify_password("battery staple".to_owned(), theirs.clone()).await.unwrap());
        assert!(!verify_password("battery stapl".to_owned(), theirs.clone()).await.unwrap());
        assert!(!verify_password("battery staple".to_owned(), theirs.replace("$argon2id$", "$argon2x$"))
            .await
            .unwrap());
        assert!(!verify_password("battery staple".to_owned(), "not a hash".to_owned()).await.unwrap());
    }

    /// The reused working memory gives the right answer whatever the previous computation left in it, also for
    /// hashes made with other parameters (a larger one grows the buffer, a smaller one uses its beginning).
    #[tokio::test]
    async fn reused_memory_verifies_hashes_of_other_parameters() {
        let mut hashes = Vec::new();
        for (m, t, p) in [(8192, 3, 1), (32768, 1, 2), (19456, 2, 1)] {
            let params = Params::new(m, t, p, None).unwrap();
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            hashes.push(argon2.hash_password(format!("pw-{m}").as_bytes(), &salt).unwrap().to_string());
        }
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::new(8192, 2, 1, None).unwrap());
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hashes.push(argon2i.hash_password(b"pw-old", &salt).unwrap().to_string());
        for _ in 0..2 {
            for (hash, password) in hashes.iter().zip(["pw-8192", "pw-32768", "pw-19456", "pw-old"]) {
                assert!(verify_password(password.to_owned(), hash.clone()).await.unwrap(), "{hash}");
                assert!(!verify_password(format!("{password}!"), hash.clone()).await.unwrap(), "{hash}");
            }
        }
    }

    /// A burst of sign-in attempts cannot make argon2 allocate without bound (memory exhaustion by concurrent
    /// guesses): 16 checks at once leave at most one working buffer per core.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_checks_uses_one_buffer_per_core() {
        let hash = hash_password("pw".to_owned()).await.unwrap();
        let checks: Vec<_> = (0..16).map(|_| tokio::spawn(verify_password("guess".to_owned(), hash.clone()))).collect();
        for check in checks {
            assert!(!check.await.unwrap().unwrap());
        }
        let cores = std::thread::available_parallelism().unwrap().get();
        let buffers = argon2_pool().memory.lock().unwrap().len();
        assert!((1..=cores).contains(&buffers), "{buffers} buffers for {cores} cores");
    }
}
