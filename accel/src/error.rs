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
    ArtifactUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model {path}: {reason}")]
    InvalidModel { path: PathBuf, reason: String },
    #[error("unsupported op {op} at node \"{node}\"")]
    UnsupportedOp { op: String, node: String },
    #[error("unsupported {what}")]
    Unsupported { what: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("no {target} device with index {index} ({available} available)")]
    NoSuchDevice { target: String, index: u32, available: usize },
    #[error("{target} backend unavailable: {reason}")]
    BackendUnavailable { target: String, reason: String },
    #[error("{call} timed out after {millis} ms")]
    Timeout { call: String, millis: u64 },
    #[error("OpenCL program build failed on {device}: {log}")]
    ProgramBuild { device: String, log: String },
    #[error("{reason}")]
    Device { reason: String },
    #[error("xclbin built for platform {xclbin}, card is {card}")]
    PlatformMismatch { xclbin: String, card: String },
    #[error("{0}")]
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
