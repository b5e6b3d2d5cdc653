//! `edgeserved --print-default-config`: the default configuration file, generated from
//! [`Settings::default`] and the declaration structs, with one comment per key from the tables
//! below. A unit test fails when a struct gains a key these tables do not describe.

use std::fmt::Write as _;

use serde::Serialize;

use super::{ConfigError, DeploymentDecl, EndpointDecl, ModelDecl, RoleAssignmentDecl, Settings};

/// A `[section]` of the config file: what it is for and the meaning of each key, in print order.
struct Section {
    name: &'static str,
    about: &'static str,
    keys: &'static [(&'static str, &'static str)],
}

/// Every section of [`Settings`] with every key's meaning (one line each).
const SECTIONS: &[Section] = &[
    Section {
        name: "daemon",
        about: "where state lives and who may administer the box",
        keys: &[
            ("state_dir", "Folder of the store (store/), the model repository (models/) and caches."),
            ("control_socket", "Unix socket of the control plane, used by the edgeserve CLI."),
            ("admin_group", "Group whose members (and root) are Owner on the control plane."),
            (
                "control_socket_mode",
                "Control socket file mode: \"0660\" root and admin_group; \"0666\" any local user, roles decide.",
            ),
            (
                "board",
                "Board profile whose config defaults apply beneath this file: a bsp profile name, or \"auto\".",
            ),
            (
                "master_key",
                "Master key file, an absolute path (made on first start); \"\": systemd credential master.key, else /etc/edgeserve/master.key.",
            ),
        ],
    },
    Section {
        name: "tls",
        about: "the TLS listener of CPU/GPU endpoints and its certificate",
        keys: &[
            ("listen", "Addresses (IP:port) of the TLS scoring listener; [] turns it off."),
            ("cert_pem", "Certificate chain (PEM), leaf first or in any order."),
            ("key_pem", "Private key of the leaf certificate (PEM, not encrypted)."),
            ("cname", "The name (or IP address) clients use; one of the leaf's SANs; used in scoring URIs."),
            ("client_ca_pem", "CA file (PEM) that client certificates must chain to; \"\": no client certificates (no mTLS)."),
        ],
    },
    Section {
        name: "plain",
        about: "the clear-text listener, for FPGA endpoints only",
        keys: &[("listen", "Addresses (IP:port) of the plain HTTP scoring listener; [] turns it off.")],
    },
    Section {
        name: "metrics",
        about: "the Prometheus listener",
        keys: &[("listen", "Address (IP:port) serving GET /metrics in Prometheus text format.")],
    },
    Section {
        name: "network",
        about: "peers allowed on endpoints closed to public networks, and trusted balancers",
        keys: &[
            (
                "allowed_networks",
                "CIDRs that may score endpoints with public_network_access = \"disabled\".",
            ),
            (
                "trusted_proxies",
                "CIDRs of load balancers whose X-Forwarded-For names the client (network checks, limits, logs).",
            ),
        ],
    },
    Section {
        name: "auth",
        about: "credentials the daemon issues",
        keys: &[("token_lifetime_s", "Lifetime of a token-mode accessToken, in seconds (1..86400).")],
    },
    Section {
        name: "oidc",
        about: "the identity provider whose JWTs oidc endpoints accept, verified offline",
        keys: &[
            ("issuer", "Expected iss claim; needed when an endpoint uses auth_mode = \"oidc\"."),
            ("audience", "Expected aud claim."),
            ("jwks_file", "RFC 7517 JSON Web Key Set file with the provider's public keys; re-read on reload."),
            ("algorithms", "Accepted signature algorithms (RS256, ES256)."),
            ("clock_skew_s", "Tolerance on exp and nbf, in seconds."),
        ],
    },
    Section {
        name: "limits",
        about: "bounds on every request and connection",
        keys: &[
            ("max_body_bytes", "Largest request body; larger ones get 413."),
            ("header_timeout_ms", "Time a connection has for its TLS handshake and its request headers."),
            ("request_timeout_ms", "Time to receive a body (else 408) and to compute (else 503 Timeout)."),
            ("idle_timeout_ms", "A connection with no request in flight this long is closed (HTTP/1.1 also waits at most header_timeout_ms for its next request)."),
            ("max_connections", "Open connections per listener; further connections are closed at once."),
            ("max_control_connections", "Open connections on the control socket; further connections are closed at once."),
            ("auth_failures_per_minute", "Failed authentications per peer address before 429 with Retry-After."),
            ("drain_grace_ms", "On stop: readiness answers 503 this long while requests are still served, so a load balancer moves away."),
            ("early_answer_drain_bytes", "Most bytes of refused request bodies a connection gets read and discarded so a 401/403/413/415 reaches the client; 0 turns draining off."),
        ],
    },
];

/// A repeatable `[[declaration]]`, shown as a commented example made from `example` (its
/// required keys; the struct's defaults fill in the rest).
struct Declaration {
    name: &'static str,
    about: &'static str,
    example: &'static str,
    keys: &'static [(&'static str, &'static str)],
}

const MODEL: Declaration = Declaration {
    name: "model",
    about: "a model version registered on first start",
    example: "name = \"defects\"\nversion = \"3\"\npath = \"models/defects\"\n",
    keys: &[
        ("name", "model name (required)"),
        ("version", "model version (required)"),
        ("path", "folder with model.onnx (or model.xclbin + kernel.toml); relative to this file (required)"),
    ],
};

const ENDPOINT: Declaration = Declaration {
    name: "endpoint",
    about: "a scoring endpoint; its keys are made on first start and kept, unless keys_file names shared ones",
    example: "name = \"defects\"\ntraffic = { blue = 100 }\n",
    keys: &[
        ("name", "endpoint name, in scoring URIs (required)"),
        ("auth_mode", "key | token | oidc | none"),
        ("public_network_access", "enabled | disabled (only network.allowed_networks)"),
        ("traffic", "percent per deployment, whole numbers summing to 100"),
        ("description", "free text"),
        ("allow_unauthenticated", "must be true with auth_mode = \"none\""),
        ("keys_file", "JSON {primaryKey, secondaryKey} shared by a fleet; \"\": keys made here"),
        ("token_signing_key_file", "token mode: file with the shared signing secret (32+ bytes)"),
    ],
};

const DEPLOYMENT: Declaration = Declaration {
    name: "deployment",
    about: "a model version on a device behind an endpoint",
    example: "name = \"blue\"\nendpoint = \"defects\"\nmodel = \"defects:3\"\n",
    keys: &[
        ("name", "deployment name, unique within its endpoint (required)"),
        ("endpoint", "the endpoint it serves (required)"),
        ("model", "registered model NAME:VERSION (required)"),
        ("target", "cpu | gpu | fpga"),
        ("device", "device index within the target (edgeserve device list)"),
        ("instance_count", "model instances working in parallel"),
        ("max_batch_size", "dynamic batching bound; 1 turns it off"),
        ("batch_window_us", "longest wait to fill a batch, microseconds"),
        ("max_queue", "waiting requests before 503 + Retry-After"),
    ],
};

const ROLE_ASSIGNMENT: Declaration = Declaration {
    name: "role_assignment",
    about: "a role granted to an identity at a scope",
    example: "assignee = \"oidc:line-client\"\nrole = \"Scorer\"\nscope = \"/endpoints/defects\"\n",
    keys: &[
        ("assignee", "unix-user:N | unix-group:N | oidc:SUB | cert:CN (required)"),
        ("role", "Owner | Data Scientist | Reader | Scorer | a custom role (required)"),
        ("scope", "/ or /endpoints/NAME"),
    ],
};

/// The first lines of the printed file.
const HEADER: &str = "\
# edgeserved configuration: /etc/edgeserve/edgeserve.toml (edgeserved --config PATH reads another).
# Every key is shown with its default value; a key left out keeps its default, an unknown key
# stops the daemon. EDGESERVE_SECTION__KEY=value overrides a key (lists: comma-separated).
# The [[model]], [[endpoint]], [[deployment]] and [[role_assignment]] blocks at the end are
# commented examples, reconciled with the store at start and on reload (systemctl reload):
# keys marked required have no default. Printed by `edgeserved --print-default-config`.
";

/// Column at which the trailing comments of the declaration examples start.
const COMMENT_COLUMN: usize = 36;

fn reference_error(reason: String) -> ConfigError {
    ConfigError::Invalid { key: "(default config)".into(), reason }
}

fn to_table<T: Serialize>(what: &str, value: &T) -> Result<toml::Table, ConfigError> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(table)) => Ok(table),
        Ok(_) => Err(reference_error(format!("{what} is not a table"))),
        Err(e) => Err(reference_error(format!("{what}: {e}"))),
    }
}

fn value_of<'a>(
    table: &'a toml::Table,
    what: &str,
    key: &str,
) -> Result<&'a toml::Value, ConfigError> {
    table.get(key).ok_or_else(|| reference_error(format!("{what} has no key {key}")))
}

/// `decl`'s example parsed into its struct, so that unset keys take the struct's defaults.
fn example_table(decl: &Declaration) -> Result<toml::Table, ConfigError> {
    let parse_error =
        |e: toml::de::Error| reference_error(format!("[[{}]] example: {e}", decl.name));
    match decl.name {
        "model" => {
            to_table("model", &toml::from_str::<ModelDecl>(decl.example).map_err(parse_error)?)
        }
        "endpoint" => to_table(
            "endpoint",
            &toml::from_str::<EndpointDecl>(decl.example).map_err(parse_error)?,
        ),
        "role_assignment" => to_table(
            "role_assignment",
            &toml::from_str::<RoleAssignmentDecl>(decl.example).map_err(parse_error)?,
        ),
        _ => to_table(
            "deployment",
            &toml::from_str::<DeploymentDecl>(decl.example).map_err(parse_error)?,
        ),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The commented default configuration file `edgeserved --print-default-config` prints.
pub fn default_config() -> Result<String, ConfigError> {
    let defaults = to_table("settings", &Settings::default())?;
    let mut out = String::from(HEADER);
    for section in SECTIONS {
        let table = match value_of(&defaults, "settings", section.name)? {
            toml::Value::Table(table) => table,
            _ => return Err(reference_error(format!("[{}] is not a table", section.name))),
        };
        let _ = write!(out, "\n# {}.\n[{}]\n", capitalized(section.about), section.name);
        for (key, meaning) in section.keys {
            let value = value_of(table, section.name, key)?;
            let _ = write!(out, "# {meaning}\n{key} = {value}\n");
        }
    }
    for decl in [&MODEL, &ENDPOINT, &DEPLOYMENT, &ROLE_ASSIGNMENT] {
        let table = example_table(decl)?;
        let _ = write!(
            out,
            "\n# [[{}]] (repeatable): {}. Example:\n# [[{}]]\n",
            decl.name, decl.about, decl.name
        );
        for (key, meaning) in decl.keys {
            let line = format!("{key} = {}", value_of(&table, decl.name, key)?);
            let pad = COMMENT_COLUMN.saturating_sub(line.len() + 2).max(1);
            let _ = writeln!(out, "# {line}{:pad$}# {meaning}", "");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    fn keys_of(table: &toml::Table) -> BTreeSet<String> {
        table.keys().cloned().collect()
    }

    fn described(keys: &[(&str, &str)]) -> BTreeSet<String> {
        keys.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn every_key_of_every_struct_has_a_meaning() {
        let defaults = to_table("settings", &Settings::default()).unwrap();
        let mut sections: BTreeSet<String> = SECTIONS.iter().map(|s| s.name.to_string()).collect();
        sections.extend(["model", "endpoint", "deployment", "role_assignment"].map(String::from));
        assert_eq!(keys_of(&defaults), sections, "sections of Settings vs the reference tables");
        for section in SECTIONS {
            let Some(toml::Value::Table(table)) = defaults.get(section.name) else {
                panic!("[{}] is not a table", section.name)
            };
            assert_eq!(
                keys_of(table),
                described(section.keys),
                "keys of [{}] vs their meanings in config/reference.rs",
                section.name
            );
            assert_eq!(
                section.keys.len(),
                table.len(),
                "[{}]: a key described twice",
                section.name
            );
        }
        for decl in [&MODEL, &ENDPOINT, &DEPLOYMENT, &ROLE_ASSIGNMENT] {
            let table = example_table(decl).unwrap();
            assert_eq!(
                keys_of(&table),
                described(decl.keys),
                "keys of [[{}]] vs their meanings in config/reference.rs",
                decl.name
            );
            assert_eq!(decl.keys.len(), table.len(), "[[{}]]: a key described twice", decl.name);
        }
    }

    #[test]
    fn comments_are_one_line_each() {
        let mut all: Vec<(&str, &str)> = Vec::new();
        for s in SECTIONS {
            all.push((s.name, s.about));
            all.extend(s.keys.iter().copied());
        }
        for d in [&MODEL, &ENDPOINT, &DEPLOYMENT, &ROLE_ASSIGNMENT] {
            all.push((d.name, d.about));
            all.extend(d.keys.iter().copied());
        }
        for (key, meaning) in all {
            assert!(!meaning.is_empty() && !meaning.contains('\n'), "{key}: {meaning:?}");
        }
    }

    #[test]
    fn the_printed_file_loads_into_the_defaults() {
        let text = default_config().unwrap();
        let loaded = super::super::load::build(&text, "default config", HashMap::new()).unwrap();
        assert_eq!(
            toml::Value::try_from(&loaded).unwrap(),
            toml::Value::try_from(Settings::default()).unwrap()
        );
        for section in SECTIONS {
            assert!(text.contains(&format!("\n[{}]\n", section.name)), "{text}");
        }
        assert!(text.contains("\nmaster_key = \"\"\n"), "{text}");
    }

    #[test]
    fn the_examples_load_when_uncommented() {
        let text = default_config().unwrap();
        let start = text.find("\n# [[model]]\n").unwrap();
        let (settings, examples) = text.split_at(start);
        let uncommented: String = examples
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| !l.starts_with("[[") || !l.contains(':'))
            .map(|l| format!("{l}\n"))
            .collect();
        let loaded = super::super::load::build(
            &format!("{settings}\n{uncommented}"),
            "examples",
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(loaded.models.len(), 1, "{uncommented}");
        assert_eq!(loaded.models[0].path, std::path::Path::new("models/defects"));
        assert_eq!(loaded.endpoints[0].auth_mode, "key");
        assert_eq!(loaded.deployments[0].max_queue, 256);
        assert_eq!(loaded.deployments[0].target, "cpu");
    }

    #[test]
    fn an_explicit_master_key_wins() {
        let s = super::super::load::build(
            "[daemon]\nmaster_key = \"/srv/keys/edge.key\"\n",
            "test",
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(s.daemon.master_key_path(), std::path::Path::new("/srv/keys/edge.key"));
        let err = super::super::load::build(
            "[daemon]\nmaster_key = \"keys/edge.key\"\n",
            "test",
            HashMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "config key daemon.master_key: \"keys/edge.key\" is not an absolute path"
            ),
            "{err}"
        );
        let default = super::super::DaemonSection::default();
        assert_eq!(default.master_key_path(), crate::store::master_key_path());
    }
}
