//! Open Inference Protocol model routes: metadata, readiness and inference.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::dispatch::{self, Call};
use super::{Listener, PeerAddr, RequestId};
use crate::codec::oip;
use crate::error::ApiError;

/// The model version a deployment serves (`VERSION` of `NAME:VERSION`).
fn version_of(model: &str) -> &str {
    model.split_once(':').map(|(_, v)| v).unwrap_or(model)
}

/// `GET /v2/models/{endpoint}`: inputs and outputs of the deployment the request would reach.
pub async fn metadata(
    State(l): State<Listener>,
    Path(endpoint): Path<String>,
    Extension(peer): Extension<PeerAddr>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
) -> Response {
    let mut call = Call::new(&endpoint, peer, request_id);
    let result = (|| {
        let ep = dispatch::admit(&l, &mut call, &headers)?;
        let deployment = dispatch::pick(&ep, &mut call, &headers)?;
        let (_, signature) = dispatch::loaded(&deployment)?;
        let versions: Vec<String> =
            ep.deployments.values().map(|d| version_of(&d.record.model).to_string()).collect();
        Ok::<_, ApiError>(dispatch::json_ok(oip::metadata(&endpoint, &versions, signature)))
    })();
    call.finish(&l.app, result.unwrap_or_else(IntoResponse::into_response))
}

/// `GET /v2/models/{endpoint}/ready`: 200 when the chosen deployment is loaded and not
/// `Degraded`, 503 otherwise.
pub async fn ready(
    State(l): State<Listener>,
    Path(endpoint): Path<String>,
    Extension(peer): Extension<PeerAddr>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
) -> Response {
    let mut call = Call::new(&endpoint, peer, request_id);
    let result = (|| {
        let ep = dispatch::admit(&l, &mut call, &headers)?;
        let deployment = dispatch::pick(&ep, &mut call, &headers)?;
        if deployment.degraded() {
            return Err(ApiError::unavailable(
                "Degraded",
                format!(
                    "deployment {} is Degraded: its backend failed on its last {} requests (see \
                     the daemon log)",
                    deployment.record.name,
                    crate::deploy::DEGRADED_AFTER
                ),
                std::time::Duration::from_secs(5),
            ));
        }
        Ok::<_, ApiError>(dispatch::json_ok(json!({ "name": endpoint, "ready": true })))
    })();
    call.finish(&l.app, result.unwrap_or_else(IntoResponse::into_response))
}

/// `POST /v2/models/{endpoint}/infer`: JSON inference.
pub async fn infer(
    State(l): State<Listener>,
    Path(endpoint): Path<String>,
    Extension(peer): Extension<PeerAddr>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut call = Call::new(&endpoint, peer, request_id);
    let response = infer_inner(&l, &mut call, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    call.finish(&l.app, response)
}

async fn infer_inner(
    l: &Listener,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let accepted = dispatch::accept(l, call, headers, body).await?;
    let (_, signature) = dispatch::loaded(&accepted.deployment)?;
    let binary = accepted.binary.as_deref();
    // The hot path reads the text straight into tensors; anything else (and every error's
    // wording) goes through the tree.
    let mut decoded = match oip::decode_json(&accepted.json, signature, binary) {
        Some(decoded) => decoded,
        None => oip::decode(accepted.value()?, signature, binary),
    }
    .map_err(ApiError::invalid_input)?;
    let dispatch::Accepted { endpoint, deployment, .. } = &accepted;
    let outputs =
        dispatch::score(&l.app, call, endpoint, deployment, std::mem::take(&mut decoded.inputs))
            .await?;
    let version = version_of(&deployment.record.model);
    let (json, blobs) = oip::encode(&call.endpoint, version, &decoded, &outputs, signature)
        .map_err(|e| {
            tracing::error!(error = %e, "writing an inference response failed");
            ApiError::internal()
        })?;
    if blobs.is_empty() {
        return Ok(dispatch::json_text_ok(json));
    }
    // The binary extension: the JSON header, then the outputs' bytes.
    let mut body = json;
    let header_length = body.len();
    body.extend_from_slice(&blobs);
    let mut response = axum::response::IntoResponse::into_response(body);
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    headers
        .insert(super::body::INFERENCE_HEADER_LENGTH, axum::http::HeaderValue::from(header_length));
    Ok(response)
}
