//! The metrics listener: `GET /metrics` in Prometheus text format.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::listen::{serve_listener, ConnectionLimits, Shutdown};
use crate::state::AppState;

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    // Devices as already found: a scrape never loads an accelerator runtime (the OpenCL ICDs
    // alone add ~60 MB to the process), so `edgeserve_device_up` has a GPU or FPGA once
    // `device list`, `board detect` or a deployment on it has looked.
    let devices = app.backends.known_devices();
    let body = app.metrics.render(&app, &devices);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

/// Serves `/metrics` on a bound listener until shutdown.
pub async fn serve_metrics(
    listener: TcpListener,
    app: Arc<AppState>,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { crate::error::ApiError::not_found("only /metrics is served here") })
        .with_state(app)
        .layer(axum::middleware::from_fn(crate::route::request_context));
    serve_listener(listener, None, router, limits, shutdown).await;
}
