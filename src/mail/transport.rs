//! Where mail goes: `SESAME_SMTP_URL` read into settings (pure), and the lettre transport built from them.
//!
//! `smtps://host[:465]` speaks TLS from the first byte; `smtp://host[:587]` must upgrade with STARTTLS before
//! anything else is said (a server that does not offer it is refused, so no password or link crosses the network
//! in clear). Plain SMTP is allowed only to a loopback host (a local relay that forwards over TLS itself); there,
//! STARTTLS is still used when the server offers it. Certificates are verified against the system's roots, plus
//! `smtp_ca_file` for a relay under a private CA.

use std::net::IpAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the start (`smtps://`).
    Tls,
    /// STARTTLS required (`smtp://` to any host that is not loopback).
    StartTls,
    /// `smtp://` to a loopback host: STARTTLS when offered, else plain.
    Loopback,
}

/// The parts of an SMTP URL.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<SecretString>,
}

/// Reads `SESAME_SMTP_URL`; the error names what is wrong without repeating the URL (it may hold a password).
pub fn parse_smtp_url(url: &str) -> Result<SmtpSettings, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("has no host".into()),
    };
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("takes no path, query or fragment: smtp://[user:password@]host[:port] or smtps://...".into());
    }
    let (security, default_port) = match parsed.scheme() {
        "smtps" => (Security::Tls, 465),
        "smtp" if is_loopback(&host) => (Security::Loopback, 25),
        "smtp" => (Security::StartTls, 587),
        other => return Err(format!("scheme {other:?} is not smtp or smtps")),
    };
    // The user and password are percent-encoded in the URL (`p%40ss` for `p@ss`); `+` stays a plus.
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let user = Some(parsed.username()).filter(|u| !u.is_empty()).map(decode);
    let password = parsed.password().map(|p| SecretString::from(decode(p)));
    if password.is_some() && user.is_none() {
        return Err("has a password but no user".into());
    }
    Ok(SmtpSettings { host, port: parsed.port().unwrap_or(default_port), security, user, password })
}

/// Loopback hosts, where plain SMTP never leaves the machine.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// The transport for `settings`, trusting the PEM certificates in `extra_roots` besides the system's.
pub fn build(
    settings: &SmtpSettings,
    extra_roots: Option<&[u8]>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(settings.host.clone());
    if let Some(pem) = extra_roots {
        for block in split_pem(pem) {
            let cert = Certificate::from_pem(&block).map_err(|e| format!("smtp_ca_file: {e}"))?;
            tls = tls.add_root_certificate(cert);
        }
    }
    let tls = tls.build_native().map_err(|e| format!("TLS settings: {e}"))?;
    let mode = match settings.security {
        Security::Tls => Tls::Wrapper(tls),
        Security::StartTls => Tls::Required(tls),
        Security::Loopback => Tls::Opportunistic(tls),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
        .port(settings.port)
        .tls(mode)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
    }
    Ok(builder.build())
}

/// The certificates of a PEM bundle, one block each (lettre reads one certificate per call).
fn split_pem(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END CERTIFICATE-----") {
            blocks.push(std::mem::take(&mut current).into_bytes());
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_kinds_of_url() {
        let s = parse_smtp_url("smtps://mailer:p%40ss+w@mail.example.com").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.security), ("mail.example.com", 465, Security::Tls));
        assert_eq!(s.user.as_deref(), Some("mailer"));
        assert_eq!(s.password.unwrap().expose_secret(), "p@ss+w");
        let s = parse_smtp_url("smtp://mail.example.com").unwrap();
        assert_eq!((s.port, s.security), (587, Security::StartTls));
        let s = parse_smtp_url("smtp://mail.example.com:2525").unwrap();
        assert_eq!((s.port, s.security), (2525, Security::StartTls));
        for local in ["smtp://127.0.0.1:2525", "smtp://localhost", "smtp://[::1]:25"] {
            assert_eq!(parse_smtp_url(local).unwrap().security, Security::Loopback, "{local}");
        }
        // Plain SMTP to any other host is not on offer: it means STARTTLS, required.
        assert_eq!(parse_smtp_url("smtp://10.0.0.5:25").unwrap().security, Security::StartTls);
    }

    #[test]
    fn refuses_what_it_cannot_use_without_echoing_the_password() {
        for (url, says) in [
            ("http://mail.example.com", "scheme"),
            ("smtp://", "host"),
            ("smtp://:secret@mail.example.com", "no user"),
            ("smtp://mail.example.com/path?x=1", "path"),
            ("not a url", "not a URL"),
        ] {
            let err = parse_smtp_url(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
