//! The data plane's routes (SPEC §5): seed-style scoring, Open Inference Protocol, health.

pub(crate) mod body;
mod context;
pub(crate) mod dispatch;
mod health;
mod oip;
mod score;
mod token;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Transport;

pub use context::{request_context, PeerAddr, RequestId};

/// What a listener's handlers know: the daemon's state and which transport they serve.
#[derive(Clone)]
pub struct Listener {
    /// The daemon's shared state.
    pub app: Arc<AppState>,
    /// The transport this listener serves (TLS or plain); endpoints of the other answer 404.
    pub transport: Transport,
}

/// The router of one listener; endpoints of the other transport answer 404 on it.
pub fn router(app: Arc<AppState>, transport: Transport) -> Router {
    let drain_app = app.clone();
    Router::new()
        .route("/api/v1/service/{endpoint}/score", post(score::seed))
        .route("/api/v1/service/{endpoint}/token", post(token::issue))
        .route("/v2/health/live", get(health::live))
        .route("/v2/health/ready", get(health::ready))
        .route("/v2/models/{endpoint}", get(oip::metadata))
        .route("/v2/models/{endpoint}/ready", get(oip::ready))
        .route("/v2/models/{endpoint}/infer", post(oip::infer))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(Listener { app, transport })
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            axum::response::IntoResponse::into_response(ApiError::internal())
        }))
        .layer(axum::middleware::from_fn_with_state(drain_app, listener_context))
}

/// The data plane's one layer (one boxed future per request instead of three): the client
/// behind a trusted load balancer, the request context ([`request_context`]: ids, header
/// checks, error bodies), and `Connection: close` while draining.
///
/// - The connection's peer is replaced by the client a trusted load balancer names
///   (`auth::proxy`), before anything judges or logs the peer.
/// - While the daemon drains (SPEC §7), HTTP/1.1 answers carry `Connection: close`, so clients
///   and TLS-passthrough balancers open their next connection elsewhere instead of staying on a
///   box that is about to stop. (HTTP/2 connections get GOAWAY when the listener stops.)
async fn listener_context(
    axum::extract::State(app): axum::extract::State<Arc<AppState>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(peer) = req.extensions().get::<PeerAddr>() {
        let trusted = app.trusted_proxies();
        let client = crate::auth::proxy::client_addr(&trusted, peer.addr.ip(), req.headers());
        if client != peer.addr.ip() {
            let addr = std::net::SocketAddr::new(client, 0);
            let cert_cn = peer.cert_cn.clone();
            req.extensions_mut().insert(PeerAddr { addr, cert_cn });
        }
    }
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let mut response = request_context(req, next).await;
    if http1 && app.draining() {
        response
            .headers_mut()
            .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}
