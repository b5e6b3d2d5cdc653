//! `POST /api/v1/service/{endpoint}/score`: the seed-style scoring route.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::dispatch::{self, Call};
use super::{Listener, PeerAddr, RequestId};
use crate::codec::seed;
use crate::error::ApiError;

/// Scores `{"data": ...}` or `{"inputs": {...}}` on the endpoint.
pub async fn seed(
    State(l): State<Listener>,
    Path(endpoint): Path<String>,
    Extension(peer): Extension<PeerAddr>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut call = Call::new(&endpoint, peer, request_id);
    let response =
        score(&l, &mut call, &headers, body).await.unwrap_or_else(IntoResponse::into_response);
    call.finish(&l.app, response)
}

async fn score(
    l: &Listener,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let accepted = dispatch::accept(l, call, headers, body).await?;
    if accepted.binary.is_some() {
        return Err(ApiError::invalid_input(
            "binary tensor data (Inference-Header-Content-Length) is for /v2/models/{endpoint}/infer",
        ));
    }
    let (_, signature) = dispatch::loaded(&accepted.deployment)?;
    // The hot path reads numbers straight into the tensor; anything else (and every error's
    // wording) goes through the general decoder.
    let inputs = match crate::codec::fast::seed_decode(&accepted.json, signature) {
        Some(inputs) => inputs,
        None => seed::decode(&accepted.value()?, signature).map_err(ApiError::invalid_input)?,
    };
    let dispatch::Accepted { endpoint, deployment, .. } = &accepted;
    let outputs = dispatch::score(&l.app, call, endpoint, deployment, inputs).await?;
    Ok(dispatch::json_ok(seed::encode(&outputs, signature)))
}
