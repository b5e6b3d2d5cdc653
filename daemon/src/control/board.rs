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
    let configured = app.settings().daemon.board.clone();
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
    // The accelerators the backends found, as `device list` shows them, set against the ones
    // the profile expects: the two views of the box agree, and say where they differ.
    let backends = app.backends.clone();
    let devices = tokio::task::spawn_blocking(move || backends.devices())
        .await
        .map_err(|_| ApiError::internal())?;
    let expected: Vec<String> = body["profile"]["accelerator"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["target"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let present: Vec<Value> = devices
        .iter()
        .filter(|d| d.available)
        .map(|d| json!({ "target": d.target, "index": d.index, "name": d.name }))
        .collect();
    let found = |t: &str| devices.iter().any(|d| d.available && d.target.as_str() == t);
    let missing: Vec<&String> = expected.iter().filter(|t| !found(t)).collect();
    let beyond: Vec<String> = devices
        .iter()
        .filter(|d| d.available && !expected.iter().any(|t| t == d.target.as_str()))
        .map(|d| format!("{} {} ({})", d.target, d.index, d.name))
        .collect();
    body["devices"] = json!(present);
    body["expectedTargetsMissing"] = json!(missing);
    body["devicesBeyondProfile"] = json!(beyond);
    Ok(Json(body))
}
