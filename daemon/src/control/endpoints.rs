//! Endpoint routes of the control plane.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::error::ApiError;
use crate::manage;
use crate::state::AppState;
use crate::store::{AuthMode, EndpointRecord, Transport};

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
        "allowUnauthenticated": record.allow_unauthenticated,
        "transport": record.transport,
        "traffic": record.traffic,
        "mirrorTraffic": record.mirror_traffic,
        "publicNetworkAccess": record.public_network_access,
        "description": record.description,
        "origin": record.origin.map(crate::store::Origin::as_str),
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
    caller.authorize(&app, Action::EndpointsRead, super::Scope::Root)?;
    let records = app.store.endpoints().map_err(store_err)?;
    Ok(Json(json!(records.iter().map(|r| endpoint_json(&app, r)).collect::<Vec<_>>())))
}

/// `GET /endpoints/{name}`.
pub async fn show(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsRead, super::Scope::endpoint(&name))?;
    let record = app
        .store
        .endpoint(&name)
        .map_err(store_err)?
        .ok_or_else(|| ApiError::from(crate::manage::endpoint_missing(&app, &name)))?;
    Ok(Json(endpoint_json(&app, &record)))
}

/// `POST /endpoints/{name}/credentials`: the endpoint's two keys.
pub async fn credentials(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = app.store.endpoint(&name).map_err(store_err)?;
    // Keys are listed (`endpoints/listKeys/action`); tokens are issued (`endpoints/token/action`).
    let action = match record.as_ref().map(|r| r.auth_mode) {
        Some(AuthMode::Token) => Action::Token,
        _ => Action::ListKeys,
    };
    caller.authorize(&app, action, super::Scope::endpoint(&name))?;
    let record =
        record.ok_or_else(|| ApiError::from(crate::manage::endpoint_missing(&app, &name)))?;
    let keys = app
        .store
        .keys(&name)
        .map_err(store_err)?
        .ok_or_else(|| ApiError::from(crate::manage::endpoint_missing(&app, &name)))?;
    match record.auth_mode {
        AuthMode::Key => {
            Ok(Json(json!({ "primaryKey": keys.primary, "secondaryKey": keys.secondary })))
        }
        AuthMode::Token => {
            let subject = caller.describe();
            let grant = crate::auth::token::issue(
                &name,
                keys.token_secret.as_bytes(),
                std::time::Duration::from_secs(app.settings().auth.token_lifetime_s),
                &subject,
            )
            .map_err(|e| {
                tracing::error!(error = %e, "token signing failed");
                ApiError::internal()
            })?;
            tracing::info!(endpoint = %name, subject = %subject, expires = %grant.expiry_time_utc, "token issued");
            Ok(Json(serde_json::to_value(grant).unwrap_or(Value::Null)))
        }
        AuthMode::None => Err(ApiError::invalid_input(format!(
            "endpoint {name} uses auth_mode none: it takes no credential"
        ))),
        AuthMode::Oidc => Err(ApiError::invalid_input(format!(
            "endpoint {name} uses auth_mode oidc: clients present their identity provider's tokens"
        ))),
    }
}

/// `PUT /endpoints/{name}`: creates an endpoint with fresh keys.
pub async fn create(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsWrite, super::Scope::endpoint(&name))?;
    let spec: manage::endpoints::EndpointSpec = super::json_body(body).await?;
    let record =
        manage::endpoints::create(&app, &name, spec, manage::endpoints::Provenance::cli()).await?;
    Ok(Json(endpoint_json(&app, &record)))
}

/// `PATCH /endpoints/{name}`: traffic, mirror traffic, description, network access.
pub async fn update(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsWrite, super::Scope::endpoint(&name))?;
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
    caller.authorize(&app, Action::EndpointsDelete, super::Scope::endpoint(&name))?;
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
    caller.authorize(&app, Action::RegenerateKeys, super::Scope::endpoint(&name))?;
    let req: Regenerate = super::json_body(body).await?;
    let which =
        manage::endpoints::KeyType::parse(&req.key_type).map_err(ApiError::invalid_input)?;
    manage::endpoints::regenerate_key(&app, &name, which).await?;
    let next = match which {
        manage::endpoints::KeyType::TokenSigning => {
            format!("every token of {name} is revoked: get new ones with `edgeserve endpoint get-credentials -n {name}`")
        }
        manage::endpoints::KeyType::Key(_) => {
            format!("the new key: `edgeserve endpoint get-credentials -n {name}`")
        }
    };
    Ok(Json(json!({ "regenerated": which.as_str(), "next": next })))
}
