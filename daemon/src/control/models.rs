//! Model routes of the control plane.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoints::store_err;
use super::{Action, Caller};
use crate::error::ApiError;
use crate::manage;
use crate::state::AppState;
use crate::store::ModelRecord;

fn model_json(m: &ModelRecord) -> Value {
    json!({
        "id": format!("/models/{}/versions/{}", m.name, m.version),
        "name": m.name,
        "version": m.version,
        "sha256": m.sha256,
        "sizeBytes": m.size_bytes,
        "createdAt": m.created_at,
        "signature": m.signature,
        "targets": m.targets,
        "origin": m.origin.map(crate::store::Origin::as_str),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    name: String,
    version: String,
    path: PathBuf,
}

/// `POST /models` with `{"name", "version", "path"}`.
pub async fn register(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::ModelsWrite, super::Scope::Root)?;
    let req: Register = super::json_body(body).await?;
    let record = manage::models::register(
        &app,
        &req.name,
        &req.version,
        &req.path,
        crate::store::Origin::Cli,
    )
    .await?;
    Ok(Json(model_json(&record)))
}

/// `GET /models`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::ModelsRead, super::Scope::Root)?;
    let models = app.store.models().map_err(store_err)?;
    Ok(Json(json!(models.iter().map(model_json).collect::<Vec<_>>())))
}

/// `GET /models/{name}/versions/{version}`.
pub async fn show(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::ModelsRead, super::Scope::Root)?;
    let m = app.store.model(&name, &version).map_err(store_err)?.ok_or_else(|| {
        let known: Vec<String> = app
            .store
            .models()
            .unwrap_or_default()
            .iter()
            .map(|m| format!("{}:{}", m.name, m.version))
            .collect();
        let hint = crate::names::did_you_mean(
            &format!("{name}:{version}"),
            known.iter().map(String::as_str),
        );
        ApiError::not_found(format!("model {name}:{version} is not registered{hint}"))
    })?;
    Ok(Json(model_json(&m)))
}

/// `DELETE /models/{name}/versions/{version}`: refused while a deployment uses it.
pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::ModelsWrite, super::Scope::Root)?;
    manage::models::delete(&app, &name, &version).await?;
    Ok(Json(json!({ "deleted": format!("/models/{name}/versions/{version}") })))
}
