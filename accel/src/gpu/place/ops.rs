//! The device ops: which tract typed ops lower to OpenCL launches, and how. [`decide`] is pure
//! (it reads the node and its facts), so placement knows a node runs on the device before any
//! launch or copy is emitted; [`lower`] then emits it.

use tract_onnx::pb::AttributeProto;
use tract_onnx::prelude::{Node as TractNode, OutletId, TypedFact, TypedModel, TypedOp};
use tract_onnx::tract_core::ops::array::{
    Gather, MultiBroadcastTo, Pad, PadMode, Slice, TypedConcat,
};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::conv::KernelFormat;
use tract_onnx::tract_core::ops::cnn::{Conv, MaxPool, PaddingSpec, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::downsample::Downsample;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::PowConst;
use tract_onnx::tract_core::ops::nn::resize::Resize as TractResize;
use tract_onnx::tract_core::ops::nn::rms_norm::RmsNorm as TractRmsNorm;
use tract_onnx::tract_core::ops::nn::{
    DataFormat, LeakyRelu, Reduce, Reducer, Softmax, SoftmaxKind,
};

use super::{device_dt, outlet_name};
use crate::gpu::graph::{Dt, HostData, HostTensor, Node};
use crate::gpu::lower::elementwise::{binary_code, unary_code};
use crate::gpu::lower::{self, strides, Arg, Lowerer, Slot, Val, MAX_RANK};
use crate::AccelError;

type TNode = TractNode<TypedFact, Box<dyn TypedOp>>;

/// How one node runs on the device.
enum Lowering {
    /// An ONNX-style op of `lower` (element-wise, Conv, pools, Concat, Gather, Cast). `bias`:
    /// Conv's output channels (its bias is made `[M]`); `unbatched`: a CHW convolution or pool
    /// (tract drops the batch axis at batch 1), run as NCHW with N = 1.
    Onnx { op: String, attrs: Vec<AttributeProto>, bias: Option<usize>, unbatched: bool },
    /// A strided matrix product (EinSum with at most one contracted axis).
    MatMul(Box<MatMulShape>),
    /// A reduction over contiguous axes: `[outer, len, inner]`, `unary_f32`-style op code.
    Reduce { len: usize, inner: usize, op: i32 },
    /// Softmax over one axis of `[outer, len, inner]`.
    Softmax { len: usize, inner: usize },
    /// The input's buffer under a new shape (axis insertions, removals, reshapes).
    Alias,
    /// A strided view of the input: per output axis, the input stride; and a base offset.
    View { strides: Vec<isize>, offset: isize },
    /// RMS normalisation over the middle axis of `[outer, len, inner]`.
    RmsNorm { len: usize, inner: usize, eps: f32 },
    /// ArgMax (op 0) or ArgMin (op 1) over the middle axis of `[outer, len, inner]`.
    ArgReduce { len: usize, inner: usize, op: i32, last: bool },
    /// Constant padding (f32).
    Pad { before: Vec<usize>, value: f32 },
    /// Resize, one resampling launch per axis whose size changes (tract's per-axis plans).
    Resize(Vec<ResampleAxis>),
}

/// One axis of a Resize: `[outer, len_in, inner] -> [outer, len_out, inner]` with `window`
/// taps per output position.
struct ResampleAxis {
    axis: usize,
    len_out: usize,
    window: usize,
    indices: Vec<i64>,
    weights: Vec<f32>,
}

/// An EinSum as a batched product: batch axes with per-operand strides, then M, N, K.
struct MatMulShape {
    batch: Vec<usize>,
    sa: Vec<usize>,
    sb: Vec<usize>,
    sy: Vec<usize>,
    mnk: [usize; 3],
    /// [a_m, a_k, b_k, b_n, y_m, y_n, nk, kdims[4], ka[4], kb[4]] (see `matmul_strided`)
    s: [usize; 19],
}

/// Whether a product runs 8 outputs per work item (`matmul_rows8`): B and Y contiguous along N,
/// one contracted axis, N of 8 or more.
fn use_rows8(mm: &MatMulShape) -> bool {
    let [_, n, _] = mm.mnk;
    mm.s[6] <= 1 && mm.s[3] == 1 && mm.s[5] == 1 && n >= 8
}

/// Most contracted axes a product runs over on the device (after merging contiguous ones).
const MAX_K_AXES: usize = 4;

fn facts<'m>(model: &'m TypedModel, outlets: &[OutletId]) -> Option<Vec<&'m TypedFact>> {
    outlets.iter().map(|o| model.outlet_fact(*o).ok()).collect()
}

/// The inputs a node's kernels read: all, but Resize's scales or sizes (constants folded into
/// its per-axis plans at placement).
pub(super) fn device_inputs(node: &TNode) -> &[OutletId] {
    if node.op_is::<TractResize>() {
        &node.inputs[..node.inputs.len().min(1)]
    } else {
        &node.inputs
    }
}

/// Whether every input the kernels read and every output of `node` is f32 or i64 with a
/// concrete shape.
pub(super) fn fits_device(model: &TypedModel, node: &TNode) -> bool {
    let Some(inputs) = facts(model, device_inputs(node)) else { return false };
    // Kernels index with 32-bit ints and handle ranks up to MAX_RANK.
    let ok = |f: &TypedFact| {
        device_dt(f.datum_type).is_some()
            && f.shape.as_concrete().is_some_and(|s| {
                s.len() <= MAX_RANK
                    && s.iter()
                        .try_fold(1usize, |n, &d| n.checked_mul(d))
                        .is_some_and(|n| n < 1 << 31)
            })
    };
    !node.outputs.is_empty()
        && inputs.into_iter().all(ok)
        && node.outputs.iter().all(|o| ok(&o.fact))
}

/// Whether `node` has a device lowering (call after [`fits_device`]).
pub(super) fn lowers(model: &TypedModel, node: &TNode) -> bool {
    decide(model, node).is_some()
}

fn shape(model: &TypedModel, o: OutletId) -> &[usize] {
    model.outlet_fact(o).ok().and_then(|f| f.shape.as_concrete()).unwrap_or(&[])
}

fn dt(model: &TypedModel, o: OutletId) -> Option<Dt> {
    model.outlet_fact(o).ok().and_then(|f| device_dt(f.datum_type))
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: v, ..Default::default() }
}

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.iter().map(|&x| x as i64).collect(),
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f: v, ..Default::default() }
}

fn onnx(op: &str, attrs: Vec<AttributeProto>) -> Option<Lowering> {
    Some(Lowering::Onnx { op: op.into(), attrs, bias: None, unbatched: false })
}

/// A spatial op's shapes as NCHW: CHW ones get N = 1.
fn nchw(spec: &PoolSpec, x: &[usize], out: &[usize]) -> Option<(Vec<usize>, Vec<usize>, bool)> {
    match spec.data_format {
        DataFormat::NCHW => Some((x.to_vec(), out.to_vec(), false)),
        DataFormat::CHW => {
            let one = |s: &[usize]| [&[1][..], s].concat();
            Some((one(x), one(out), true))
        }
        _ => None,
    }
}

/// Decides how `node` runs on the device, or `None` (it stays on the host).
fn decide(model: &TypedModel, node: &TNode) -> Option<Lowering> {
    let in0 = *node.inputs.first()?;
    let x = shape(model, in0);
    let out = node.outputs[0].fact.shape.as_concrete()?;
    let f32_in = dt(model, in0) == Some(Dt::F32);
    if node.outputs.len() != 1 {
        return None;
    }
    if let Some(op) = node.op_as::<TypedBinOp>() {
        let name = op.0.name();
        let code = binary_code(name)?;
        let same = dt(model, node.inputs[1]) == dt(model, in0);
        return (op.1.is_none() && same && (code != 6 || f32_in)).then(|| onnx(name, vec![]))?;
    }
    if let Some(op) = node.op_as::<ElementWiseOp>() {
        if op.1.is_some() || !f32_in {
            return None;
        }
        if let Some(l) = op.0.downcast_ref::<LeakyRelu>() {
            return onnx("LeakyRelu", vec![float("alpha", l.alpha)]);
        }
        if let Some(p) = op.0.downcast_ref::<PowConst>() {
            return onnx("PowConst", vec![float("exponent", p.exponent)]);
        }
        let name = op.0.name();
        return unary_code(&name).and_then(|_| onnx(&name, vec![]));
    }
    if let Some(op) = node.op_as::<EinSum>() {
        return einsum(model, node, op).map(|m| Lowering::MatMul(Box::new(m)));
    }
    if let Some(op) = node.op_as::<Conv>() {
        return conv(model, node, op);
    }
    if let Some(op) = node.op_as::<MaxPool>() {
        if op.with_index_outputs.is_some() || !f32_in {
            return None;
        }
        return pool("MaxPool", &op.pool_spec, x, out, vec![]);
    }
    if let Some(op) = node.op_as::<SumPool>() {
        if !op.normalize || !f32_in {
            return None;
        }
        let include = int("count_include_pad", op.count_include_pad as i64);
        return pool("AveragePool", &op.pool_spec, x, out, vec![include]);
    }
    if let Some(op) = node.op_as::<Reduce>() {
        if let (Reducer::ArgMax(last) | Reducer::ArgMin(last), [axis]) =
            (op.reducer, op.axes.as_slice())
        {
            let code = if matches!(op.reducer, Reducer::ArgMax(_)) { 0 } else { 1 };
            return (f32_in && *axis < x.len()).then(|| Lowering::ArgReduce {
                len: x[*axis],
                inner: x[axis + 1..].iter().product(),
                op: code,
                last,
            });
        }
        let code = match op.reducer {
            Reducer::Sum => 0,
            Reducer::Max => 1,
            Reducer::Min => 2,
            Reducer::Prod => 3,
            Reducer::MeanOfSquares => 4,
            _ => return None,
        };
        let mut axes: Vec<usize> = op.axes.to_vec();
        axes.sort_unstable();
        let (&first, &last) = (axes.first()?, axes.last()?);
        if !f32_in || last - first + 1 != axes.len() || last >= x.len() {
            return None;
        }
        let len = x[first..=last].iter().product();
        let inner = x[last + 1..].iter().product();
        return Some(Lowering::Reduce { len, inner, op: code });
    }
    if let Some(op) = node.op_as::<Softmax>() {
        let [axis] = op.axes.as_slice() else { return None };
        if op.quant_output_dt.is_some() || op.kind != SoftmaxKind::Softmax || !f32_in {
            return None;
        }
        return Some(Lowering::Softmax { len: x[*axis], inner: x[axis + 1..].iter().product() });
    }
    if let Some(op) = node.op_as::<AxisOp>() {
        return match op {
            AxisOp::Add(_) | AxisOp::Rm(_) | AxisOp::Reshape(..) => Some(Lowering::Alias),
            AxisOp::Move(from, to) => {
                let mut perm: Vec<usize> = (0..x.len()).collect();
                let moved = perm.remove(*from);
                perm.insert(*to, moved);
                let s = strides(x);
                Some(Lowering::View {
                    strides: perm.iter().map(|&p| s[p] as isize).collect(),
                    offset: 0,
                })
            }
        };
    }
    if let Some(op) = node.op_as::<TypedConcat>() {
        return onnx("Concat", vec![int("axis", op.axis as i64)]);
    }
    if let Some(op) = node.op_as::<Gather>() {
        let idx_i64 = dt(model, *node.inputs.get(1)?) == Some(Dt::I64);
        return (op.output_type.is_none() && idx_i64)
            .then(|| onnx("Gather", vec![int("axis", op.axis as i64)]))?;
    }
    if let Some(op) = node.op_as::<Cast>() {
        let to = match device_dt(op.to)? {
            Dt::F32 => 1,
            Dt::I64 => 7,
        };
        return onnx("Cast", vec![int("to", to)]);
    }
    if let Some(op) = node.op_as::<Slice>() {
        let start = op.start.to_i64().ok()? as isize;
        let s = strides(x);
        return Some(Lowering::View {
            strides: s.iter().map(|&v| v as isize).collect(),
            offset: start * s.get(op.axis).copied()? as isize,
        });
    }
    if let Some(op) = node.op_as::<Downsample>() {
        if op.stride <= 0 {
            return None;
        }
        let s = strides(x);
        let mut st: Vec<isize> = s.iter().map(|&v| v as isize).collect();
        *st.get_mut(op.axis)? *= op.stride;
        return Some(Lowering::View { strides: st, offset: (op.modulo * s[op.axis]) as isize });
    }
    if let Some(op) = node.op_as::<TractRmsNorm>() {
        let eps = op.eps.cast_to_scalar::<f32>().ok()?;
        return (f32_in && op.axis < x.len()).then(|| Lowering::RmsNorm {
            len: x[op.axis],
            inner: x[op.axis + 1..].iter().product(),
            eps,
        });
    }
    if let Some(op) = node.op_as::<Pad>() {
        let PadMode::Constant(v) = &op.mode else { return None };
        let value = v.cast_to_scalar::<f32>().ok()?;
        let fits = f32_in && op.pads.len() == x.len() && x.len() <= MAX_RANK;
        return fits
            .then(|| Lowering::Pad { before: op.pads.iter().map(|p| p.0).collect(), value });
    }
    if let Some(op) = node.op_as::<TractResize>() {
        return resize(model, node, op, x, out);
    }
    if node.op_is::<MultiBroadcastTo>() {
        let bs = lower::broadcast_strides(x, out);
        return Some(Lowering::View {
            strides: bs.iter().map(|&v| v as isize).collect(),
            offset: 0,
        });
    }
    None
}

/// Resize (f32, scales or sizes constant) as tract computes it, axis by axis.
fn resize(
    model: &TypedModel,
    node: &TNode,
    op: &TractResize,
    x: &[usize],
    out: &[usize],
) -> Option<Lowering> {
    if dt(model, node.inputs[0]) != Some(Dt::F32) || x.len() != out.len() {
        return None;
    }
    let konst = |ix: Option<usize>| {
        ix.and_then(|i| node.inputs.get(i)).and_then(|o| model.outlet_fact(*o).ok()?.konst.clone())
    };
    let scales: Vec<f32> = match konst(op.optional_scales_input) {
        Some(t) if t.len() == x.len() => {
            t.cast_to::<f32>().ok()?.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec()
        }
        _ => out.iter().zip(x).map(|(o, i)| *o as f32 / *i as f32).collect(),
    };
    let mut axes = Vec::new();
    for (axis, &scale) in scales.iter().enumerate() {
        let (len_in, len_out) = (x[axis], out[axis]);
        if len_in == len_out && scale == 1.0 {
            continue;
        }
        let plan = op.plan_axis(scale, len_in, len_out);
        axes.push(ResampleAxis {
            axis,
            len_out,
            window: plan.window,
            indices: plan.indices.iter().map(|&i| i as i64).collect(),
            weights: plan.weights,
        });
    }
    Some(Lowering::Resize(axes))
}

/// Conv as ONNX's (NCHW data, OIHW weights, 2-D, float), with explicit pads.
fn conv(model: &TypedModel, node: &TNode, op: &Conv) -> Option<Lowering> {
    let spec = &op.pool_spec;
    if op.q_params.is_some() || op.kernel_fmt != KernelFormat::OIHW || node.inputs.len() != 3 {
        return None;
    }
    let x = shape(model, node.inputs[0]);
    let out = node.outputs[0].fact.shape.as_concrete()?;
    let Lowering::Onnx { mut attrs, unbatched, .. } = pool("Conv", spec, x, out, vec![])? else {
        return None;
    };
    attrs.push(int("group", op.group as i64));
    let m = out[out.len() - 3];
    let bias = shape(model, node.inputs[2]);
    let bias_ok = bias == [m] || bias.iter().product::<usize>() == 1;
    bias_ok.then_some(Lowering::Onnx { op: "Conv".into(), attrs, bias: Some(m), unbatched })
}

/// The window attributes (kernel, strides, dilations, explicit pads) of a 2-D NCHW op whose
/// output shape they must reproduce.
fn pool(
    op: &str,
    spec: &PoolSpec,
    x: &[usize],
    out: &[usize],
    mut attrs: Vec<AttributeProto>,
) -> Option<Lowering> {
    let (x, out, unbatched) = nchw(spec, x, out)?;
    let (x, out) = (x.as_slice(), out.as_slice());
    if x.len() != 4 || out.len() != 4 || spec.kernel_shape.len() != 2 {
        return None;
    }
    let (dil, st) = (spec.dilations(), spec.strides());
    let (ceil, pads) = match &spec.padding {
        PaddingSpec::ExplicitOnnxPool(b, a, ceil) => (*ceil, [b[0], b[1], a[0], a[1]]),
        padding => {
            let p = padding.compute(&x[2..], &spec.kernel_shape, &dil, &st);
            (false, [p[0].pad_before, p[1].pad_before, p[0].pad_after, p[1].pad_after])
        }
    };
    // The output size the kernels compute must be the one tract typed.
    for d in 0..2 {
        let span = dil[d] * (spec.kernel_shape[d] - 1) + 1;
        let padded = x[2 + d] + pads[d] + pads[d + 2];
        let steps = padded.checked_sub(span)?;
        let size = if ceil { steps.div_ceil(st[d]) + 1 } else { steps / st[d] + 1 };
        if size != out[2 + d] {
            return None;
        }
    }
    if op != "Conv" && dil.iter().any(|&d| d != 1) {
        return None;
    }
    attrs.extend([
        ints("kernel_shape", &spec.kernel_shape),
        ints("strides", &st),
        ints("dilations", &dil),
        ints("pads", &pads),
        int("ceil_mode", ceil as i64),
    ]);
    Some(Lowering::Onnx { op: op.into(), attrs, bias: None, unbatched })
}

/// An EinSum with two f32 operands, one output and at most one contracted axis.
fn einsum(model: &TypedModel, node: &TNode, op: &EinSum) -> Option<MatMulShape> {
    if op.q_params.is_some() || node.inputs.len() != 2 {
        return None;
    }
    let (a, b) = (shape(model, node.inputs[0]), shape(model, node.inputs[1]));
    let y = node.outputs[0].fact.shape.as_concrete()?;
    if dt(model, node.inputs[0]) != Some(Dt::F32) || dt(model, node.inputs[1]) != Some(Dt::F32) {
        return None;
    }
    let (sa, sb, sy) = (strides(a), strides(b), strides(y));
    let mut m = None;
    let mut n = None;
    let mut ks: Vec<(usize, usize, usize)> = Vec::new();
    let mut batch = MatMulShape {
        batch: vec![],
        sa: vec![],
        sb: vec![],
        sy: vec![],
        mnk: [1, 1, 1],
        s: [0; 19],
    };
    for axis in op.axes.iter_all_axes() {
        let one = |v: &[usize]| v.len() <= 1;
        if axis.inputs.len() != 2 || !one(&axis.inputs[0]) || !one(&axis.inputs[1]) {
            return None;
        }
        let pa = axis.inputs[0].first().copied();
        let pb = axis.inputs[1].first().copied();
        let py = axis.outputs.first().and_then(|o| o.first()).copied();
        // tract's EinSum broadcasts: an operand of size 1 along an axis others have longer is
        // read with stride 0 there; the output has the longer size.
        let sizes = [pa.map(|p| a[p]), pb.map(|p| b[p]), py.map(|p| y[p])];
        let dim = sizes.iter().flatten().copied().max()?;
        if dim == 1 {
            continue; // a unit axis adds no offset in any operand
        }
        if sizes.iter().flatten().any(|&d| d != 1 && d != dim) || sizes[2].is_some_and(|d| d != dim)
        {
            return None;
        }
        let st = |s: &[usize], p: Option<usize>, size: Option<usize>| match (p, size) {
            (Some(p), Some(d)) if d == dim => s[p],
            _ => 0,
        };
        let (st_a, st_b, st_y) =
            (st(&sa, pa, sizes[0]), st(&sb, pb, sizes[1]), st(&sy, py, sizes[2]));
        match (pa, pb, py) {
            // A contraction over a broadcast axis would sum one operand's value `dim` times.
            (Some(_), Some(_), None) if sizes[0] != sizes[1] => return None,
            (Some(_), Some(_), None) => ks.push((dim, st_a, st_b)),
            (Some(_), None, Some(_)) if m.is_none() => m = Some((dim, st_a, st_y)),
            (None, Some(_), Some(_)) if n.is_none() => n = Some((dim, st_b, st_y)),
            (_, _, Some(_)) => {
                batch.batch.push(dim);
                batch.sa.push(st_a);
                batch.sb.push(st_b);
                batch.sy.push(st_y);
            }
            _ => return None, // summed over in one operand only
        }
    }
    if batch.batch.len() > MAX_RANK {
        return None;
    }
    let (mm, am, ym) = m.unwrap_or((1, 0, 0));
    let (nn, bn, yn) = n.unwrap_or((1, 0, 0));
    // Contracted axes merge into one when they are contiguous in both operands (a reshape
    // tract moved into the product), outermost first.
    ks.sort_by_key(|k| std::cmp::Reverse(k.1));
    let mut merged: Vec<(usize, usize, usize)> = Vec::new();
    for (dim, a_s, b_s) in ks {
        match merged.last_mut() {
            Some((d, a0, b0)) if *a0 == a_s * dim && *b0 == b_s * dim => {
                *d *= dim;
                (*a0, *b0) = (a_s, b_s);
            }
            _ => merged.push((dim, a_s, b_s)),
        }
    }
    if merged.len() > MAX_K_AXES {
        return None;
    }
    let kk = merged.iter().map(|k| k.0).product();
    let (ak, bk) = merged.first().map(|k| (k.1, k.2)).unwrap_or((0, 0));
    batch.mnk = [mm, nn, kk];
    batch.s[..7].copy_from_slice(&[am, ak, bk, bn, ym, yn, merged.len()]);
    for (i, (d, a_s, b_s)) in merged.into_iter().enumerate() {
        batch.s[7 + i] = d;
        batch.s[11 + i] = a_s;
        batch.s[15 + i] = b_s;
    }
    Some(batch)
}

fn bad(node: &TNode, what: impl std::fmt::Display) -> AccelError {
    AccelError::Internal(format!("lowering {} ({}) for the GPU: {what}", node.name, node.op.name()))
}

fn i32s(node: &TNode, v: impl IntoIterator<Item = isize>) -> Result<Vec<i32>, AccelError> {
    v.into_iter()
        .map(|x| i32::try_from(x).map_err(|_| bad(node, format!("{x} is over 2^31"))))
        .collect()
}

/// Emits the launches of a node [`decide`] placed on the device.
/// The Relu fusions of a graph: for each `max(x, 0)` node (tract's Relu) whose `x` is the only
/// use of a Conv's or EinSum's output, that producer. The producer then applies the Relu itself
/// and the Max node reads its output (one launch less).
pub(super) fn relu_fusions(model: &TypedModel) -> std::collections::HashMap<usize, usize> {
    let mut found = std::collections::HashMap::new();
    let outputs = model.output_outlets().map(|o| o.to_vec()).unwrap_or_default();
    for node in model.nodes() {
        let Some(op) = node.op_as::<TypedBinOp>() else { continue };
        if op.0.name() != "Max" || op.1.is_some() || node.inputs.len() != 2 {
            continue;
        }
        let is_zero =
            |o: &OutletId| {
                model.outlet_fact(*o).ok().and_then(|f| f.konst.clone()).is_some_and(|k| {
                    k.len() == 1 && k.cast_to_scalar::<f32>().is_ok_and(|v| v == 0.0)
                })
            };
        let x = match (is_zero(&node.inputs[0]), is_zero(&node.inputs[1])) {
            (false, true) => node.inputs[0],
            (true, false) => node.inputs[1],
            _ => continue,
        };
        let producer = model.node(x.node);
        let fusable = producer.op_is::<Conv>() || producer.op_is::<EinSum>();
        let single_use = producer.outputs.len() == 1
            && producer.outputs[0].successors.len() == 1
            && !outputs.contains(&x);
        let same_shape = shape(model, x) == node.outputs[0].fact.shape.as_concrete().unwrap_or(&[]);
        if fusable && single_use && same_shape && dt(model, x) == Some(Dt::F32) {
            found.insert(node.id, producer.id);
        }
    }
    found
}

/// Emits the launches of a node [`decide`] placed on the device; `relu`: the node applies a
/// Relu to its output (a fusion of [`relu_fusions`]; Conv and EinSum only).
pub(super) fn lower(
    l: &mut Lowerer,
    model: &TypedModel,
    node: &TNode,
    relu: bool,
) -> Result<(), AccelError> {
    let how = decide(model, node).ok_or_else(|| bad(node, "no device lowering"))?;
    let inputs: Vec<Val> = device_inputs(node)
        .iter()
        .map(|&o| {
            l.value(&outlet_name(o))
                .ok_or_else(|| bad(node, format!("input {o:?} is not on the device")))
        })
        .collect::<Result<_, _>>()?;
    let out_name = outlet_name(OutletId::new(node.id, 0));
    let out_shape = node.outputs[0].fact.shape.as_concrete().unwrap_or(&[]).to_vec();
    let out_dt =
        device_dt(node.outputs[0].fact.datum_type).ok_or_else(|| bad(node, "output type"))?;
    let x = inputs[0].clone();
    match how {
        Lowering::Onnx { op, attrs, bias, unbatched } => {
            let mut names: Vec<String> = node.inputs.iter().map(|&o| outlet_name(o)).collect();
            if unbatched {
                let name = format!("{}#nchw", names[0]);
                let shape = [&[1][..], &x.shape].concat();
                l.set_value(name.clone(), Val { slot: x.slot.clone(), dt: x.dt, shape });
                names[0] = name;
            }
            if let Some(m) = bias {
                // Conv bias as [M]: a scalar bias (tract's default 0) becomes a derived constant.
                let b = &inputs[2];
                if b.shape != [m] {
                    let Slot::Const(c) = &b.slot else {
                        return Err(bad(node, "a computed scalar bias"));
                    };
                    let v = l.const_f32(c).ok_or_else(|| bad(node, "bias"))?;
                    let t = HostTensor { shape: vec![m], data: HostData::F32(vec![v; m]) };
                    let slot = l.derived_named(&node.name, "bias", t);
                    let name = format!("{}#bias", node.name);
                    l.set_value(name.clone(), Val { slot, dt: Dt::F32, shape: vec![m] });
                    names[2] = name;
                }
            }
            let onnx = Node {
                op: op.clone(),
                name: node.name.clone(),
                inputs: names,
                outputs: vec![out_name.clone()],
                attrs,
                fused_relu: relu,
            };
            lower::lower_onnx(l, &onnx)?;
            if unbatched {
                // Back to tract's CHW shape (the same buffer).
                let y = l.value(&out_name).ok_or_else(|| bad(node, "output not computed"))?;
                l.set_value(out_name, Val { shape: out_shape, ..y });
            }
        }
        Lowering::MatMul(mm) => {
            let y = l.temp(Dt::F32, out_shape);
            let rank = mm.batch.len();
            let mut meta = vec![0i32; 1 + 4 * MAX_RANK];
            meta[0] = rank as i32;
            for i in 0..rank {
                for (j, v) in [&mm.batch, &mm.sa, &mm.sb, &mm.sy].iter().enumerate() {
                    meta[1 + j * MAX_RANK + i] = i32s(node, [v[i] as isize])?[0];
                }
            }
            let s = i32s(node, mm.s.iter().map(|&v| v as isize))?;
            let total = y.len();
            let [m, n, k] = mm.mnk;
            // Both kernels take the same arguments; `items` is their work-item count.
            let (kernel, items) = if use_rows8(&mm) {
                ("matmul_rows8", total / n.max(1) * n.div_ceil(8))
            } else {
                ("matmul_strided", total)
            };
            let ints = i32s(node, [m, n, k, items].iter().map(|&v| v as isize))?;
            let args = vec![
                Arg::Buf(inputs[0].slot.clone()),
                Arg::Buf(inputs[1].slot.clone()),
                Arg::Buf(y.slot.clone()),
                Arg::Meta(meta),
                Arg::Meta(s),
                Arg::Int(ints[0]),
                Arg::Int(ints[1]),
                Arg::Int(ints[2]),
                Arg::Int(relu as i32),
                Arg::Int(ints[3]),
            ];
            l.launch_named(&node.name, kernel, items, args);
            l.set_value(out_name, y);
        }
        Lowering::Reduce { len, inner, op } => {
            let n = out_shape.iter().product();
            let y = along_axis(
                l,
                node,
                &x,
                out_shape,
                Dt::F32,
                "reduce_f32",
                [len, inner, n],
                vec![Arg::Int(op)],
            )?;
            l.set_value(out_name, y);
        }
        Lowering::Softmax { len, inner } => {
            let n = out_shape.iter().product::<usize>() / len.max(1);
            let y =
                along_axis(l, node, &x, out_shape, Dt::F32, "softmax", [len, inner, n], vec![])?;
            l.set_value(out_name, y);
        }
        Lowering::Alias => {
            l.set_value(out_name, Val { slot: x.slot, dt: out_dt, shape: out_shape });
        }
        Lowering::View { strides, offset } => {
            if out_shape.len() > MAX_RANK {
                return Err(bad(node, format!("rank {} is over {MAX_RANK}", out_shape.len())));
            }
            let mut meta = vec![0i32; 1 + 3 * MAX_RANK];
            meta[0] = out_shape.len() as i32;
            for (i, (&d, &s)) in out_shape.iter().zip(&strides).enumerate() {
                meta[1 + i] = i32s(node, [d as isize])?[0];
                meta[1 + MAX_RANK + i] = i32s(node, [s])?[0];
            }
            let y = l.temp(out_dt, out_shape);
            let n = y.len();
            let kernel = if out_dt == Dt::F32 { "view_f32" } else { "view_i64" };
            let args = vec![
                Arg::Buf(x.slot),
                Arg::Buf(y.slot.clone()),
                Arg::Meta(meta),
                Arg::Int(i32s(node, [offset])?[0]),
                Arg::Int(to_i32_checked(node, n)?),
            ];
            l.launch_named(&node.name, kernel, n, args);
            l.set_value(out_name, y);
        }
        Lowering::RmsNorm { len, inner, eps } => {
            let n = out_shape.iter().product::<usize>() / len.max(1);
            let extra = vec![Arg::Float(eps)];
            let y = along_axis(
                l,
                node,
                &x,
                out_shape,
                Dt::F32,
                "rms_norm_f32",
                [len, inner, n],
                extra,
            )?;
            l.set_value(out_name, y);
        }
        Lowering::ArgReduce { len, inner, op, last } => {
            let n = out_shape.iter().product();
            let extra = vec![Arg::Int(op), Arg::Int(last as i32)];
            let y = along_axis(
                l,
                node,
                &x,
                out_shape,
                Dt::I64,
                "arg_reduce_f32",
                [len, inner, n],
                extra,
            )?;
            l.set_value(out_name, y);
        }
        Lowering::Pad { before, value } => {
            let mut meta = vec![0i32; 1 + 3 * MAX_RANK];
            meta[0] = out_shape.len() as i32;
            for (d, ((&o, &i), &b)) in out_shape.iter().zip(&x.shape).zip(&before).enumerate() {
                let v = i32s(node, [o as isize, i as isize, b as isize])?;
                (meta[1 + d], meta[1 + MAX_RANK + d], meta[1 + 2 * MAX_RANK + d]) =
                    (v[0], v[1], v[2]);
            }
            let y = l.temp(Dt::F32, out_shape);
            let n = y.len();
            let args = vec![
                Arg::Buf(x.slot),
                Arg::Buf(y.slot.clone()),
                Arg::Meta(meta),
                Arg::Float(value),
                Arg::Int(to_i32_checked(node, n)?),
            ];
            l.launch_named(&node.name, "pad_f32", n, args);
            l.set_value(out_name, y);
        }
        Lowering::Resize(axes) => {
            let mut cur = x;
            for a in axes {
                let mut shape = cur.shape.clone();
                let len_in = shape[a.axis];
                shape[a.axis] = a.len_out;
                let inner: usize = shape[a.axis + 1..].iter().product();
                let what = format!("resize-axis-{}", a.axis);
                let idx =
                    HostTensor { shape: vec![a.indices.len()], data: HostData::I64(a.indices) };
                let w = HostTensor { shape: vec![a.weights.len()], data: HostData::F32(a.weights) };
                let idx = l.derived_named(&node.name, &format!("{what}-indices"), idx);
                let w = l.derived_named(&node.name, &format!("{what}-weights"), w);
                let y = l.temp(Dt::F32, shape);
                let n = y.len();
                let ints = i32s(
                    node,
                    [a.window, len_in, a.len_out, inner, n].iter().map(|&v| v as isize),
                )?;
                let args = vec![
                    Arg::Buf(cur.slot.clone()),
                    Arg::Buf(y.slot.clone()),
                    Arg::Buf(idx),
                    Arg::Buf(w),
                    Arg::Int(ints[0]),
                    Arg::Int(ints[1]),
                    Arg::Int(ints[2]),
                    Arg::Int(ints[3]),
                    Arg::Int(ints[4]),
                ];
                l.launch_named(&node.name, "resample_axis_f32", n, args);
                cur = y;
            }
            l.set_value(out_name, Val { shape: out_shape, ..cur });
        }
    }
    Ok(())
}

/// Launches one of the kernels over the middle axis of `[outer, len, inner]` (reductions,
/// Softmax, RmsNorm, ArgMax/ArgMin), whose arguments are `x, y, len, inner, extra.., n` with `n`
/// work items; returns the output value.
#[allow(clippy::too_many_arguments)]
fn along_axis(
    l: &mut Lowerer,
    node: &TNode,
    x: &Val,
    out_shape: Vec<usize>,
    dt: Dt,
    kernel: &'static str,
    [len, inner, n]: [usize; 3],
    extra: Vec<Arg>,
) -> Result<Val, AccelError> {
    let y = l.temp(dt, out_shape);
    let ints = i32s(node, [len as isize, inner as isize, n as isize])?;
    let mut args = vec![Arg::Buf(x.slot.clone()), Arg::Buf(y.slot.clone())];
    args.extend([Arg::Int(ints[0]), Arg::Int(ints[1])]);
    args.extend(extra);
    args.push(Arg::Int(ints[2]));
    l.launch_named(&node.name, kernel, n, args);
    Ok(y)
}

fn to_i32_checked(node: &TNode, v: usize) -> Result<i32, AccelError> {
    i32::try_from(v).map_err(|_| bad(node, format!("{v} elements are over 2^31")))
}
