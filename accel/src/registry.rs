//! The set of backends a daemon was built with, looked up by target.

use std::sync::Arc;
use std::time::Duration;

use crate::{AccelError, Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Target};

/// Every backend available to the daemon, at most one per target.
#[derive(Clone, Default)]
pub struct Backends {
    backends: Vec<Arc<dyn Backend>>,
}

/// How long an FPGA kernel run may take unless the daemon says otherwise.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(30);

impl Backends {
    /// The backends this build of edgeserve ships with; `cache_dir` holds what backends build
    /// once per device (OpenCL programs), or nothing is cached.
    pub fn builtin(cache_dir: Option<&std::path::Path>) -> Backends {
        Backends::builtin_with(cache_dir, DEFAULT_RUN_TIMEOUT)
    }

    /// The same, with device runs (FPGA kernels) waited on at most `run_timeout`.
    pub fn builtin_with(cache_dir: Option<&std::path::Path>, run_timeout: Duration) -> Backends {
        let mut set = Backends::default();
        set.register(Arc::new(crate::cpu::CpuBackend::new()));
        set.register(Arc::new(crate::gpu::GpuBackend::new(cache_dir.map(|d| d.join("opencl")))));
        set.register(Arc::new(crate::fpga::FpgaBackend::new(run_timeout)));
        set
    }

    /// Adds a backend, replacing any other for the same target.
    pub fn register(&mut self, backend: Arc<dyn Backend>) {
        self.backends.retain(|b| b.target() != backend.target());
        self.backends.push(backend);
        self.backends.sort_by_key(|b| b.target());
    }

    /// The backend for a target.
    pub fn get(&self, target: Target) -> Result<&Arc<dyn Backend>, AccelError> {
        self.backends.iter().find(|b| b.target() == target).ok_or_else(|| {
            AccelError::BackendUnavailable {
                target: target.to_string(),
                reason: "this build of edgeserve has no backend for it".into(),
            }
        })
    }

    /// Loads an artifact on a target's backend.
    pub fn load(
        &self,
        target: Target,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, AccelError> {
        let backend = self.get(target)?;
        backend.probe()?;
        backend.load(artifact, options)
    }

    /// Every device of every backend, in target order. Loads each backend's runtime (see
    /// [`Backend::devices`]): for `device list` and `board detect`, not for metrics.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.backends.iter().flat_map(|b| b.devices()).collect()
    }

    /// The devices backends have already found ([`Backend::known_devices`]), loading nothing: the
    /// CPU always, a GPU or FPGA once listed or loaded on. Cheap enough for every metrics scrape.
    pub fn known_devices(&self) -> Vec<DeviceInfo> {
        self.backends.iter().flat_map(|b| b.known_devices().unwrap_or_default()).collect()
    }
}
