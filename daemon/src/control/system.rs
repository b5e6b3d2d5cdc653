//! `GET /status` and `GET /devices`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// What the daemon serves and whether it is ready.
pub async fn status(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsRead, super::Scope::Root)?;
    let table = app.table();
    let mut endpoints: Vec<Value> = table
        .endpoints
        .values()
        .map(|e| {
            let deployments: Vec<Value> = e
                .deployments
                .values()
                .map(|d| json!({ "name": d.record.name, "state": d.state_name(), "target": d.record.target }))
                .collect();
            json!({ "name": e.record.name, "deployments": deployments })
        })
        .collect();
    endpoints.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "ready": table.all_ready(),
        "endpoints": endpoints,
        "listeners": app.bound(),
    })))
}

/// Every device of every backend.
pub async fn devices(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::DevicesRead, super::Scope::Root)?;
    let backends = app.backends.clone();
    let devices = tokio::task::spawn_blocking(move || backends.devices())
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(Json(json!(devices)))
}
