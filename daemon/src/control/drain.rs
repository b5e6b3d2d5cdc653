//! `POST /drain` (`edgeserve drain`): readiness turns 503 while scoring goes on, so a load
//! balancer moves traffic away (SPEC §7); and `POST /config/plan`: what reloading a config file
//! would change (`edgeserved --check-config` asks a running daemon).

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::state::AppState;

/// The body of `POST /drain`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// Ends draining: readiness follows the deployments again.
    #[serde(default)]
    cancel: bool,
}

/// `POST /drain`: `{"cancel": false}` starts draining, `{"cancel": true}` ends it. Needs
/// `endpoints/write` at `/` (it takes the whole box out of its load balancer).
pub async fn drain(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsWrite, Scope::Root)?;
    let req: DrainRequest = super::json_body(body).await?;
    let was = app.set_draining(!req.cancel);
    if was == req.cancel {
        if req.cancel {
            tracing::info!(by = %caller.describe(), "drain cancelled: readiness follows the deployments again");
        } else {
            tracing::warn!(by = %caller.describe(), "draining: readiness answers 503, scoring goes on");
        }
    }
    Ok(Json(
        json!({ "draining": app.draining(), "ready": !app.draining() && app.table().all_ready() }),
    ))
}

/// The body of `POST /config/plan`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The config file's text (sent, not named: the daemon's user may not read a file being
    /// checked before it is installed, e.g. Ansible's `validate` copy).
    toml: String,
    /// The folder relative paths in it are read from (where the file will be installed).
    base_dir: PathBuf,
}

/// `POST /config/plan`: the changes reloading this config would make, without making them
/// (the daemon's own `EDGESERVE_*` overrides apply, as on reload). It reads files the config
/// names (models, key files), so it needs `models/write` and `roles/write` at `/`.
pub async fn plan(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::ModelsWrite, Scope::Root)?;
    caller.authorize(&app, Action::RolesWrite, Scope::Root)?;
    let req: PlanRequest = super::json_body(body).await?;
    if !req.base_dir.is_absolute() {
        return Err(ApiError::invalid_input(format!(
            "base_dir {} must be an absolute path",
            req.base_dir.display()
        )));
    }
    let settings = crate::config::load_from_str(&req.toml, "the config to plan")
        .map_err(|e| ApiError::invalid_input(e.to_string()))?;
    settings.validate().map_err(|e| ApiError::invalid_input(e.to_string()))?;
    let base_dir = req.base_dir;
    let store = app.store.clone();
    let backends = app.backends.clone();
    let failed = crate::reconcile::failed_deployments(&app);
    let plan = tokio::task::spawn_blocking(move || {
        let mut current = crate::reconcile::Current::read(&store, &settings.daemon.admin_group)?;
        current.failed = failed;
        crate::reconcile::plan(&settings, &base_dir, &current, &backends)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| match e {
        crate::reconcile::PlanError::Store(e) => super::endpoints::store_err(e),
        other => ApiError::invalid_input(other.to_string()),
    })?;
    let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
    Ok(Json(json!({ "plan": plan.render(), "steps": steps, "unchanged": plan.unchanged })))
}
