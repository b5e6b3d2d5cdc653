//! Declarative provisioning entries: `[[model]]`, `[[endpoint]]`, `[[deployment]]`,
//! `[[role_assignment]]` (SPEC §6; reconciled at start and on reload).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[[model]]`: a model version to register from a folder (or a `model.onnx` file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDecl {
    /// Model name (required).
    pub name: String,
    /// Model version (required).
    pub version: String,
    /// A folder with `model.onnx` (or `model.xclbin` + `kernel.toml`), or an `.onnx` file; relative to the config file's folder (required).
    pub path: PathBuf,
}

/// `[[endpoint]]`: a scoring endpoint, its auth mode and its traffic split.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDecl {
    /// Endpoint name, used in scoring URIs (required).
    pub name: String,
    /// `key` (default), `token`, `oidc` or `none`.
    #[serde(default = "default_auth_mode")]
    pub auth_mode: String,
    /// `enabled` (default) or `disabled` (only `network.allowed_networks`).
    #[serde(default = "default_public_network_access")]
    pub public_network_access: String,
    /// Percent per deployment name: whole numbers summing to 100 (empty: no traffic yet).
    #[serde(default)]
    pub traffic: BTreeMap<String, u32>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Required with `auth_mode = "none"` (SPEC §4).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// A JSON file `{"primaryKey": "esk_…", "secondaryKey": "esk_…"}` (what `endpoint
    /// get-credentials` prints) whose keys the endpoint uses, so a fleet of boxes shares them;
    /// re-read on reload. Empty: the box makes its own keys on first start. Relative paths are
    /// taken from the config file's folder.
    #[serde(default)]
    pub keys_file: String,
    /// For `auth_mode = "token"`: a file holding the token-signing secret (at least 32 bytes of
    /// text, e.g. `openssl rand -base64 32`), so tokens from one box verify on every box.
    #[serde(default)]
    pub token_signing_key_file: String,
}

fn default_auth_mode() -> String {
    "key".into()
}

fn default_public_network_access() -> String {
    "enabled".into()
}

/// `[[deployment]]`, and the deployment file: a model version on a device behind an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentDecl {
    /// Deployment name, unique within its endpoint (required).
    pub name: String,
    /// The endpoint it serves (required).
    pub endpoint: String,
    /// `NAME:VERSION` of a registered model.
    pub model: String,
    /// `cpu` (default), `gpu` or `fpga`.
    #[serde(default = "default_target")]
    pub target: String,
    /// Device index within the target (`edgeserve device list`), default 0.
    #[serde(default)]
    pub device: u32,
    /// Model instances working in parallel, default 1.
    #[serde(default = "one")]
    pub instance_count: u32,
    /// Dynamic batching bound in rows, default 1 (off).
    #[serde(default = "one")]
    pub max_batch_size: u32,
    /// Longest wait to fill a batch, in microseconds.
    #[serde(default = "default_batch_window_us")]
    pub batch_window_us: u64,
    /// Requests waiting before 503 with `Retry-After`.
    #[serde(default = "default_max_queue")]
    pub max_queue: u32,
}

/// `[[role_assignment]]`: a role granted to an identity at a scope (SPEC §4), kept in step with
/// the file on every reload like the other declarations.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignmentDecl {
    /// `unix-user:NAME`, `unix-group:NAME`, `oidc:SUBJECT` or `cert:COMMON_NAME`.
    pub assignee: String,
    /// A built-in role (`Owner`, `Data Scientist`, `Reader`, `Scorer`) or a custom one.
    pub role: String,
    /// `/` or `/endpoints/NAME`.
    #[serde(default = "root_scope")]
    pub scope: String,
}

fn root_scope() -> String {
    "/".into()
}

fn default_target() -> String {
    "cpu".into()
}

fn one() -> u32 {
    1
}

fn default_batch_window_us() -> u64 {
    500
}

fn default_max_queue() -> u32 {
    256
}
