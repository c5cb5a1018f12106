//! SCIM 2.0 (RFC 7643, RFC 7644) as a `Provisioner`: a small client over reqwest.
//!
//! The bearer token goes only into the Authorization header. Updates use PATCH when the SP's
//! ServiceProviderConfig says it supports it (RFC 7644 §3.5.2), else PUT with the whole resource.
//! The resources it sends are built by the mapping engine (`crate::mapping`); this module only carries them.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::directory::User;
use crate::mapping::{group_resource, UserMapping};
use crate::provisioning::{address, Page, ProvisionError, Provisioner, RemoteGroup, RemoteUser};

const SCIM_JSON: &str = "application/scim+json";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most a response body may be; a listing page of 100 users is far smaller.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The HTTP client every SCIM integration shares: timeouts, no redirects (a token must not follow one), a fixed
/// user agent, no proxy from the environment (a proxy would resolve and reach what the policy refuses), and the
/// address policy (`address`): public addresses only unless private targets are allowed.
pub fn http_client(allow_private: bool) -> Result<reqwest::Client, ProvisionError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("sesame-scim/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(policy(allow_private).resolver())
        .pool_max_idle_per_host(32)
        .build()
        .map_err(|e| ProvisionError::network(format!("HTTP client: {e}")))
}

/// Checks a Base URL before use: https (http only where private targets are allowed), a host, no credentials,
/// and no literal address that the policy forbids.
pub fn check_base_url(base_url: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(base_url).map_err(|e| format!("the Base URL is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => return Err(format!("the Base URL must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the Base URL must not carry credentials; use the token".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the Base URL must not have a query or fragment".into());
    }
    address::check_url(&url, policy(allow_private)).map_err(|e| e.replacen("the URL", "the Base URL", 1))?;
    Ok(url)
}

fn policy(allow_private: bool) -> address::Policy {
    if allow_private {
        address::Policy::NotReserved
    } else {
        address::Policy::Public
    }
}

/// A SCIM service provider.
pub struct ScimProvisioner {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    mapping: UserMapping,
    /// 0 unknown, 1 PATCH supported, 2 not supported (from ServiceProviderConfig, asked once).
    patch: AtomicU8,
}

impl ScimProvisioner {
    pub fn new(http: reqwest::Client, base_url: &str, token: SecretString, mapping: UserMapping) -> Self {
        Self { http, base: base_url.trim_end_matches('/').to_owned(), token, mapping, patch: AtomicU8::new(0) }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ProvisionError> {
        let mut headers = HeaderMap::new();
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| ProvisionError::network("the token contains characters a header cannot carry"))?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(SCIM_JSON));
        let mut request = self.http.request(method, format!("{}{path}", self.base)).headers(headers);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, SCIM_JSON).body(body.to_string());
        }
        let response = request.send().await.map_err(|e| ProvisionError::network(describe(&e)))?;
        let status = response.status();
        let retry_after =
            response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| retry_after(v, Utc::now()));
        let bytes = read_capped(response).await?;
        reply(status, &bytes, retry_after).map(|value| (status, value))
    }

    async fn supports_patch(&self) -> bool {
        match self.patch.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let supported = match self.send(Method::GET, "/ServiceProviderConfig", None).await {
                    Ok((_, config)) => patch_supported(&config),
                    Err(_) => false,
                };
                self.patch.store(if supported { 1 } else { 2 }, Ordering::Relaxed);
                supported
            }
        }
    }

    async fn search(&self, resource: &str, filter: &str) -> Result<Vec<Value>, ProvisionError> {
        let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("filter", filter).finish();
        let (_, body) = self.send(Method::GET, &format!("/{resource}?{query}"), None).await?;
        Ok(resources(&body))
    }
}

#[async_trait]
impl Provisioner for ScimProvisioner {
    async fn verify(&self) -> Result<(), ProvisionError> {
        // A listing needs the token on every SP; ServiceProviderConfig may be public (RFC 7644 §4).
        self.send(Method::GET, "/Users?startIndex=1&count=1", None).await?;
        self.supports_patch().await;
        Ok(())
    }

    fn account_name(&self, user: &User) -> String {
        self.mapping.user_name(user)
    }

    async fn find_user(&self, user: &User) -> Result<Option<RemoteUser>, ProvisionError> {
        let user_name = self.mapping.user_name(user);
        let found = self.search("Users", &format!("userName eq {}", filter_string(&user_name))).await?;
        Ok(found.first().map(remote_user))
    }

    async fn get_user(&self, id: &str) -> Result<RemoteUser, ProvisionError> {
        let (_, body) = self.send(Method::GET, &format!("/Users/{}", segment(id)), None).await?;
        Ok(remote_user(&body))
    }

    async fn create_user(&self, user: &User, active: bool) -> Result<RemoteUser, ProvisionError> {
        let resource = self.mapping.to_resource(user, active);
        let (_, body) = self.send(Method::POST, "/Users", Some(&resource)).await?;
        let created = remote_user(&body);
        if created.id.is_empty() {
            return Err(ProvisionError::network("the SP created the user but returned no id"));
        }
        Ok(created)
    }

    async fn update_user(&self, id: &str, user: &User, active: bool) -> Result<(), ProvisionError> {
        let resource = self.mapping.to_resource(user, active);
        let path = format!("/Users/{}", segment(id));
        if self.supports_patch().await {
            // Replace every mapped attribute; remove the ones that became empty (RFC 7644 §3.5.2.2, §3.5.2.3).
            let mut operations = vec![json!({"op": "replace", "value": without_schemas(&resource)})];
            for path in self.mapping.empty_optional_paths(user) {
                operations.push(json!({"op": "remove", "path": path}));
            }
            let body = json!({"schemas": [PATCH_OP], "Operations": operations});
            self.send(Method::PATCH, &path, Some(&body)).await.map(drop)
        } else {
            let mut resource = resource;
            if let Value::Object(map) = &mut resource {
                map.insert("id".into(), Value::from(id));
            }
            self.send(Method::PUT, &path, Some(&resource)).await.map(drop)
        }
    }

    async fn deactivate_user(&self, id: &str) -> Result<(), ProvisionError> {
        let path = format!("/Users/{}", segment(id));
        if self.supports_patch().await {
            let body =
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
            return self.send(Method::PATCH, &path, Some(&body)).await.map(drop);
        }
        let (_, mut resource) = self.send(Method::GET, &path, None).await?;
        if let Value::Object(map) = &mut resource {
            map.insert("active".into(), Value::Bool(false));
            map.remove("meta");
        }
        self.send(Method::PUT, &path, Some(&resource)).await.map(drop)
    }

    async fn delete_user(&self, id: &str) -> Result<(), ProvisionError> {
        match self.send(Method::DELETE, &format!("/Users/{}", segment(id)), None).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }

    fn is_current(&self, user: &User, remote: &RemoteUser) -> bool {
        remote.active && !self.mapping.differs(user, &remote.raw)
    }

    async fn list_users(&self, start_index: usize, count: usize) -> Result<Page<RemoteUser>, ProvisionError> {
        let (_, body) = self.send(Method::GET, &format!("/Users?startIndex={start_index}&count={count}"), None).await?;
        Ok(user_page(&body))
    }

    async fn find_group(&self, display_name: &str) -> Result<Option<RemoteGroup>, ProvisionError> {
        let found = self.search("Groups", &format!("displayName eq {}", filter_string(display_name))).await?;
        Ok(found.first().map(remote_group))
    }

    async fn get_group(&self, id: &str) -> Result<RemoteGroup, ProvisionError> {
        let (_, body) = self.send(Method::GET, &format!("/Groups/{}", segment(id)), None).await?;
        Ok(remote_group(&body))
    }

    async fn create_group(&self, display_name: &str, members: &[String]) -> Result<RemoteGroup, ProvisionError> {
        let body = group_resource(None, display_name, members);
        let (_, created) = self.send(Method::POST, "/Groups", Some(&body)).await?;
        Ok(remote_group(&created))
    }

    async fn update_group(&self, id: &str, display_name: &str, members: &[String]) -> Result<(), ProvisionError> {
        let body = group_resource(Some(id), display_name, members);
        self.send(Method::PUT, &format!("/Groups/{}", segment(id)), Some(&body)).await.map(drop)
    }

    async fn delete_group(&self, id: &str) -> Result<(), ProvisionError> {
        match self.send(Method::DELETE, &format!("/Groups/{}", segment(id)), None).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }
}

/// Reads an SP's answer: the JSON body of a success (`Null` when empty or not JSON), or the error it describes.
pub(crate) fn reply(status: StatusCode, bytes: &[u8], retry_after: Option<Duration>) -> Result<Value, ProvisionError> {
    let value: Value =
        if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).unwrap_or(Value::Null) };
    if status.is_success() {
        return Ok(value);
    }
    // RFC 7644 §3.12: an error carries `detail` (and `scimType`); keep the SP's own words.
    let detail = value
        .get("detail")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(300).collect());
    let scim_type = value.get("scimType").and_then(Value::as_str).map(str::to_owned);
    Err(ProvisionError { status: Some(status.as_u16()), detail, retry_after, scim_type })
}

/// Whether a ServiceProviderConfig announces PATCH (RFC 7643 §5).
pub(crate) fn patch_supported(config: &Value) -> bool {
    config.pointer("/patch/supported").and_then(Value::as_bool).unwrap_or(false)
}

/// The `Resources` of a ListResponse (RFC 7644 §3.4.2); none when the body has no such list.
pub(crate) fn resources(body: &Value) -> Vec<Value> {
    body.get("Resources").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// One page of a users ListResponse; without `totalResults`, the page is taken as the whole list.
pub(crate) fn user_page(body: &Value) -> Page<RemoteUser> {
    let items: Vec<RemoteUser> = body
        .get("Resources")
        .and_then(Value::as_array)
        .map(|r| r.iter().map(remote_user).collect())
        .unwrap_or_default();
    let total = body.get("totalResults").and_then(Value::as_u64).map_or(items.len(), |t| t as usize);
    Page { items, total }
}

fn without_schemas(resource: &Value) -> Value {
    let mut value = resource.clone();
    if let Value::Object(map) = &mut value {
        map.remove("schemas");
    }
    value
}

pub(crate) fn remote_user(v: &Value) -> RemoteUser {
    let text = |pointer: &str| v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    let email = v
        .get("emails")
        .and_then(Value::as_array)
        .and_then(|emails| {
            emails.iter().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true)).or_else(|| emails.first())
        })
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // The work address, else the primary one, else the first (RFC 7643 §4.1.2).
    let address = v.get("addresses").and_then(Value::as_array).and_then(|all| {
        all.iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some("work"))
            .or_else(|| all.iter().find(|a| a.get("primary").and_then(Value::as_bool) == Some(true)))
            .or_else(|| all.first())
    });
    let part = |name: &str| address.and_then(|a| a.get(name)).and_then(Value::as_str).unwrap_or_default().to_owned();
    RemoteUser {
        id: text("/id"),
        user_name: text("/userName"),
        email,
        given_name: text("/name/givenName"),
        family_name: text("/name/familyName"),
        display_name: text("/displayName"),
        preferred_language: text("/preferredLanguage"),
        work_street: part("streetAddress"),
        work_locality: part("locality"),
        work_region: part("region"),
        work_postal_code: part("postalCode"),
        work_country: part("country"),
        external_id: text("/externalId"),
        active: v.get("active").and_then(Value::as_bool).unwrap_or(true),
        raw: v.clone(),
    }
}

pub(crate) fn remote_group(v: &Value) -> RemoteGroup {
    RemoteGroup {
        id: v.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        display_name: v.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned(),
        members: v
            .get("members")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(|x| x.get("value").and_then(Value::as_str).map(str::to_owned)).collect())
            .unwrap_or_default(),
    }
}

/// The longest wait a `Retry-After` may ask for; a later time is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` (RFC 9110 §10.2.3): delay seconds or an HTTP date, capped; a date in the past means now.
pub(crate) fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A SCIM filter string literal (RFC 7644 §3.4.2.2: JSON string rules).
fn filter_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".into())
}

/// The body of a response, read with the cap held while reading: an SP that announces or sends more than
/// `MAX_BODY` bytes is cut off at that point, instead of being buffered whole first.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ProvisionError> {
    let too_large = || ProvisionError::network(format!("the SP's answer is larger than {MAX_BODY} bytes"));
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ProvisionError::network(describe(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An id as one path segment, so an SP-chosen id cannot change the path.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A transport error, without the URL's query (which carries nothing secret here, but stays short).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Server-side request forgery: an admin-supplied Base URL must not reach internal services by default.
    #[test]
    fn refuses_private_and_plain_http_targets_by_default() {
        for bad in [
            "http://scim.example.com/v2",
            "https://127.0.0.1/scim",
            "https://10.0.0.8/scim",
            "https://[::1]/scim",
            "https://user:pw@scim.example.com/",
            "https://0.0.0.0/scim",
            "https://198.18.0.1/scim",
            "https://240.0.0.1/scim",
            "https://[64:ff9b::a00:1]/scim",
            "https://[2002:a00:1::1]/scim",
            "https://[fec0::1]/scim",
        ] {
            assert!(check_base_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_base_url("https://scim.example.com/v2", false).is_ok());
        assert!(check_base_url("http://127.0.0.1:8080/", true).is_ok());
        // Reserved ranges stay refused even where private targets are allowed.
        assert!(check_base_url("http://169.254.169.254/", true).is_err());
        assert!(check_base_url("http://0.0.0.0:8080/", true).is_err());
    }

    #[test]
    fn reads_retry_after_as_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now), None);
    }

    /// Memory exhaustion by a hostile or broken SP: the answer was buffered whole before its size was checked, so
    /// an endless body (chunked, no Content-Length) filled memory until the 30-second timeout. It is cut off once
    /// it passes `MAX_BODY`, and the call fails at once saying so.
    #[tokio::test]
    async fn an_endless_answer_is_cut_off_at_the_cap() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/scim+json\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        });
        let sp = ScimProvisioner::new(
            http_client(true).unwrap(),
            &base,
            SecretString::from("token".to_owned()),
            UserMapping::default(),
        );
        let err = tokio::time::timeout(Duration::from_secs(10), sp.verify())
            .await
            .expect("the call ends without waiting for the timeout")
            .expect_err("an endless answer fails");
        assert!(err.detail.contains("larger than"), "{}", err.detail);
    }

    #[test]
    fn quotes_filter_values() {
        assert_eq!(filter_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
