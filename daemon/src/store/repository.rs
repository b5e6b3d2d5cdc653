//! The model repository: registered artifacts copied under `state_dir/models/NAME/VERSION/`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::StoreError;

/// Files an artifact folder may hold; anything else is not copied.
const ARTIFACT_FILES: [&str; 3] = ["model.onnx", "model.xclbin", "kernel.toml"];

/// The folder of registered model versions.
pub struct ModelRepository {
    root: PathBuf,
}

/// What was copied for one model version.
pub struct StoredArtifact {
    pub dir: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
}

impl ModelRepository {
    /// The repository under `state_dir/models`.
    pub fn new(state_dir: &Path) -> ModelRepository {
        ModelRepository { root: state_dir.join("models") }
    }

    /// Hashes an artifact (a folder, or a `model.onnx` file) without copying it.
    pub fn digest(source: &Path) -> Result<(String, u64), StoreError> {
        let files = artifact_files(source)?;
        let mut hasher = Sha256::new();
        let mut size = 0;
        for (name, path) in &files {
            let bytes = std::fs::read(path).map_err(|e| {
                StoreError::Repository(format!("cannot read {}: {e}", path.display()))
            })?;
            hasher.update(name.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            size += bytes.len() as u64;
        }
        Ok((hex(&hasher.finalize()), size))
    }

    /// Copies an artifact in as NAME/VERSION, atomically: a half-copied version never appears.
    pub fn store(
        &self,
        name: &str,
        version: &str,
        source: &Path,
    ) -> Result<StoredArtifact, StoreError> {
        let fail = |what: String| StoreError::Repository(what);
        let files = artifact_files(source)?;
        let dest = self.root.join(name).join(version);
        let parent = self.root.join(name);
        std::fs::create_dir_all(&parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        let staging = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempdir_in(&parent)
            .map_err(|e| fail(format!("cannot stage in {}: {e}", parent.display())))?;
        for (file, path) in &files {
            std::fs::copy(path, staging.path().join(file))
                .map_err(|e| fail(format!("cannot copy {}: {e}", path.display())))?;
            std::fs::File::open(staging.path().join(file))
                .and_then(|f| f.sync_all())
                .map_err(|e| fail(format!("cannot sync {file}: {e}")))?;
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| fail(format!("cannot replace {}: {e}", dest.display())))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, &dest)
            .map_err(|e| fail(format!("cannot move model into {}: {e}", dest.display())))?;
        let (sha256, size_bytes) = Self::digest(&dest)?;
        Ok(StoredArtifact { dir: dest, sha256, size_bytes })
    }
}

impl ModelRepository {
    /// Removes a stored version's files (the record is the store's business).
    pub fn remove(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let dir = self.root.join(name).join(version);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Repository(format!("cannot remove {}: {e}", dir.display()))),
        }
    }
}

/// The artifact files of a source: a folder's known files, or a single `.onnx` file.
fn artifact_files(source: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let meta = std::fs::metadata(source)
        .map_err(|e| StoreError::Repository(format!("cannot read {}: {e}", source.display())))?;
    if meta.is_file() {
        return Ok(vec![("model.onnx".to_string(), source.to_path_buf())]);
    }
    let files: Vec<(String, PathBuf)> = ARTIFACT_FILES
        .iter()
        .map(|f| (f.to_string(), source.join(f)))
        .filter(|(_, p)| p.is_file())
        .collect();
    if files.is_empty() {
        return Err(StoreError::Repository(format!(
            "{} holds no model.onnx or model.xclbin",
            source.display()
        )));
    }
    Ok(files)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
