//! What the store keeps: models, endpoints and deployments as JSON records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use edgeserve_accel::{Signature, Target};
use serde::{Deserialize, Serialize};

/// How an endpoint authenticates scoring requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// `key`: one of the endpoint's two keys (`esk_...`) as a bearer credential.
    Key,
    /// `token`: a short-lived HS256 JWT bound to the endpoint (`get-credentials`, the token route).
    Token,
    /// `oidc`: a JWT of the configured identity provider whose subject holds a role.
    Oidc,
    /// `none`: no credential (needs `allow_unauthenticated`).
    None,
}

impl AuthMode {
    /// Parses a configured mode; modes this version cannot serve yet are refused by name.
    pub fn parse(s: &str) -> Result<AuthMode, String> {
        match s {
            "key" => Ok(AuthMode::Key),
            "token" => Ok(AuthMode::Token),
            "none" => Ok(AuthMode::None),
            "oidc" => Ok(AuthMode::Oidc),
            other => {
                Err(format!("unknown auth_mode \"{other}\" (expected key, token, oidc or none)"))
            }
        }
    }

    /// The mode's name in files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Key => "key",
            AuthMode::Token => "token",
            AuthMode::Oidc => "oidc",
            AuthMode::None => "none",
        }
    }
}

/// Whether peers outside `network.allowed_networks` may score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkAccess {
    /// Any peer may score (with a valid credential).
    Enabled,
    /// Only peers in `network.allowed_networks` may score.
    Disabled,
}

impl NetworkAccess {
    /// Parses `enabled` or `disabled`.
    pub fn parse(s: &str) -> Result<NetworkAccess, String> {
        match s {
            "enabled" => Ok(NetworkAccess::Enabled),
            "disabled" => Ok(NetworkAccess::Disabled),
            other => Err(format!(
                "public_network_access \"{other}\" must be \"enabled\" or \"disabled\""
            )),
        }
    }
}

/// Which listener carries an endpoint: TLS for CPU/GPU, plain for FPGA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The TLS listener (`tls.listen`).
    Tls,
    /// The plain HTTP listener (`plain.listen`).
    Plain,
}

impl Transport {
    /// The transport a target is served on.
    pub fn for_target(target: Target) -> Transport {
        match target {
            Target::Cpu | Target::Gpu => Transport::Tls,
            Target::Fpga => Transport::Plain,
        }
    }
}

/// Who made a stored object (SPEC §6): the `edgeserve` CLI (control socket), or a declaration
/// in the config file. Reconciling the config creates, changes and deletes `Config` objects
/// only; objects without an origin were stored by a version before origins were recorded and are
/// adopted by a declaration of the same name, never deleted by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Made with the `edgeserve` CLI (the control socket).
    Cli,
    /// Declared in the config file.
    Config,
}

impl Origin {
    /// The origin's name in `show` output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Config => "config",
        }
    }
}

/// A registered model version, copied into `state_dir/models/NAME/VERSION/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRecord {
    /// Model name.
    pub name: String,
    /// Model version, unique within the name.
    pub version: String,
    /// Its folder in the repository (`state_dir/models/NAME/VERSION/`).
    pub dir: PathBuf,
    /// SHA-256 over its files (name, length and bytes of each, by name), hex.
    pub sha256: String,
    /// Total size of its files, in bytes.
    pub size_bytes: u64,
    /// When it was registered (RFC 3339, UTC).
    pub created_at: String,
    /// Inputs and outputs, when a target could read them at registration.
    pub signature: Option<Signature>,
    /// Which targets can run the model, and why not where one cannot (SPEC §2).
    #[serde(default)]
    pub targets: Vec<edgeserve_accel::TargetFit>,
    /// Who registered it (`None` in stores older than origins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An endpoint: a name clients score, its auth and its traffic split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRecord {
    /// Endpoint name, in scoring URIs.
    pub name: String,
    /// How scoring requests authenticate.
    pub auth_mode: AuthMode,
    /// Whether peers outside `network.allowed_networks` may score.
    pub public_network_access: NetworkAccess,
    /// Which listener serves it (follows its deployments' target).
    pub transport: Transport,
    /// Percent of requests per deployment name (summing to 100, or empty).
    pub traffic: BTreeMap<String, u32>,
    /// Percent of requests copied to a deployment, answers discarded (shadow traffic).
    pub mirror_traffic: BTreeMap<String, u32>,
    /// Required for `auth_mode = "none"`: the operator's explicit consent (SPEC §4).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Free text.
    pub description: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// Who made it (`None` in stores older than origins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Set when the keys (or the token-signing secret) come from a file named in the config
    /// (`keys_file`, `token_signing_key_file`): `regenerate-keys` is then refused, since the
    /// next reload would restore the file's keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_credentials: bool,
}

/// A deployment: a model version on a device behind an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Deployment name, unique within its endpoint.
    pub name: String,
    /// The endpoint it serves.
    pub endpoint: String,
    /// The model version, `NAME:VERSION`.
    pub model: String,
    /// The backend it runs on.
    pub target: Target,
    /// Device index within the target.
    pub device: u32,
    /// Model instances working in parallel (worker threads).
    pub instance_count: u32,
    /// Dynamic batching bound in rows (1: off).
    pub max_batch_size: u32,
    /// Longest wait to fill a batch, in microseconds.
    pub batch_window_us: u64,
    /// Requests waiting before 503 with `Retry-After`.
    pub max_queue: u32,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// Who made it (`None` in stores older than origins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An endpoint's two keys, as kept in memory once unsealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointKeys {
    /// The primary key (`esk_` and 43 base64url characters).
    pub primary: String,
    /// The secondary key.
    pub secondary: String,
    /// The token-mode signing secret (SPEC §4), sealed with the keys; empty in stores made
    /// before token mode existed, filled when an endpoint first needs it.
    #[serde(default)]
    pub token_secret: String,
}

impl std::fmt::Debug for EndpointKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointKeys { .. }")
    }
}

/// The current time as RFC 3339 with seconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
