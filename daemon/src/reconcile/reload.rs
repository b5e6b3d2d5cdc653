//! `systemctl reload` (SIGHUP, SPEC §7): re-read the config file, check all of it (values, TLS
//! material, the JWKS, key files, declared models), and only then swap in the new settings and
//! apply the declarations. A broken file changes nothing and says why in the log and in
//! `edgeserve status`.

use std::path::PathBuf;

use serde_json::json;

use super::{apply, plan, Applied, Current, PlanError};
use crate::config::{ConfigError, Settings};
use crate::manage::deployments::OnFailure;
use crate::state::AppState;

/// Where the daemon's config came from, so a reload reads it again.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// `--config`; `None` reads the default path (a missing default file means defaults).
    pub path: Option<PathBuf>,
    /// The demo's settings are made in memory: its reloads re-read TLS and the JWKS only.
    pub in_memory: bool,
    /// The folder relative paths in the file are read from.
    pub base_dir: PathBuf,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    #[error(transparent)]
    /// The config file no longer loads.
    Config(#[from] ConfigError),
    #[error("TLS: {0}")]
    /// The new TLS material is refused; the old stays in use.
    Tls(crate::listen::TlsError),
    #[error("OIDC: {0}")]
    /// The new `[oidc]` settings or JWKS file are refused; the old keys stay in use.
    Oidc(crate::auth::oidc::OidcError),
    #[error(transparent)]
    /// The declarations cannot be applied; the store is unchanged.
    Plan(#[from] PlanError),
    #[error("the reload check stopped unexpectedly: {0}")]
    /// The reload task stopped before answering.
    Internal(String),
}

/// Settings that only a restart changes (sockets are bound and limits set at start).
fn restart_only(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let same = |a: serde_json::Value, b: serde_json::Value| a == b;
    let mut keys = Vec::new();
    for (key, old_v, new_v) in [
        ("daemon", json!(old.daemon), json!(new.daemon)),
        ("tls.listen", json!(old.tls.listen), json!(new.tls.listen)),
        ("tls.client_ca_pem", json!(old.tls.client_ca_pem), json!(new.tls.client_ca_pem)),
        ("plain.listen", json!(old.plain.listen), json!(new.plain.listen)),
        ("metrics.listen", json!(old.metrics.listen), json!(new.metrics.listen)),
        (
            "limits.max_connections",
            json!(old.limits.max_connections),
            json!(new.limits.max_connections),
        ),
        (
            "limits.header_timeout_ms",
            json!(old.limits.header_timeout_ms),
            json!(new.limits.header_timeout_ms),
        ),
        (
            "limits.idle_timeout_ms",
            json!(old.limits.idle_timeout_ms),
            json!(new.limits.idle_timeout_ms),
        ),
        (
            "limits.max_control_connections",
            json!(old.limits.max_control_connections),
            json!(new.limits.max_control_connections),
        ),
        (
            "limits.early_answer_drain_bytes",
            json!(old.limits.early_answer_drain_bytes),
            json!(new.limits.early_answer_drain_bytes),
        ),
        (
            "limits.auth_failures_per_minute",
            json!(old.limits.auth_failures_per_minute),
            json!(new.limits.auth_failures_per_minute),
        ),
    ] {
        if !same(old_v, new_v) {
            keys.push(key);
        }
    }
    keys
}

/// Re-reads the config and applies it; on any error before the swap nothing changes. The
/// outcome is recorded for `edgeserve status` (`lastReload`) either way.
pub async fn reload(app: &AppState) -> Result<Applied, ReloadError> {
    let outcome = try_reload(app).await;
    let at = crate::store::now_rfc3339();
    let generation = app.last_reload().and_then(|r| r["generation"].as_u64()).unwrap_or(0) + 1;
    let report = match &outcome {
        Ok((applied, restart)) => json!({
            "generation": generation,
            "at": at,
            "ok": applied.failed.is_empty(),
            "applied": applied.done,
            "failed": applied.failed,
            "needsRestart": restart,
        }),
        Err(e) => json!({
            "generation": generation,
            "at": at,
            "ok": false,
            "error": crate::error::chain_text(std::iter::successors(
                Some(e as &(dyn std::error::Error + 'static)),
                |e| e.source(),
            )),
            "applied": [],
            "failed": [],
        }),
    };
    app.set_last_reload(report);
    outcome.map(|(applied, _)| applied)
}

async fn try_reload(app: &AppState) -> Result<(Applied, Vec<&'static str>), ReloadError> {
    let Some(source) = app.config_source() else {
        return Err(ReloadError::Internal("the daemon has no config source".into()));
    };
    let old = app.settings();
    let new = if source.in_memory {
        (*old).clone()
    } else {
        crate::config::load(source.path.as_deref())?
    };
    new.validate()?;
    let restart = restart_only(&old, &new);
    for key in &restart {
        tracing::warn!(key, "changed in the config: takes effect at the next restart");
    }
    let oidc = if new.oidc.jwks_file.trim().is_empty() {
        None
    } else {
        Some(crate::auth::oidc::OidcVerifier::load(&new.oidc).map_err(ReloadError::Oidc)?)
    };
    let tls = match app.tls() {
        Some(_) => {
            let tls_source = crate::daemon::tls_source(&new);
            let prepared =
                tokio::task::spawn_blocking(move || crate::listen::TlsState::prepare(tls_source))
                    .await
                    .map_err(|e| ReloadError::Internal(e.to_string()))?
                    .map_err(ReloadError::Tls)?;
            Some(prepared)
        }
        None => None,
    };
    let the_plan = {
        let store = app.store.clone();
        let backends = app.backends.clone();
        let settings = new.clone();
        let failed = failed_deployments(app);
        let base_dir = source.base_dir.clone();
        tokio::task::spawn_blocking(move || -> Result<_, PlanError> {
            let mut current = Current::read(&store, &settings.daemon.admin_group)?;
            current.failed = failed;
            plan(&settings, &base_dir, &current, &backends)
        })
        .await
        .map_err(|e| ReloadError::Internal(e.to_string()))??
    };
    // Everything checked: swap, then apply.
    app.set_settings(new);
    app.set_oidc(oidc);
    if let (Some(state), Some(prepared)) = (app.tls(), tls) {
        state.commit(prepared);
    }
    tracing::info!(
        changes = the_plan.steps.len(),
        unchanged = the_plan.unchanged,
        "reload: config checked, applying"
    );
    let applied = apply(app, &the_plan, OnFailure::KeepFailed).await;
    Ok((applied, restart))
}

/// Deployments of the live table that failed to load (`ENDPOINT/NAME`).
pub fn failed_deployments(app: &AppState) -> std::collections::BTreeSet<String> {
    let table = app.table();
    table
        .endpoints
        .values()
        .flat_map(|e| e.deployments.values())
        .filter(|d| matches!(d.state, crate::deploy::DeploymentState::Failed { .. }))
        .map(|d| format!("{}/{}", d.record.endpoint, d.record.name))
        .collect()
}
