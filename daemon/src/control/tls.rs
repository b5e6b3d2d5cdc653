//! `GET /tls` and `PUT /tls`: what certificate is served, and swapping it without a restart.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Action, Caller};
use crate::error::ApiError;
use crate::listen::{self, TlsSource, TlsState};
use crate::state::AppState;

fn tls_json(tls: &TlsState) -> Value {
    let (source, summary) = tls.current();
    let mut v = serde_json::to_value(&summary).unwrap_or(Value::Null);
    v["source"] =
        json!({ "origin": source.origin, "certPem": source.cert_pem, "keyPem": source.key_pem });
    // The certificate a client must trust (`edgeserve tls show --ca-pem`): public material.
    v["trustPem"] = json!(summary.trust_pem);
    v
}

fn tls_of(app: &AppState) -> Result<Arc<TlsState>, ApiError> {
    app.tls()
        .ok_or_else(|| ApiError::not_found("this daemon has no TLS listener (tls.listen is empty)"))
}

/// The served certificate: subject, SANs, issuer, validity, fingerprint and where it came from.
pub async fn show(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::TlsRead, super::Scope::Root)?;
    let tls = tls_of(&app)?;
    Ok(Json(tls_json(&tls)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetTls {
    cert_pem: PathBuf,
    key_pem: PathBuf,
    cname: String,
}

/// Checks new material, installs a copy under the state dir and serves it from the next
/// handshake on. Bad material is refused with the reason and nothing changes.
pub async fn set(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::TlsWrite, super::Scope::Root)?;
    let req: SetTls = super::json_body(body).await?;
    let tls = tls_of(&app)?;
    let _writing = app.writes.lock().await;
    let dir = crate::daemon::installed_tls_dir(&app.settings());
    let result = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        // Check the files where they are first: a refused swap installs nothing.
        listen::material::load(&req.cert_pem, &req.key_pem, &req.cname, &listen::provider())
            .map_err(|e| ApiError::invalid_input(e.to_string()))?;
        let (cert_pem, key_pem) =
            listen::install(&dir, &req.cert_pem, &req.key_pem).map_err(|e| {
                tracing::error!(error = %e, "cannot install TLS material");
                ApiError::internal()
            })?;
        let source =
            TlsSource { cert_pem, key_pem, cname: req.cname.clone(), origin: "control-plane" };
        tls.reload(source).map_err(|e| ApiError::invalid_input(e.to_string()))?;
        std::fs::write(dir.join("cname"), &req.cname).map_err(|e| {
            tracing::error!(error = %e, "cannot record the installed cname");
            ApiError::internal()
        })?;
        Ok(())
    })
    .await
    .map_err(|_| ApiError::internal())?;
    result?;
    let tls = tls_of(&app)?;
    Ok(Json(tls_json(&tls)))
}

/// `DELETE /tls` (`edgeserve tls reset`): serves the config file's material again and removes
/// the copy `tls set` installed. The config's files are checked first; if they do not load,
/// nothing changes and the refusal says why.
pub async fn reset(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::TlsWrite, super::Scope::Root)?;
    let tls = tls_of(&app)?;
    let _writing = app.writes.lock().await;
    let dir = crate::daemon::installed_tls_dir(&app.settings());
    let source = TlsSource {
        cert_pem: app.settings().tls.cert_pem.clone(),
        key_pem: app.settings().tls.key_pem.clone(),
        cname: app.settings().tls.cname.clone(),
        origin: "config",
    };
    let result = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        tls.reload(source).map_err(|e| {
            ApiError::invalid_input(format!(
                "the config file's TLS material does not load, so the installed copy stays in force: {e}"
            ))
        })?;
        // The cname file decides the source at the next start: it goes first.
        for name in ["cname", "key.pem", "cert.pem"] {
            match std::fs::remove_file(dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(error = %e, file = name, "cannot remove the installed TLS copy");
                    return Err(ApiError::internal());
                }
            }
        }
        Ok(())
    })
    .await
    .map_err(|_| ApiError::internal())?;
    result?;
    let tls = tls_of(&app)?;
    Ok(Json(tls_json(&tls)))
}
