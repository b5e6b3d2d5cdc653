//! The model repository: registered artifacts copied under `state_dir/models/NAME/VERSION/`.

use std::path::{Path, PathBuf};

use edgeserve_accel::ArtifactFile;
use sha2::{Digest, Sha256};

use super::StoreError;

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

    /// SHA-256 over the artifact's files (each name, length and content, in name order) and
    /// their total size, without copying them.
    pub fn digest(files: &[ArtifactFile]) -> Result<(String, u64), StoreError> {
        let mut sorted: Vec<&ArtifactFile> = files.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut hasher = Sha256::new();
        let mut size = 0;
        for f in sorted {
            let bytes = std::fs::read(&f.source).map_err(|e| {
                StoreError::Repository(format!("cannot read {}: {e}", f.source.display()))
            })?;
            hasher.update(f.name.to_string_lossy().as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            size += bytes.len() as u64;
        }
        Ok((hex(&hasher.finalize()), size))
    }

    /// Copies an artifact's files in as NAME/VERSION, atomically: a half-copied version never
    /// appears. File names are relative paths inside the version folder (checked by the HAL's
    /// inspection to stay inside it).
    pub fn store(
        &self,
        name: &str,
        version: &str,
        files: &[ArtifactFile],
    ) -> Result<StoredArtifact, StoreError> {
        let fail = |what: String| StoreError::Repository(what);
        let dest = self.root.join(name).join(version);
        let parent = self.root.join(name);
        std::fs::create_dir_all(&parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        // The folders leading to NAME/ are durable before anything names them.
        for dir in [self.root.parent(), Some(self.root.as_path())].into_iter().flatten() {
            super::sync_dir(dir)
                .map_err(|e| fail(format!("cannot sync {}: {e}", dir.display())))?;
        }
        let staging = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempdir_in(&parent)
            .map_err(|e| fail(format!("cannot stage in {}: {e}", parent.display())))?;
        let mut staged_dirs = vec![staging.path().to_path_buf()];
        for f in files {
            let target = staging.path().join(&f.name);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
                let mut d = dir;
                while d != staging.path() && !staged_dirs.iter().any(|s| s == d) {
                    staged_dirs.push(d.to_path_buf());
                    d = d.parent().unwrap_or(staging.path());
                }
            }
            std::fs::copy(&f.source, &target)
                .map_err(|e| fail(format!("cannot copy {}: {e}", f.source.display())))?;
            std::fs::File::open(&target)
                .and_then(|file| file.sync_all())
                .map_err(|e| fail(format!("cannot sync {}: {e}", f.name.display())))?;
        }
        // Every folder of the staged copy, deepest first, so the rename below publishes a
        // complete tree even across a power cut.
        staged_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in &staged_dirs {
            super::sync_dir(dir)
                .map_err(|e| fail(format!("cannot sync {}: {e}", dir.display())))?;
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| fail(format!("cannot replace {}: {e}", dest.display())))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, &dest)
            .map_err(|e| fail(format!("cannot move model into {}: {e}", dest.display())))?;
        // The rename itself, durable before the store records the version.
        super::sync_dir(&parent)
            .map_err(|e| fail(format!("cannot sync {}: {e}", parent.display())))?;
        let stored: Vec<ArtifactFile> = files
            .iter()
            .map(|f| ArtifactFile { name: f.name.clone(), source: dest.join(&f.name) })
            .collect();
        let (sha256, size_bytes) = Self::digest(&stored)?;
        Ok(StoredArtifact { dir: dest, sha256, size_bytes })
    }

    /// Removes a stored version's files (the record is the store's business).
    pub fn remove(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let dir = self.root.join(name).join(version);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                let _ = super::sync_dir(&self.root.join(name));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Repository(format!("cannot remove {}: {e}", dir.display()))),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
