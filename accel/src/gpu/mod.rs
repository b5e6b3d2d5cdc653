//! The GPU backend: ONNX graphs lowered to edgeserve's own OpenCL kernels (`kernels.cl`),
//! vendor-neutral through the OpenCL ICD loader (Intel, AMD, NVIDIA, Mali; PoCL on CPUs).
//!
//! Load reads the graph (`graph`), refuses unsupported ops by name, folds constants and fuses
//! (`optimize`), builds or loads the cached program (`program`) and plans batch sizes
//! (`lower`); `exec` binds plans to buffers made once per batch size and runs them. Batches run
//! at power-of-two buckets (`crate::bound::padded_run`), bound at load up to `max_batch_size`.

pub mod driver_cache;
mod exec;
mod graph;
mod lower;
mod optimize;
mod platform;
mod program;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;

pub use program::ProgramOrigin;

use self::exec::{Bound, DevBuf, Device};
use self::graph::{Graph, Port};
use self::lower::{Lowerer, Plan};
use crate::bound::BoundBatches;
use crate::{
    AccelError, Backend, DeviceInfo, LoadOptions, LoadedModel, ModelArtifact, Signature, Target,
    Tensor, TensorSpec, DYNAMIC,
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

    /// Loads a model, returning the concrete type (tests and benchmarks inspect it).
    pub fn load_model(
        &self,
        artifact: &ModelArtifact,
        options: &LoadOptions,
    ) -> Result<GpuModel, AccelError> {
        let path = artifact.onnx_path();
        let mut graph = Graph::load(&path)?;
        if let Some(node) = graph.nodes.iter().find(|n| !lower::supports(n)) {
            return Err(AccelError::UnsupportedOp { op: node.op.clone(), node: node.name.clone() });
        }
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

        let folded = optimize::fold_constants(&mut graph, &dev)?;
        let fused = optimize::fuse(&mut graph);
        tracing::info!(
            model = %path.display(),
            device = %chosen.info.name,
            folded,
            fused = %fused.join(", "),
            "GPU model lowered"
        );
        let signature = signature(&graph)?;
        let mut model = GpuModel {
            graph,
            dev,
            signature,
            origin,
            device: chosen.info,
            consts: HashMap::new(),
            bound: BoundBatches::default(),
            fused,
        };
        model.bound_for(1)?; // binds batch 1 now, so a model that cannot run fails at load
                             // Binds the other buckets a batch of up to `max_batch_size` rows runs at now, so the
                             // first batch of a new bucket does not stall the requests queued behind it.
        if crate::bound::pads(&model.signature) {
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

/// Input specs from the graph; output specs from plans at two batch sizes (a dimension that
/// follows the batch is dynamic).
fn signature(graph: &Graph) -> Result<Signature, AccelError> {
    let one = Lowerer::graph(graph, 1)?;
    let two = Lowerer::graph(graph, 2)?;
    let inputs = graph.inputs.iter().map(Port::spec).collect();
    let outputs = graph
        .outputs
        .iter()
        .zip(one.outputs.iter().zip(&two.outputs))
        .map(|(name, (a, b))| TensorSpec {
            name: name.clone(),
            dtype: a.dt.dtype(),
            shape: a
                .shape
                .iter()
                .zip(&b.shape)
                .map(|(&x, &y)| if x == y { x as i64 } else { DYNAMIC })
                .collect(),
        })
        .collect();
    Ok(Signature { inputs, outputs, zipmaps: Default::default() })
}

impl Backend for GpuBackend {
    fn target(&self) -> Target {
        Target::Gpu
    }

    fn probe(&self) -> Result<(), AccelError> {
        platform::enumerate()?;
        self.check_cache()
    }

    /// Reads the graph and checks every op lowers; the signature needs a device (`Ok(None)`).
    fn inspect(&self, artifact: &ModelArtifact) -> Result<Option<Signature>, AccelError> {
        if artifact.is_fpga_package() {
            return Err(AccelError::Unsupported {
                what: "FPGA packages (model.xclbin) on the gpu target".into(),
            });
        }
        let graph = Graph::load(&artifact.onnx_path())?;
        if let Some(node) = graph.nodes.iter().find(|n| !lower::supports(n)) {
            return Err(AccelError::UnsupportedOp { op: node.op.clone(), node: node.name.clone() });
        }
        Ok(None)
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

/// A model lowered onto one OpenCL device.
pub struct GpuModel {
    graph: Graph,
    dev: Device,
    signature: Signature,
    origin: ProgramOrigin,
    device: DeviceInfo,
    /// Constants on the device, uploaded once.
    consts: HashMap<String, DevBuf>,
    /// Plans bound to buffers, per batch size.
    bound: BoundBatches<(Plan, Bound)>,
    fused: Vec<String>,
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

    /// The kernels one batch launches, in order (after folding and fusion).
    pub fn launches(&self) -> Vec<&'static str> {
        self.bound
            .oldest()
            .map(|(p, _)| p.steps.iter().map(|s| s.kernel).collect())
            .unwrap_or_default()
    }

    /// The batch sizes bound to device buffers now, least recently used first (power-of-two
    /// buckets, see [`LoadedModel::run`]).
    pub fn bound_batch_sizes(&self) -> Vec<usize> {
        self.bound.sizes()
    }

    /// The fusions applied at load.
    pub fn fusions(&self) -> &[String] {
        &self.fused
    }

    /// Binds the plan for a batch size on first use.
    fn bound_for(&mut self, batch: usize) -> Result<(), AccelError> {
        let (graph, dev, consts) = (&self.graph, &self.dev, &mut self.consts);
        self.bound.get_or_bind(batch, |b| bind_plan(graph, dev, consts, b))?;
        Ok(())
    }
}

/// Lowers the graph at `batch`, uploads the constants it reads and binds it to buffers.
fn bind_plan(
    graph: &Graph,
    dev: &Device,
    consts: &mut HashMap<String, DevBuf>,
    batch: usize,
) -> Result<(Plan, Bound), AccelError> {
    let plan = Lowerer::graph(graph, batch)?;
    exec::upload_consts(dev, &plan, &graph.consts, consts)?;
    let bound = exec::bind(dev, &plan, consts)?;
    Ok((plan, bound))
}

impl LoadedModel for GpuModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Runs at the batch's power-of-two bucket (rows padded with zeros, outputs sliced back).
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        let (graph, dev, consts, bound) =
            (&self.graph, &self.dev, &mut self.consts, &mut self.bound);
        crate::bound::padded_run(&self.signature, inputs, |batch, inputs| {
            let (plan, bound) = bound.get_or_bind(batch, |b| bind_plan(graph, dev, consts, b))?;
            exec::run(dev, plan, bound, consts, &inputs)
        })
    }
}
