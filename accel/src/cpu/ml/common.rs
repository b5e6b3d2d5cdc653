//! Plumbing shared by the `ai.onnx.ml` ops: one hir [`Expansion`] and one typed op that wrap a
//! [`Kernel`] (attribute-free evaluation in plain Rust over ndarray views), plus the post
//! transforms and attribute helpers the ONNX-ML spec and onnxruntime share between ops.

use std::fmt;
use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::tract_num_traits::{Float, FloatConst};
use tract_onnx::tract_hir::internal::*;

/// What a builder in the op register returns.
pub(crate) type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// The computation of one ONNX-ML op, with its attributes already parsed and checked.
///
/// A kernel is wrapped twice: in [`MlExpansion`] for tract's inference (hir) phase, and in
/// [`MlOp`] for the typed phase, where [`Kernel::eval`] runs.
pub(crate) trait Kernel: fmt::Debug + Send + Sync + 'static {
    /// The ONNX op type (`TreeEnsembleRegressor`, ...).
    fn op_type(&self) -> &'static str;

    /// Number of inputs, `None` when variadic (at least one).
    fn input_arity(&self) -> Option<usize> {
        Some(1)
    }

    /// Number of outputs.
    fn output_arity(&self) -> usize {
        1
    }

    /// Inference rules (datum types and shapes of the outputs from the inputs'). The default
    /// is an element-wise op: one output of the first input's type and shape.
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)
    }

    /// Output facts of the typed op; dims of the inputs (the symbolic batch) are kept. The
    /// default matches the default rules: the first input's type and shape.
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    /// Evaluates the op.
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

/// Boxes `kernel` as the inference op a builder of the op register returns.
pub(crate) fn build(node: &NodeProto, kernel: impl Kernel) -> Built {
    Ok((expand(MlExpansion { node: node.name.clone(), kernel: Arc::new(kernel) }), vec![]))
}

/// The hir side of an ONNX-ML op: checks arities, delegates rules, wires an [`MlOp`].
#[derive(Debug, Clone)]
pub(crate) struct MlExpansion {
    node: String,
    kernel: Arc<dyn Kernel>,
}

impl Expansion for MlExpansion {
    fn name(&self) -> StaticName {
        self.kernel.op_type().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.kernel.output_arity())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        match self.kernel.input_arity() {
            Some(n) => check_input_arity(inputs, n)?,
            None if inputs.is_empty() => {
                bail!("{} node `{}`: expects at least one input", self.kernel.op_type(), self.node)
            }
            None => (),
        }
        check_output_arity(outputs, self.kernel.output_arity())?;
        self.kernel.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, MlOp { node: prefix.into(), kernel: self.kernel.clone() }, inputs)
    }
}

/// The typed side of an ONNX-ML op: evaluates its [`Kernel`].
#[derive(Debug, Clone)]
pub(crate) struct MlOp {
    node: Arc<str>,
    kernel: Arc<dyn Kernel>,
}

impl PartialEq for MlOp {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.kernel), Arc::as_ptr(&other.kernel))
            && self.node == other.node
    }
}
impl Eq for MlOp {}

impl Op for MlOp {
    fn name(&self) -> StaticName {
        self.kernel.op_type().into()
    }

    op_as_typed_op!();
}

impl EvalOp for MlOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.kernel
            .eval(inputs)
            .with_context(|| format!("{} node `{}`", self.kernel.op_type(), self.node))
    }
}

impl TypedOp for MlOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.kernel
            .output_facts(inputs)
            .with_context(|| format!("{} node `{}`", self.kernel.op_type(), self.node))
    }

    as_op!();
}

/// The `post_transform` attribute of the ONNX-ML classifiers and regressors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostTransform {
    /// `NONE`: raw scores.
    None,
    /// `LOGISTIC`: `1 / (1 + exp(-x))` per score.
    Logistic,
    /// `SOFTMAX`: softmax over a row.
    Softmax,
    /// `SOFTMAX_ZERO`: softmax over the non-zero scores of a row, zeros stay zero.
    SoftmaxZero,
    /// `PROBIT`: `sqrt(2) * erfinv(2x - 1)` per score.
    Probit,
}

impl PostTransform {
    /// Reads the optional `post_transform` attribute (default `NONE`).
    pub(crate) fn parse(node: &NodeProto, op: &str) -> TractResult<PostTransform> {
        let value: Option<String> = node.get_attr_opt("post_transform")?;
        match value.as_deref().unwrap_or("NONE") {
            "NONE" => Ok(PostTransform::None),
            "LOGISTIC" => Ok(PostTransform::Logistic),
            "SOFTMAX" => Ok(PostTransform::Softmax),
            "SOFTMAX_ZERO" => Ok(PostTransform::SoftmaxZero),
            "PROBIT" => Ok(PostTransform::Probit),
            other => bail!(
                "{op} node `{}`: attribute post_transform: unknown value {other:?}",
                node.name
            ),
        }
    }

    /// Applies the transform to the scores of one row, as onnxruntime's `write_scores` does
    /// for two or more scores (in f32, or in f64 for double outputs).
    pub(crate) fn apply_row<T: Float + FloatConst>(self, row: &mut [T]) {
        match self {
            PostTransform::None => (),
            PostTransform::Logistic => row.iter_mut().for_each(|x| *x = logistic(*x)),
            PostTransform::Probit => row.iter_mut().for_each(|x| *x = probit(*x)),
            PostTransform::Softmax => softmax(row),
            PostTransform::SoftmaxZero => softmax_zero(row),
        }
    }
    /// The opset-5 integer code as onnxruntime reads it (its `POST_EVAL_TRANSFORM` enum): `0`
    /// `NONE`, `1` `LOGISTIC`, `2` `SOFTMAX`, `3` `SOFTMAX_ZERO`, `4` `PROBIT`. The ONNX spec
    /// swaps 1 and 2 (`1` `SOFTMAX`, `2` `LOGISTIC`); onnxruntime 1.32 still differs from it.
    pub(crate) fn from_ort_code(code: i64) -> Option<PostTransform> {
        Some(match code {
            0 => PostTransform::None,
            1 => PostTransform::Logistic,
            2 => PostTransform::Softmax,
            3 => PostTransform::SoftmaxZero,
            4 => PostTransform::Probit,
            _ => return None,
        })
    }
}

/// A `TENSOR` attribute, loaded; `None` when not set.
pub(crate) fn tensor_attr(
    ctx: &ParsingContext,
    node: &NodeProto,
    op: &str,
    name: &str,
) -> TractResult<Option<Tensor>> {
    match node.get_attr_opt::<&tract_onnx::pb::TensorProto>(name)? {
        None => Ok(None),
        Some(t) => Ok(Some(
            ctx.load_tensor(t)
                .with_context(|| format!("{op} node `{}`: attribute {name}", node.name))?,
        )),
    }
}

/// A `TENSOR` attribute as a flat list of `T` (cast); `None` when not set.
pub(crate) fn tensor_attr_vec<T: Datum>(
    ctx: &ParsingContext,
    node: &NodeProto,
    op: &str,
    name: &str,
) -> TractResult<Option<Vec<T>>> {
    let Some(t) = tensor_attr(ctx, node, op, name)? else { return Ok(None) };
    let t =
        t.cast_to::<T>().with_context(|| format!("{op} node `{}`: attribute {name}", node.name))?;
    Ok(Some(t.to_plain_array_view::<T>()?.iter().cloned().collect()))
}

/// `x` in the float type `T` (the constants below are exact in f32 and f64).
fn c<T: Float>(x: f64) -> T {
    T::from(x).unwrap_or_else(T::zero)
}

/// onnxruntime's `ComputeLogistic`.
pub(crate) fn logistic<T: Float>(x: T) -> T {
    let v = T::one() / (T::one() + (-x.abs()).exp());
    if x < T::zero() {
        T::one() - v
    } else {
        v
    }
}

/// onnxruntime's `ErfInv` (Winitzki's approximation).
fn erf_inv<T: Float + FloatConst>(x: T) -> T {
    let sgn = if x < T::zero() { -T::one() } else { T::one() };
    let x = (T::one() - x) * (T::one() + x);
    let log = x.ln();
    let a = c::<T>(0.147);
    let v = c::<T>(2.0) / (T::PI() * a) + c::<T>(0.5) * log;
    let v2 = T::one() / a * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}

/// onnxruntime's `ComputeProbit`.
pub(crate) fn probit<T: Float + FloatConst>(x: T) -> T {
    T::SQRT_2() * erf_inv(c::<T>(2.0) * x - T::one())
}

/// onnxruntime's `ComputeSoftmax`.
pub(crate) fn softmax<T: Float>(row: &mut [T]) {
    let max = row.iter().copied().fold(-T::max_value(), T::max);
    let mut sum = T::zero();
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum = sum + *x;
    }
    row.iter_mut().for_each(|x| *x = *x / sum);
}

/// onnxruntime's `ComputeSoftmaxZero`: zeros are left out of the softmax.
pub(crate) fn softmax_zero<T: Float>(row: &mut [T]) {
    let max = row.iter().copied().fold(-T::max_value(), T::max);
    let exp_neg_max = (-max).exp();
    let eps = c::<T>(0.000_000_1);
    let mut sum = T::zero();
    for x in row.iter_mut() {
        if *x > eps || *x < -eps {
            *x = (*x - max).exp();
            sum = sum + *x;
        } else {
            *x = *x * exp_neg_max;
        }
    }
    row.iter_mut().for_each(|x| *x = *x / sum);
}

/// A float attribute list given either as `name` (floats) or `name_as_tensor` (a double
/// tensor, ml opset 3), widened to f64; `None` when neither is set.
pub(crate) fn f64_list(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Vec<f64>>> {
    if let Some(v) = node.get_attr_opt_vec::<f32>(name)? {
        return Ok(Some(v.into_iter().map(f64::from).collect()));
    }
    let tensor_name = format!("{name}_as_tensor");
    match node.get_attr_opt::<&tract_onnx::pb::TensorProto>(&tensor_name)? {
        None => Ok(None),
        Some(t) => {
            let t = ctx
                .load_tensor(t)
                .with_context(|| format!("node `{}`: attribute {tensor_name}", node.name))?;
            let t = t.cast_to::<f64>()?;
            Ok(Some(t.to_plain_array_view::<f64>()?.iter().copied().collect()))
        }
    }
}

/// The input as a 2-D f64 array `[N, C]` (a 1-D input is one row), for the ops that accept any
/// numeric type.
pub(crate) fn rows_f64(input: &Tensor, op: &str) -> TractResult<tract_ndarray::Array2<f64>> {
    let t = input
        .cast_to::<f64>()
        .with_context(|| format!("{op}: input of type {:?}", input.datum_type()))?;
    let view = t.to_plain_array_view::<f64>()?;
    let (n, c) = match view.shape() {
        [c] => (1, *c),
        [n, c] => (*n, *c),
        other => bail!("{op}: input must be of rank 1 or 2, got shape {other:?}"),
    };
    Ok(tract_ndarray::Array2::from_shape_vec((n, c), view.iter().copied().collect())?)
}

/// The batch dim of a `[N, C]` (or `[C]`, batch 1) typed input fact.
pub(crate) fn batch_dim(fact: &TypedFact, op: &str) -> TractResult<TDim> {
    match fact.rank() {
        1 => Ok(1.to_dim()),
        2 => Ok(fact.shape[0].clone()),
        r => bail!("{op}: input must be of rank 1 or 2, got rank {r}"),
    }
}

/// Rules for an output `[N, k]` of type `dt` from a `[N, C]` input 0.
pub(crate) fn rules_batch_by_k<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    output: &'p TensorProxy,
    dt: DatumType,
    k: usize,
) -> InferenceResult {
    s.equals(&output.datum_type, dt)?;
    s.equals(&output.rank, 2)?;
    s.equals(&output.shape[1], k.to_dim())?;
    s.given(&inputs[0].rank, move |s, rank| {
        if rank == 2 {
            s.equals(&output.shape[0], &inputs[0].shape[0])?;
        } else {
            s.equals(&output.shape[0], 1.to_dim())?;
        }
        Ok(())
    })
}

/// Rules for an output `[N]` of type `dt` from a `[N, C]` input 0.
pub(crate) fn rules_batch<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    output: &'p TensorProxy,
    dt: DatumType,
) -> InferenceResult {
    s.equals(&output.datum_type, dt)?;
    s.equals(&output.rank, 1)?;
    s.given(&inputs[0].rank, move |s, rank| {
        if rank == 2 {
            s.equals(&output.shape[0], &inputs[0].shape[0])?;
        } else {
            s.equals(&output.shape[0], 1.to_dim())?;
        }
        Ok(())
    })
}

/// Class labels of a classifier: `classlabels_int64s`/`classlabels_ints` or
/// `classlabels_strings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Labels {
    /// Integer labels, output as an i64 tensor.
    Ints(Vec<i64>),
    /// String labels, output as a String tensor.
    Strings(Vec<String>),
}

impl Labels {
    /// Reads the labels from `int_attr` or `classlabels_strings`.
    pub(crate) fn parse(node: &NodeProto, op: &str, int_attr: &str) -> TractResult<Labels> {
        let strings: Option<Vec<String>> = node.get_attr_opt_vec("classlabels_strings")?;
        let ints: Option<Vec<i64>> = node.get_attr_opt_vec(int_attr)?;
        match (ints, strings) {
            (Some(i), _) if !i.is_empty() => Ok(Labels::Ints(i)),
            (_, Some(s)) if !s.is_empty() => Ok(Labels::Strings(s)),
            _ => bail!(
                "{op} node `{}`: needs attribute {int_attr} or classlabels_strings",
                node.name
            ),
        }
    }

    /// Number of classes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }

    /// Datum type of the label output.
    pub(crate) fn datum_type(&self) -> DatumType {
        match self {
            Labels::Ints(_) => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        }
    }

    /// The label tensor `[N]` for class indices `ix` (all `< len()`).
    pub(crate) fn tensor(&self, ix: &[usize]) -> TractResult<Tensor> {
        let get = |i: usize| -> TractResult<usize> {
            if i < self.len() {
                Ok(i)
            } else {
                bail!("class index {i} out of {} labels", self.len())
            }
        };
        Ok(match self {
            Labels::Ints(v) => {
                let l: Vec<i64> =
                    ix.iter().map(|&i| get(i).map(|i| v[i])).collect::<TractResult<_>>()?;
                tract_ndarray::Array1::from(l).into_tensor()
            }
            Labels::Strings(v) => {
                let l: Vec<String> =
                    ix.iter().map(|&i| get(i).map(|i| v[i].clone())).collect::<TractResult<_>>()?;
                tract_ndarray::Array1::from(l).into_tensor()
            }
        })
    }
}

/// The input as a 2-D f32 array `[N, C]` (a 1-D input is one row), for the ops onnxruntime
/// computes in f32 whatever the input type (SVMs, Scaler).
pub(crate) fn rows_f32(input: &Tensor, op: &str) -> TractResult<tract_ndarray::Array2<f32>> {
    let t = input
        .cast_to::<f32>()
        .with_context(|| format!("{op}: input of type {:?}", input.datum_type()))?;
    let view = t.to_plain_array_view::<f32>()?;
    let (n, c) = match view.shape() {
        [c] => (1, *c),
        [n, c] => (*n, *c),
        other => bail!("{op}: input must be of rank 1 or 2, got shape {other:?}"),
    };
    Ok(tract_ndarray::Array2::from_shape_vec((n, c), view.iter().copied().collect())?)
}
