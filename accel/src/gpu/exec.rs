//! Binding plans to a device and running them: buffers and kernel objects are made once per
//! plan (per batch size) and reused; a run walks the plan's items in order on an in-order
//! queue: launches are enqueued, host nodes are evaluated by tract, and values are copied at the
//! boundaries (a download blocks until the launches before it are done).

use std::collections::HashMap;
use std::ptr;
use std::sync::Arc;

use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_COPY_HOST_PTR, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{cl_mem, CL_BLOCKING};

use tract_onnx::prelude::{TValue, TypedSimplePlan, TypedSimpleState};

use super::graph::{Dt, HostData, HostTensor};
use super::lower::{Arg, HostIn, Item, Output, Plan, Slot, Val};
use crate::cpu::convert;
use crate::{AccelError, Tensor, TensorData};

/// An OpenCL context, queue and built program on one device.
pub(crate) struct Device {
    pub context: Context,
    pub queue: CommandQueue,
    pub program: Program,
}

fn cl(call: &'static str) -> impl Fn(opencl3::error_codes::ClError) -> AccelError {
    move |e| AccelError::Internal(format!("OpenCL {call} failed: {e}"))
}

/// A typed device buffer.
pub(crate) enum DevBuf {
    F32(Buffer<f32>),
    I64(Buffer<i64>),
}

impl DevBuf {
    fn mem(&self) -> cl_mem {
        match self {
            DevBuf::F32(b) => b.get(),
            DevBuf::I64(b) => b.get(),
        }
    }

    /// An uninitialised buffer of `len` elements (at least one: OpenCL refuses empty buffers).
    pub(crate) fn alloc(context: &Context, dt: Dt, len: usize) -> Result<DevBuf, AccelError> {
        let len = len.max(1);
        // SAFETY: no host pointer is given; the buffer is owned by the returned value.
        unsafe {
            Ok(match dt {
                Dt::F32 => DevBuf::F32(
                    Buffer::create(context, CL_MEM_READ_WRITE, len, ptr::null_mut())
                        .map_err(cl("clCreateBuffer"))?,
                ),
                Dt::I64 => DevBuf::I64(
                    Buffer::create(context, CL_MEM_READ_WRITE, len, ptr::null_mut())
                        .map_err(cl("clCreateBuffer"))?,
                ),
            })
        }
    }

    /// A read-only buffer holding a constant.
    pub(crate) fn upload(context: &Context, t: &HostTensor) -> Result<DevBuf, AccelError> {
        if t.len() == 0 {
            return DevBuf::alloc(context, t.dt(), 1);
        }
        let flags = CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR;
        // SAFETY: COPY_HOST_PTR copies `len` elements from the live slice during the call.
        unsafe {
            Ok(match &t.data {
                HostData::F32(v) => DevBuf::F32(
                    Buffer::create(context, flags, v.len(), v.as_ptr() as *mut _)
                        .map_err(cl("clCreateBuffer"))?,
                ),
                HostData::I64(v) => DevBuf::I64(
                    Buffer::create(context, flags, v.len(), v.as_ptr() as *mut _)
                        .map_err(cl("clCreateBuffer"))?,
                ),
            })
        }
    }
}

/// A plan bound to a device: its buffers and its kernels with their arguments set, and tract's
/// state for the nodes that run on the host.
pub(crate) struct Bound {
    temps: Vec<DevBuf>,
    /// Kernels with their global work sizes.
    launches: Vec<(Kernel, usize)>,
    _metas: Vec<Buffer<i32>>,
    status: Option<Buffer<i32>>,
    /// The typed model's plan, for the nodes that run on the host.
    host: Option<Arc<TypedSimplePlan>>,
}

/// Uploads the constants a plan reads that are not on the device yet.
pub(crate) fn upload_consts(
    dev: &Device,
    plan: &Plan,
    graph_consts: &HashMap<String, HostTensor>,
    consts: &mut HashMap<String, DevBuf>,
) -> Result<(), AccelError> {
    for name in plan.consts() {
        if consts.contains_key(name) {
            continue;
        }
        let t = graph_consts
            .get(name)
            .or_else(|| plan.derived.iter().find(|(n, _)| n == name).map(|(_, t)| t))
            .ok_or_else(|| AccelError::Internal(format!("constant {name} is missing")))?;
        consts.insert(name.to_string(), DevBuf::upload(&dev.context, t)?);
    }
    Ok(())
}

/// Allocates a plan's buffers and creates its kernels with every argument set.
pub(crate) fn bind(
    dev: &Device,
    plan: &Plan,
    consts: &HashMap<String, DevBuf>,
) -> Result<Bound, AccelError> {
    let temps = plan
        .temps
        .iter()
        .map(|t| DevBuf::alloc(&dev.context, t.dt, t.len))
        .collect::<Result<Vec<_>, _>>()?;
    let status = if plan.uses_status {
        // SAFETY: no host pointer; owned by the Bound.
        Some(unsafe {
            Buffer::<i32>::create(&dev.context, CL_MEM_READ_WRITE, 1, ptr::null_mut())
                .map_err(cl("clCreateBuffer"))?
        })
    } else {
        None
    };
    let mut metas = Vec::new();
    let mut launches = Vec::with_capacity(plan.steps.len());
    for step in &plan.steps {
        let kernel = Kernel::create(&dev.program, step.kernel).map_err(cl("clCreateKernel"))?;
        for (ix, arg) in step.args.iter().enumerate() {
            let ix = ix as u32;
            let set = cl("clSetKernelArg");
            // SAFETY: every argument matches the kernel's parameter type in kernels.cl (a
            // cl_mem for buffers, int, float); buffers outlive the kernel in `Bound`.
            unsafe {
                match arg {
                    Arg::Buf(Slot::Temp(t)) => kernel.set_arg(ix, &temps[*t].mem()).map_err(set)?,
                    Arg::Buf(Slot::Const(name)) => {
                        let b = consts.get(name).ok_or_else(|| {
                            AccelError::Internal(format!("constant {name} is not on the device"))
                        })?;
                        kernel.set_arg(ix, &b.mem()).map_err(set)?
                    }
                    Arg::Int(v) => kernel.set_arg(ix, v).map_err(set)?,
                    Arg::Float(v) => kernel.set_arg(ix, v).map_err(set)?,
                    Arg::Meta(values) => {
                        let b = Buffer::<i32>::create(
                            &dev.context,
                            CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            values.len(),
                            values.as_ptr() as *mut _,
                        )
                        .map_err(cl("clCreateBuffer"))?;
                        kernel.set_arg(ix, &b.get()).map_err(set)?;
                        metas.push(b);
                    }
                    Arg::Status => {
                        let b = status
                            .as_ref()
                            .ok_or_else(|| AccelError::Internal("status buffer missing".into()))?;
                        kernel.set_arg(ix, &b.get()).map_err(set)?
                    }
                }
            }
        }
        launches.push((kernel, step.global));
    }
    let host = match &plan.typed {
        Some(model) => {
            let tract = |e: tract_onnx::prelude::TractError| {
                AccelError::Internal(format!("planning the host nodes: {e:#}"))
            };
            Some(TypedSimplePlan::new(model.clone()).map_err(tract)?)
        }
        None => None,
    };
    Ok(Bound { temps, launches, _metas: metas, status, host })
}

/// Runs a bound plan on `inputs` (tract values, in the model's input order).
pub(crate) fn run(
    dev: &Device,
    plan: &Plan,
    bound: &mut Bound,
    consts: &HashMap<String, DevBuf>,
    inputs: Vec<TValue>,
) -> Result<Vec<Tensor>, AccelError> {
    let q = &dev.queue;
    let mut values: Vec<Option<TValue>> = vec![None; plan.host_values.max(inputs.len())];
    for (slot, v) in values.iter_mut().zip(inputs) {
        *slot = Some(v);
    }
    if let Some(status) = bound.status.as_mut() {
        // SAFETY: a blocking one-element write.
        unsafe {
            q.enqueue_write_buffer(status, CL_BLOCKING, 0, &[0i32], &[])
                .map_err(cl("clEnqueueWriteBuffer"))?;
        }
    }
    let missing = |h: usize| AccelError::Internal(format!("host value {h} is not computed"));
    // tract's state for the host nodes, fresh for every run as tract's own `run` makes it: ops
    // with state (Scan's hidden state) must not carry it from one request to the next.
    let mut state: Option<TypedSimpleState> = None;
    for item in &plan.items {
        match item {
            Item::Launches(range) => {
                for (kernel, global) in &bound.launches[range.clone()] {
                    let global = [*global];
                    // SAFETY: all arguments were set at bind time; the work size is 1-D.
                    unsafe {
                        q.enqueue_nd_range_kernel(
                            kernel.get(),
                            1,
                            ptr::null(),
                            global.as_ptr(),
                            ptr::null(),
                            &[],
                        )
                        .map_err(cl("clEnqueueNDRangeKernel"))?;
                    }
                }
            }
            Item::Upload { host, temp } => {
                let v = values[*host].as_ref().ok_or_else(|| missing(*host))?;
                upload(q, &mut bound.temps[*temp], convert::from_tract(v)?)?;
            }
            Item::Download { from, host } => {
                let buf = device_buf(&bound.temps, consts, from)?;
                values[*host] = Some(convert::to_tract(read(q, buf, from)?)?);
            }
            Item::Host { node, inputs, outputs } => {
                let state = match &mut state {
                    Some(s) => s,
                    None => state.insert(host_state(bound.host.as_ref())?),
                };
                let ins = inputs
                    .iter()
                    .map(|i| match i {
                        HostIn::Value(h) => values[*h].clone().ok_or_else(|| missing(*h)),
                        HostIn::Const(t) => Ok(t.clone()),
                    })
                    .collect::<Result<_, _>>()?;
                state.compute_one_with_inputs(*node, ins).map_err(|e| {
                    AccelError::Internal(format!("host node of the GPU model failed: {e:#}"))
                })?;
                let outs = state.turn_state.values[*node].take().unwrap_or_default();
                if outs.len() != outputs.len() {
                    return Err(AccelError::Internal(format!(
                        "host node {node} gave {} outputs, not {}",
                        outs.len(),
                        outputs.len()
                    )));
                }
                for (h, v) in outputs.iter().zip(outs) {
                    values[*h] = Some(v);
                }
            }
        }
    }
    if let Some(status) = bound.status.as_ref() {
        let mut word = [0i32];
        // SAFETY: blocking read into a live one-element slice.
        unsafe {
            q.enqueue_read_buffer(status, CL_BLOCKING, 0, &mut word, &[])
                .map_err(cl("clEnqueueReadBuffer"))?;
        }
        if word[0] != 0 {
            return Err(AccelError::InvalidInput(
                "an index input is out of range for its Gather table".into(),
            ));
        }
    }
    let mut outputs = Vec::with_capacity(plan.outputs.len());
    for out in &plan.outputs {
        outputs.push(match out {
            Output::Device(v) => read(q, device_buf(&bound.temps, consts, v)?, v)?,
            Output::Host(h) => {
                convert::from_tract(values[*h].as_ref().ok_or_else(|| missing(*h))?)?
            }
            Output::Const(t) => convert::from_tract(t)?,
        });
    }
    q.finish().map_err(cl("clFinish"))?;
    Ok(outputs)
}

/// A new tract state for a plan's host nodes.
fn host_state(plan: Option<&Arc<TypedSimplePlan>>) -> Result<TypedSimpleState, AccelError> {
    let plan = plan.ok_or_else(|| AccelError::Internal("the host nodes have no plan".into()))?;
    let mut state = TypedSimpleState::new(plan)
        .map_err(|e| AccelError::Internal(format!("tract state for the host nodes: {e:#}")))?;
    state.turn_state.values = vec![None; plan.model().nodes().len()];
    Ok(state)
}

/// The buffer a device value lives in.
fn device_buf<'a>(
    temps: &'a [DevBuf],
    consts: &'a HashMap<String, DevBuf>,
    v: &Val,
) -> Result<&'a DevBuf, AccelError> {
    match &v.slot {
        Slot::Temp(t) => Ok(&temps[*t]),
        Slot::Const(name) => consts
            .get(name)
            .ok_or_else(|| AccelError::Internal(format!("constant {name} is missing"))),
    }
}

/// Copies a host tensor into a plan buffer (blocking).
fn upload(q: &CommandQueue, buf: &mut DevBuf, t: Tensor) -> Result<(), AccelError> {
    // SAFETY: blocking writes of exactly the tensor's elements into a buffer sized for them
    // (plans size upload buffers from the value's concrete shape).
    unsafe {
        match (buf, t.data()) {
            (DevBuf::F32(b), TensorData::F32(v)) if !v.is_empty() => {
                q.enqueue_write_buffer(b, CL_BLOCKING, 0, v, &[])
                    .map_err(cl("clEnqueueWriteBuffer"))?;
            }
            (DevBuf::I64(b), TensorData::I64(v)) if !v.is_empty() => {
                q.enqueue_write_buffer(b, CL_BLOCKING, 0, v, &[])
                    .map_err(cl("clEnqueueWriteBuffer"))?;
            }
            (_, d) if d.is_empty() => {}
            (_, d) => {
                return Err(AccelError::InvalidInput(format!(
                    "input of type {} does not fit the model",
                    d.dtype()
                )))
            }
        }
    }
    Ok(())
}

fn read(q: &CommandQueue, buf: &DevBuf, out: &Val) -> Result<Tensor, AccelError> {
    let len = out.len();
    // SAFETY: blocking reads of `len` elements, which the buffer holds (plans size them).
    let data = unsafe {
        match buf {
            DevBuf::F32(b) => {
                let mut v = vec![0f32; len];
                if len > 0 {
                    q.enqueue_read_buffer(b, CL_BLOCKING, 0, &mut v, &[])
                        .map_err(cl("clEnqueueReadBuffer"))?;
                }
                TensorData::F32(v)
            }
            DevBuf::I64(b) => {
                let mut v = vec![0i64; len];
                if len > 0 {
                    q.enqueue_read_buffer(b, CL_BLOCKING, 0, &mut v, &[])
                        .map_err(cl("clEnqueueReadBuffer"))?;
                }
                TensorData::I64(v)
            }
        }
    };
    Tensor::new(out.shape.clone(), data)
}
