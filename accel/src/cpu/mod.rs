//! The CPU backend: ONNX models as exporters write them, run by tract. A model is optimised once
//! at load with a symbolic batch; graphs whose shape arithmetic needs a concrete batch get one
//! plan per batch size instead (see `plan`).

pub(crate) mod convert;
mod half_precision;
mod host;
mod ml;
mod plan;
pub mod proto;

use std::sync::Arc;

use tract_onnx::prelude::{InferenceModelExt, IntoRunnable, TDim, TypedModel};

use crate::{
    AccelError, Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Signature, Target,
    Tensor, TensorSpec,
};
use plan::{Plans, RunError};

/// Runs ONNX graphs (with the `ai.onnx.ml` domain) on the host CPU.
#[derive(Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// The CPU backend; it needs no runtime beyond the daemon itself.
    pub fn new() -> CpuBackend {
        CpuBackend
    }
}

impl Backend for CpuBackend {
    fn target(&self) -> Target {
        Target::Cpu
    }

    fn probe(&self) -> Result<(), AccelError> {
        Ok(())
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        vec![host::describe()]
    }

    fn known_devices(&self) -> Option<Vec<DeviceInfo>> {
        Some(self.devices())
    }

    /// Loads the model on the host (the CPU needs no device) and returns its signature.
    fn inspect(&self, artifact: &ModelArtifact) -> Result<Option<Signature>, AccelError> {
        if artifact.is_fpga_package() {
            return Err(AccelError::Unsupported {
                what: "FPGA packages (model.xclbin) on the cpu target".into(),
            });
        }
        Ok(Some(CpuModel::load(artifact)?.signature))
    }

    fn load(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, AccelError> {
        if options.device != 0 {
            return Err(AccelError::NoSuchDevice {
                target: "cpu".into(),
                index: options.device,
                available: 1,
            });
        }
        Ok(Box::new(CpuModel::load(artifact)?))
    }
}

/// An ONNX model optimised by tract.
pub struct CpuModel {
    plans: Plans,
    signature: Signature,
    f16: half_precision::Boundary,
}

/// The tract ONNX front end with edgeserve's `ai.onnx.ml` ops registered.
fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    ml::register(&mut onnx);
    onnx
}

/// A model as tract reads it, before planning: what the CPU and GPU targets share.
pub(crate) struct Front {
    /// The typed, decluttered graph (shape arithmetic folded as far as a symbolic batch lets).
    pub decluttered: TypedModel,
    /// Names, dtypes and shapes, as clients see them (float16 and ZipMap restored).
    pub signature: Signature,
    /// Inputs and outputs the graph computes in f32 but the file declares f16.
    pub f16: half_precision::Boundary,
    /// The batch symbol (the first input's first dimension), when it is one.
    pub batch: Option<tract_onnx::prelude::Symbol>,
}

impl Front {
    /// Parses, checks and types the artifact's `model.onnx` (with its external data files, from
    /// the artifact's folder). Errors: [`AccelError::ArtifactUnreadable`],
    /// [`AccelError::InvalidModel`], [`AccelError::UnsupportedOp`] naming the op and node.
    pub(crate) fn load(artifact: &ModelArtifact) -> Result<Front, AccelError> {
        // tract unwraps in places while typing a graph (a GRU without an initial state at a
        // symbolic batch): that is this model's error, never the caller's thread's.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Front::read(artifact)))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".into());
                Err(AccelError::InvalidModel {
                    path: artifact.onnx_path(),
                    reason: format!(
                        "tract could not read the graph ({what}); re-export the model with its \
                         optional inputs given (e.g. a recurrent layer's initial state)"
                    ),
                })
            })
    }

    fn read(artifact: &ModelArtifact) -> Result<Front, AccelError> {
        let path = artifact.onnx_path();
        let invalid = |e: tract_onnx::prelude::TractError| AccelError::InvalidModel {
            path: path.clone(),
            reason: format!("{e:#}"),
        };
        let file = proto::read(&path)?;
        let dir = artifact.dir().to_str().map(str::to_string);
        let parsed = onnx().parse(&file.proto, dir.as_deref()).map_err(invalid)?;
        if let Some(name) = parsed.unresolved_inputs.first() {
            return Err(AccelError::InvalidModel {
                path: path.clone(),
                reason: format!("node input {name} is produced by no node, input or initializer"),
            });
        }
        let model = parsed.model;
        // tract keeps ops it does not know as placeholders: refuse them here, by name.
        for node in model.nodes() {
            let op = node.op.name();
            if let Some(op) = op.strip_prefix("Unimplemented(").and_then(|s| s.strip_suffix(')')) {
                return Err(AccelError::UnsupportedOp {
                    op: op.to_string(),
                    node: node.name.clone(),
                });
            }
        }
        let decluttered = model.into_typed().and_then(|m| m.into_decluttered()).map_err(invalid)?;
        let mut signature = signature_of(&decluttered)?;
        signature.zipmaps = file.zipmaps.clone();
        file.f16.restore(&mut signature);
        let batch = batch_symbol(&decluttered);
        Ok(Front { decluttered, signature, f16: file.f16, batch })
    }

    /// Widens float16 inputs to the f32 the graph computes in.
    pub(crate) fn widen(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        if self.f16.is_empty() {
            Ok(inputs)
        } else {
            self.f16.widen(inputs)
        }
    }

    /// Narrows outputs the file declares float16.
    pub(crate) fn narrow(&self, outputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        if self.f16.is_empty() {
            Ok(outputs)
        } else {
            self.f16.narrow(&self.signature, outputs)
        }
    }
}

impl CpuModel {
    /// Reads the artifact's `model.onnx` (with its external data files, from the artifact's
    /// folder), types it and optimises it with tract. Errors:
    /// [`AccelError::ArtifactUnreadable`], [`AccelError::InvalidModel`] (also when tract cannot
    /// optimise the graph), [`AccelError::UnsupportedOp`] naming the op and node.
    pub fn load(artifact: &ModelArtifact) -> Result<CpuModel, AccelError> {
        let front = Front::load(artifact)?;
        let path = artifact.onnx_path();
        let invalid = |e: tract_onnx::prelude::TractError| AccelError::InvalidModel {
            path: path.clone(),
            reason: format!("{e:#}"),
        };
        let Front { decluttered, signature, f16, batch } = front;
        let plan = decluttered
            .clone()
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(invalid)?;
        let plans = match batch {
            // Kept so a graph that needs a concrete batch can still be planned per batch size.
            Some(batch) => Plans::PerBatchFallback {
                symbolic: plan,
                decluttered: Arc::new(decluttered),
                batch,
            },
            None => Plans::Symbolic(plan),
        };
        tracing::debug!(path = %path.display(), "cpu model optimised");
        Ok(CpuModel { plans, signature, f16 })
    }
}

/// The symbol of the first input's first dimension (the batch), when it is one.
fn batch_symbol(model: &TypedModel) -> Option<tract_onnx::prelude::Symbol> {
    let fact = model.input_fact(0).ok()?;
    match fact.shape.iter().next()? {
        TDim::Sym(s) => Some(s.clone()),
        _ => None,
    }
}

/// Reads names, dtypes and shapes off the typed graph; symbolic dimensions become dynamic.
fn signature_of(model: &TypedModel) -> Result<Signature, AccelError> {
    let internal = |e: tract_onnx::prelude::TractError| AccelError::Internal(format!("{e:#}"));
    let spec = |name: String,
                fact: &tract_onnx::prelude::TypedFact|
     -> Result<TensorSpec, AccelError> {
        let dtype = convert::dtype_of(fact.datum_type).ok_or_else(|| AccelError::Unsupported {
            what: format!("dtype {:?} of tensor {name}", fact.datum_type),
        })?;
        let shape = fact.shape.iter().map(|d| d.to_i64().unwrap_or(crate::DYNAMIC)).collect();
        Ok(TensorSpec { name, dtype, shape })
    };
    let mut inputs = Vec::new();
    for (ix, outlet) in model.input_outlets().map_err(internal)?.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        inputs.push(spec(name, model.input_fact(ix).map_err(internal)?)?);
    }
    let mut outputs = Vec::new();
    for (ix, outlet) in model.output_outlets().map_err(internal)?.iter().enumerate() {
        let name = model
            .outlet_label(*outlet)
            .map(str::to_string)
            .unwrap_or_else(|| model.node(outlet.node).name.clone());
        outputs.push(spec(name, model.output_fact(ix).map_err(internal)?)?);
    }
    Ok(Signature { inputs, outputs, zipmaps: Default::default() })
}

impl LoadedModel for CpuModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        let batch = self.signature.check_inputs(&inputs)?;
        let inputs = if self.f16.is_empty() { inputs } else { self.f16.widen(inputs)? };
        let values: tract_onnx::prelude::TVec<_> =
            inputs.into_iter().map(convert::to_tract).collect::<Result<_, _>>()?;
        // tract indexes some tensors unchecked (e.g. Gather beyond the axis): a panic there is
        // this request's failure, never the worker's.
        let plans = &mut self.plans;
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plans.run(batch, values)))
                .map_err(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown cause".into());
                    AccelError::Internal(format!("tract run failed: the model panicked ({what})"))
                })?;
        let outputs = ran.map_err(|e| match e {
            RunError::Tract(e) => AccelError::Internal(format!("tract run failed: {e:#}")),
            RunError::Accel(e) => e,
        })?;
        let outputs = outputs.iter().map(convert::from_tract).collect::<Result<Vec<_>, _>>()?;
        if self.f16.is_empty() {
            return Ok(outputs);
        }
        self.f16.narrow(&self.signature, outputs)
    }

    /// tract computes on the calling thread and waits on nothing; but a model planned per batch
    /// size builds a plan, tens of ms or more, at each new size. (A model still on its symbolic
    /// plan switches to per-batch plans at the first run that needs a concrete batch; the
    /// daemon's load-time runs, at 1 row and `max_batch_size`, meet that run before serving.)
    fn host_only(&self) -> bool {
        !matches!(self.plans, plan::Plans::PerBatch { .. })
    }
}
