//! The real `sesame` binary: `serve` on a free loopback port, and admin commands against its database.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A `sesame serve` process with its own directories, and on PostgreSQL its own database. Killed when dropped.
pub struct Serve {
    pub child: Child,
    pub bind: String,
    pub base: String,
    /// Every `SESAME_*` variable the server and the commands get.
    pub env: Vec<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (free when this returns; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Serve {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let server = Self::spawn(&[]);
        server.wait_listening(Duration::from_secs(30));
        server
    }

    /// Starts the server with `extra` variables (which win over the defaults), without waiting for it.
    pub fn spawn(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bind = format!("127.0.0.1:{}", free_port());
        let base = format!("http://{bind}");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let mut env = vec![
            ("SESAME_BIND".to_owned(), bind.clone()),
            ("SESAME_BASE_URL".to_owned(), base.clone()),
            ("SESAME_DATA_DIR".to_owned(), path("data")),
            ("SESAME_CERTS_DIR".to_owned(), path("certs")),
            ("SESAME_SP_METADATA_DIR".to_owned(), path("sp-metadata")),
        ];
        if !extra.iter().any(|(k, _)| *k == "SESAME_DATABASE_URL") {
            if let Some(server) = super::postgres_server() {
                env.push(("SESAME_DATABASE_URL".to_owned(), super::create_database_blocking(&server)));
            }
        }
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = command(&env).arg("serve").stdout(Stdio::null()).stderr(log).spawn().unwrap();
        Self { child, bind, base, env, dir }
    }

    pub fn wait_listening(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while std::net::TcpStream::connect(&self.bind).is_err() {
            assert!(Instant::now() < deadline, "server did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server still running after {limit:?}: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM, as systemd and container runtimes do to stop a service.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Runs an admin command against the server's database.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = command(&self.env)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }
}

fn command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    // Only the harness reads it; the binary would report it as an unknown SESAME_* variable on stderr.
    command.env_remove(super::POSTGRES_ENV).envs(env.iter().map(|(k, v)| (k, v)));
    command
}
