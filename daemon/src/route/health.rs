//! Open Inference Protocol health: liveness and readiness, no auth.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::Listener;

/// `GET /v2/health/live`: the daemon answers.
pub async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// `GET /v2/health/ready`: every deployment is loaded.
pub async fn ready(State(l): State<Listener>) -> (StatusCode, Json<Value>) {
    let ready = l.app.table().all_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready })))
}
