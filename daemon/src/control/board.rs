//! `GET /board`: which board profile fits this box, and why.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// The profile detected (or configured by `daemon.board`), the rules that matched, the facts
/// read, and the expected device nodes this box lacks.
pub async fn detect(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::DevicesRead, super::Scope::Root)?;
    let configured = app.settings.daemon.board.clone();
    let detected = tokio::task::spawn_blocking(|| edgeserve_bsp::detect(Path::new("/")))
        .await
        .map_err(|_| ApiError::internal())?;
    let mut body = match detected {
        Ok(d) => serde_json::to_value(&d).map_err(|_| ApiError::internal())?,
        Err(e) => json!({ "error": e.to_string() }),
    };
    body["configured"] = json!(configured);
    if configured != "auto" {
        let profile = edgeserve_bsp::profile_by_name(&configured)
            .map_err(|e| ApiError::invalid_input(e.to_string()))?;
        body["detectedProfile"] = body["profile"]["name"].clone();
        body["profile"] = serde_json::to_value(&profile).map_err(|_| ApiError::internal())?;
        body["matched"] = json!([format!("configured as daemon.board = {configured}")]);
    }
    Ok(Json(body))
}
