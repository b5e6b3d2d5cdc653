//! Typed errors of the HAL, with a portable [`ErrorKind`] the daemon maps to statuses and metrics.

use std::path::PathBuf;

/// What went wrong, in terms every backend shares (after embedded-hal's `ErrorKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The model uses something this backend cannot run (an op, a dtype, a layout).
    Unsupported,
    /// The artifact is malformed or inconsistent.
    InvalidModel,
    /// The inputs given to `run` do not fit the model's signature.
    InvalidInput,
    /// The device or its runtime is missing, busy or gone.
    DeviceUnavailable,
    /// The device did not answer in time.
    Timeout,
    /// Anything else: a bug or an unexpected runtime failure.
    Internal,
}

impl ErrorKind {
    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidModel => "invalid_model",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::DeviceUnavailable => "device_unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error of the HAL or one of its backends; every message says what an operator can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccelError {
    #[error("cannot read model artifact {path}: {source}")]
    /// A file of the model artifact could not be read.
    ArtifactUnreadable {
        /// The file that could not be read.
        path: PathBuf,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model {path}: {reason}")]
    /// The artifact at `path` is not a model the backend can load; `reason` says what is wrong.
    InvalidModel {
        /// The artifact's file or folder.
        path: PathBuf,
        /// What is wrong with it, in the operator's terms.
        reason: String,
    },
    #[error("unsupported op {op} at node \"{node}\"")]
    /// The graph uses operator `op` (at graph node `node`) that the backend does not implement.
    UnsupportedOp {
        /// The operator's type (`Gather`, `ai.onnx.ml.TreeEnsembleClassifier`, ...).
        op: String,
        /// The graph node's name, or its index when it has none.
        node: String,
    },
    #[error("unsupported {what}")]
    /// A feature the backend lacks (a dtype, a shape, an attribute), named by `what`.
    Unsupported {
        /// The feature, named as the model or request names it.
        what: String,
    },
    #[error("{0}")]
    /// A request's tensors do not fit the model's signature; the message names input and shape.
    InvalidInput(String),
    #[error("no {target} device with index {index} ({available} available)")]
    /// No device `index` of `target`, which has `available` devices.
    NoSuchDevice {
        /// The target's name (`gpu`, `fpga`).
        target: String,
        /// The device index asked for.
        index: u32,
        /// How many devices the target has.
        available: usize,
    },
    #[error("{target} backend unavailable: {reason}")]
    /// The target's runtime (OpenCL ICD, XRT) is missing or unusable; `reason` says which.
    BackendUnavailable {
        /// The target's name.
        target: String,
        /// Why its runtime cannot be used, with the fix when there is one.
        reason: String,
    },
    #[error("{call} timed out after {millis} ms")]
    /// A device call (`call`) did not finish within `millis` milliseconds.
    Timeout {
        /// The runtime call that timed out.
        call: String,
        /// The limit, in milliseconds.
        millis: u64,
    },
    #[error("OpenCL program build failed on {device}: {log}")]
    /// The OpenCL compiler rejected edgeserve's kernels on `device`; `log` is its build log.
    ProgramBuild {
        /// The OpenCL device's name.
        device: String,
        /// The compiler's build log.
        log: String,
    },
    #[error("{reason}")]
    /// The device or its driver failed a call; `reason` carries the runtime's message.
    Device {
        /// The runtime's message, with the call that failed.
        reason: String,
    },
    #[error("xclbin built for platform {xclbin}, card is {card}")]
    /// The xclbin was built for platform `xclbin`, not for the card's `card`.
    PlatformMismatch {
        /// The platform (VBNV) the xclbin was built for.
        xclbin: String,
        /// The card's platform.
        card: String,
    },
    #[error("{0}")]
    /// A fault in edgeserve itself (a broken invariant), not in the model or the request.
    Internal(String),
}

impl AccelError {
    /// The portable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AccelError::ArtifactUnreadable { .. } | AccelError::InvalidModel { .. } => {
                ErrorKind::InvalidModel
            }
            AccelError::UnsupportedOp { .. }
            | AccelError::Unsupported { .. }
            | AccelError::PlatformMismatch { .. } => ErrorKind::Unsupported,
            AccelError::InvalidInput(_) => ErrorKind::InvalidInput,
            AccelError::NoSuchDevice { .. }
            | AccelError::BackendUnavailable { .. }
            | AccelError::Device { .. } => ErrorKind::DeviceUnavailable,
            AccelError::Timeout { .. } => ErrorKind::Timeout,
            AccelError::Internal(_) | AccelError::ProgramBuild { .. } => ErrorKind::Internal,
        }
    }
}
