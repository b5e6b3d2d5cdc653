//! The OpenCL driver's own kernel cache. PoCL compiles every kernel again for each work-group
//! size and keeps the results in `$POCL_CACHE_DIR` (default `$HOME/.cache/pocl`). A service
//! user with a read-only or missing home breaks it in two opaque ways: a read-only folder fails
//! program builds with no useful log, an uncreatable one makes the platform report zero
//! devices. The daemon therefore points it at a folder it owns under the state dir.

use std::path::{Path, PathBuf};

/// The variable PoCL reads.
pub const POCL_CACHE_DIR: &str = "POCL_CACHE_DIR";

/// Why the driver cache folder cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "OpenCL driver cache {path} ({var}) is not writable: {source}; PoCL will report no device \
     or fail to build programs until it is (point daemon.state_dir at a folder edgeserved owns)"
)]
pub struct DriverCacheError {
    /// The folder that could not be created or written.
    pub path: PathBuf,
    /// The variable that names the folder, [`POCL_CACHE_DIR`] (set by the operator or by [`prepare`]).
    pub var: &'static str,
    #[source]
    /// The failed create or write.
    pub source: std::io::Error,
}

/// Makes the OpenCL driver cache usable: an operator's own `$POCL_CACHE_DIR` is kept, else it is
/// set to `default_dir`. The folder is created and checked writable; returns the folder used.
///
/// Sets a process environment variable, so call it before starting any thread (first thing in
/// `main`, before the async runtime).
pub fn prepare(default_dir: &Path) -> Result<PathBuf, DriverCacheError> {
    let dir = match std::env::var_os(POCL_CACHE_DIR) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            std::env::set_var(POCL_CACHE_DIR, default_dir);
            default_dir.to_path_buf()
        }
    };
    let probe = dir.join(".edgeserve-write-test");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| DriverCacheError { path: dir.clone(), var: POCL_CACHE_DIR, source })?;
    Ok(dir)
}
