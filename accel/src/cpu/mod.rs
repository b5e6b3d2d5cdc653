//! The CPU backend: ONNX models run by tract, optimised once at load with a symbolic batch.

mod convert;
mod host;

use std::sync::Arc;

use tract_onnx::prelude::{
    Framework, InferenceModelExt, IntoRunnable, TypedModel, TypedSimplePlan,
};

use crate::{
    AccelError, Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Signature, Target,
    Tensor, TensorSpec,
};

/// Runs ONNX graphs (including the ONNX-ML ops tract implements) on the host CPU.
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

/// An ONNX model optimised by tract. Plans are immutable: `run` needs no lock.
pub struct CpuModel {
    plan: Arc<TypedSimplePlan>,
    signature: Signature,
}

impl CpuModel {
    /// Parses, checks, types and optimises the artifact's `model.onnx`.
    pub fn load(artifact: &ModelArtifact) -> Result<CpuModel, AccelError> {
        let path = artifact.onnx_path();
        let bytes = std::fs::read(&path)
            .map_err(|source| AccelError::ArtifactUnreadable { path: path.clone(), source })?;
        let invalid = |e: tract_onnx::prelude::TractError| AccelError::InvalidModel {
            path: path.clone(),
            reason: format!("{e:#}"),
        };
        let model = tract_onnx::onnx().model_for_read(&mut bytes.as_slice()).map_err(invalid)?;
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
        let typed = model.into_typed().map_err(invalid)?;
        let signature = signature_of(&typed)?;
        let plan = typed.into_optimized().and_then(|m| m.into_runnable()).map_err(invalid)?;
        tracing::debug!(path = %path.display(), "cpu model optimised");
        Ok(CpuModel { plan, signature })
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
    Ok(Signature { inputs, outputs })
}

impl LoadedModel for CpuModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        self.signature.check_inputs(&inputs)?;
        let values = inputs.into_iter().map(convert::to_tract).collect::<Result<_, _>>()?;
        let outputs = self
            .plan
            .run(values)
            .map_err(|e| AccelError::Internal(format!("tract run failed: {e:#}")))?;
        outputs.iter().map(convert::from_tract).collect()
    }
}
