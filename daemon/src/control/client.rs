//! The control plane's client, used by the `edgeserve` CLI: HTTP/1.1 over the Unix socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error(
        "cannot reach the daemon at {path}: {reason} (is edgeserved running? is --socket right?)"
    )]
    /// The socket cannot be reached (no daemon, wrong path).
    Connect {
        /// The control socket.
        path: PathBuf,
        /// The connect error.
        reason: String,
    },
    #[error(
        "you may not use the control socket {path}: it is for root and members of its group \
         (daemon.admin_group, default edgeserve-admin); ask an admin to add you to that group, or \
         for a role assignment on a box whose daemon.control_socket_mode lets every user connect"
    )]
    /// The socket refused the connection: the caller is not in its group.
    Forbidden {
        /// The control socket.
        path: PathBuf,
    },
    #[error("control request failed: {0}")]
    /// The connection broke or the answer is not HTTP.
    Http(String),
    #[error("the daemon did not answer within {0:?}")]
    /// No answer within `--timeout`.
    Timeout(Duration),
    #[error("{code}: {message}")]
    /// The daemon answered with an error status.
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's machine-readable code (`EndpointNotFound`, ...).
        code: String,
        /// The daemon's message.
        message: String,
    },
}

/// A client of one control socket.
pub struct ControlClient {
    socket: PathBuf,
    timeout: Duration,
}

impl ControlClient {
    /// A client of the socket at `socket`, with a per-request timeout.
    pub fn new(socket: &Path, timeout: Duration) -> ControlClient {
        ControlClient { socket: socket.to_path_buf(), timeout }
    }

    /// Sends one request and returns the JSON answer; error answers become [`ControlError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ControlError> {
        self.call_with_headers(method, path, body, &[]).await
    }

    /// Like [`ControlClient::call`], with extra request headers.
    pub async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, ControlError> {
        tokio::time::timeout(self.timeout, self.call_inner(method, path, body, headers))
            .await
            .map_err(|_| ControlError::Timeout(self.timeout))?
    }

    async fn call_inner(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, ControlError> {
        let http = |e: &dyn std::fmt::Display| ControlError::Http(e.to_string());
        let stream = tokio::net::UnixStream::connect(&self.socket).await.map_err(|source| {
            match source.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    ControlError::Forbidden { path: self.socket.clone() }
                }
                _ => {
                    ControlError::Connect { path: self.socket.clone(), reason: source.to_string() }
                }
            }
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http(&e))?;
        tokio::spawn(conn);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = Request::builder();
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .method(method)
            .uri(path)
            .header("host", "edgeserved")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| http(&e))?;
        let response = sender.send_request(request).await.map_err(|e| http(&e))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| http(&e))?.to_bytes();
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| http(&format!("answer is not JSON: {e}")))?
        };
        if status.is_success() {
            return Ok(value);
        }
        let err = &value["error"];
        Err(ControlError::Api {
            status: status.as_u16(),
            code: err["code"].as_str().unwrap_or("Error").to_string(),
            message: err["message"].as_str().unwrap_or(status.as_str()).to_string(),
        })
    }
}
