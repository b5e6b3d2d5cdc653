//! The control plane: HTTP/JSON over the local Unix socket, for the `edgeserve` CLI.
//!
//! Callers are identified by `SO_PEERCRED` and authorized in `caller.rs`, the one place access
//! rules live.

mod board;
mod caller;
mod client;
mod deployments;
mod drain;
mod endpoints;
mod invoke;
mod models;
mod roles;
mod socket;
mod system;
mod tls;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

pub use caller::{Action, Caller, Scope};
pub use client::{ControlClient, ControlError};
pub use socket::{bind_control_socket, serve_control, ControlSocketError};

/// The control plane's routes (SPEC §6).
pub fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/status", get(system::status))
        .route("/devices", get(system::devices))
        .route("/board", get(board::detect))
        .route("/drain", post(drain::drain))
        .route("/config/plan", post(drain::plan))
        .route("/endpoints", get(endpoints::list))
        .route(
            "/endpoints/{name}",
            get(endpoints::show)
                .put(endpoints::create)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route("/endpoints/{name}/credentials", post(endpoints::credentials))
        .route("/endpoints/{name}/regenerateKeys", post(endpoints::regenerate_keys))
        .route("/endpoints/{name}/invoke", post(invoke::invoke))
        .route("/endpoints/{name}/deployments", get(deployments::list))
        .route(
            "/endpoints/{name}/deployments/{deployment}",
            get(deployments::show)
                .put(deployments::put)
                .patch(deployments::update)
                .delete(deployments::delete),
        )
        .route("/models", get(models::list).post(models::register))
        .route("/tls", get(tls::show).put(tls::set).delete(tls::reset))
        .route("/roleDefinitions", get(roles::list_definitions).put(roles::put_definition))
        .route(
            "/roleDefinitions/{name}",
            get(roles::show_definition).delete(roles::delete_definition),
        )
        .route("/roleAssignments", get(roles::list_assignments).post(roles::create_assignment))
        .route("/roleAssignments/{id}", axum::routing::delete(roles::delete_assignment))
        .route("/models/{name}/versions/{version}", get(models::show).delete(models::delete))
        .fallback(|| async { ApiError::not_found("no such control route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(app)
        .layer(axum::middleware::from_fn(crate::route::request_context))
}

/// Longest control request body (deployment files and scoring requests for `invoke`).
const MAX_CONTROL_BODY: u64 = 64 << 20;

/// Reads a control request's JSON body into `T`; the message says what is wrong with it.
async fn json_body<T: DeserializeOwned>(body: axum::body::Body) -> Result<T, ApiError> {
    let headers = axum::http::HeaderMap::new();
    let value = crate::route::body::read_json(
        &headers,
        body,
        MAX_CONTROL_BODY,
        std::time::Duration::from_secs(30),
    )
    .await?;
    from_json(value, "request")
}

/// Reads a request value as `T`; the error names the field (`instance_count: invalid type:
/// string "two", expected u32`), or `what` when the value as a whole is wrong.
fn from_json<T: DeserializeOwned>(value: serde_json::Value, what: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if field == "." {
            ApiError::invalid_input(format!("invalid {what}: {inner}"))
        } else {
            ApiError::invalid_input(format!("{field}: {inner}"))
        }
    })
}
