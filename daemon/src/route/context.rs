//! The request context layer: request ids in and out, and JSON error bodies rendered once.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{render, ErrorBody, ErrorFormat};

/// The id of the request being served, echoed in `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The peer of the connection a request came on: its address, and the common name of its
/// client certificate when mutual TLS is on.
#[derive(Debug, Clone)]
pub struct PeerAddr {
    pub addr: std::net::SocketAddr,
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

/// Sets the request id, and renders an [`ErrorBody`] left by a handler as SPEC §5's JSON (the
/// Open Inference Protocol's form on `/v2/...`, the seed's elsewhere).
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let format = ErrorFormat::for_path(req.uri().path());
    let mut response = next.run(req).await;
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
