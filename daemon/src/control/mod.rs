//! The control plane: HTTP/JSON over the local Unix socket, for the `edgeserve` CLI.
//!
//! Callers are identified by `SO_PEERCRED` and authorized in `caller.rs`, the one place access
//! rules live.

mod caller;
mod client;
mod endpoints;
mod socket;
mod system;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub use caller::{Action, Caller};
pub use client::{ControlClient, ControlError};
pub use socket::{bind_control_socket, serve_control, ControlSocketError};

/// The control plane's routes (SPEC §6).
pub fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/status", get(system::status))
        .route("/devices", get(system::devices))
        .route("/endpoints", get(endpoints::list))
        .route("/endpoints/{name}", get(endpoints::show))
        .route("/endpoints/{name}/credentials", post(endpoints::credentials))
        .fallback(|| async { ApiError::not_found("no such control route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(app)
        .layer(axum::middleware::from_fn(crate::route::request_context))
}
