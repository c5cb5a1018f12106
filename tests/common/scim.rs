//! A real SCIM server for the tests: scim2-server (PyPI) run by tests/peers/scim_server.py on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TOKEN: &str = "test-scim-token-5f1c";
/// A second token the server accepts when started with `start_with_second_token` (a changed token).
pub const TOKEN2: &str = "test-scim-token-9e2d";

pub struct ScimPeer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub port: u16,
    http: reqwest::Client,
}

impl Drop for ScimPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ScimPeer {
    /// Starts the server; a missing venv is a setup failure (run scripts/peers-venv.sh), not a skip.
    pub fn start() -> Self {
        Self::start_with(&[TOKEN])
    }

    /// A server that accepts `TOKEN2` besides `TOKEN`.
    pub fn start_with_second_token() -> Self {
        Self::start_with(&[TOKEN, TOKEN2])
    }

    fn start_with(tokens: &[&str]) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let python = format!("{root}/.venv/bin/python");
        assert!(std::path::Path::new(&python).exists(), "{python} is missing: run scripts/peers-venv.sh");
        let mut child = Command::new(python)
            .arg(format!("{root}/tests/peers/scim_server.py"))
            .args(tokens.iter().flat_map(|t| ["--bearer-token", *t]))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port =
            line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("scim server said {line:?}")).parse().unwrap();
        ScimPeer { child, stdout, port, http: reqwest::Client::new() }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// An outage: the server stops listening (connections are refused) but keeps its data.
    pub fn stop_listening(&mut self) {
        self.signal("USR1", "down");
        assert!(std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err(), "still listening");
    }

    /// A rate limit: the next 3 requests get 429 Too Many Requests with `Retry-After: 7`.
    pub fn throttle(&mut self) {
        self.signal("HUP", "throttling");
    }

    pub fn listen_again(&mut self) {
        self.signal("USR2", "up");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the SCIM server did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&mut self, name: &str, expect: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with(expect), "scim server said {line:?}");
    }

    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base_url())).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Every resource of a type (`Users` or `Groups`).
    pub async fn all(&self, resource: &str) -> Vec<Value> {
        let (status, body) = self.request(reqwest::Method::GET, &format!("/{resource}?count=1000"), None).await;
        assert_eq!(status, 200, "{body}");
        body["Resources"].as_array().cloned().unwrap_or_default()
    }

    pub async fn user(&self, user_name: &str) -> Option<Value> {
        self.all("Users").await.into_iter().find(|u| u["userName"] == user_name)
    }

    pub async fn group(&self, display_name: &str) -> Option<Value> {
        self.all("Groups").await.into_iter().find(|g| g["displayName"] == display_name)
    }

    /// userNames of a group's members.
    pub async fn member_names(&self, display_name: &str) -> Vec<String> {
        let group = self.group(display_name).await.unwrap_or_else(|| panic!("no group {display_name}"));
        let users = self.all("Users").await;
        let mut names: Vec<String> = group["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|m| users.iter().find(|u| u["id"] == m["value"]))
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// userNames of a group's members, empty while the group does not exist.
    pub async fn member_names_if_any(&self, display_name: &str) -> Vec<String> {
        if self.group(display_name).await.is_none() {
            return Vec::new();
        }
        self.member_names(display_name).await
    }

    /// Creates a user directly, as if someone did it in the SP.
    pub async fn create_user(&self, user_name: &str, email: &str) -> Value {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": email, "type": "work", "primary": true}],
            "name": {"givenName": "Pre", "familyName": "Existing"},
            "active": true
        });
        let (status, created) = self.request(reqwest::Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    pub async fn create_group(&self, display_name: &str) -> Value {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": display_name});
        let (status, created) = self.request(reqwest::Method::POST, "/Groups", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    pub async fn patch_user(&self, id: &str, operations: Value) -> Value {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        let (status, patched) = self.request(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(body)).await;
        assert!(status == 200 || status == 204, "{patched}");
        patched
    }
}
