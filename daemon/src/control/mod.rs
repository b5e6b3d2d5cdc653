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
mod plan;
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
        .route("/config/plan", post(plan::plan))
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
        .layer(axum::middleware::from_fn(declared_body_limit))
        .layer(axum::middleware::from_fn(crate::route::request_context))
}

/// Refuses a request whose declared body is over [`MAX_CONTROL_BODY`] at once, instead of
/// waiting for a body it would refuse anyway.
async fn declared_body_limit(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_CONTROL_BODY) {
        return axum::response::IntoResponse::into_response(ApiError::from_status(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("control request body is over the limit of {MAX_CONTROL_BODY} bytes"),
        ));
    }
    next.run(req).await
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
    // Every control body is an object of named fields: serde would also fill a struct from an
    // array, by position.
    if !value.is_object() {
        return Err(ApiError::invalid_input(format!(
            "the request body must be a JSON object of named fields, not {}",
            json_kind(&value)
        )));
    }
    from_json(value, "request")
}

/// What kind of JSON value `v` is, for messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
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
