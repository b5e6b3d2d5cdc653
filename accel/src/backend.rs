//! The traits every accelerator backend implements.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AccelError, Signature, Tensor};

/// The kind of accelerator a deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// tract on the host CPU; always present.
    Cpu,
    /// OpenCL devices (any vendor's ICD; PoCL runs it on the CPU where there is no GPU).
    Gpu,
    /// Xilinx/AMD cards through XRT, running `model.xclbin` + `kernel.toml` packages.
    Fpga,
}

impl Target {
    /// Every target, in the order devices are listed.
    pub const ALL: [Target; 3] = [Target::Cpu, Target::Gpu, Target::Fpga];

    /// The target's name in files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Cpu => "cpu",
            Target::Gpu => "gpu",
            Target::Fpga => "fpga",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        match s {
            "cpu" => Ok(Target::Cpu),
            "gpu" => Ok(Target::Gpu),
            "fpga" => Ok(Target::Fpga),
            other => Err(format!("unknown target \"{other}\" (expected cpu, gpu or fpga)")),
        }
    }
}

/// One device a backend can load models onto, as `device list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// The backend the device belongs to.
    pub target: Target,
    /// The device's index within its target, as deployments name it (`--device 0`).
    pub index: u32,
    /// The device's own name (CPU model, OpenCL `CL_DEVICE_NAME`, XRT shell name).
    pub name: String,
    /// Its vendor, as the driver reports it.
    pub vendor: String,
    /// Memory models on it can use, in bytes (host RAM for the CPU; 0 when unknown).
    pub memory_bytes: u64,
    /// Whether models can be loaded onto it now (`reason` says why not).
    pub available: bool,
    /// Why the device is not available, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The OpenCL platform (GPU devices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Compute units (GPU devices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_units: Option<u32>,
    /// PCI address (FPGA cards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bdf: Option<String>,
    /// Memory banks the loaded xclbin exposes (FPGA cards).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub memory_banks: Vec<String>,
}

impl DeviceInfo {
    /// An available device with only its identity filled in.
    pub fn new(target: Target, index: u32, name: impl Into<String>) -> DeviceInfo {
        DeviceInfo {
            target,
            index,
            name: name.into(),
            vendor: String::new(),
            memory_bytes: 0,
            available: true,
            reason: None,
            platform: None,
            compute_units: None,
            bdf: None,
            memory_banks: Vec::new(),
        }
    }

    /// An entry saying why a target has no usable device.
    pub fn unavailable(
        target: Target,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> DeviceInfo {
        DeviceInfo {
            available: false,
            reason: Some(reason.into()),
            ..DeviceInfo::new(target, 0, name)
        }
    }
}

/// A model artifact on disk: the folder of one registered model version, or an ONNX file
/// (with any external data files beside it) that is not yet registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelArtifact {
    dir: PathBuf,
    onnx: Option<PathBuf>,
}

impl ModelArtifact {
    /// The artifact stored in `dir` (`model.onnx`, or `model.xclbin` + `kernel.toml`).
    pub fn new(dir: impl Into<PathBuf>) -> ModelArtifact {
        ModelArtifact { dir: dir.into(), onnx: None }
    }

    /// An ONNX model file of any name; its folder holds the files it references.
    pub fn onnx_file(path: impl Into<PathBuf>) -> ModelArtifact {
        let path = path.into();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        ModelArtifact { dir, onnx: Some(path) }
    }

    /// The folder holding the artifact's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ONNX graph, for backends that take one.
    pub fn onnx_path(&self) -> PathBuf {
        self.onnx.clone().unwrap_or_else(|| self.dir.join("model.onnx"))
    }

    /// Whether the artifact is an FPGA package (`model.xclbin`) rather than an ONNX model.
    pub fn is_fpga_package(&self) -> bool {
        self.onnx.is_none() && self.dir.join("model.xclbin").exists()
    }
}

/// How a deployment wants its model loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Device index within the backend's target.
    pub device: u32,
    /// The largest batch the daemon will run at once (a backend may size buffers for it).
    pub max_batch_size: usize,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions { device: 0, max_batch_size: 1 }
    }
}

/// An accelerator backend: CPU (tract), GPU (OpenCL) or FPGA (XRT).
pub trait Backend: Send + Sync {
    /// The target this backend serves.
    fn target(&self) -> Target;

    /// A cheap check that the backend's runtime is present; the error says what is missing.
    fn probe(&self) -> Result<(), AccelError>;

    /// The devices of this backend, including unavailable ones with their reason. This may load
    /// the backend's runtime into the process (the OpenCL ICDs, XRT), which stays loaded: call it
    /// for an explicit listing only, and [`Backend::known_devices`] for periodic reports.
    fn devices(&self) -> Vec<DeviceInfo>;

    /// The devices as last found by [`Backend::devices`] or a load, without loading anything;
    /// `None` when this backend has not looked yet (its runtime is not in the process).
    fn known_devices(&self) -> Option<Vec<DeviceInfo>> {
        None
    }

    /// Checks, without a device, whether this backend can run `artifact`: `Ok(Some(signature))`
    /// when checking yields it, `Ok(None)` when only a load on a device would, or the error
    /// naming the first thing the backend lacks (e.g. [`AccelError::UnsupportedOp`]).
    fn inspect(&self, artifact: &ModelArtifact) -> Result<Option<Signature>, AccelError>;

    /// Loads an artifact onto a device, validating everything that can be checked at load.
    /// Each call makes an independent instance, with its own buffers.
    fn load(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, AccelError>;
}

/// A model loaded onto a device, ready to run batches.
///
/// Instances are used by one thread at a time (`&mut self`), so a backend may keep
/// per-instance device buffers without locking. That is the instance's worker thread, or, for
/// a backend whose runs are [`LoadedModel::host_only`], sometimes the thread that decoded the
/// request (the daemon's inline runs of short requests to idle deployments).
pub trait LoadedModel: Send {
    /// The model's inputs and outputs.
    fn signature(&self) -> &Signature;

    /// Runs one batch: one tensor per input, in signature order, all with the same batch size.
    /// Returns one tensor per output, in signature order.
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError>;

    /// How the graph splits between the device and the host, for backends that split it
    /// (the GPU target); `None` when the whole model runs on its device.
    fn placement(&self) -> Option<Placement> {
        None
    }

    /// Whether the next run is only computation on the calling thread at a cost that grows
    /// with its inputs: it waits on no device or driver (which could stall for as long as the
    /// device does) and does no one-off work such as building a plan for a new batch size.
    /// Only then may a run be made on a caller's thread when it is measured to be short; the
    /// default, `false`, keeps every run on the instance's worker thread. It may change while
    /// the model serves, so it is asked before each such run.
    fn host_only(&self) -> bool {
        false
    }
}

/// Where a model's nodes run on a target that falls back to the host for ops its device lacks
/// (the GPU target, issue 20; `deployment show` reports it as `gpuNodes`, `hostNodes` and
/// `hostOps`). Nodes are those of tract's typed, decluttered graph at a concrete batch size,
/// constants and inputs excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Nodes run as device kernels.
    pub device_nodes: usize,
    /// Nodes run on the host by tract, with copies at the boundaries.
    pub host_nodes: usize,
    /// The names of the ops run on the host (tract's op names), sorted, each once.
    pub host_ops: Vec<String>,
}
