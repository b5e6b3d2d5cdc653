//! Creating, changing and deleting endpoints, and regenerating their keys.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{live_endpoint, publish, ManageError};
use crate::auth::{keys, Credentials, KeyDigests, KeySlot};
use crate::deploy::{traffic, LiveEndpoint};
use crate::names;
use crate::state::AppState;
use crate::store::{now_rfc3339, AuthMode, EndpointRecord, NetworkAccess, Transport};

/// The body of `PUT /endpoints/{name}` (the endpoint file's fields).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub auth_mode: Option<String>,
    #[serde(default)]
    pub public_network_access: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `tls` (CPU/GPU deployments, the default) or `plain` (FPGA deployments).
    #[serde(default)]
    pub transport: Option<String>,
}

/// The body of `PATCH /endpoints/{name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointPatch {
    pub traffic: Option<BTreeMap<String, u32>>,
    pub mirror_traffic: Option<BTreeMap<String, u32>>,
    pub description: Option<String>,
    pub public_network_access: Option<String>,
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
        description: spec.description.unwrap_or_default(),
        created_at: now.clone(),
        updated_at: now,
    };
    let pair =
        keys::generate_pair().map_err(|_| ManageError::Invalid("no randomness for keys".into()))?;
    app.store.put_endpoint(&record, Some(&pair))?;
    let live = LiveEndpoint {
        record: record.clone(),
        credentials: Credentials::Keys(KeyDigests::new(&pair)),
        deployments: BTreeMap::new(),
    };
    publish(app, name, Some(live));
    tracing::info!(endpoint = name, "endpoint created");
    Ok(record)
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
    let mut record =
        app.store.endpoint(name)?.ok_or_else(|| ManageError::EndpointNotFound(name.to_string()))?;
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
    record.updated_at = now_rfc3339();
    app.store.put_endpoint(&record, None)?;
    let mut next = (*live).clone();
    next.record = record.clone();
    publish(app, name, Some(next));
    tracing::info!(endpoint = name, traffic = ?record.traffic, mirror = ?record.mirror_traffic, "endpoint updated");
    Ok(record)
}

/// Deletes an endpoint, its deployments (in-flight requests finish first) and its keys.
pub async fn delete(app: &AppState, name: &str) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    if app.store.endpoint(name)?.is_none() {
        return Err(ManageError::EndpointNotFound(name.to_string()));
    }
    app.store.delete_endpoint(name)?;
    publish(app, name, None);
    tracing::info!(endpoint = name, "endpoint deleted");
    Ok(())
}

/// Replaces one key; the other keeps working.
pub async fn regenerate_key(app: &AppState, name: &str, slot: KeySlot) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    let live = live_endpoint(app, name)?;
    let mut pair =
        app.store.keys(name)?.ok_or_else(|| ManageError::EndpointNotFound(name.to_string()))?;
    let fresh =
        keys::generate().map_err(|_| ManageError::Invalid("no randomness for keys".into()))?;
    match slot {
        KeySlot::Primary => pair.primary = fresh,
        KeySlot::Secondary => pair.secondary = fresh,
    }
    app.store.put_keys(name, &pair)?;
    let mut next = (*live).clone();
    next.credentials = Credentials::Keys(KeyDigests::new(&pair));
    publish(app, name, Some(next));
    tracing::info!(endpoint = name, key = slot.as_str(), "key regenerated");
    Ok(())
}
