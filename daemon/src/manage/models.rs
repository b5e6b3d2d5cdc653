//! Registering and deleting model versions in the model repository.

use std::path::Path;

use edgeserve_accel::{cpu::CpuModel, ErrorKind, LoadedModel, ModelArtifact};

use super::ManageError;
use crate::names;
use crate::state::AppState;
use crate::store::{now_rfc3339, ModelRecord, ModelRepository};

/// Copies an artifact in as NAME:VERSION and records its sha256, size and signature.
pub async fn register(
    app: &AppState,
    name: &str,
    version: &str,
    path: &Path,
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
    let repo = ModelRepository::new(&app.settings.daemon.state_dir);
    let stored =
        repo.store(name, version, path).map_err(|e| ManageError::Invalid(e.to_string()))?;
    let dir = stored.dir.clone();
    let signature = tokio::task::spawn_blocking(move || {
        if dir.join("model.xclbin").exists() {
            // An FPGA package: the xclbin and kernel.toml are checked against each other.
            return edgeserve_accel::fpga::check_package(&ModelArtifact::new(&dir))
                .map(Some)
                .map_err(|e| e.to_string());
        }
        if !dir.join("model.onnx").exists() {
            return Ok(None);
        }
        match CpuModel::load(&ModelArtifact::new(&dir)) {
            Ok(m) => Ok(Some(m.signature().clone())),
            // Valid ONNX the CPU backend cannot run may still suit another target.
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .unwrap_or_else(|e| Err(format!("inspecting the model panicked: {e}")));
    let signature = match signature {
        Ok(s) => s,
        Err(reason) => {
            let _ = repo.remove(name, version);
            return Err(ManageError::Invalid(reason));
        }
    };
    let record = ModelRecord {
        name: name.to_string(),
        version: version.to_string(),
        dir: stored.dir,
        sha256: stored.sha256,
        size_bytes: stored.size_bytes,
        created_at: now_rfc3339(),
        signature,
    };
    app.store.put_model(&record)?;
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
    ModelRepository::new(&app.settings.daemon.state_dir)
        .remove(name, version)
        .map_err(|e| ManageError::Invalid(e.to_string()))?;
    tracing::info!(model = %reference, "model deleted");
    Ok(())
}
