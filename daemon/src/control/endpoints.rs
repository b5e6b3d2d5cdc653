//! Endpoint routes of the control plane.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::auth::KeySlot;
use crate::error::ApiError;
use crate::manage;
use crate::state::AppState;
use crate::store::{EndpointRecord, Transport};

/// The JSON `endpoint show` prints (SPEC §6).
pub(super) fn endpoint_json(app: &AppState, record: &EndpointRecord) -> Value {
    let (scheme, port) = match record.transport {
        Transport::Tls => ("https", app.bound().tls_port),
        Transport::Plain => ("http", app.bound().plain_port),
    };
    let host = crate::listen::material::names::url_host(&app.cname());
    let port = port.unwrap_or(0);
    json!({
        "id": format!("/endpoints/{}", record.name),
        "name": record.name,
        "state": "Succeeded",
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "scoringUri": format!("{scheme}://{host}:{port}/api/v1/service/{}/score", record.name),
        "authMode": record.auth_mode.as_str(),
        "transport": record.transport,
        "traffic": record.traffic,
        "mirrorTraffic": record.mirror_traffic,
        "publicNetworkAccess": record.public_network_access,
        "description": record.description,
    })
}

pub(super) fn store_err(e: crate::store::StoreError) -> ApiError {
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

/// `PUT /endpoints/{name}`: creates an endpoint with fresh keys.
pub async fn create(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::EndpointsWrite)?;
    let spec: manage::endpoints::EndpointSpec = super::json_body(body).await?;
    let record = manage::endpoints::create(&app, &name, spec).await?;
    Ok(Json(endpoint_json(&app, &record)))
}

/// `PATCH /endpoints/{name}`: traffic, mirror traffic, description, network access.
pub async fn update(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::EndpointsWrite)?;
    let patch: manage::endpoints::EndpointPatch = super::json_body(body).await?;
    let record = manage::endpoints::update(&app, &name, patch).await?;
    Ok(Json(endpoint_json(&app, &record)))
}

/// `DELETE /endpoints/{name}`.
pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::EndpointsDelete)?;
    manage::endpoints::delete(&app, &name).await?;
    Ok(Json(json!({ "deleted": format!("/endpoints/{name}") })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Regenerate {
    key_type: String,
}

/// `POST /endpoints/{name}/regenerateKeys` with `{"keyType": "primary" | "secondary"}`.
pub async fn regenerate_keys(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(Action::RegenerateKeys)?;
    let req: Regenerate = super::json_body(body).await?;
    let slot = match req.key_type.as_str() {
        "primary" => KeySlot::Primary,
        "secondary" => KeySlot::Secondary,
        other => {
            return Err(ApiError::invalid_input(format!(
                "keyType \"{other}\" must be primary or secondary"
            )))
        }
    };
    manage::endpoints::regenerate_key(&app, &name, slot).await?;
    Ok(Json(json!({ "regenerated": slot.as_str() })))
}
