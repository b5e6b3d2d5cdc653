//! Reading a JSON request body within the size limit and the request timeout. A body left
//! unread by an early answer (401, 403, 413, 415) is drained by the listener
//! (`listen::early`), so the answer reaches the client.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::error::ApiError;

/// The Open Inference Protocol binary extension's header: the length of the JSON part.
pub const INFERENCE_HEADER_LENGTH: &str = "inference-header-content-length";

/// Lets go of a body an early answer leaves unread. Nothing is read here: the listener takes
/// the unread body back and drains a bounded part of it before the answer goes out
/// (`listen::early`: within `limits.early_answer_drain_bytes` per connection and
/// `limits.request_timeout_ms`, nothing when the client waits for `100 Continue`), so the
/// answer reaches the client.
pub async fn drain(_headers: &HeaderMap, body: Body) {
    drop(body);
}

/// Checks the content type (JSON or none; `application/octet-stream` too when the body carries
/// binary tensors) and reads the body: at most `limit` bytes, within `timeout` (a client
/// trickling its body cannot hold a connection forever).
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("(not text)");
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let binary_ok =
            headers.contains_key(INFERENCE_HEADER_LENGTH) && essence == "application/octet-stream";
        if essence != "application/json" && !binary_ok {
            // The unread body is drained by the listener before this answer goes out.
            return Err(ApiError::unsupported_media_type(ct));
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let collected = tokio::time::timeout(timeout, limited.collect()).await.map_err(|_| {
        ApiError::request_timeout(format!(
            "the request body did not arrive within {} ms (limits.request_timeout_ms)",
            timeout.as_millis()
        ))
    })?;
    collected.map(|c| c.to_bytes()).map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            ApiError::too_large(limit)
        } else {
            ApiError::invalid_input(format!("cannot read the request body: {e}"))
        }
    })
}

/// Parses a JSON body; the 400's message names the parse error.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_input(format!("request body is not valid JSON: {e}")))
}

/// Reads a JSON body (see [`read_body`]).
pub async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<Value, ApiError> {
    parse_json(&read_body(headers, body, limit, timeout).await?)
}

/// Reads a scoring body: JSON, or (with `Inference-Header-Content-Length`) a JSON header
/// followed by binary tensor data, returned apart and unparsed (decoders read the JSON's bytes
/// straight into tensors; [`parse_json`] when a tree is needed).
pub async fn read_payload_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<(Bytes, Option<Bytes>), ApiError> {
    let bytes = read_body(headers, body, limit, timeout).await?;
    let Some(length) = headers.get(INFERENCE_HEADER_LENGTH) else {
        return Ok((bytes, None));
    };
    let length: usize = length
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n <= bytes.len())
        .ok_or_else(|| {
            ApiError::invalid_input(format!(
                "Inference-Header-Content-Length must be a byte count within the {}-byte body",
                bytes.len()
            ))
        })?;
    Ok((bytes.slice(..length), Some(bytes.slice(length..))))
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use axum::body::{Body, Bytes, HttpBody};
    use axum::http::{HeaderMap, StatusCode};

    use super::*;

    /// A body whose client never sends the rest.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let err = read_json(&HeaderMap::new(), Body::new(Stalled), 1024, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn over_the_limit_without_content_length_is_413() {
        let body = Body::from(vec![b' '; 2048]);
        let err =
            read_json(&HeaderMap::new(), body, 1024, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
