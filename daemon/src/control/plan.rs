//! `POST /config/plan`: what reloading a config file would change, without changing anything
//! (`edgeserved --check-config` asks a running daemon, which holds the store's lock).

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Action, Caller, Scope};
use crate::error::ApiError;
use crate::state::AppState;

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
