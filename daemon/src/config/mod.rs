//! The daemon's configuration: `/etc/edgeserve/edgeserve.toml`, overridden by
//! `EDGESERVE_SECTION__KEY` environment variables, read once into typed structs.

mod board;
mod declare;
mod load;
pub mod reference;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use declare::{DeploymentDecl, EndpointDecl, ModelDecl, RoleAssignmentDecl};
pub use load::{load, load_from_str, DEFAULT_CONFIG_PATH};

/// Why a configuration was refused; every message names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(
        "cannot read config file {path}: {source} (write one with `edgeserved \
         --print-default-config > {path}` and edit it)"
    )]
    /// The config file named with `--config` cannot be read (a missing default file is not an
    /// error: every key has a default).
    Read {
        /// The `--config` path.
        path: PathBuf,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    #[error("config {origin}: {message}")]
    /// The TOML does not parse, or a key is unknown or of the wrong type; `origin` is the file
    /// (or the `EDGESERVE_*` variable) and `message` the parser's, with the key.
    Parse {
        /// The file's path, or `environment variable EDGESERVE_...`.
        origin: String,
        /// The parser's message, naming the key.
        message: String,
    },
    #[error("config key {key}: {reason}")]
    /// A value parses but is not allowed; `key` is its full name (`limits.max_body_bytes`).
    Invalid {
        /// The key's full name (`limits.max_body_bytes`, `endpoint[0].traffic`).
        key: String,
        /// What is allowed, and what was given.
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[daemon]`.
    pub daemon: DaemonSection,
    /// `[tls]`.
    pub tls: TlsSection,
    /// `[plain]`.
    pub plain: PlainSection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[network]`.
    pub network: NetworkSection,
    /// `[auth]`.
    pub auth: AuthSection,
    /// `[oidc]`.
    pub oidc: OidcSection,
    /// `[limits]`.
    pub limits: LimitsSection,
    #[serde(rename = "model")]
    /// `[[model]]` blocks: model versions reconciled with the store at start and on reload.
    pub models: Vec<ModelDecl>,
    #[serde(rename = "endpoint")]
    /// `[[endpoint]]` blocks.
    pub endpoints: Vec<EndpointDecl>,
    #[serde(rename = "deployment")]
    /// `[[deployment]]` blocks.
    pub deployments: Vec<DeploymentDecl>,
    #[serde(rename = "role_assignment")]
    /// `[[role_assignment]]` blocks.
    pub role_assignments: Vec<RoleAssignmentDecl>,
}

/// `[daemon]`: where state lives and who may administer it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSection {
    /// Folder of the store (`store/`), the model repository (`models/`) and caches.
    pub state_dir: PathBuf,
    /// Unix socket of the control plane, which the `edgeserve` CLI connects to.
    pub control_socket: PathBuf,
    /// Group whose members (and root) are Owner on the control plane.
    pub admin_group: String,
    /// The control socket's file mode, an octal string (SPEC §1): "0660" lets root and
    /// `admin_group` connect; "0666" lets any local user connect and roles decide (SPEC §4).
    pub control_socket_mode: String,
    /// Board profile whose config defaults apply beneath the file: a bsp profile name, or
    /// `auto` to detect it.
    pub board: String,
    /// The master key file; empty means the systemd credential `master.key` in
    /// `$CREDENTIALS_DIRECTORY`, else `/etc/edgeserve/master.key`. See [`Self::master_key_path`].
    pub master_key: PathBuf,
}

impl DaemonSection {
    /// `control_socket_mode` as permission bits: 3 or 4 octal digits, at most 0777.
    pub fn control_socket_mode(&self) -> Result<u32, ConfigError> {
        let text = self.control_socket_mode.trim();
        let digits = text.strip_prefix("0o").unwrap_or(text);
        let invalid = || ConfigError::Invalid {
            key: "daemon.control_socket_mode".into(),
            reason: format!(
                "\"{text}\" is not a file mode: write 3 or 4 octal digits, e.g. \"0660\""
            ),
        };
        if !(3..=4).contains(&digits.len()) || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
            return Err(invalid());
        }
        let mode = u32::from_str_radix(digits, 8).map_err(|_| invalid())?;
        if mode > 0o777 {
            return Err(invalid());
        }
        Ok(mode)
    }
}

impl DaemonSection {
    /// Where the master key is read (and created on first start): `master_key` when set, else
    /// the systemd credential `master.key` in `$CREDENTIALS_DIRECTORY`, else
    /// `/etc/edgeserve/master.key`.
    pub fn master_key_path(&self) -> PathBuf {
        if self.master_key.as_os_str().is_empty() {
            crate::store::master_key_path()
        } else {
            self.master_key.clone()
        }
    }
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            state_dir: "/var/lib/edgeserve".into(),
            control_socket: "/run/edgeserve/control.sock".into(),
            admin_group: "edgeserve-admin".into(),
            control_socket_mode: "0660".into(),
            board: "auto".into(),
            master_key: PathBuf::new(),
        }
    }
}

/// `[tls]`: the TLS listener of CPU/GPU endpoints and its certificate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// Addresses (`IP:port`) of the TLS scoring listener; empty turns it off.
    pub listen: Vec<String>,
    /// Certificate chain (PEM), leaf first or in any order (served leaf first).
    pub cert_pem: PathBuf,
    /// The leaf certificate's private key (PEM, not encrypted).
    pub key_pem: PathBuf,
    /// The name (or IP address) clients use: one of the leaf's SANs; used in scoring URIs.
    pub cname: String,
    /// CA file (PEM) client certificates must chain to; empty: no client certificates (no mTLS).
    pub client_ca_pem: String,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            listen: vec!["0.0.0.0:8443".into()],
            cert_pem: "/etc/edgeserve/tls/cert.pem".into(),
            key_pem: "/etc/edgeserve/tls/key.pem".into(),
            cname: "edge-box.local".into(),
            client_ca_pem: String::new(),
        }
    }
}

/// `[plain]`: the clear-text listener, for FPGA endpoints only.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlainSection {
    /// Addresses (`IP:port`) of the plain HTTP scoring listener; empty turns it off.
    pub listen: Vec<String>,
}

impl Default for PlainSection {
    fn default() -> Self {
        PlainSection { listen: vec!["0.0.0.0:8080".into()] }
    }
}

/// `[metrics]`: the Prometheus listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Address (`IP:port`) serving `GET /metrics` in Prometheus text format.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection { listen: "127.0.0.1:9464".into() }
    }
}

/// `[network]`: peers allowed on endpoints closed to public networks.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// CIDRs that may score endpoints with `public_network_access = "disabled"`.
    pub allowed_networks: Vec<String>,
    /// CIDRs of load balancers whose `X-Forwarded-For` names the client (see `auth::proxy`).
    pub trusted_proxies: Vec<String>,
}

/// `[auth]`: credentials the daemon issues (SPEC §4).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Lifetime of a token-mode `accessToken`, seconds (1..=86400).
    pub token_lifetime_s: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection { token_lifetime_s: 3_600 }
    }
}

/// `[oidc]`: the identity provider whose JWTs `oidc` endpoints accept, verified offline.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSection {
    /// Expected `iss` claim; required when an endpoint uses `auth_mode = "oidc"`.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// RFC 7517 JSON Web Key Set file; re-read on reload.
    pub jwks_file: String,
    /// Accepted signature algorithms: `RS256`, `ES256` (others are ignored).
    pub algorithms: Vec<String>,
    /// Tolerance on `exp` and `nbf`, in seconds.
    pub clock_skew_s: u64,
}

impl Default for OidcSection {
    fn default() -> Self {
        OidcSection {
            issuer: String::new(),
            audience: String::new(),
            jwks_file: String::new(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            clock_skew_s: 60,
        }
    }
}

/// `[limits]`: bounds on every request and connection.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Largest request body, in bytes; larger ones get 413.
    pub max_body_bytes: u64,
    /// Time a connection has for its TLS handshake and request headers, in milliseconds.
    pub header_timeout_ms: u64,
    /// Time to receive a body (else 408) and to compute (else 503), in milliseconds.
    pub request_timeout_ms: u64,
    /// A connection with no request in flight this long is closed (milliseconds).
    pub idle_timeout_ms: u64,
    /// Open connections per listener; further ones are closed at once.
    pub max_connections: u64,
    /// Open connections on the control socket; further ones are closed at once.
    pub max_control_connections: u64,
    /// Failed authentications per peer address and minute before 429 with `Retry-After`.
    pub auth_failures_per_minute: u64,
    /// On stop or `edgeserve drain`: how long readiness answers 503 while requests are still
    /// served, so a load balancer's health check moves traffic away first (milliseconds).
    pub drain_grace_ms: u64,
    /// Most bytes of refused request bodies one connection gets read and discarded, so that an
    /// answer decided before the body is read reaches the client (SPEC §5).
    pub early_answer_drain_bytes: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_body_bytes: 67_108_864,
            header_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_connections: 4_096,
            max_control_connections: 64,
            auth_failures_per_minute: 30,
            drain_grace_ms: 5_000,
            early_answer_drain_bytes: 8_388_608,
        }
    }
}

/// Listener addresses, parsed and checked by [`Settings::validate`].
#[derive(Debug, Clone)]
pub struct ListenAddrs {
    /// `tls.listen`, parsed.
    pub tls: Vec<SocketAddr>,
    /// `plain.listen`, parsed.
    pub plain: Vec<SocketAddr>,
    /// `metrics.listen`, parsed.
    pub metrics: SocketAddr,
}

impl Settings {
    /// Checks every value and returns the parsed listener addresses.
    pub fn validate(&self) -> Result<ListenAddrs, ConfigError> {
        validate::settings(self)
    }
}

#[cfg(test)]
mod control_socket_mode_tests {
    use super::*;

    fn mode(text: &str) -> Result<u32, ConfigError> {
        DaemonSection { control_socket_mode: text.into(), ..DaemonSection::default() }
            .control_socket_mode()
    }

    #[test]
    fn octal_modes_parse_and_bad_ones_name_the_key() {
        assert_eq!(mode("0660").unwrap(), 0o660);
        assert_eq!(mode("0666").unwrap(), 0o666);
        assert_eq!(mode("600").unwrap(), 0o600);
        assert_eq!(DaemonSection::default().control_socket_mode().unwrap(), 0o660);
        for bad in ["", "66", "0999", "rw-rw-rw-", "01777", "+0660"] {
            let err = mode(bad).unwrap_err().to_string();
            assert!(err.contains("daemon.control_socket_mode"), "{bad}: {err}");
        }
    }
}
