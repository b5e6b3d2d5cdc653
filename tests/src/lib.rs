//! The end-to-end harness: starts the real `edgeserved` as a process on a temp state dir with
//! free ports and a generated CA, and gives tests a TLS client that trusts it and the real CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fleet;
pub mod netns;
pub mod pki;
pub mod routes;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use pki::{LeafOptions, Pki};

/// How long a daemon may take to load its models and bind.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The folder holding the built binaries (`target/debug`), or `EDGESERVE_BIN_DIR`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EDGESERVE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// A built binary of the workspace.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The committed example models.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// A model's onnxruntime reference outputs.
pub fn reference(model: &str) -> Value {
    let text = std::fs::read_to_string(models_dir().join(model).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Daemon, listener and limit settings of every harness daemon.
fn settings_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"[daemon]
state_dir = "{d}/state"
control_socket = "{d}/run/control.sock"
[tls]
listen = ["127.0.0.1:0"]
cert_pem = "{d}/tls/cert.pem"
key_pem = "{d}/tls/key.pem"
cname = "localhost"
[plain]
listen = ["127.0.0.1:0"]
[metrics]
listen = "127.0.0.1:0"
[limits]
max_body_bytes = 1048576
drain_grace_ms = 0
"#
    )
}

/// The configuration every harness daemon starts from; tests append to it.
fn base_config(dir: &Path) -> String {
    let models = models_dir();
    let m = models.display();
    let declarations = format!(
        r#"[[model]]
name = "mlp"
version = "1"
path = "{m}/mlp"
[[model]]
name = "cnn"
version = "1"
path = "{m}/cnn"
[[model]]
name = "iris"
version = "1"
path = "{m}/iris_forest"
[[model]]
name = "two"
version = "1"
path = "{m}/two_inputs"
[[endpoint]]
name = "mlp"
traffic = {{ blue = 100 }}
[[endpoint]]
name = "cnn"
traffic = {{ blue = 100 }}
[[endpoint]]
name = "iris"
traffic = {{ blue = 100 }}
[[endpoint]]
name = "two"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "mlp"
model = "mlp:1"
[[deployment]]
name = "blue"
endpoint = "cnn"
model = "cnn:1"
[[deployment]]
name = "blue"
endpoint = "iris"
model = "iris:1"
[[deployment]]
name = "blue"
endpoint = "two"
model = "two:1"
"#
    );
    format!("{}{declarations}", settings_config(dir))
}

/// A running daemon process.
pub struct Daemon {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    /// Set while the test holds the log reader ([`Harness::hold_logs`]).
    held: Arc<std::sync::atomic::AtomicBool>,
    /// The TLS listener's address (a free localhost port).
    pub tls: SocketAddr,
    /// The plain listener's address.
    pub plain: SocketAddr,
    /// The metrics listener's address.
    pub metrics: SocketAddr,
}

/// The daemon's stderr left unread ([`Harness::hold_logs`]) until this is dropped.
pub struct LogsHeld(Arc<std::sync::atomic::AtomicBool>);

impl Drop for LogsHeld {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A temp folder with certificates, a config file and, once started, a daemon.
pub struct Harness {
    /// The temp folder: state dir, TLS files, config, control socket.
    pub dir: tempfile::TempDir,
    /// The test CA and the `localhost` leaf the daemon serves.
    pub pki: Pki,
    /// The config file the daemon is started with (inside `dir`).
    pub config_path: PathBuf,
    daemon: Option<Daemon>,
    past_logs: Vec<String>,
    /// Extra environment for the daemon (e.g. `NOTIFY_SOCKET`).
    pub env: Vec<(String, String)>,
}

impl Harness {
    /// A harness serving the four example models, each on endpoint `NAME` deployment `blue`.
    pub fn new() -> Harness {
        Harness::with_extra_config("")
    }

    /// A harness whose daemon serves nothing until the control plane says so.
    pub fn bare() -> Harness {
        let h = Harness::with_extra_config("");
        std::fs::write(&h.config_path, settings_config(h.dir.path())).unwrap();
        h
    }

    /// The same, with `extra` appended to the config file.
    pub fn with_extra_config(extra: &str) -> Harness {
        let dir = tempfile::Builder::new().prefix("edgeserve-e2e-").tempdir().unwrap();
        let pki = Pki::generate(&["localhost"]);
        pki.write(&dir.path().join("tls"));
        std::fs::create_dir_all(dir.path().join("creds")).unwrap();
        let config_path = dir.path().join("edgeserve.toml");
        std::fs::write(&config_path, format!("{}{extra}", base_config(dir.path()))).unwrap();
        Harness { dir, pki, config_path, daemon: None, past_logs: Vec::new(), env: Vec::new() }
    }

    /// The control socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/control.sock")
    }

    /// An `edgeserved` command with this harness's config and master-key credential folder.
    pub fn edgeserved(&self) -> Command {
        let mut cmd = Command::new(bin("edgeserved"));
        cmd.arg("--config")
            .arg(&self.config_path)
            .env("CREDENTIALS_DIRECTORY", self.dir.path().join("creds"))
            .env("EDGESERVE_LOG", "info,edgeserve::traffic=info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Starts the daemon and waits until it is ready.
    pub fn start(&mut self) -> &Daemon {
        assert!(self.daemon.is_none(), "daemon already running");
        let mut child =
            self.edgeserved().stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let sink = logs.clone();
        let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hold = held.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                while hold.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut tls, mut plain, mut metrics) = (None, None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listening(&line, "Tls") {
                        tls.get_or_insert(addr);
                    }
                    if let Some(addr) = listening(&line, "Plain") {
                        plain.get_or_insert(addr);
                    }
                    if let Some(addr) = listening(&line, "Metrics") {
                        metrics.get_or_insert(addr);
                    }
                    if line.contains("edgeserved ready") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("edgeserved did not become ready:\n{}", logs.lock().unwrap().join("\n"));
                }
            }
        }
        self.daemon = Some(Daemon {
            child,
            logs,
            held,
            tls: tls.unwrap(),
            plain: plain.unwrap(),
            metrics: metrics.unwrap(),
        });
        self.daemon.as_ref().unwrap()
    }

    /// Sends a signal to the running daemon.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.daemon().child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// Stops reading the daemon's stderr until the guard is dropped, as a stalled log
    /// collector would: once the pipe (64 KiB) is full the daemon's writes to it block.
    pub fn hold_logs(&self) -> LogsHeld {
        let held = self.daemon().held.clone();
        held.store(true, std::sync::atomic::Ordering::SeqCst);
        LogsHeld(held)
    }

    /// Waits until the daemon has logged a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.logs_now().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the daemon never logged {needle:?}:\n{}",
                self.logs_now()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The running daemon.
    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("daemon not started")
    }

    /// Stops the daemon with SIGTERM and waits for it to exit cleanly.
    pub fn stop(&mut self) {
        let Some(mut d) = self.daemon.take() else { return };
        let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = d.child.try_wait().unwrap() {
                assert!(status.success(), "edgeserved exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "edgeserved did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the log reader drain what the daemon printed last.
        std::thread::sleep(Duration::from_millis(50));
        self.past_logs.extend(d.logs.lock().unwrap().drain(..));
    }

    /// Everything the daemon(s) of this harness logged so far. A running daemon's text log
    /// leaves in batches about 5 ms after a line is logged (`edgeserve_daemon::log_writer`), so
    /// this first gives it 100 ms (twenty times that) to reach stderr and the reader.
    pub fn logs(&self) -> String {
        if self.daemon.is_some() {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.logs_now()
    }

    /// What has been read of the daemon(s)' logs at this instant.
    fn logs_now(&self) -> String {
        let mut all = self.past_logs.clone();
        if let Some(d) = &self.daemon {
            all.extend(d.logs.lock().unwrap().iter().cloned());
        }
        all.join("\n")
    }

    /// Runs the real `edgeserve` CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("edgeserve"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs the CLI expecting failure; returns its exit code and stderr.
    pub fn cli_err(&self, args: &[&str]) -> (i32, String) {
        let out = self.cli(args);
        assert!(
            !out.status.success(),
            "edgeserve {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).trim().to_string())
    }

    /// Writes a file into the harness folder and returns its path as a string.
    pub fn write_file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Runs the CLI and parses its JSON output, failing the test on a non-zero exit.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "edgeserve {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// An endpoint's primary and secondary keys, from `edgeserve endpoint get-credentials`.
    pub fn keys(&self, endpoint: &str) -> (String, String) {
        let v = self.cli_json(&["endpoint", "get-credentials", "-n", endpoint]);
        (
            v["primaryKey"].as_str().unwrap().to_string(),
            v["secondaryKey"].as_str().unwrap().to_string(),
        )
    }

    /// A TLS client that trusts only this harness's CA.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// The builder behind [`Harness::client`], for tests that tweak it.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes()).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(30))
    }

    /// `https://localhost:PORT{path}` on the TLS listener.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.daemon().tls.port())
    }

    /// The metrics listener's text.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.daemon().metrics);
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    /// The seed scoring URI of an endpoint.
    pub fn score_url(&self, endpoint: &str) -> String {
        self.url(&format!("/api/v1/service/{endpoint}/score"))
    }
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.as_mut() {
            let _ = d.child.kill();
            let _ = d.child.wait();
        }
        // Every test's captured daemon log is checked for secrets (SPEC §4): endpoint keys
        // (`esk_`) and JWTs (their header starts `eyJ`) must never be logged.
        if !std::thread::panicking() {
            let logs = self.logs();
            for (what, marker) in [("an endpoint key", "esk_"), ("a token", "eyJ")] {
                if let Some(line) = logs.lines().find(|l| l.contains(marker)) {
                    panic!("{what} reached the daemon log: {line}");
                }
            }
        }
    }
}

/// The address in a `listening listen=ADDR transport=KIND` log line.
fn listening(line: &str, kind: &str) -> Option<SocketAddr> {
    if !line.contains("listening") || !line.contains(&format!("transport={kind}")) {
        return None;
    }
    let rest = line.split("listen=").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Runs a command that is expected to exit by itself, killing it after `timeout`. Its stdout
/// and stderr are read while it runs (a child that fills an unread 64 KiB pipe would block on
/// its next write and never exit), and on the deadline the panic shows both, so a stalled run
/// says where it stalled (a data-plane Schemathesis run on a loaded CI machine stalled past
/// 300 s with nothing shown; alone it takes about 41 s and prints about 4 KB).
pub fn run_to_exit(mut cmd: Command, timeout: Duration) -> Output {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
            panic!(
                "command did not exit within {timeout:?}:\n{}\n{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

impl Harness {
    /// Rewrites the config file through `edit`.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config_path).unwrap();
        std::fs::write(&self.config_path, edit(text)).unwrap();
    }
}

impl Harness {
    /// Runs the real `edgeserve` CLI against this daemon as another unix user (and group, with
    /// no supplementary groups) through `setpriv`; the tests run as root. The socket's folders
    /// must be reachable by that user (see [`Harness::open_socket_dirs`]).
    pub fn cli_as(&self, user: &str, group: &str, args: &[&str]) -> Output {
        Command::new("setpriv")
            .arg(format!("--reuid={user}"))
            .arg(format!("--regid={group}"))
            .args(["--clear-groups", "--"])
            .arg(bin("edgeserve"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .current_dir("/")
            .output()
            .unwrap()
    }

    /// Lets every local user traverse the harness folder and the socket's folder (mode 0755),
    /// so that the socket's own mode and the daemon's roles decide who gets in.
    pub fn open_socket_dirs(&self) {
        use std::os::unix::fs::PermissionsExt;
        let run = self.socket().parent().unwrap().to_path_buf();
        for dir in [self.dir.path().to_path_buf(), run] {
            if dir.exists() {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }
}

impl Harness {
    /// Registers `path` as model `name:1`, creates endpoint `name` and a CPU deployment `blue`
    /// with all its traffic, through the real CLI; returns the endpoint's primary key, or which
    /// step failed and the CLI's error.
    pub fn try_deploy_cpu(&self, name: &str, path: &str) -> Result<String, String> {
        let step = |what: &str, args: &[&str]| -> Result<(), String> {
            let out = self.cli(args);
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr)))
            }
        };
        let model = format!("{name}:1");
        step("register", &["model", "register", "--name", name, "--version", "1", "--path", path])?;
        step("endpoint", &["endpoint", "create", "--name", name])?;
        step(
            "deploy",
            &[
                "deployment",
                "create",
                "--name",
                "blue",
                "--endpoint",
                name,
                "--model",
                &model,
                "--target",
                "cpu",
                "--all-traffic",
            ],
        )?;
        Ok(self.keys(name).0)
    }
}

impl Harness {
    /// Sends SIGHUP (`systemctl reload`) and waits until the daemon has finished reloading;
    /// returns `edgeserve status`'s `lastReload` for that reload.
    pub fn reload(&self) -> Value {
        let before = self.cli_json(&["status"])["lastReload"]["generation"].as_u64().unwrap_or(0);
        self.signal(nix::sys::signal::Signal::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = self.cli_json(&["status"])["lastReload"].clone();
            if last["generation"].as_u64().unwrap_or(0) > before {
                return last;
            }
            assert!(Instant::now() < deadline, "the reload never finished:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
