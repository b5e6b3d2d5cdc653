//! Creating, changing and deleting endpoints, and regenerating their keys.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{live_endpoint, publish, ManageError};
use crate::auth::{keys, Credentials, KeySlot};
use crate::deploy::{traffic, LiveEndpoint};
use crate::names;
use crate::state::AppState;
use crate::store::{
    now_rfc3339, AuthMode, EndpointKeys, EndpointRecord, NetworkAccess, Origin, Transport,
};

/// The body of `PUT /endpoints/{name}` (the endpoint file's fields).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    #[serde(default)]
    /// Must equal the name in the path when given.
    pub name: Option<String>,
    #[serde(default)]
    /// `key` (default), `token`, `oidc` or `none`.
    pub auth_mode: Option<String>,
    #[serde(default)]
    /// `enabled` (default) or `disabled` (only `network.allowed_networks` may score).
    pub public_network_access: Option<String>,
    #[serde(default)]
    /// Free text.
    pub description: Option<String>,
    /// `tls` (CPU/GPU deployments, the default) or `plain` (FPGA deployments).
    #[serde(default)]
    pub transport: Option<String>,
    /// Required with `auth_mode = "none"`.
    #[serde(default)]
    pub allow_unauthenticated: Option<bool>,
}

/// Who asks for a new endpoint, and with which credentials.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The CLI, or a config declaration.
    pub origin: Origin,
    /// Keys to use instead of fresh ones (`keys_file`, `token_signing_key_file`): only the
    /// non-empty fields replace the generated ones.
    pub credentials: Option<EndpointKeys>,
}

impl Provenance {
    /// A CLI request: fresh keys.
    pub fn cli() -> Provenance {
        Provenance { origin: Origin::Cli, credentials: None }
    }
}

/// The body of `PATCH /endpoints/{name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointPatch {
    /// Percent of requests per deployment name: whole numbers summing to 100.
    pub traffic: Option<BTreeMap<String, u32>>,
    /// Percent of requests copied to a deployment (answers discarded), per deployment name.
    pub mirror_traffic: Option<BTreeMap<String, u32>>,
    /// New free text.
    pub description: Option<String>,
    /// `enabled` or `disabled`.
    pub public_network_access: Option<String>,
    /// Switches the endpoint's auth mode; the old credentials stop working at once.
    pub auth_mode: Option<String>,
    /// Must be true to switch to `auth_mode = "none"`.
    pub allow_unauthenticated: Option<bool>,
    /// Set by config reconciling only (never from a request body): adopts the endpoint as
    /// declared.
    #[serde(skip)]
    pub origin: Option<Origin>,
    /// Set by config reconciling only: credentials from the declared files replace the
    /// stored ones after the update (empty fields keep theirs).
    #[serde(skip)]
    pub credentials: Option<EndpointKeys>,
}

/// `auth_mode = "none"` needs the operator's explicit `allow_unauthenticated = true`.
pub fn check_unauthenticated(mode: AuthMode, allowed: bool) -> Result<(), String> {
    if mode == AuthMode::None && !allowed {
        return Err("auth_mode \"none\" lets anyone on the network score: confirm with \
                    --allow-unauthenticated (or allow_unauthenticated = true in the endpoint file, \
                    or --set allow_unauthenticated=true on update)"
            .into());
    }
    Ok(())
}

/// `auth_mode = "oidc"` needs `[oidc]` in the config (issuer, audience, JWKS file).
pub fn check_oidc(app: &AppState, mode: AuthMode) -> Result<(), ManageError> {
    if mode == AuthMode::Oidc && app.oidc().is_none() {
        return Err(ManageError::Invalid(
            "auth_mode \"oidc\" needs [oidc] issuer, audience and jwks_file in the config".into(),
        ));
    }
    Ok(())
}

/// Fills a missing token-signing secret (stores made before token mode); true if it did.
pub fn ensure_token_secret(keys: &mut EndpointKeys) -> Result<bool, ManageError> {
    if !keys.token_secret.is_empty() {
        return Ok(false);
    }
    keys.token_secret = keys::generate_secret()
        .map_err(|_| ManageError::Internal("no randomness for the token secret".into()))?;
    Ok(true)
}

fn transport(s: &str) -> Result<Transport, ManageError> {
    match s {
        "tls" => Ok(Transport::Tls),
        "plain" => Ok(Transport::Plain),
        other => {
            Err(ManageError::Invalid(format!("transport \"{other}\" must be \"tls\" or \"plain\"")))
        }
    }
}

/// Creates an endpoint with fresh keys; an existing name is a conflict.
pub async fn create(
    app: &AppState,
    name: &str,
    spec: EndpointSpec,
    provenance: Provenance,
) -> Result<EndpointRecord, ManageError> {
    let _writing = app.writes.lock().await;
    names::check("endpoint name", name).map_err(ManageError::Invalid)?;
    if spec.name.as_deref().is_some_and(|n| n != name) {
        return Err(ManageError::Invalid(format!(
            "the file names endpoint {:?}, the request {name}",
            spec.name.unwrap_or_default()
        )));
    }
    if app.store.endpoint(name)?.is_some() {
        return Err(ManageError::Conflict(format!(
            "endpoint {name} already exists; use `endpoint update`"
        )));
    }
    let auth_mode = AuthMode::parse(spec.auth_mode.as_deref().unwrap_or("key"))
        .map_err(ManageError::Invalid)?;
    let allow_unauthenticated = spec.allow_unauthenticated.unwrap_or(false);
    check_unauthenticated(auth_mode, allow_unauthenticated).map_err(ManageError::Invalid)?;
    check_oidc(app, auth_mode)?;
    let public_network_access =
        NetworkAccess::parse(spec.public_network_access.as_deref().unwrap_or("enabled"))
            .map_err(ManageError::Invalid)?;
    let now = now_rfc3339();
    let record = EndpointRecord {
        name: name.to_string(),
        auth_mode,
        public_network_access,
        transport: transport(spec.transport.as_deref().unwrap_or("tls"))?,
        traffic: BTreeMap::new(),
        mirror_traffic: BTreeMap::new(),
        allow_unauthenticated,
        description: spec.description.unwrap_or_default(),
        created_at: now.clone(),
        updated_at: now,
        origin: Some(provenance.origin),
        shared_credentials: provenance.credentials.is_some(),
    };
    let mut pair = keys::generate_pair()
        .map_err(|_| ManageError::Internal("no randomness for keys".into()))?;
    if let Some(shared) = &provenance.credentials {
        overlay(&mut pair, shared);
    }
    app.store.put_endpoint(&record, Some(&pair))?;
    if auth_mode == AuthMode::None {
        tracing::warn!(
            endpoint = name,
            "endpoint created with auth_mode none: anyone on the network may score it"
        );
    }
    let live = LiveEndpoint {
        credentials: Credentials::for_endpoint(&record, &pair),
        record: record.clone(),
        deployments: BTreeMap::new(),
    };
    publish(app, name, Some(live));
    tracing::info!(endpoint = name, "endpoint created");
    Ok(record)
}

/// Replaces the credentials that `shared` holds (non-empty fields) in `keys`; true if any changed.
fn overlay(keys: &mut EndpointKeys, shared: &EndpointKeys) -> bool {
    let mut changed = false;
    for (mine, theirs) in [
        (&mut keys.primary, &shared.primary),
        (&mut keys.secondary, &shared.secondary),
        (&mut keys.token_secret, &shared.token_secret),
    ] {
        if !theirs.is_empty() && mine != theirs {
            *mine = theirs.clone();
            changed = true;
        }
    }
    changed
}

/// Checks a mirror split: known deployments that take no live traffic, each at most 100%.
fn validate_mirror(
    mirror: &BTreeMap<String, u32>,
    live: &BTreeMap<String, u32>,
    deployments: &[&str],
) -> Result<(), String> {
    for (name, &pct) in mirror {
        if !deployments.contains(&name.as_str()) {
            return Err(format!(
                "mirror traffic names deployment {name}, which the endpoint does not have"
            ));
        }
        if pct > 100 {
            return Err(format!("mirror traffic for {name} is {pct}%, over 100"));
        }
        if pct > 0 && live.get(name).copied().unwrap_or(0) > 0 {
            return Err(format!("deployment {name} takes live traffic; mirror only to a deployment with 0% live traffic"));
        }
    }
    Ok(())
}

/// Changes traffic, mirror traffic, description or network access.
pub async fn update(
    app: &AppState,
    name: &str,
    patch: EndpointPatch,
) -> Result<EndpointRecord, ManageError> {
    let _writing = app.writes.lock().await;
    let live = live_endpoint(app, name)?;
    let mut record = app.store.endpoint(name)?.ok_or_else(|| super::endpoint_missing(app, name))?;
    let deployments: Vec<&str> = live.deployments.keys().map(String::as_str).collect();
    if let Some(t) = patch.traffic {
        traffic::validate(&t, &deployments).map_err(ManageError::Invalid)?;
        record.traffic = t;
    }
    if let Some(m) = patch.mirror_traffic {
        record.mirror_traffic = m.into_iter().filter(|(_, p)| *p > 0).collect();
    }
    validate_mirror(&record.mirror_traffic, &record.traffic, &deployments)
        .map_err(ManageError::Invalid)?;
    if let Some(d) = patch.description {
        record.description = d;
    }
    if let Some(p) = patch.public_network_access {
        record.public_network_access = NetworkAccess::parse(&p).map_err(ManageError::Invalid)?;
    }
    let previous = record.auth_mode;
    if let Some(mode) = patch.auth_mode {
        record.auth_mode = AuthMode::parse(&mode).map_err(ManageError::Invalid)?;
    }
    // Consent to `none` is given with the switch itself, and lapses when the endpoint leaves it.
    record.allow_unauthenticated = match (previous, record.auth_mode) {
        (_, AuthMode::None) if previous != AuthMode::None => {
            patch.allow_unauthenticated == Some(true)
        }
        (_, AuthMode::None) => patch.allow_unauthenticated.unwrap_or(record.allow_unauthenticated),
        _ => false,
    };
    check_unauthenticated(record.auth_mode, record.allow_unauthenticated)
        .map_err(ManageError::Invalid)?;
    check_oidc(app, record.auth_mode)?;
    let mut keys = app.store.keys(name)?.ok_or_else(|| super::endpoint_missing(app, name))?;
    let mut changed = ensure_token_secret(&mut keys)?;
    // Leaving a mode ends its credentials for good: a switch back does not revive a leaked key
    // or an unexpired token.
    if previous != record.auth_mode {
        let fresh = || ManageError::Internal("no randomness for keys".into());
        match previous {
            AuthMode::Key => {
                let pair = keys::generate_pair().map_err(|_| fresh())?;
                keys.primary = pair.primary;
                keys.secondary = pair.secondary;
            }
            AuthMode::Token => keys.token_secret = keys::generate_secret().map_err(|_| fresh())?,
            AuthMode::Oidc | AuthMode::None => {}
        }
        changed = true;
    }
    if let Some(origin) = patch.origin {
        record.origin = Some(origin);
    }
    if let Some(shared) = &patch.credentials {
        changed |= overlay(&mut keys, shared);
        record.shared_credentials = true;
    } else if patch.origin.is_some() {
        record.shared_credentials = false;
    }
    record.updated_at = now_rfc3339();
    app.store.put_endpoint(&record, changed.then_some(&keys))?;
    let mut next = (*live).clone();
    // New credentials from the record in force: a mode switch ends the old ones at once.
    next.credentials = Credentials::for_endpoint(&record, &keys);
    next.record = record.clone();
    publish(app, name, Some(next));
    tracing::info!(endpoint = name, traffic = ?record.traffic, mirror = ?record.mirror_traffic, "endpoint updated");
    Ok(record)
}

/// Deletes an endpoint, its deployments (in-flight requests finish first) and its keys.
pub async fn delete(app: &AppState, name: &str) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    if app.store.endpoint(name)?.is_none() {
        return Err(super::endpoint_missing(app, name));
    }
    // Its role assignments go with it, in the same store transaction: a later endpoint of the
    // same name starts with none, even after a crash in the middle of the delete.
    let removed = app.store.delete_endpoint(name)?;
    publish(app, name, None);
    if removed > 0 {
        app.reload_rbac()?;
    }
    tracing::info!(endpoint = name, role_assignments_removed = removed, "endpoint deleted");
    Ok(())
}

/// Which credential `regenerate-keys` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// The primary or secondary key: the old one stops working at once.
    Key(KeySlot),
    /// The token-signing secret: every token issued so far stops working.
    TokenSigning,
}

impl KeyType {
    /// Parses `--key-type`: `primary`, `secondary` or `token-signing`.
    pub fn parse(s: &str) -> Result<KeyType, String> {
        match s {
            "primary" => Ok(KeyType::Key(KeySlot::Primary)),
            "secondary" => Ok(KeyType::Key(KeySlot::Secondary)),
            "token-signing" => Ok(KeyType::TokenSigning),
            other => {
                Err(format!("keyType \"{other}\" must be primary, secondary or token-signing"))
            }
        }
    }

    /// The name `regenerate-keys` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Key(slot) => slot.as_str(),
            KeyType::TokenSigning => "token-signing",
        }
    }
}

/// Replaces one key (the other keeps working) or the token-signing secret.
pub async fn regenerate_key(app: &AppState, name: &str, which: KeyType) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    let live = live_endpoint(app, name)?;
    let mut pair = app.store.keys(name)?.ok_or_else(|| super::endpoint_missing(app, name))?;
    if live.record.shared_credentials {
        return Err(ManageError::Conflict(format!(
            "endpoint {name} takes its credentials from a file named in the config (keys_file or \
             token_signing_key_file), shared with other boxes: write new keys into that file and \
             reload (systemctl reload edgeserved) on every box"
        )));
    }
    if matches!(which, KeyType::Key(_)) && live.record.auth_mode == AuthMode::Token {
        return Err(ManageError::Invalid(format!(
            "endpoint {name} uses token auth and has no keys to regenerate: use --key-type \
             token-signing to rotate its signing secret (every token issued so far stops working)"
        )));
    }
    let fresh = match which {
        KeyType::Key(_) => keys::generate(),
        KeyType::TokenSigning => keys::generate_secret(),
    }
    .map_err(|_| ManageError::Internal("no randomness for keys".into()))?;
    match which {
        KeyType::Key(KeySlot::Primary) => pair.primary = fresh,
        KeyType::Key(KeySlot::Secondary) => pair.secondary = fresh,
        KeyType::TokenSigning => pair.token_secret = fresh,
    }
    app.store.put_keys(name, &pair)?;
    let mut next = (*live).clone();
    next.credentials = Credentials::for_endpoint(&live.record, &pair);
    publish(app, name, Some(next));
    tracing::info!(endpoint = name, key = which.as_str(), "key regenerated");
    Ok(())
}
