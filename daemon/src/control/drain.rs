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
    /// The config file to compare with the store (absolute path on the box).
    config: PathBuf,
}

/// `POST /config/plan`: the changes reloading `config` would make, without making them. It
/// reads a file named by the caller, so it needs `models/write` and `roles/write` at `/`.
pub async fn plan(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::ModelsWrite, Scope::Root)?;
    caller.authorize(&app, Action::RolesWrite, Scope::Root)?;
    let req: PlanRequest = super::json_body(body).await?;
    if !req.config.is_absolute() {
        return Err(ApiError::invalid_input(format!(
            "config {} must be an absolute path",
            req.config.display()
        )));
    }
    let settings = crate::config::load(Some(&req.config))
        .map_err(|e| ApiError::invalid_input(e.to_string()))?;
    settings.validate().map_err(|e| ApiError::invalid_input(e.to_string()))?;
    let base_dir = req.config.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
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
