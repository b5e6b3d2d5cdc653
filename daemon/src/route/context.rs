//! The request context layer: request ids in and out, and JSON error bodies rendered once.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::error::{render, ApiError, ErrorBody, ErrorFormat};

/// The id of the request being served, echoed in `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The peer of the connection a request came on: its address, and the common name of its
/// client certificate when mutual TLS is on.
#[derive(Debug, Clone)]
pub struct PeerAddr {
    /// The TCP peer's address and port.
    pub addr: std::net::SocketAddr,
    /// The client certificate's subject CN, when one was presented.
    pub cert_cn: Option<std::sync::Arc<str>>,
}

/// Longest client-sent request id echoed back; longer or odd ones are replaced.
const MAX_REQUEST_ID: usize = 128;

fn client_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get("x-request-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= MAX_REQUEST_ID
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| v.to_string())
}

/// Most bytes of request headers (names and values) a request may carry; more is refused with
/// 431 before any handler runs (the HTTP/1.1 parser's own, larger bound stays the hard stop).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Headers a request may carry once, with the spelling messages use: a second copy would make
/// the request mean two things (which key, which deployment, which body format).
const SINGLE_HEADERS: [(&str, &str); 5] = [
    ("authorization", "Authorization"),
    ("content-type", "Content-Type"),
    ("x-deployment", "x-deployment"),
    ("x-request-id", "x-request-id"),
    ("inference-header-content-length", "Inference-Header-Content-Length"),
];

/// Most of an error text kept when a layer answered without an [`ErrorBody`].
const MAX_FOREIGN_ERROR_BYTES: usize = 4096;

/// What is wrong with the request's headers as a whole, if anything.
fn header_problem(headers: &HeaderMap) -> Option<ApiError> {
    let size: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        return Some(ApiError::headers_too_large(size, MAX_HEADER_BYTES));
    }
    SINGLE_HEADERS.iter().find_map(|(name, shown)| {
        let count = headers.get_all(*name).iter().count();
        (count > 1).then(|| {
            ApiError::invalid_input(format!("header {shown} appears {count} times: send it once"))
        })
    })
}

/// An error response some layer made without an [`ErrorBody`] (an extractor's plain-text
/// rejection, say) as one with: its text becomes the message, its status picks the code.
async fn adopt_foreign_error(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_FOREIGN_ERROR_BYTES);
    let text = match tokio::time::timeout(Duration::from_secs(1), limited.collect()).await {
        Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes()).trim().to_string(),
        _ => String::new(),
    };
    let message = if text.is_empty() {
        parts.status.canonical_reason().unwrap_or("the request failed").to_string()
    } else {
        text
    };
    let mut adopted = ApiError::from_status(parts.status, message).into_response();
    let mut headers = parts.headers;
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    for (name, value) in adopted.headers() {
        headers.insert(name, value.clone());
    }
    *adopted.headers_mut() = headers;
    adopted
}

/// Sets the request id, refuses requests whose headers are too large or repeat a header that
/// must be single, and renders an [`ErrorBody`] left by a handler as SPEC §5's JSON (the Open
/// Inference Protocol's form on `/v2/...`, the seed's elsewhere); error responses made without
/// one (extractor rejections) are rendered the same way.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let format = ErrorFormat::for_path(req.uri().path());
    let mut response = match header_problem(req.headers()) {
        Some(err) => {
            let (parts, body) = req.into_parts();
            super::body::drain(&parts.headers, body).await;
            err.into_response()
        }
        None => next.run(req).await,
    };
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error())
        && !is_json
        && response.extensions().get::<ErrorBody>().is_none()
    {
        response = adopt_foreign_error(response).await;
    }
    if let Some(err) = response.extensions_mut().remove::<ErrorBody>() {
        let body = render(&err, &id, format).to_string();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(body);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
