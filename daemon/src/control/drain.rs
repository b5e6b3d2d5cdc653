//! `POST /drain` (`edgeserve drain`): readiness turns 503 while scoring goes on, so a load
//! balancer moves traffic away (SPEC §7).

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
