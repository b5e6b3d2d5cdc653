//! Declarative provisioning entries: `[[model]]`, `[[endpoint]]`, `[[deployment]]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[[model]]`: a model version to register from a folder (or a `model.onnx` file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDecl {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
}

/// `[[endpoint]]`: a scoring endpoint, its auth mode and its traffic split.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDecl {
    pub name: String,
    #[serde(default = "default_auth_mode")]
    pub auth_mode: String,
    #[serde(default = "default_public_network_access")]
    pub public_network_access: String,
    #[serde(default)]
    pub traffic: BTreeMap<String, u32>,
    #[serde(default)]
    pub description: String,
    /// Required with `auth_mode = "none"` (SPEC §4).
    #[serde(default)]
    pub allow_unauthenticated: bool,
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
    pub name: String,
    pub endpoint: String,
    /// `NAME:VERSION` of a registered model.
    pub model: String,
    #[serde(default = "default_target")]
    pub target: String,
    #[serde(default)]
    pub device: u32,
    #[serde(default = "one")]
    pub instance_count: u32,
    #[serde(default = "one")]
    pub max_batch_size: u32,
    #[serde(default = "default_batch_window_us")]
    pub batch_window_us: u64,
    #[serde(default = "default_max_queue")]
    pub max_queue: u32,
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
