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

/// `GET /v2/health/ready`: every deployment is loaded and the daemon is not draining (SPEC §7:
/// on stop or `edgeserve drain` readiness turns 503 first, so load balancers move away while
/// requests are still served).
pub async fn ready(State(l): State<Listener>) -> (StatusCode, Json<Value>) {
    let draining = l.app.draining();
    let ready = !draining && l.app.table().all_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if draining {
        return (status, Json(json!({ "ready": false, "draining": true })));
    }
    (status, Json(json!({ "ready": ready })))
}
