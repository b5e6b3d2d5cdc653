//! `GET /status` and `GET /devices`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// What the daemon serves and whether it is ready.
pub async fn status(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::EndpointsRead, super::Scope::Root)?;
    let table = app.table();
    let mut endpoints: Vec<Value> = table
        .endpoints
        .values()
        .map(|e| {
            let deployments: Vec<Value> = e
                .deployments
                .values()
                .map(|d| {
                    let queue = match &d.state {
                        crate::deploy::DeploymentState::Succeeded { runner, .. } => {
                            json!(runner.depth())
                        }
                        _ => Value::Null,
                    };
                    json!({
                        "name": d.record.name,
                        "model": d.record.model,
                        "target": d.record.target,
                        "state": d.state_name(),
                        "queueDepth": queue,
                    })
                })
                .collect();
            json!({
                "name": e.record.name,
                "authMode": e.record.auth_mode.as_str(),
                "transport": e.record.transport,
                "traffic": e.record.traffic,
                "mirrorTraffic": e.record.mirror_traffic,
                "deployments": deployments,
            })
        })
        .collect();
    endpoints.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let bound = app.bound();
    let certificate = app.tls().map(|tls| {
        let (source, summary) = tls.current();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        json!({
            "subject": summary.subject,
            "cname": source.cname,
            "notAfter": summary.not_after,
            "daysToExpiry": (summary.not_after_unix - now).div_euclid(86_400),
            "source": source.origin,
        })
    });
    let configured = app.settings().daemon.board.clone();
    let board = if configured == "auto" {
        tokio::task::spawn_blocking(|| edgeserve_bsp::detect(std::path::Path::new("/")))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|d| d.profile.name)
            .unwrap_or_else(|| "none".into())
    } else {
        configured
    };
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "build": format!(
            "{} {}-{}",
            if cfg!(debug_assertions) { "debug" } else { "release" },
            std::env::consts::ARCH,
            std::env::consts::OS
        ),
        "uptimeSeconds": app.started.elapsed().as_secs(),
        "board": board,
        "ready": table.all_ready() && !app.draining(),
        "draining": app.draining(),
        "lastReload": app.last_reload(),
        "listeners": {
            "tls": bound.tls,
            "plain": bound.plain,
            "metrics": bound.metrics.map(|m| format!("http://{m}/metrics")),
            "controlSocket": app.settings().daemon.control_socket,
        },
        "certificate": certificate,
        "endpoints": endpoints,
    })))
}

/// Every device of every backend.
pub async fn devices(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::DevicesRead, super::Scope::Root)?;
    let backends = app.backends.clone();
    let devices = tokio::task::spawn_blocking(move || backends.devices())
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(Json(json!(devices)))
}
