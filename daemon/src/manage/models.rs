//! Registering and deleting model versions in the model repository.

use std::path::Path;

use edgeserve_accel::Backends;

use super::ManageError;
use crate::names;
use crate::state::AppState;
use crate::store::{now_rfc3339, ModelRecord, ModelRepository, Origin};

/// Inspects the artifact at `source` through the HAL, copies its files in as NAME:VERSION and
/// returns the record to store (signature and target fit included). Blocking: a backend may
/// load the model. The one path for CLI registrations and declared `[[model]]`s alike.
pub fn admit(
    backends: &Backends,
    repo: &ModelRepository,
    name: &str,
    version: &str,
    source: &Path,
) -> Result<ModelRecord, String> {
    let inspection = backends.inspect(source).map_err(|e| e.to_string())?;
    let stored = repo.store(name, version, &inspection.files).map_err(|e| e.to_string())?;
    Ok(ModelRecord {
        name: name.to_string(),
        version: version.to_string(),
        dir: stored.dir,
        sha256: stored.sha256,
        size_bytes: stored.size_bytes,
        created_at: now_rfc3339(),
        signature: Some(inspection.signature),
        targets: inspection.targets,
        origin: None,
    })
}

/// Registers the artifact at `path` (absolute, on the box) as NAME:VERSION (SPEC §6), made by
/// `origin` (the CLI, or a `[[model]]` declaration).
pub async fn register(
    app: &AppState,
    name: &str,
    version: &str,
    path: &Path,
    origin: Origin,
) -> Result<ModelRecord, ManageError> {
    names::check("model name", name).map_err(ManageError::Invalid)?;
    names::check("model version", version).map_err(ManageError::Invalid)?;
    if !path.is_absolute() {
        return Err(ManageError::Invalid(format!(
            "model path {} must be absolute",
            path.display()
        )));
    }
    if !path.exists() {
        return Err(ManageError::Invalid(format!("model path {} does not exist", path.display())));
    }
    let _writing = app.writes.lock().await;
    if app.store.model(name, version)?.is_some() {
        return Err(ManageError::Conflict(format!(
            "model {name}:{version} is already registered; register a new version"
        )));
    }
    let backends = app.backends.clone();
    let state_dir = app.settings().daemon.state_dir.clone();
    let (n, v, p) = (name.to_string(), version.to_string(), path.to_path_buf());
    let record = tokio::task::spawn_blocking(move || {
        admit(&backends, &ModelRepository::new(&state_dir), &n, &v, &p)
    })
    .await
    .unwrap_or_else(|e| Err(format!("inspecting the model panicked: {e}")))
    .map(|record| ModelRecord { origin: Some(origin), ..record })
    .map_err(ManageError::Invalid)?;
    if let Err(e) = app.store.put_model(&record) {
        let _ = ModelRepository::new(&app.settings().daemon.state_dir).remove(name, version);
        return Err(e.into());
    }
    tracing::info!(model = %format!("{name}:{version}"), sha256 = %record.sha256, "model registered");
    Ok(record)
}

/// Deletes a model version no deployment uses.
pub async fn delete(app: &AppState, name: &str, version: &str) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    if app.store.model(name, version)?.is_none() {
        return Err(ManageError::NotFound(format!("model {name}:{version} is not registered")));
    }
    let reference = format!("{name}:{version}");
    if let Some(d) = app.store.deployments()?.into_iter().find(|d| d.model == reference) {
        return Err(ManageError::Conflict(format!(
            "model {reference} is used by deployment {}/{}; delete or update it first",
            d.endpoint, d.name
        )));
    }
    app.store.delete_model(name, version)?;
    ModelRepository::new(&app.settings().daemon.state_dir)
        .remove(name, version)
        .map_err(|e| ManageError::Invalid(e.to_string()))?;
    tracing::info!(model = %reference, "model deleted");
    Ok(())
}
