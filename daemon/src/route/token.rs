//! `POST /api/v1/service/{endpoint}/token` (SPEC §4): remote clients of a token endpoint get a
//! token without the control socket, authenticated by their identity provider's JWT or their
//! client certificate, whose identity must hold `endpoints/token/action` on the endpoint.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::dispatch::Call;
use super::{Listener, PeerAddr, RequestId};
use crate::auth::{self, gate};
use crate::error::ApiError;
use crate::store::AuthMode;

/// Issues a token of the endpoint to an authorized identity.
pub async fn issue(
    State(l): State<Listener>,
    Path(endpoint): Path<String>,
    Extension(peer): Extension<PeerAddr>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    _body: Body,
) -> Response {
    let mut call = Call::new(&endpoint, peer.clone(), request_id);
    call.auth_mode = "token-route";
    let result = async {
        let table = l.app.table();
        let live = table
            .endpoint(&endpoint)
            .filter(|e| e.served_on(l.transport))
            .cloned()
            .ok_or_else(|| ApiError::endpoint_not_found(&endpoint))?;
        let identity = gate::admit_identity(
            &l.app,
            &live,
            peer.addr.ip(),
            peer.cert_cn.as_deref(),
            &headers,
            gate::TOKEN,
        )
        .map_err(ApiError::from)?;
        call.identity = Some(identity.clone());
        if live.record.auth_mode != AuthMode::Token {
            return Err(ApiError::invalid_input(format!(
                "endpoint {endpoint} uses auth_mode {}: only token endpoints issue tokens",
                live.record.auth_mode.as_str()
            )));
        }
        let keys = l
            .app
            .store
            .keys(&endpoint)
            .map_err(|e| {
                tracing::error!(error = %e, "store read failed");
                ApiError::internal()
            })?
            .ok_or_else(|| ApiError::endpoint_not_found(&endpoint))?;
        let grant = auth::token::issue(
            &endpoint,
            keys.token_secret.as_bytes(),
            Duration::from_secs(l.app.settings().auth.token_lifetime_s),
            &identity.describe(),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            ApiError::internal()
        })?;
        Ok::<_, ApiError>(super::dispatch::json_ok(serde_json::to_value(grant).unwrap_or_default()))
    }
    .await;
    call.finish(&l.app, result.unwrap_or_else(IntoResponse::into_response))
}
