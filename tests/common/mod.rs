//! Test harness: a whole IdP on a temporary directory, driven through the router without a socket.
//!
//! The database is SQLite in the temporary directory, or, when `SESAME_TEST_DATABASE_URL` names a PostgreSQL server
//! (`make test` starts one with scripts/pg-temp.sh), a database of its own on that server for each test, so tests
//! stay independent and run in parallel on either backend.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod authenticator;
pub mod scim;
pub mod serve;

use std::io::Write;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use sesame::audit::Actor;
use sesame::config::Config;
use sesame::directory::user::Profile;
use sesame::saml::keys::SigningKey;
use sesame::saml::response::{ASSERTION_NS, PROTOCOL_NS};
use sesame::saml::sign::sign_enveloped;
use sesame::saml::xml::CanonicalWriter;
use sesame::services::Ctx;
use sesame::services::{apps, groups, users};
use tower::ServiceExt;

pub const BASE: &str = "http://idp.test";
pub const SP_ENTITY: &str = "https://sp.example.com/metadata";
pub const ACS: &str = "https://sp.example.com/acs";
pub const ACS2: &str = "https://sp.example.com/acs2";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub ctx: Ctx,
    pub router: Router,
    /// The SP's signing key, registered in its metadata.
    pub sp_key: SigningKey,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl Reply {
    /// The value of a hidden input in the page, HTML entities decoded.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(unescape(&self.body[start..end]))
    }

    /// The decoded SAMLResponse of an auto-POST page.
    pub fn saml_response(&self) -> Option<String> {
        let b64 = self.input("SAMLResponse")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(bytes).ok()
    }

    pub fn form_action(&self) -> Option<String> {
        let start = self.body.find("action=\"")? + 8;
        let end = self.body[start..].find('"')? + start;
        Some(unescape(&self.body[start..end]))
    }
}

pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find(';') else { break };
        let entity = &rest[i + 1..i + j];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") || e.starts_with("#X") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            _ => panic!("unknown entity {entity}"),
        };
        out.push(c);
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// SP metadata with a signing certificate and two HTTP-POST ACS endpoints.
pub fn sp_metadata(sp_key: &SigningKey, authn_requests_signed: bool) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP_ENTITY}">
  <md:SPSSODescriptor AuthnRequestsSigned="{authn_requests_signed}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="0" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS2}" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#,
        sp_key.cert.to_base64()
    )
}

pub const SETTINGS: &str = r#"
display_label = "Acme CRM"
default_relay_state = "/welcome"
[[attributes]]
name = "mail"
property = "email"
[[attributes]]
name = "displayName"
property = "display_name"
[[attributes]]
name = "tier"
constant = "gold"
[[attributes]]
name = "memberOf"
groups = true
"#;

impl TestApp {
    /// An IdP with application `acme` (SP metadata above), user `alice` in group `staff` bound to it, user `bob`
    /// in group `outsiders` that is not bound, and user `carol` (suspended) in `staff`.
    pub async fn new() -> Self {
        Self::with_app_settings("").await
    }

    /// Like `new`, with extra lines appended to the application's settings file.
    pub async fn with_app_settings(extra: &str) -> Self {
        Self::with(extra, |_| {}).await
    }

    /// Like `with_app_settings`, with the configuration adjusted by `configure`.
    pub async fn with(extra: &str, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), BASE).await;
        configure(&mut config);
        let server = sesame::build(config).await.unwrap();
        let sp_key = SigningKey::generate("sp", Utc::now(), 2).unwrap();
        let app = TestApp { ctx: server.ctx, router: server.router, sp_key, _dir: std::sync::Arc::new(dir) };
        let now = Utc::now();
        let actor = Actor::Cli;
        for (name, display) in [("alice", "Alice <b>&</b> Co"), ("bob", "Bob"), ("carol", "Carol")] {
            let profile =
                Profile { email: format!("{name}@example.com"), display_name: display.into(), ..Profile::default() };
            users::create_user(&app.ctx, &actor, name, profile, Some(PASSWORD.into()), now).await.unwrap();
        }
        for group in ["staff", "outsiders"] {
            groups::create_group(&app.ctx, &actor, group, now).await.unwrap();
        }
        groups::change_member(&app.ctx, &actor, "staff", "alice", true, now).await.unwrap();
        groups::change_member(&app.ctx, &actor, "staff", "carol", true, now).await.unwrap();
        groups::change_member(&app.ctx, &actor, "outsiders", "bob", true, now).await.unwrap();
        users::suspend_user(&app.ctx, &actor, "carol", now).await.unwrap();
        app.import("acme", false, &format!("{extra}\n{SETTINGS}")).await;
        apps::change::change_binding(&app.ctx, &actor, "acme", "staff", true, now).await.unwrap();
        app
    }

    pub async fn import(&self, name: &str, authn_requests_signed: bool, settings: &str) {
        let xml = sp_metadata(&self.sp_key, authn_requests_signed);
        apps::create::import_app_xml(&self.ctx, &Actor::Cli, name, &xml, None, Some(settings), Utc::now())
            .await
            .unwrap();
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let header =
            |name: header::HeaderName| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let location = header(header::LOCATION);
        let set_cookie = header(header::SET_COOKIE).map(|c| c.split(';').next().unwrap_or_default().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply { status, location, set_cookie, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, uri: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::get(uri);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, uri: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// Signs in through the login form and returns the session cookie.
    pub async fn login(&self, username: &str, password: &str) -> String {
        self.try_login(username, password, "/").await.1.expect("signed in")
    }

    /// Submits the login form; returns the reply and the session cookie if sign-in succeeded.
    pub async fn try_login(&self, username: &str, password: &str, next: &str) -> (Reply, Option<String>) {
        let page = self.get("/login", None).await;
        let cookie = page.set_cookie.clone().expect("login page sets a session cookie");
        let token = page.input("csrf_token").expect("csrf token");
        let fields =
            [("csrf_token", token.as_str()), ("username", username), ("password", password), ("continue", next)];
        let reply = self.post_form("/login", &fields, Some(&cookie)).await;
        let session = (reply.status == StatusCode::SEE_OTHER).then(|| reply.set_cookie.clone().unwrap_or(cookie));
        (reply, session)
    }

    /// A new server on the same directory and database: what a restart of the process sees.
    pub async fn restart(self) -> Self {
        let TestApp { ctx, router, sp_key, _dir } = self;
        let config = (*ctx.config).clone();
        drop(router);
        ctx.db.pool.close().await;
        drop(ctx);
        let server = sesame::build(config).await.unwrap();
        TestApp { ctx: server.ctx, router: server.router, sp_key, _dir }
    }

    /// A second server on the same directory and database, beside this one: another replica behind the same
    /// load balancer. (Its `sp_key` is a new one: it is for state shared through the database, not for SSO.)
    pub async fn replica(&self) -> Self {
        let server = sesame::build((*self.ctx.config).clone()).await.unwrap();
        let sp_key = SigningKey::generate("sp", Utc::now(), 2).unwrap();
        TestApp { ctx: server.ctx, router: server.router, sp_key, _dir: self._dir.clone() }
    }

    /// A server with its own configuration (its own folders, say) on this one's database: another replica on
    /// another host.
    pub async fn replica_with(&self, config: Config) -> Self {
        let server = sesame::build(config).await.unwrap();
        let sp_key = SigningKey::generate("sp", Utc::now(), 2).unwrap();
        TestApp { ctx: server.ctx, router: server.router, sp_key, _dir: self._dir.clone() }
    }

    /// Delivers every due provisioning job, as the background workers would.
    pub async fn run_provisioning(&self) -> usize {
        self.ctx.worker.run_due().await.unwrap()
    }

    pub fn sso_url(&self) -> String {
        format!("{BASE}/saml2/acme")
    }
}

/// The variable that names the PostgreSQL server the tests use instead of SQLite.
pub const POSTGRES_ENV: &str = "SESAME_TEST_DATABASE_URL";

/// The PostgreSQL server URL the tests run against, if any (unset or empty: SQLite).
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|url| !url.is_empty())
}

/// `Config::for_tests`, with a fresh PostgreSQL database when the tests run on PostgreSQL.
pub async fn test_config(dir: &Path, base: &str) -> Config {
    let mut config = Config::for_tests(dir, base);
    if let Some(server) = postgres_server() {
        config.database_url = Some(create_database(&server).await.into());
    }
    config
}

/// Creates an empty database with a random name on the PostgreSQL server and returns its URL. The databases are
/// not dropped: the server is thrown away after the run.
pub async fn create_database(server: &str) -> String {
    use sqlx::{Connection, Executor};
    let name = format!("sesame_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut conn = sqlx::PgConnection::connect(server).await.expect("the test PostgreSQL server answers");
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    conn.close().await.unwrap();
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// `create_database` for synchronous tests.
pub fn create_database_blocking(server: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(create_database(server))
}

/// Options for a test AuthnRequest.
#[derive(Clone)]
pub struct Req {
    pub id: String,
    pub issuer: String,
    pub issue_instant: DateTime<Utc>,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// RequestedAuthnContext: the comparison and the class references.
    pub authn_context: Option<(String, Vec<String>)>,
}

impl Default for Req {
    fn default() -> Self {
        Self {
            id: sesame::saml::new_id(),
            issuer: SP_ENTITY.into(),
            issue_instant: Utc::now(),
            destination: Some(format!("{BASE}/saml2/acme")),
            acs_url: Some(ACS.into()),
            acs_index: None,
            force_authn: false,
            is_passive: false,
            name_id_format: None,
            authn_context: None,
        }
    }
}

impl Req {
    /// The request as canonical XML; `sign_with` adds an enveloped signature (as an SP using POST does).
    pub fn xml(&self, sign_with: Option<&SigningKey>) -> String {
        let instant = sesame::saml::response::saml_time(self.issue_instant);
        let index = self.acs_index.map(|i| i.to_string());
        let mut attrs = vec![("ID", self.id.as_str()), ("Version", "2.0"), ("IssueInstant", instant.as_str())];
        if let Some(d) = &self.destination {
            attrs.push(("Destination", d));
        }
        if let Some(a) = &self.acs_url {
            attrs.push(("AssertionConsumerServiceURL", a));
        }
        if let Some(i) = &index {
            attrs.push(("AssertionConsumerServiceIndex", i));
        }
        if self.force_authn {
            attrs.push(("ForceAuthn", "true"));
        }
        if self.is_passive {
            attrs.push(("IsPassive", "true"));
        }
        let mut w = CanonicalWriter::new();
        w.open("samlp:AuthnRequest", &[("samlp", PROTOCOL_NS)], &attrs);
        w.leaf("saml:Issuer", &[("saml", ASSERTION_NS)], &[], &self.issuer);
        let at = w.position();
        if let Some(f) = &self.name_id_format {
            w.empty("samlp:NameIDPolicy", &[], &[("Format", f), ("AllowCreate", "true")]);
        }
        if let Some((comparison, classes)) = &self.authn_context {
            w.open("samlp:RequestedAuthnContext", &[], &[("Comparison", comparison)]);
            for class in classes {
                w.leaf("saml:AuthnContextClassRef", &[("saml", ASSERTION_NS)], &[], class);
            }
            w.close("samlp:RequestedAuthnContext");
        }
        w.close("samlp:AuthnRequest");
        let xml = w.finish();
        match sign_with {
            Some(key) => sign_enveloped(&xml, &self.id, at, key).unwrap(),
            None => xml,
        }
    }
}

pub fn deflate_b64(xml: &str) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap())
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// An HTTP-Redirect query for `xml`, signed over the encoded octets when `key` is given (Bindings §3.4.4.1).
pub fn redirect_query(xml: &str, relay_state: Option<&str>, key: Option<&SigningKey>) -> String {
    let mut query = format!("SAMLRequest={}", urlencode(&deflate_b64(xml)));
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", urlencode(r)));
    }
    if let Some(key) = key {
        query.push_str(&format!("&SigAlg={}", urlencode(RSA_SHA256)));
        let signature = sign_octets(&query, key);
        query.push_str(&format!("&Signature={}", urlencode(&signature)));
    }
    query
}

pub fn sign_octets(octets: &str, key: &SigningKey) -> String {
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key.key).unwrap();
    signer.update(octets.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().unwrap())
}

/// The text of the first element named `local` in a SAML document.
pub fn text_of(xml: &str, local: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants().find(|n| n.tag_name().name() == local).and_then(|n| n.text().map(str::to_owned))
}

/// Values of the SAML attribute `name`.
pub fn attribute_values(xml: &str, name: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "Attribute" && n.attribute("Name") == Some(name))
        .flat_map(|n| n.children().filter(|c| c.is_element()).map(|c| c.text().unwrap_or_default().to_owned()))
        .collect()
}
