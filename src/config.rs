//! Configuration: built-in defaults, then an optional TOML file (`--config FILE` or `SESAME_CONFIG`), then
//! `SESAME_*` environment variables. `SESAME_<KEY>_FILE` reads a value (a secret) from a file.
//!
//! Unknown keys in the file are an error; unknown `SESAME_*` variables are reported at start-up, so typos never
//! pass silently. Config travels in `AppState` and arguments, never in a global.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};

/// Settings keys, as they are spelled in the TOML file and, upper-cased after `SESAME_`, in the environment.
const KEYS: [&str; 31] = [
    "base_url",
    "bind",
    "data_dir",
    "database_url",
    "database_wait_secs",
    "certs_dir",
    "sp_metadata_dir",
    "session_lifetime_secs",
    "clock_skew_secs",
    "request_max_age_secs",
    "login_timeout_secs",
    "cert_validity_days",
    "log_format",
    "secret_key",
    "scim_allow_private_targets",
    "reconcile_interval_secs",
    "provisioning_workers",
    "metadata_refresh_secs",
    "metadata_refresh_min_secs",
    "metadata_refresh_max_secs",
    "login_max_failures_per_user",
    "login_max_failures_per_ip",
    "login_window_secs",
    "password_min_chars",
    "trusted_proxies",
    "provisioning_lease_secs",
    "event_retention_days",
    "smtp_url",
    "mail_from",
    "smtp_ca_file",
    "invitation_ttl_secs",
];
/// Variables that belong to the command line, not to the settings.
const NOT_SETTINGS: [&str; 2] = ["SESAME_CONFIG", "SESAME_LOG"];

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The public URL people and SPs reach; IdP URLs and metadata are derived from it.
    pub base_url: String,
    pub bind: String,
    pub data_dir: PathBuf,
    /// Defaults to an SQLite file in the data directory.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub database_url: Option<SecretString>,
    /// How long `serve` keeps trying to reach the database at start-up before it gives up (0: one attempt).
    pub database_wait_secs: u64,
    pub certs_dir: PathBuf,
    pub sp_metadata_dir: PathBuf,
    /// How long an IdP session lasts without activity.
    pub session_lifetime_secs: u64,
    /// Tolerated clock difference with SPs.
    pub clock_skew_secs: u64,
    /// How old an AuthnRequest may be when it arrives.
    pub request_max_age_secs: u64,
    /// How long a parked AuthnRequest waits for the user to sign in.
    pub login_timeout_secs: u64,
    pub cert_validity_days: u32,
    /// `text` or `json`.
    pub log_format: String,
    /// 64 hex characters that encrypt SCIM tokens at rest; generated into the data directory when absent.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub secret_key: Option<SecretString>,
    /// The file `secret_key` was read from (`SESAME_SECRET_KEY_FILE`), read again to follow a rotation of the key.
    #[serde(skip)]
    pub secret_key_file: Option<PathBuf>,
    /// Allow SCIM Base URLs on loopback and private addresses (and plain http). Off in production.
    pub scim_allow_private_targets: bool,
    /// How often each application's SP is compared with the directory and drift repaired.
    pub reconcile_interval_secs: u64,
    /// Provisioning jobs delivered at once.
    pub provisioning_workers: u32,
    /// How often SP metadata registered from a URL is fetched again, unless its `cacheDuration` or `validUntil`
    /// asks for sooner; never more often than the minimum nor less often than the maximum.
    pub metadata_refresh_secs: u64,
    pub metadata_refresh_min_secs: u64,
    pub metadata_refresh_max_secs: u64,
    /// Consecutive failed sign-ins of one username from one client (portal and admin console, counted apart)
    /// before that client must wait: 30 s, doubling with each further failure, up to the window.
    pub login_max_failures_per_user: u32,
    /// Failed sign-ins per client address before further attempts from it are refused until the window ends.
    pub login_max_failures_per_ip: u32,
    /// The per-client sign-in throttling window, and the longest backoff.
    pub login_window_secs: u64,
    /// The fewest characters a new password may have (users and administrators); at least 8 (NIST SP 800-63B).
    /// Passwords set before keep working.
    pub password_min_chars: u32,
    /// Comma-separated addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` names the client.
    /// Empty: the socket peer is the client.
    pub trusted_proxies: String,
    /// How long a claimed provisioning job stays claimed: when its replica dies, the job is due again after this.
    /// It must exceed the longest job (a SCIM call may take 30 s; reconciliation lists the SP's accounts).
    pub provisioning_lease_secs: u64,
    /// How long events are kept; older ones are purged by housekeeping. 0 keeps them for ever.
    pub event_retention_days: u32,
    /// Where mail goes: `smtps://[user:password@]host[:port]`, or `smtp://...` (STARTTLS required, except to a
    /// loopback host). Unset: no mail is sent, and the features that mail say so.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub smtp_url: Option<SecretString>,
    /// The sender of every mail (required with `smtp_url`), e.g. `sesame@example.com` or `Sesame <sso@example.com>`.
    pub mail_from: Option<String>,
    /// Extra trusted root certificates (PEM) for the SMTP server's certificate, besides the system's.
    pub smtp_ca_file: Option<PathBuf>,
    /// How long an invitation link stays valid (a password reset link: 30 minutes).
    pub invitation_ttl_secs: u64,
}

/// Where the value of `key` came from: the file, the environment variable or the built-in default.
fn source_of(figment: &Figment, key: &str) -> String {
    let Some(meta) = figment.find_metadata(key) else { return "the built-in default".into() };
    match &meta.source {
        Some(figment::Source::File(path)) => format!("file {}", path.display()),
        _ if meta.name.contains("environment") => {
            format!("environment variable {}", meta.interpolate(&figment::Profile::Default, &[key]))
        }
        _ => meta.name.to_string(),
    }
}

fn serialize_secret_opt<S: serde::Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            data_dir: "./data".into(),
            database_url: None,
            database_wait_secs: 60,
            certs_dir: "./certs".into(),
            sp_metadata_dir: "./sp-metadata".into(),
            session_lifetime_secs: 8 * 3600,
            clock_skew_secs: 180,
            request_max_age_secs: 300,
            login_timeout_secs: 900,
            cert_validity_days: 1826,
            log_format: "text".into(),
            secret_key: None,
            secret_key_file: None,
            scim_allow_private_targets: false,
            reconcile_interval_secs: 2400,
            provisioning_workers: 8,
            metadata_refresh_secs: 86_400,
            metadata_refresh_min_secs: 300,
            metadata_refresh_max_secs: 7 * 86_400,
            login_max_failures_per_user: 5,
            login_max_failures_per_ip: 20,
            login_window_secs: 900,
            password_min_chars: 12,
            trusted_proxies: String::new(),
            provisioning_lease_secs: 120,
            event_retention_days: 400,
            smtp_url: None,
            mail_from: None,
            smtp_ca_file: None,
            invitation_ttl_secs: 259_200,
        }
    }
}

/// A configuration problem, naming the key and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key {key}: {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("configuration: cannot read {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Config {
    /// Loads and validates. Returns the names of unknown `SESAME_*` variables for the caller to report.
    pub fn load(file: Option<&Path>) -> Result<(Self, Vec<String>), Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("SESAME_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.exists() {
                return Err(Error::File {
                    path: path.display().to_string(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut unknown = Vec::new();
        for (name, _) in std::env::vars() {
            let Some(key) = name.strip_prefix("SESAME_") else { continue };
            let key = key.to_ascii_lowercase();
            let base = key.strip_suffix("_file").unwrap_or(&key);
            if !KEYS.contains(&base) && !NOT_SETTINGS.contains(&name.as_str()) {
                unknown.push(name);
            }
        }
        figment = figment
            .merge(Env::prefixed("SESAME_").filter(|k| KEYS.contains(&k.as_str().to_ascii_lowercase().as_str())));
        // SESAME_<KEY>_FILE: the value is the file's content without a trailing newline.
        for key in KEYS {
            let var = format!("SESAME_{}_FILE", key.to_ascii_uppercase());
            if let Some(path) = std::env::var_os(&var) {
                let value = std::fs::read_to_string(&path)
                    .map_err(|source| Error::File { path: PathBuf::from(&path).display().to_string(), source })?;
                figment = figment.merge((key, value.trim_end_matches(['\n', '\r']).to_owned()));
            }
        }
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.secret_key_file = std::env::var_os("SESAME_SECRET_KEY_FILE").map(PathBuf::from);
        let config = config.validate().map_err(|e| match e {
            Error::Invalid { key, problem } => {
                Error::Invalid { key, problem: format!("{problem} (from {})", source_of(&figment, key)) }
            }
            other => other,
        })?;
        Ok((config, unknown))
    }

    /// The defaults overlaid with a settings file's text alone (no environment), validated as `load` does: what a
    /// settings file can make of the configuration. The fuzz target for settings files calls it.
    pub(crate) fn from_toml(text: &str) -> Result<Self, Error> {
        let figment = Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text));
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()
    }

    fn validate(mut self) -> Result<Self, Error> {
        self.base_url = self.base_url.trim_end_matches('/').to_owned();
        match url::Url::parse(&self.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none() => {}
            _ => {
                return Err(Error::Invalid {
                    key: "base_url",
                    problem: format!("{:?} is not an http(s) URL", self.base_url),
                })
            }
        }
        self.bind.parse::<SocketAddr>().map_err(|e| Error::Invalid { key: "bind", problem: e.to_string() })?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(Error::Invalid { key: "log_format", problem: "must be text or json".into() });
        }
        // Every duration that reaches chrono or tokio arithmetic has an upper bound: beyond about 2^63 ms a
        // chrono `Duration` or an `Instant` addition panics, on every request that uses it.
        for (key, value, min, max) in [
            ("session_lifetime_secs", self.session_lifetime_secs, 60, 90 * 86_400),
            ("clock_skew_secs", self.clock_skew_secs, 0, 3600),
            ("request_max_age_secs", self.request_max_age_secs, 1, 86_400),
            ("login_timeout_secs", self.login_timeout_secs, 60, 86_400),
            ("database_wait_secs", self.database_wait_secs, 0, 86_400),
            ("reconcile_interval_secs", self.reconcile_interval_secs, 60, 30 * 86_400),
            ("event_retention_days", u64::from(self.event_retention_days), 0, 36_500),
            ("invitation_ttl_secs", self.invitation_ttl_secs, 600, 30 * 86_400),
        ] {
            if !(min..=max).contains(&value) {
                return Err(Error::Invalid { key, problem: format!("must be between {min} and {max}") });
            }
        }
        if !(1..=64).contains(&self.provisioning_workers) {
            return Err(Error::Invalid { key: "provisioning_workers", problem: "must be between 1 and 64".into() });
        }
        if !(5..=3600).contains(&self.provisioning_lease_secs) {
            return Err(Error::Invalid {
                key: "provisioning_lease_secs",
                problem: "must be between 5 and 3600".into(),
            });
        }
        if self.metadata_refresh_min_secs < 60
            || self.metadata_refresh_min_secs > self.metadata_refresh_secs
            || self.metadata_refresh_secs > self.metadata_refresh_max_secs
            || self.metadata_refresh_max_secs > 365 * 86_400
        {
            return Err(Error::Invalid {
                key: "metadata_refresh_secs",
                problem: "needs 60 <= metadata_refresh_min_secs <= metadata_refresh_secs <= metadata_refresh_max_secs \
                          <= one year"
                    .into(),
            });
        }
        if self.login_max_failures_per_user == 0 || self.login_max_failures_per_ip == 0 {
            return Err(Error::Invalid {
                key: "login_max_failures_per_user",
                problem: "the failure limits must be at least 1".into(),
            });
        }
        if !(60..=86_400).contains(&self.login_window_secs) {
            return Err(Error::Invalid { key: "login_window_secs", problem: "must be between 60 and 86400".into() });
        }
        if !(8..=256).contains(&self.password_min_chars) {
            return Err(Error::Invalid { key: "password_min_chars", problem: "must be between 8 and 256".into() });
        }
        self.trusted_proxy_ranges().map_err(|problem| Error::Invalid { key: "trusted_proxies", problem })?;
        if self.cert_validity_days == 0 || self.cert_validity_days > 36_500 {
            return Err(Error::Invalid { key: "cert_validity_days", problem: "must be between 1 and 36500".into() });
        }
        Ok(self)
    }

    /// The database URL, derived from the data directory unless given.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("sesame.db").display()),
        }
    }

    /// The database URL with any password masked, for logs.
    pub fn database_url_for_log(&self) -> String {
        let url = self.database_url();
        match url::Url::parse(&url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("****"));
                u.to_string()
            }
            _ => url,
        }
    }

    /// The parsed `trusted_proxies`: addresses (as /32 or /128 ranges) and CIDR ranges.
    pub fn trusted_proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))
            })
            .collect()
    }

    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// The eduPersonPrincipalName scope: the host of the base URL (`idp.example.com` in `username@idp.example.com`).
    pub fn scope(&self) -> String {
        url::Url::parse(&self.base_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
    }

    /// Whether a password sent to the base URL is protected in transit: https, or an http URL on a loopback
    /// address or a `localhost` name, which never leaves the machine (W3C Secure Contexts §3.1, "potentially
    /// trustworthy").
    pub fn is_potentially_trustworthy(&self) -> bool {
        let Ok(url) = url::Url::parse(&self.base_url) else {
            return false;
        };
        match (url.scheme(), url.host()) {
            ("https", Some(_)) => true,
            ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
            ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
            ("http", Some(url::Host::Domain(name))) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            _ => false,
        }
    }

    /// A configuration for tests: everything under `dir`, SQLite, the given public URL.
    /// The fewest characters a new password may have: `password_min_chars`, never below 8.
    pub fn min_password_chars(&self) -> usize {
        usize::try_from(self.password_min_chars).unwrap_or(usize::MAX).max(8)
    }

    pub fn for_tests(dir: &Path, base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            data_dir: dir.join("data"),
            certs_dir: dir.join("certs"),
            sp_metadata_dir: dir.join("sp-metadata"),
            // The tests' SCIM server listens on 127.0.0.1.
            scim_allow_private_targets: true,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failure stopped: a huge duration (here 10^17 s) made `chrono::Duration::seconds` or `DateTime + Duration`
    /// panic on every request that used it (each AuthnRequest's freshness check, each parked request). Refused at
    /// start-up instead, naming the key and where its value came from.
    #[test]
    fn unbounded_durations_are_refused_with_key_and_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        for key in [
            "clock_skew_secs",
            "request_max_age_secs",
            "login_timeout_secs",
            "session_lifetime_secs",
            "database_wait_secs",
            "reconcile_interval_secs",
            "event_retention_days",
        ] {
            let path = dir.path().join(format!("{key}.toml"));
            let value = if key == "event_retention_days" { "4000000000" } else { "100000000000000000" };
            std::fs::write(&path, format!("{key} = {value}\n")).expect("write");
            let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(key) && err.contains(&path.display().to_string()), "{key}: {err}");
        }
        let defaults = Config::default().validate().expect("the defaults are valid");
        assert_eq!(defaults.event_retention_days, 400);
    }

    #[test]
    fn the_provisioning_lease_is_bounded() {
        let with_lease = |secs| Config { provisioning_lease_secs: secs, ..Config::default() }.validate();
        assert_eq!(Config::default().provisioning_lease_secs, 120);
        assert!(with_lease(5).is_ok() && with_lease(3600).is_ok());
        for secs in [0, 4, 3601] {
            let err = with_lease(secs).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("provisioning_lease_secs"), "{secs}: {err}");
        }
    }

    #[test]
    fn the_password_minimum_is_never_below_8() {
        let with_min = |n| Config { password_min_chars: n, ..Config::default() }.validate();
        assert_eq!(Config::default().password_min_chars, 12);
        assert!(with_min(8).is_ok() && with_min(256).is_ok());
        for n in [0, 7, 257] {
            let err = with_min(n).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("password_min_chars"), "{n}: {err}");
        }
    }

    #[test]
    fn https_and_loopback_base_urls_are_potentially_trustworthy() {
        let trusted = |base: &str| Config { base_url: base.into(), ..Config::default() }.is_potentially_trustworthy();
        for yes in [
            "https://idp.example.com",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:8080",
            "http://localhost:8080",
            "http://idp.localhost",
        ] {
            assert!(trusted(yes), "{yes}");
        }
        for no in
            ["http://idp.test", "http://10.0.0.1", "http://localhost.example.com", "http://[::2]", "ftp://127.0.0.1"]
        {
            assert!(!trusted(no), "{no}");
        }
    }
}
