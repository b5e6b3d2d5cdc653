//! The hardware abstraction layer: one interface over every accelerator edgeserve can drive.
//!
//! A [`Backend`] enumerates its devices, probes whether its runtime is present and loads a model
//! artifact into a [`LoadedModel`], which reports its [`Signature`] and runs batches of
//! [`Tensor`]s. Scoring code only ever sees these traits, never which backend runs a model.

mod backend;
mod bound;
pub mod cpu;
mod error;
pub mod fpga;
pub mod gpu;
mod inspect;
mod registry;
mod rows;
mod signature;
mod tensor;

pub use backend::{
    Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Placement, Target,
};
pub use error::{AccelError, ErrorKind};
pub use inspect::{ArtifactFile, Inspection, TargetFit};
pub use registry::Backends;
pub use signature::{format_shape, format_shape_of, Signature, TensorSpec, ZipMapLabels, DYNAMIC};
pub use tensor::{DType, Tensor, TensorData};
