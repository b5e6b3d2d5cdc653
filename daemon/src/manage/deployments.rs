//! Creating, updating and deleting deployments: a new version is loaded before the old one is
//! retired, so scoring never stops; a retired one finishes its queued requests.

use std::sync::Arc;

use edgeserve_accel::Target;

use super::{live_endpoint, publish, ManageError};
use crate::config::DeploymentDecl;
use crate::deploy::{load_deployment, DeploymentState, LiveDeployment};
use crate::names;
use crate::state::AppState;
use crate::store::{now_rfc3339, DeploymentRecord, Origin, Transport};

/// What [`put`] does when the new deployment fails to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Nothing is stored and the call fails with `DeploymentFailed` (CLI, SPEC §6).
    Refuse,
    /// A declared deployment: if a working one of that name serves, it keeps serving and the
    /// call fails; otherwise the failed one is stored and shown as `Failed` with its reason
    /// (SPEC §6: "a declared deployment that fails at start is kept as Failed").
    KeepFailed,
}

fn check(decl: &DeploymentDecl) -> Result<Target, ManageError> {
    let invalid = ManageError::Invalid;
    names::check("deployment name", &decl.name).map_err(invalid)?;
    names::check("endpoint name", &decl.endpoint).map_err(invalid)?;
    names::model_ref(&decl.model).map_err(invalid)?;
    let target: Target = decl.target.parse().map_err(invalid)?;
    for (what, v) in [
        ("instance_count", decl.instance_count),
        ("max_batch_size", decl.max_batch_size),
        ("max_queue", decl.max_queue),
    ] {
        if v == 0 {
            return Err(ManageError::Invalid(format!("{what} must be greater than 0")));
        }
    }
    Ok(target)
}

/// Creates or updates a deployment. The new one is loaded first; if it fails nothing changes.
/// With `all_traffic` it takes 100% of the endpoint's traffic.
pub async fn put(
    app: &AppState,
    decl: DeploymentDecl,
    all_traffic: bool,
    origin: Origin,
    on_failure: OnFailure,
) -> Result<Arc<LiveDeployment>, ManageError> {
    let target = check(&decl)?;
    let _writing = app.writes.lock().await;
    let live = live_endpoint(app, &decl.endpoint)?;
    let mut endpoint = app
        .store
        .endpoint(&decl.endpoint)?
        .ok_or_else(|| super::endpoint_missing(app, &decl.endpoint))?;
    if Transport::for_target(target) != endpoint.transport {
        return Err(ManageError::Invalid(format!(
            "target {target} is served over {} but endpoint {} uses {}; create the endpoint with transport = \"{}\"",
            transport_name(Transport::for_target(target)),
            endpoint.name,
            transport_name(endpoint.transport),
            transport_name(Transport::for_target(target)),
        )));
    }
    let (model, version) = names::model_ref(&decl.model).map_err(ManageError::Invalid)?;
    if app.store.model(model, version)?.is_none() {
        let known: Vec<String> =
            app.store.models()?.iter().map(|m| format!("{}:{}", m.name, m.version)).collect();
        let hint = names::did_you_mean(&decl.model, known.iter().map(String::as_str));
        return Err(ManageError::Invalid(format!(
            "model {} is not registered (edgeserve model register){hint}",
            decl.model
        )));
    }
    let existing = app.store.deployment(&decl.endpoint, &decl.name)?;
    let now = now_rfc3339();
    let record = DeploymentRecord {
        name: decl.name.clone(),
        endpoint: decl.endpoint.clone(),
        model: decl.model.clone(),
        target,
        device: decl.device,
        instance_count: decl.instance_count,
        max_batch_size: decl.max_batch_size,
        batch_window_us: decl.batch_window_us,
        max_queue: decl.max_queue,
        created_at: existing.as_ref().map(|e| e.created_at.clone()).unwrap_or_else(|| now.clone()),
        updated_at: now.clone(),
        // A CLI update keeps who made it; a declaration adopts what it names.
        origin: match (origin, &existing) {
            (Origin::Cli, Some(e)) => e.origin,
            (origin, _) => Some(origin),
        },
    };
    let loaded = load_deployment(record.clone(), app.store.clone(), app.backends.clone()).await;
    if let DeploymentState::Failed { reason } = &loaded.state {
        let failed =
            || ManageError::DeploymentFailed(format!("deployment {} failed: {reason}", decl.name));
        let serving = live
            .deployments
            .get(&decl.name)
            .is_some_and(|d| matches!(d.state, DeploymentState::Succeeded { .. }));
        if on_failure == OnFailure::Refuse || serving {
            return Err(failed());
        }
    }
    if all_traffic {
        for pct in endpoint.traffic.values_mut() {
            *pct = 0;
        }
        endpoint.traffic.insert(decl.name.clone(), 100);
        endpoint.mirror_traffic.remove(&decl.name);
    }
    endpoint.updated_at = now;
    app.store.put_deployment_and_endpoint(&record, &endpoint)?;
    let loaded = Arc::new(loaded);
    let mut next = (*live).clone();
    next.deployments.insert(decl.name.clone(), loaded.clone());
    next.record = endpoint;
    publish(app, &decl.endpoint, Some(next));
    tracing::info!(endpoint = %decl.endpoint, deployment = %decl.name, model = %decl.model, "deployment is serving");
    Ok(loaded)
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Tls => "tls",
        Transport::Plain => "plain",
    }
}

/// Deletes a deployment that takes no traffic; its queued requests finish first.
pub async fn delete(app: &AppState, endpoint_name: &str, name: &str) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    let live = live_endpoint(app, endpoint_name)?;
    if !live.deployments.contains_key(name) {
        let hint = names::did_you_mean(name, live.deployments.keys().map(String::as_str));
        return Err(ManageError::NotFound(format!(
            "deployment {name} not found on endpoint {endpoint_name}{hint}"
        )));
    }
    let mut endpoint = live.record.clone();
    let share = endpoint.traffic.get(name).copied().unwrap_or(0)
        + endpoint.mirror_traffic.get(name).copied().unwrap_or(0);
    if share > 0 {
        return Err(ManageError::Conflict(format!(
            "deployment {name} still takes traffic; move it to other deployments first (endpoint update --traffic)"
        )));
    }
    endpoint.traffic.remove(name);
    endpoint.mirror_traffic.remove(name);
    endpoint.updated_at = now_rfc3339();
    app.store.delete_deployment(&endpoint, name)?;
    let mut next = (*live).clone();
    next.deployments.remove(name);
    next.record = endpoint;
    publish(app, endpoint_name, Some(next));
    tracing::info!(endpoint = endpoint_name, deployment = name, "deployment deleted");
    Ok(())
}
