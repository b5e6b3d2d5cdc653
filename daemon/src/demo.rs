//! `edgeserved --demo`: the whole product on a temporary state dir, with a development
//! certificate for `localhost` and the bundled example models, and a scoring command to paste.

use std::path::{Path, PathBuf};

use crate::config::{self, Settings};

/// Bundled example models, built by `models/make_examples.py`.
const MODELS: [(&str, &[u8]); 2] = [
    ("mlp", include_bytes!("../../models/mlp/model.onnx")),
    ("iris", include_bytes!("../../models/iris_forest/model.onnx")),
];

/// Example request for the iris model: one flower's sepal and petal sizes, in cm.
const IRIS_REQUEST: &str = r#"{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#;

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare the demo folder: {0}")]
    /// The temporary folder or a file in it cannot be written.
    Io(#[from] std::io::Error),
    #[error("cannot make the development certificate: {0}")]
    /// The development CA or certificate cannot be made.
    Cert(#[from] rcgen::Error),
    #[error(transparent)]
    /// The demo's settings do not validate (a bug, or an `EDGESERVE_*` override).
    Config(#[from] config::ConfigError),
}

/// A prepared demo: its folder (removed on drop) and the settings to run with.
pub struct Demo {
    /// The demo's state dir, TLS files and socket; removed when the demo is dropped.
    pub dir: tempfile::TempDir,
    /// Settings pointing into `dir`, with listeners on localhost.
    pub settings: Settings,
}

impl Demo {
    /// The CA certificate clients must trust.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// The demo's master key.
    pub fn master_key(&self) -> PathBuf {
        self.dir.path().join("master.key")
    }
}

/// Writes certificates and models into a fresh folder and builds the demo's settings.
/// `EDGESERVE_SECTION__KEY` overrides still apply (e.g. `EDGESERVE_TLS__LISTEN`).
pub fn prepare() -> Result<Demo, DemoError> {
    let dir = tempfile::Builder::new().prefix("edgeserve-demo-").tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("tls"))?;
    let pki = crate::devcert::generate(&["localhost"])?;
    std::fs::write(root.join("tls/ca.pem"), &pki.ca_pem)?;
    // The full chain, root included, so `edgeserve tls show --ca-pem` prints the CA to trust.
    std::fs::write(root.join("tls/cert.pem"), format!("{}{}", pki.cert_pem, pki.ca_pem))?;
    write_private(&root.join("tls/key.pem"), pki.key_pem.as_bytes())?;
    for (name, bytes) in MODELS {
        std::fs::create_dir_all(root.join("examples").join(name))?;
        std::fs::write(root.join("examples").join(name).join("model.onnx"), bytes)?;
    }
    let text = format!(
        r#"
[daemon]
state_dir = "{root}/state"
control_socket = "{root}/control.sock"
[tls]
listen = ["127.0.0.1:8443"]
cert_pem = "{root}/tls/cert.pem"
key_pem = "{root}/tls/key.pem"
cname = "localhost"
[plain]
listen = ["127.0.0.1:8080"]
[metrics]
listen = "127.0.0.1:9464"
[limits]
# No load balancer watches the demo: Ctrl-C stops at once.
drain_grace_ms = 0
[[model]]
name = "mlp"
version = "1"
path = "{root}/examples/mlp"
[[model]]
name = "iris"
version = "1"
path = "{root}/examples/iris"
[[endpoint]]
name = "iris"
traffic = {{ blue = 100 }}
[[endpoint]]
name = "mlp"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "iris"
model = "iris:1"
[[deployment]]
name = "blue"
endpoint = "mlp"
model = "mlp:1"
"#,
        root = root.display()
    );
    let settings = config::load_from_str(&text, "demo settings")?;
    Ok(Demo { dir, settings })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// Everything the demo prints once it serves (stdout, never logged): the scoring command, the
/// control socket and a `status` to paste, the CA to trust from another machine, the metrics
/// URL, and the overrides for busy ports.
pub fn ready_message(
    settings: &crate::config::Settings,
    bound: &crate::state::Bound,
    ca: &Path,
    key: &str,
) -> String {
    let port = bound.tls_port.unwrap_or(8443);
    let socket = settings.daemon.control_socket.display().to_string();
    // The CLI beside this daemon binary, else the one on PATH.
    let cli = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("edgeserve")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "edgeserve".into());
    let metrics = bound
        .metrics
        .map(|m| format!("http://{m}/metrics"))
        .unwrap_or_else(|| "(metrics listener not bound)".into());
    format!(
        "\nedgeserve demo is serving. Score the iris model with:\n\n{scoring}\n\n\
         Control socket: {socket}\n  {cli} --socket {socket} status\n\
         From another machine: trust {ca} (the demo CA; or print it with\n  \
         {cli} --socket {socket} tls show --ca-pem)\n\
         Metrics: {metrics}\n\
         Ports busy? EDGESERVE_TLS__LISTEN=127.0.0.1:9443 EDGESERVE_PLAIN__LISTEN=127.0.0.1:9080 \
         EDGESERVE_METRICS__LISTEN=127.0.0.1:9465 bash scripts/demo.sh\n\
         (endpoints: iris, mlp; Ctrl-C stops and removes the demo folder)",
        scoring = scoring_command(ca, port, key),
        ca = ca.display(),
    )
}

/// The command an operator pastes to score the iris endpoint (printed to stdout, never logged).
pub fn scoring_command(ca: &Path, port: u16, key: &str) -> String {
    format!(
        "curl --cacert {ca} -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n  -d '{IRIS_REQUEST}' \\\n  https://localhost:{port}/api/v1/service/iris/score",
        ca = ca.display()
    )
}
