//! The one place where failures become HTTP responses: JSON errors as SPEC §5 shows them.
//!
//! Handlers return [`ApiError`]; it becomes a response carrying an [`ErrorBody`] extension, and
//! the request-context layer renders the body with the request id and a timestamp.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edgeserve_accel::{AccelError, ErrorKind};

/// A failed request: status, machine-readable code, operator-readable message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status answered.
    pub status: StatusCode,
    /// Machine-readable code in the JSON body (`InvalidInput`, `EndpointNotFound`, ...).
    pub code: &'static str,
    /// What went wrong and what to do, for the operator; never a secret.
    pub message: String,
    /// Sent as `Retry-After` (whole seconds) with 429 and 503.
    pub retry_after: Option<Duration>,
}

/// The parts of an error response the request-context layer turns into the JSON body.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    /// The error's machine-readable code.
    pub code: &'static str,
    /// The error's message.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    /// 400: the body, a shape or a dtype is wrong.
    pub fn invalid_input(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    /// 401: missing or wrong credential.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    /// 403: not allowed (role or network).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 404: no such endpoint (or not on this listener: the same answer either way).
    pub fn endpoint_not_found(endpoint: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "EndpointNotFound",
            format!("endpoint {endpoint} not found"),
        )
    }

    /// 404: anything else not found.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// 409: the change conflicts with what exists.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "Conflict", message)
    }

    /// 405: the route exists with other methods.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "method not allowed on this route",
        )
    }

    /// 408: the client did not send its body in time.
    pub fn request_timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "RequestTimeout", message)
    }

    /// 413: the body is over `limits.max_body_bytes`.
    pub fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("request body is over the limit of {limit} bytes (limits.max_body_bytes)"),
        )
    }

    /// 415: not JSON.
    pub fn unsupported_media_type(got: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("content type {got} is not supported: send application/json"),
        )
    }

    /// 431: the request's headers are over the daemon's bound.
    pub fn headers_too_large(size: usize, limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HeadersTooLarge",
            format!(
                "request headers are {size} bytes, over the limit of {limit} bytes: send shorter headers"
            ),
        )
    }

    /// An error response some layer made without an [`ErrorBody`] (an extractor's rejection,
    /// say), with its text as the message and the code its status implies.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> ApiError {
        let code = match status {
            StatusCode::BAD_REQUEST => "InvalidInput",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
            StatusCode::REQUEST_TIMEOUT => "RequestTimeout",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "HeadersTooLarge",
            StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            s if s.is_server_error() => "InternalError",
            _ => "InvalidInput",
        };
        ApiError::new(status, code, message)
    }

    /// 429: too many failed authentications from this peer.
    pub fn too_many_auth_failures(retry_after: Duration) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "too many failed authentications from this address; retry later (limits.auth_failures_per_minute)",
            )
        }
    }

    /// 503: not ready, or the deployment's queue is full; clients should retry.
    pub fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        retry_after: Duration,
    ) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 500: the backend failed; details go to the log under the request id, not to the client.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the daemon could not complete this request (a fault on the box, not in the request); its log has details under this request id",
        )
    }

    /// Maps a backend error by its portable kind.
    pub fn from_backend(err: &AccelError) -> ApiError {
        match err.kind() {
            ErrorKind::InvalidInput => ApiError::invalid_input(err.to_string()),
            ErrorKind::Timeout => ApiError::unavailable(
                "Timeout",
                "the device did not finish in time",
                Duration::from_secs(1),
            ),
            ErrorKind::DeviceUnavailable => ApiError::unavailable(
                "DeviceUnavailable",
                "the deployment's device is unavailable",
                Duration::from_secs(5),
            ),
            _ => ApiError::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response.extensions_mut().insert(ErrorBody { code: self.code, message: self.message });
        response
    }
}

/// The shape of error bodies on a route (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// The seed's form: `{"error":{"code","message","requestId","timestamp"}}`.
    Seed,
    /// The Open Inference Protocol's form on `/v2/...`: `{"error":"<message>"}`, with `code`
    /// and `requestId` as extra members (clients such as `tritonclient.http` read `error` as a
    /// string).
    OpenInference,
}

impl ErrorFormat {
    /// The format of the route at `path`: Open Inference Protocol for `/v2` and below.
    pub fn for_path(path: &str) -> ErrorFormat {
        if path == "/v2" || path.starts_with("/v2/") {
            ErrorFormat::OpenInference
        } else {
            ErrorFormat::Seed
        }
    }
}

/// The JSON body of an error response in `format`.
pub fn render(body: &ErrorBody, request_id: &str, format: ErrorFormat) -> serde_json::Value {
    match format {
        ErrorFormat::OpenInference => serde_json::json!({
            "error": body.message,
            "code": body.code,
            "requestId": request_id,
        }),
        ErrorFormat::Seed => serde_json::json!({
            "error": {
                "code": body.code,
                "message": body.message,
                "requestId": request_id,
                "timestamp": crate::store::now_rfc3339(),
            }
        }),
    }
}

/// One line for an error and its causes, as the binaries print it: each cause is appended
/// (`outer: cause`) unless the text so far already says it, so no message is printed twice
/// (errors such as `TLS: {0}` already embed their source).
pub fn chain_text<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut text = String::new();
    for cause in chain {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod chain_tests {
    #[derive(Debug, thiserror::Error)]
    #[error("TLS: {0}")]
    struct Outer(#[from] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("cname x is not covered")]
    struct Inner;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let e = anyhow::Error::from(Outer(Inner)).context("starting");
        assert_eq!(
            super::chain_text(e.chain().map(|c| c as _)),
            "starting: TLS: cname x is not covered"
        );
    }
}
