//! What the store keeps: models, endpoints and deployments as JSON records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use edgeserve_accel::{Signature, Target};
use serde::{Deserialize, Serialize};

/// How an endpoint authenticates scoring requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Key,
    Token,
    Oidc,
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
    Enabled,
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
    Tls,
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
    Cli,
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
    pub name: String,
    pub version: String,
    pub dir: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
    pub created_at: String,
    pub signature: Option<Signature>,
    /// Which targets can run the model, and why not where one cannot (SPEC §2).
    #[serde(default)]
    pub targets: Vec<edgeserve_accel::TargetFit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An endpoint: a name clients score, its auth and its traffic split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRecord {
    pub name: String,
    pub auth_mode: AuthMode,
    pub public_network_access: NetworkAccess,
    pub transport: Transport,
    pub traffic: BTreeMap<String, u32>,
    pub mirror_traffic: BTreeMap<String, u32>,
    /// Required for `auth_mode = "none"`: the operator's explicit consent (SPEC §4).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
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
    pub name: String,
    pub endpoint: String,
    pub model: String,
    pub target: Target,
    pub device: u32,
    pub instance_count: u32,
    pub max_batch_size: u32,
    pub batch_window_us: u64,
    pub max_queue: u32,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An endpoint's two keys, as kept in memory once unsealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointKeys {
    pub primary: String,
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
