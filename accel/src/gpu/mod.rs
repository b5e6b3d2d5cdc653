//! The GPU backend: models run with edgeserve's own OpenCL kernels (`kernels.cl`), vendor-neutral
//! through the OpenCL ICD loader (Intel, AMD, NVIDIA, Mali; PoCL on CPUs), with the ops the
//! kernels lack run on the host by tract.
//!
//! Load reads the model with the CPU target's front end (`crate::cpu::Front`: tract's typed,
//! decluttered graph, so every model the CPU target reads loads here too) and builds or loads the
//! cached program (`program`). For each batch size, the batch is bound, tract folds the shape
//! arithmetic away, `place` splits the nodes between device and host and `lower` turns device
//! nodes into launches; `exec` binds the plan to buffers made once per batch size and runs it.
//! Batches run at power-of-two buckets (`crate::bound::padded_run`), bound at load up to
//! `max_batch_size`.

pub mod driver_cache;
mod exec;
mod graph;
mod lower;
mod place;
mod platform;
mod program;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;

pub use program::ProgramOrigin;

use std::sync::Arc;

use tract_onnx::prelude::{TDim, TypedModel};

use self::exec::{Bound, DevBuf, Device};
use self::lower::Plan;
use crate::bound::BoundBatches;
use crate::cpu::convert;
use crate::cpu::Front;
use crate::{
    AccelError, Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Placement, Signature,
    Target, Tensor,
};

/// Runs ONNX models on OpenCL devices.
#[derive(Debug, Clone, Default)]
pub struct GpuBackend {
    cache_dir: Option<PathBuf>,
}

impl GpuBackend {
    /// A GPU backend caching built programs in `cache_dir` (none: always compile).
    pub fn new(cache_dir: Option<PathBuf>) -> GpuBackend {
        GpuBackend { cache_dir }
    }

    /// The folder built programs are cached in.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Checks that the program cache folder exists and is writable.
    fn check_cache(&self) -> Result<(), AccelError> {
        let Some(dir) = &self.cache_dir else { return Ok(()) };
        // Unique per call: deployments load in parallel.
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let n = PROBES.fetch_add(1, Ordering::Relaxed);
        let probe = dir.join(format!(".write-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&probe, b""))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| AccelError::BackendUnavailable {
                target: "gpu".into(),
                reason: format!(
                    "OpenCL program cache {} is not writable ({e}); point daemon.state_dir at a \
                     folder edgeserved owns",
                    dir.display()
                ),
            })
    }

    /// Loads a model, returning the concrete type (tests and benchmarks inspect it). Errors:
    /// those of reading the model (as on the CPU target), [`AccelError::NoSuchDevice`],
    /// [`AccelError::BackendUnavailable`] (no OpenCL platform, unwritable program cache).
    pub fn load_model(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<GpuModel, AccelError> {
        let front = Front::load(artifact)?;
        let mut found = platform::enumerate()?;
        let available = found.len();
        let index = options.device as usize;
        if index >= available {
            return Err(AccelError::NoSuchDevice {
                target: "gpu".into(),
                index: options.device,
                available,
            });
        }
        self.check_cache()?;
        let chosen = found.swap_remove(index);
        let context = Context::from_device(&chosen.device)
            .map_err(|e| AccelError::Internal(format!("OpenCL clCreateContext failed: {e}")))?;
        #[allow(deprecated)] // clCreateCommandQueue: OpenCL 1.2 devices (PoCL, Mali) need it
        let queue = CommandQueue::create_default(&context, 0).map_err(|e| {
            AccelError::Internal(format!("OpenCL clCreateCommandQueue failed: {e}"))
        })?;
        let (program, origin) =
            program::build(&context, &chosen.device, self.cache_dir.as_deref())?;
        let dev = Device { context, queue, program };
        let mut model = GpuModel {
            front,
            dev,
            origin,
            device: chosen.info,
            consts: HashMap::new(),
            bound: BoundBatches::default(),
        };
        // Binds batch 1 now, so a model that cannot run fails at load, then the other buckets
        // a batch of up to `max_batch_size` rows runs at, so the first batch of a new bucket
        // does not stall the requests queued behind it.
        model.bound_for(1)?;
        let split = model.placement();
        tracing::debug!(
            model = %artifact.onnx_path().display(),
            device = %model.device.name,
            gpu_nodes = split.device_nodes,
            host_nodes = split.host_nodes,
            host_ops = %split.host_ops.join(", "),
            "GPU model placed: {} nodes on the device, {} on the host",
            split.device_nodes,
            split.host_nodes
        );
        if crate::bound::pads(&model.front.signature) {
            let top = crate::bound::bucket(options.max_batch_size);
            let mut size = 2;
            while size <= top && size < (1 << crate::bound::BOUND_BATCH_SIZES) {
                model.bound_for(size)?;
                size *= 2;
            }
        }
        Ok(model)
    }
}

impl Backend for GpuBackend {
    fn target(&self) -> Target {
        Target::Gpu
    }

    fn probe(&self) -> Result<(), AccelError> {
        platform::enumerate()?;
        self.check_cache()
    }

    /// Reads the model as the CPU target does (ops the kernels lack run on the host) and
    /// returns its signature.
    fn inspect(&self, artifact: &ModelArtifact) -> Result<Option<Signature>, AccelError> {
        if artifact.is_fpga_package() {
            return Err(AccelError::Unsupported {
                what: "FPGA packages (model.xclbin) on the gpu target".into(),
            });
        }
        Ok(Some(Front::load(artifact)?.signature))
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        match platform::enumerate() {
            Ok(found) => found.into_iter().map(|f| f.info).collect(),
            Err(e) => {
                let reason = match e {
                    AccelError::BackendUnavailable { reason, .. } => reason,
                    other => other.to_string(),
                };
                vec![DeviceInfo::unavailable(Target::Gpu, "opencl", reason)]
            }
        }
    }

    fn known_devices(&self) -> Option<Vec<DeviceInfo>> {
        platform::found().map(|found| found.into_iter().map(|f| f.info).collect())
    }

    fn load(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<Box<dyn LoadedModel>, AccelError> {
        Ok(Box::new(self.load_model(artifact, options)?))
    }
}

/// A model placed on one OpenCL device (with its host nodes).
pub struct GpuModel {
    front: Front,
    dev: Device,
    origin: ProgramOrigin,
    device: DeviceInfo,
    /// Constants on the device, uploaded once (named by content, shared by every batch size).
    consts: HashMap<String, DevBuf>,
    /// Plans bound to buffers, per batch size.
    bound: BoundBatches<(Plan, Bound)>,
}

impl GpuModel {
    /// Whether the program was compiled at this load or came from the cache.
    pub fn program_origin(&self) -> ProgramOrigin {
        self.origin
    }

    /// The device the model runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// The kernels one batch launches, in order (of the least recently used batch size).
    pub fn launches(&self) -> Vec<&'static str> {
        self.bound
            .oldest()
            .map(|(p, _)| p.steps.iter().map(|s| s.kernel).collect())
            .unwrap_or_default()
    }

    /// The kernels a batch of `batch` rows launches, in order, if that size is bound.
    pub fn launches_at(&self, batch: usize) -> Option<Vec<&'static str>> {
        self.bound.peek(batch).map(|(p, _)| p.steps.iter().map(|s| s.kernel).collect())
    }

    /// The batch sizes bound to device buffers now, least recently used first (power-of-two
    /// buckets, see [`LoadedModel::run`]).
    pub fn bound_batch_sizes(&self) -> Vec<usize> {
        self.bound.sizes()
    }

    /// How the graph splits between the device and the host (at the least recently used batch
    /// size; the split is the same at every size).
    pub fn placement(&self) -> Placement {
        self.bound.oldest().map(|(p, _)| p.split.clone()).unwrap_or_default()
    }

    /// Binds the plan for a batch size on first use.
    fn bound_for(&mut self, batch: usize) -> Result<(), AccelError> {
        let (front, dev, consts) = (&self.front, &self.dev, &mut self.consts);
        self.bound.get_or_bind(batch, |b| bind_plan(front, dev, consts, b))?;
        Ok(())
    }
}

/// The model with the batch bound to `batch` and shape arithmetic folded.
fn concrete(front: &Front, batch: usize) -> Result<Arc<TypedModel>, AccelError> {
    let Some(symbol) = &front.batch else { return Ok(Arc::new(front.decluttered.clone())) };
    let subs = HashMap::from([(symbol.clone(), TDim::Val(batch as i64))]);
    front.decluttered.set_symbols(&subs).and_then(|m| m.into_decluttered()).map(Arc::new).map_err(
        |e| AccelError::Unsupported {
            what: format!("planning the model at batch size {batch}: {e:#}"),
        },
    )
}

/// Places the model at `batch`, uploads the constants it reads and binds it to buffers.
fn bind_plan(
    front: &Front,
    dev: &Device,
    consts: &mut HashMap<String, DevBuf>,
    batch: usize,
) -> Result<(Plan, Bound), AccelError> {
    let placed = place::place(concrete(front, batch)?)?;
    exec::upload_consts(dev, &placed.plan, &placed.consts, consts)?;
    let bound = exec::bind(dev, &placed.plan, consts)?;
    Ok((placed.plan, bound))
}

impl LoadedModel for GpuModel {
    fn signature(&self) -> &Signature {
        &self.front.signature
    }

    /// Runs at the batch's power-of-two bucket (rows padded with zeros, outputs sliced back).
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        let (front, dev, consts, bound) =
            (&self.front, &self.dev, &mut self.consts, &mut self.bound);
        let outputs = crate::bound::padded_run(&front.signature, inputs, |batch, inputs| {
            let inputs = front.widen(inputs)?;
            let (plan, bound) = bound.get_or_bind(batch, |b| bind_plan(front, dev, consts, b))?;
            let values = inputs.into_iter().map(convert::to_tract).collect::<Result<_, _>>()?;
            exec::run(dev, plan, bound, consts, values)
        })?;
        front.narrow(outputs)
    }

    fn placement(&self) -> Option<Placement> {
        Some(GpuModel::placement(self))
    }
}
