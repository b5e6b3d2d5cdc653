//! Endpoint routes of the control plane.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{EndpointRecord, Transport};

/// The JSON `endpoint show` prints (SPEC §6).
fn endpoint_json(app: &AppState, record: &EndpointRecord) -> Value {
    let (scheme, port) = match record.transport {
        Transport::Tls => ("https", app.bound().tls_port),
        Transport::Plain => ("http", app.bound().plain_port),
    };
    json!({
        "id": format!("/endpoints/{}", record.name),
        "name": record.name,
        "state": "Succeeded",
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "scoringUri": format!("{scheme}://{}:{}/api/v1/service/{}/score", app.settings.tls.cname, port.unwrap_or(0), record.name),
        "authMode": record.auth_mode.as_str(),
        "transport": record.transport,
        "traffic": record.traffic,
        "mirrorTraffic": record.mirror_traffic,
        "publicNetworkAccess": record.public_network_access,
        "description": record.description,
    })
}

fn store_err(e: crate::store::StoreError) -> ApiError {
    tracing::error!(error = %e, "store read failed");
    ApiError::internal()
}

/// `GET /endpoints`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::EndpointsRead)?;
    let records = app.store.endpoints().map_err(store_err)?;
    Ok(Json(json!(records.iter().map(|r| endpoint_json(&app, r)).collect::<Vec<_>>())))
}

/// `GET /endpoints/{name}`.
pub async fn show(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::EndpointsRead)?;
    let record = app
        .store
        .endpoint(&name)
        .map_err(store_err)?
        .ok_or_else(|| ApiError::endpoint_not_found(&name))?;
    Ok(Json(endpoint_json(&app, &record)))
}

/// `POST /endpoints/{name}/credentials`: the endpoint's two keys.
pub async fn credentials(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::ListKeys)?;
    let keys = app
        .store
        .keys(&name)
        .map_err(store_err)?
        .ok_or_else(|| ApiError::endpoint_not_found(&name))?;
    Ok(Json(json!({ "primaryKey": keys.primary, "secondaryKey": keys.secondary })))
}
