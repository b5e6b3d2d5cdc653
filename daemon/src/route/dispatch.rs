//! The steps every scoring route shares: find the endpoint, check the network and the
//! credential, choose a deployment, run on it, and log one traffic event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use edgeserve_accel::{Signature, Tensor};

use super::{Listener, PeerAddr, RequestId};
use crate::auth::{self, Identity};
use crate::batch::{RunError, Runner};
use crate::deploy::{DeploymentState, LiveDeployment, LiveEndpoint};
use crate::error::ApiError;
use crate::state::AppState;

/// The `endpoint` label of requests to names no endpoint has (SPEC §7, bounded labels).
pub const UNKNOWN_ENDPOINT: &str = "_unknown";

/// How long a client should wait before retrying a full queue.
const QUEUE_FULL_RETRY: Duration = Duration::from_secs(1);

/// One scoring call, filled in as it proceeds and logged once at the end.
pub struct Call {
    pub endpoint: String,
    pub deployment: Option<String>,
    pub auth_mode: &'static str,
    pub identity: Option<Identity>,
    pub peer: PeerAddr,
    pub request_id: RequestId,
    started: Instant,
}

impl Call {
    /// A call to `endpoint` from `peer`.
    pub fn new(endpoint: &str, peer: PeerAddr, request_id: RequestId) -> Call {
        Call {
            endpoint: endpoint.to_string(),
            deployment: None,
            auth_mode: "-",
            identity: None,
            peer,
            request_id,
            started: Instant::now(),
        }
    }

    /// Finishes the response (`x-deployment`), counts it and logs the traffic event.
    pub fn finish(&self, app: &AppState, mut response: Response) -> Response {
        if let Some(d) = self.deployment.as_deref().and_then(|d| HeaderValue::from_str(d).ok()) {
            response.headers_mut().insert("x-deployment", d);
        }
        let status = response.status();
        // Names nobody created share one label value: a scanner cannot grow the series set.
        let known = app.table().endpoint(&self.endpoint).is_some();
        app.metrics.request(
            if known { &self.endpoint } else { UNKNOWN_ENDPOINT },
            self.deployment.as_deref().unwrap_or("-"),
            status.as_u16(),
            self.started.elapsed().as_secs_f64(),
        );
        let mut identity =
            self.identity.as_ref().map(|i| i.describe()).unwrap_or_else(|| "-".into());
        if let Some(cn) = &self.peer.cert_cn {
            identity.push_str(&format!(",cert:{}", cn.escape_debug()));
        }
        tracing::info!(
            target: "edgeserve::traffic",
            endpoint = %self.endpoint,
            deployment = self.deployment.as_deref().unwrap_or("-"),
            status = status.as_u16(),
            latency_ms = self.started.elapsed().as_secs_f64() * 1e3,
            auth_mode = self.auth_mode,
            identity = %identity,
            peer = %self.peer.addr,
            request_id = %self.request_id.0,
            "score"
        );
        response
    }
}

/// Finds the endpoint on this listener and authenticates the caller.
pub fn admit(
    l: &Listener,
    call: &mut Call,
    headers: &HeaderMap,
) -> Result<Arc<LiveEndpoint>, ApiError> {
    let table = l.app.table();
    let endpoint = table
        .endpoint(&call.endpoint)
        .filter(|e| e.served_on(l.transport))
        .cloned()
        .ok_or_else(|| ApiError::endpoint_not_found(&call.endpoint))?;
    call.auth_mode = endpoint.credentials.mode().as_str();
    let identity = auth::admit(&l.app, &endpoint, call.peer.addr.ip(), headers)?;
    call.identity = Some(identity);
    Ok(endpoint)
}

/// The deployment for this request: `x-deployment` if pinned, else the traffic split's pick.
pub fn choose(
    endpoint: &LiveEndpoint,
    call: &mut Call,
    headers: &HeaderMap,
) -> Result<Arc<LiveDeployment>, ApiError> {
    let pinned = match headers.get("x-deployment") {
        Some(v) => {
            Some(v.to_str().map_err(|_| ApiError::invalid_input("x-deployment is not text"))?)
        }
        None => None,
    };
    let roll = rand::random_range(0..100);
    let deployment = endpoint.choose(pinned, roll).cloned().ok_or_else(|| match pinned {
        Some(name) => ApiError::not_found(format!(
            "deployment {name} not found on endpoint {}",
            endpoint.record.name
        )),
        None => ApiError::unavailable(
            "NoTraffic",
            format!("endpoint {} has no deployment taking traffic", endpoint.record.name),
            Duration::from_secs(5),
        ),
    })?;
    call.deployment = Some(deployment.record.name.clone());
    Ok(deployment)
}

/// The front half every scoring route shares: the endpoint on this listener, the caller's
/// credential, the JSON body within limits, and the deployment that will serve it (loaded).
pub async fn accept(
    l: &Listener,
    call: &mut Call,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, ApiError> {
    // A refusal leaves the body unread: the listener drains a bounded part of it before the
    // answer goes out (listen::early), so the client sees the answer.
    let endpoint = admit(l, call, headers)?;
    let limit = l.app.settings().limits.max_body_bytes;
    let (json, binary) =
        super::body::read_payload_bytes(headers, body, limit, l.app.request_timeout()).await?;
    let deployment = match pick(&endpoint, call, headers) {
        Ok(d) => d,
        Err(e) => {
            // A body that is not JSON is answered as such first, as before any deployment.
            super::body::parse_json(&json)?;
            return Err(e);
        }
    };
    Ok(Accepted { endpoint, deployment, json, binary })
}

/// A request past [`accept`]: where it goes and what it carries.
pub struct Accepted {
    pub endpoint: Arc<LiveEndpoint>,
    pub deployment: Arc<LiveDeployment>,
    /// The JSON body (or the JSON header of a binary-extension body), unparsed.
    pub json: axum::body::Bytes,
    /// Binary tensor data after the JSON header, when the client used the binary extension.
    pub binary: Option<axum::body::Bytes>,
}

impl Accepted {
    /// The JSON body parsed (a 400 naming the parse error when it is not JSON).
    pub fn value(&self) -> Result<serde_json::Value, ApiError> {
        super::body::parse_json(&self.json)
    }
}

/// The deployment for this request ([`choose`]), required to be loaded ([`loaded`]).
pub fn pick(
    endpoint: &LiveEndpoint,
    call: &mut Call,
    headers: &HeaderMap,
) -> Result<Arc<LiveDeployment>, ApiError> {
    let deployment = choose(endpoint, call, headers)?;
    loaded(&deployment)?;
    Ok(deployment)
}

/// The runner and signature of a loaded deployment; 503 with the reason otherwise.
pub fn loaded(deployment: &LiveDeployment) -> Result<(&Runner, &Signature), ApiError> {
    match &deployment.state {
        DeploymentState::Succeeded { runner, signature, .. } => Ok((runner, signature)),
        DeploymentState::Failed { reason } => Err(ApiError::unavailable(
            "DeploymentNotReady",
            format!("deployment {} is not ready: {reason}", deployment.record.name),
            Duration::from_secs(5),
        )),
    }
}

/// Sends copies of the inputs to the endpoint's mirror deployments (their answers are dropped;
/// the live response never waits for them).
pub fn mirror(app: &Arc<AppState>, endpoint: &LiveEndpoint, call: &Call, inputs: &[Tensor]) {
    for (name, &pct) in &endpoint.record.mirror_traffic {
        if pct == 0 || call.deployment.as_deref() == Some(name) || rand::random_range(0..100) >= pct
        {
            continue;
        }
        let Some(deployment) = endpoint.deployments.get(name).cloned() else { continue };
        let DeploymentState::Succeeded { runner, .. } = &deployment.state else { continue };
        let Ok(rx) = runner.submit(inputs.to_vec()) else {
            tracing::debug!(endpoint = %call.endpoint, deployment = %name, "mirror queue full; copy dropped");
            app.metrics.mirrored(&call.endpoint, name, 503);
            continue;
        };
        let timeout = app.request_timeout();
        let (app, endpoint_name, request_id) =
            (app.clone(), call.endpoint.clone(), call.request_id.0.clone());
        let started = Instant::now();
        tokio::spawn(async move {
            let code = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(Ok(_))) => {
                    deployment.count_request();
                    200
                }
                Ok(Ok(Err(_))) => 500,
                Ok(Err(_)) => 500,
                Err(_) => 503,
            };
            let name = deployment.record.name.as_str();
            app.metrics.mirrored(&endpoint_name, name, code);
            tracing::info!(
                target: "edgeserve::traffic",
                endpoint = %endpoint_name,
                deployment = name,
                status = code,
                latency_ms = started.elapsed().as_secs_f64() * 1e3,
                mirror = true,
                request_id = %request_id,
                "mirror"
            );
        });
    }
}

/// The one scoring step every route shares (seed, Open Inference Protocol, `endpoint invoke`):
/// copies to the endpoint's mirrors, then the inputs run on the chosen deployment ([`run`]).
pub async fn score(
    app: &Arc<AppState>,
    call: &Call,
    endpoint: &LiveEndpoint,
    deployment: &LiveDeployment,
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, ApiError> {
    let (runner, _) = loaded(deployment)?;
    mirror(app, endpoint, call, &inputs);
    run(app, call, deployment, runner, inputs).await
}

/// Runs inputs on the deployment: at once when it is idle and the run is short (`batch`'s
/// inline runs), else on its queue, bounded by the request timeout.
pub async fn run(
    app: &AppState,
    call: &Call,
    deployment: &LiveDeployment,
    runner: &Runner,
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, ApiError> {
    let name = deployment.record.name.as_str();
    let timeout = app.request_timeout();
    let reply = runner.run(inputs, timeout).await.map_err(|e| match e {
        RunError::QueueFull => ApiError::unavailable(
            "QueueFull",
            format!("deployment {name} has {} requests waiting; retry shortly", runner.capacity()),
            QUEUE_FULL_RETRY,
        ),
        RunError::Timeout => ApiError::unavailable(
            "Timeout",
            format!(
                "scoring took longer than {} ms (limits.request_timeout_ms)",
                timeout.as_millis()
            ),
            QUEUE_FULL_RETRY,
        ),
        RunError::Dropped => {
            tracing::error!(request_id = %call.request_id.0, "worker dropped the request");
            ApiError::internal()
        }
    })?;
    match reply {
        Err(e) => {
            tracing::error!(request_id = %call.request_id.0, deployment = name, kind = e.kind().as_str(), error = %e, "backend error");
            let error = ApiError::from_backend(&e);
            // Bad input is the client's fault; anything else counts towards `Degraded`.
            deployment.record_outcome(error.status.is_server_error());
            Err(error)
        }
        Ok(outputs) => {
            deployment.count_request();
            deployment.record_outcome(false);
            Ok(outputs)
        }
    }
}

/// A 200 JSON response.
pub fn json_ok(body: serde_json::Value) -> Response {
    let mut r = axum::response::IntoResponse::into_response(axum::Json(body));
    *r.status_mut() = StatusCode::OK;
    r
}

/// A 200 JSON response from its text (`application/json`, as [`json_ok`] sends).
pub fn json_text_ok(body: Vec<u8>) -> Response {
    let mut r = axum::response::IntoResponse::into_response(body);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    *r.status_mut() = StatusCode::OK;
    r
}
