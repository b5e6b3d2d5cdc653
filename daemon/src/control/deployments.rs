//! Deployment routes of the control plane.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{Action, Caller};
use crate::config::DeploymentDecl;
use crate::deploy::{DeploymentState, LiveDeployment};
use crate::error::ApiError;
use crate::manage;
use crate::state::AppState;

/// The JSON `deployment show` prints.
fn deployment_json(d: &LiveDeployment) -> Value {
    let r = &d.record;
    let mut v = json!({
        "name": r.name,
        "endpoint": r.endpoint,
        "model": r.model,
        "target": r.target,
        "device": r.device,
        "instanceCount": r.instance_count,
        "maxBatchSize": r.max_batch_size,
        "batchWindowUs": r.batch_window_us,
        "maxQueue": r.max_queue,
        "state": d.state_name(),
        "requestCount": d.requests.load(std::sync::atomic::Ordering::Relaxed),
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
        "origin": r.origin.map(crate::store::Origin::as_str),
    });
    match &d.state {
        DeploymentState::Failed { reason } => v["reason"] = json!(reason),
        DeploymentState::Succeeded { runner, placement, .. } => {
            v["queueDepth"] = json!(runner.depth());
            if let Some(p) = placement {
                v["gpuNodes"] = json!(p.device_nodes);
                v["hostNodes"] = json!(p.host_nodes);
                v["hostOps"] = json!(p.host_ops);
            }
        }
    }
    v
}

fn live(app: &AppState, endpoint: &str, name: &str) -> Result<Arc<LiveDeployment>, ApiError> {
    let table = app.table();
    let ep = table
        .endpoint(endpoint)
        .ok_or_else(|| ApiError::from(crate::manage::endpoint_missing(app, endpoint)))?;
    ep.deployments.get(name).cloned().ok_or_else(|| {
        let hint = crate::names::did_you_mean(name, ep.deployments.keys().map(String::as_str));
        ApiError::not_found(format!("deployment {name} not found on endpoint {endpoint}{hint}"))
    })
}

/// `GET /endpoints/{endpoint}/deployments`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(endpoint): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsRead, super::Scope::endpoint(&endpoint))?;
    let table = app.table();
    let ep = table
        .endpoint(&endpoint)
        .ok_or_else(|| ApiError::from(crate::manage::endpoint_missing(&app, &endpoint)))?;
    Ok(Json(json!(ep.deployments.values().map(|d| deployment_json(d)).collect::<Vec<_>>())))
}

/// `GET /endpoints/{endpoint}/deployments/{name}`.
pub async fn show(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((endpoint, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsRead, super::Scope::endpoint(&endpoint))?;
    let d = live(&app, &endpoint, &name)?;
    Ok(Json(deployment_json(&d)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutQuery {
    #[serde(default)]
    all_traffic: bool,
}

/// `PUT /endpoints/{endpoint}/deployments/{name}`: the deployment file's fields as JSON.
pub async fn put(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((endpoint, name)): Path<(String, String)>,
    Query(q): Query<PutQuery>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsWrite, super::Scope::endpoint(&endpoint))?;
    let mut raw: Value = super::json_body(body).await?;
    let obj = raw
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid_input("the deployment must be a JSON object"))?;
    for (key, value) in [("name", &name), ("endpoint", &endpoint)] {
        match obj.get(key).and_then(Value::as_str) {
            Some(given) if given != value => {
                return Err(ApiError::invalid_input(format!(
                    "the file says {key} = {given}, the request {value}"
                )))
            }
            _ => {
                obj.insert(key.into(), json!(value));
            }
        }
    }
    let decl: DeploymentDecl = super::from_json(raw, "deployment")?;
    let d = manage::deployments::put(
        &app,
        decl,
        q.all_traffic,
        crate::store::Origin::Cli,
        manage::deployments::OnFailure::Refuse,
    )
    .await?;
    Ok(Json(deployment_json(&d)))
}

/// `PATCH /endpoints/{endpoint}/deployments/{name}`: changes some fields, loading the result
/// before retiring the current one.
pub async fn update(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((endpoint, name)): Path<(String, String)>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsWrite, super::Scope::endpoint(&endpoint))?;
    let patch: Map<String, Value> = super::json_body(body).await?;
    let current = live(&app, &endpoint, &name)?;
    let mut merged = serde_json::to_value(DeploymentDecl {
        name: current.record.name.clone(),
        endpoint: current.record.endpoint.clone(),
        model: current.record.model.clone(),
        target: current.record.target.to_string(),
        device: current.record.device,
        instance_count: current.record.instance_count,
        max_batch_size: current.record.max_batch_size,
        batch_window_us: current.record.batch_window_us,
        max_queue: current.record.max_queue,
    })
    .map_err(|_| ApiError::internal())?;
    for (k, v) in patch {
        if k == "name" || k == "endpoint" {
            return Err(ApiError::invalid_input(format!("{k} cannot be changed")));
        }
        merged[k] = v;
    }
    let decl: DeploymentDecl = super::from_json(merged, "deployment")?;
    let d = manage::deployments::put(
        &app,
        decl,
        false,
        crate::store::Origin::Cli,
        manage::deployments::OnFailure::Refuse,
    )
    .await?;
    Ok(Json(deployment_json(&d)))
}

/// `DELETE /endpoints/{endpoint}/deployments/{name}`.
pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((endpoint, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsDelete, super::Scope::endpoint(&endpoint))?;
    manage::deployments::delete(&app, &endpoint, &name).await?;
    Ok(Json(json!({ "deleted": format!("/endpoints/{endpoint}/deployments/{name}") })))
}
