//! Checks every configured value, naming the key of the first bad one.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use edgeserve_accel::Target;

use super::{ConfigError, ListenAddrs, Settings};
use crate::names;

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), reason: reason.into() }
}

fn addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| invalid(key, format!("\"{value}\" is not an IP:port address")))
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(invalid(key, "must be greater than 0"));
    }
    Ok(())
}

pub(super) fn settings(s: &Settings) -> Result<ListenAddrs, ConfigError> {
    if s.daemon.state_dir.as_os_str().is_empty() {
        return Err(invalid("daemon.state_dir", "must not be empty"));
    }
    if s.daemon.control_socket.as_os_str().is_empty() {
        return Err(invalid("daemon.control_socket", "must not be empty"));
    }
    s.daemon.control_socket_mode()?;
    if !s.daemon.master_key.as_os_str().is_empty() && !s.daemon.master_key.is_absolute() {
        return Err(invalid(
            "daemon.master_key",
            format!(
                "\"{}\" is not an absolute path: write the full path, or \"\" for the systemd \
                 credential",
                s.daemon.master_key.display()
            ),
        ));
    }
    let tls = s.tls.listen.iter().map(|v| addr("tls.listen", v)).collect::<Result<_, _>>()?;
    let plain = s.plain.listen.iter().map(|v| addr("plain.listen", v)).collect::<Result<_, _>>()?;
    let metrics = addr("metrics.listen", &s.metrics.listen)?;
    crate::listen::material::names::parse(&s.tls.cname).map_err(|r| invalid("tls.cname", r))?;
    for (key, nets) in [
        ("network.allowed_networks", &s.network.allowed_networks),
        ("network.trusted_proxies", &s.network.trusted_proxies),
    ] {
        for net in nets {
            net.parse::<ipnet::IpNet>()
                .map_err(|_| invalid(key, format!("\"{net}\" is not a CIDR like 10.0.0.0/8")))?;
        }
    }
    if !(1..=86_400).contains(&s.auth.token_lifetime_s) {
        return Err(invalid("auth.token_lifetime_s", "must be from 1 to 86400 seconds"));
    }
    if s.endpoints.iter().any(|e| e.auth_mode == "oidc") {
        for (key, value) in [
            ("oidc.issuer", &s.oidc.issuer),
            ("oidc.audience", &s.oidc.audience),
            ("oidc.jwks_file", &s.oidc.jwks_file),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(key, "is required when an endpoint uses auth_mode \"oidc\""));
            }
        }
    }
    for alg in &s.oidc.algorithms {
        if !matches!(alg.as_str(), "RS256" | "ES256") {
            return Err(invalid(
                "oidc.algorithms",
                format!("\"{alg}\" is not supported (RS256, ES256)"),
            ));
        }
    }
    positive("limits.max_body_bytes", s.limits.max_body_bytes)?;
    positive("limits.header_timeout_ms", s.limits.header_timeout_ms)?;
    positive("limits.request_timeout_ms", s.limits.request_timeout_ms)?;
    positive("limits.max_connections", s.limits.max_connections)?;
    positive("limits.idle_timeout_ms", s.limits.idle_timeout_ms)?;
    positive("limits.max_control_connections", s.limits.max_control_connections)?;
    positive("limits.auth_failures_per_minute", s.limits.auth_failures_per_minute)?;
    declarations(s)?;
    Ok(ListenAddrs { tls, plain, metrics })
}

fn declarations(s: &Settings) -> Result<(), ConfigError> {
    let mut models = BTreeSet::new();
    for (i, m) in s.models.iter().enumerate() {
        let key = format!("model[{i}]");
        names::check("model name", &m.name).map_err(|r| invalid(format!("{key}.name"), r))?;
        names::check("model version", &m.version)
            .map_err(|r| invalid(format!("{key}.version"), r))?;
        if !models.insert(format!("{}:{}", m.name, m.version)) {
            return Err(invalid(key, format!("model {}:{} declared twice", m.name, m.version)));
        }
    }
    let mut endpoints = BTreeSet::new();
    for (i, e) in s.endpoints.iter().enumerate() {
        let key = format!("endpoint[{i}]");
        names::check("endpoint name", &e.name).map_err(|r| invalid(format!("{key}.name"), r))?;
        if !endpoints.insert(e.name.as_str()) {
            return Err(invalid(key, format!("endpoint {} declared twice", e.name)));
        }
        crate::store::AuthMode::parse(&e.auth_mode)
            .map_err(|r| invalid(format!("{key}.auth_mode"), r))?;
        crate::store::NetworkAccess::parse(&e.public_network_access)
            .map_err(|r| invalid(format!("{key}.public_network_access"), r))?;
        if !e.keys_file.is_empty() && e.auth_mode != "key" {
            return Err(invalid(
                format!("{key}.keys_file"),
                format!(
                    "endpoint {} uses auth_mode \"{}\", which takes no keys: remove keys_file \
                     or set auth_mode = \"key\"",
                    e.name, e.auth_mode
                ),
            ));
        }
        if !e.token_signing_key_file.is_empty() && e.auth_mode != "token" {
            return Err(invalid(
                format!("{key}.token_signing_key_file"),
                format!(
                    "endpoint {} uses auth_mode \"{}\", which signs no tokens: remove \
                     token_signing_key_file or set auth_mode = \"token\"",
                    e.name, e.auth_mode
                ),
            ));
        }
    }
    let mut assignments = BTreeSet::new();
    for (i, a) in s.role_assignments.iter().enumerate() {
        let key = format!("role_assignment[{i}]");
        crate::auth::rbac::Principal::parse(&a.assignee)
            .map_err(|r| invalid(format!("{key}.assignee"), r.to_string()))?;
        crate::auth::rbac::Scope::parse(&a.scope)
            .map_err(|r| invalid(format!("{key}.scope"), r.to_string()))?;
        if a.role.trim().is_empty() {
            return Err(invalid(format!("{key}.role"), "must name a role (e.g. \"Scorer\")"));
        }
        if !assignments.insert((a.assignee.as_str(), a.role.as_str(), a.scope.as_str())) {
            return Err(invalid(
                key,
                format!("{} is assigned {} at {} twice", a.assignee, a.role, a.scope),
            ));
        }
    }
    let mut deployments = BTreeSet::new();
    for (i, d) in s.deployments.iter().enumerate() {
        let key = format!("deployment[{i}]");
        names::check("deployment name", &d.name).map_err(|r| invalid(format!("{key}.name"), r))?;
        if !endpoints.contains(d.endpoint.as_str()) {
            return Err(invalid(
                format!("{key}.endpoint"),
                format!("endpoint {} is not declared", d.endpoint),
            ));
        }
        if !deployments.insert((d.endpoint.as_str(), d.name.as_str())) {
            return Err(invalid(key, format!("deployment {} declared twice", d.name)));
        }
        d.target.parse::<Target>().map_err(|r| invalid(format!("{key}.target"), r))?;
        names::model_ref(&d.model).map_err(|r| invalid(format!("{key}.model"), r))?;
        positive(&format!("{key}.instance_count"), d.instance_count.into())?;
        positive(&format!("{key}.max_batch_size"), d.max_batch_size.into())?;
        positive(&format!("{key}.max_queue"), d.max_queue.into())?;
    }
    for (i, e) in s.endpoints.iter().enumerate() {
        let own: Vec<&str> = s
            .deployments
            .iter()
            .filter(|d| d.endpoint == e.name)
            .map(|d| d.name.as_str())
            .collect();
        crate::deploy::traffic::validate(&e.traffic, &own)
            .map_err(|r| invalid(format!("endpoint[{i}].traffic"), r))?;
    }
    Ok(())
}
