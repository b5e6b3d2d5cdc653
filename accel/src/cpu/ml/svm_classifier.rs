//! `SVMClassifier` (ONNX-ML opset 1): `X [N, C]` (any numeric type, computed in f32) →
//! `Y [N]` labels (`classlabels_ints` as i64 or `classlabels_strings` as String) and
//! `Z [N, k]` f32 scores, as onnxruntime computes them:
//! - with support vectors (libsvm, one-vs-one): the decision value of every class pair, a vote
//!   per pair; the label is the class with most votes. With `prob_a`/`prob_b`, `Z` holds the
//!   class probabilities (Platt scaling per pair, then libsvm's pairwise coupling,
//!   `k = n_classes`), otherwise the pair decision values (`k = n_classes (n_classes-1) / 2`,
//!   or 2 for two classes: `[-d, d]`);
//! - without (liblinear, `coefficients [n_classes, C]`): `Z = X coefficientsᵀ + rho[0]`, label by
//!   argmax; `post_transform` applies to `Z`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{
    batch_dim, build, logistic, probit, rows_f32, rules_batch, rules_batch_by_k, Built, Kernel,
    Labels, PostTransform,
};
use super::svm::SvmKernel;

const OP: &str = "SVMClassifier";

/// Support vectors of a libsvm model.
#[derive(Debug, Clone, PartialEq)]
struct Svc {
    vectors_per_class: Vec<usize>,
    starts: Vec<usize>,
    n_vectors: usize,
    /// `[n_vectors, n_features]`.
    support_vectors: Vec<f32>,
}

/// The parsed `SVMClassifier`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SvmClassifier {
    kernel: SvmKernel,
    svc: Option<Svc>,
    n_features: usize,
    coefficients: Vec<f32>,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    labels: Labels,
    post_transform: PostTransform,
    weights_all_positive: bool,
}

/// Op register builder for `SVMClassifier`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let name = &node.name;
    let floats = |a: &str| -> TractResult<Vec<f32>> {
        Ok(node.get_attr_opt_vec::<f32>(a)?.unwrap_or_default())
    };
    let labels = Labels::parse(node, OP, "classlabels_ints")?;
    let coefficients = floats("coefficients")?;
    let rho = floats("rho")?;
    let prob_a = floats("prob_a")?;
    let prob_b = floats("prob_b")?;
    let support_vectors = floats("support_vectors")?;
    let vectors_per_class: Vec<i64> =
        node.get_attr_opt_vec("vectors_per_class")?.unwrap_or_default();
    let n_classes = labels.len();
    let n_pairs = n_classes * (n_classes - 1) / 2;
    if coefficients.is_empty() {
        bail!("{OP} node `{name}`: attribute coefficients is missing");
    }
    if prob_a.len() != prob_b.len() {
        bail!("{OP} node `{name}`: attributes prob_a and prob_b differ in length");
    }
    let vectors_per_class: Vec<usize> =
        vectors_per_class.iter().map(|v| usize::try_from(*v)).collect::<Result<_, _>>().map_err(
            |_| format_err!("{OP} node `{name}`: attribute vectors_per_class is negative"),
        )?;
    let n_vectors: usize = vectors_per_class.iter().sum();
    let (kernel, svc, n_features) = if n_vectors > 0 {
        if vectors_per_class.len() != n_classes {
            bail!(
                "{OP} node `{name}`: attribute vectors_per_class has {} values for {n_classes} classes",
                vectors_per_class.len()
            );
        }
        if support_vectors.is_empty() || !support_vectors.len().is_multiple_of(n_vectors) {
            bail!(
                "{OP} node `{name}`: attribute support_vectors has {} values, not a multiple of {n_vectors} vectors",
                support_vectors.len()
            );
        }
        if coefficients.len() < (n_classes - 1) * n_vectors {
            bail!(
                "{OP} node `{name}`: attribute coefficients has {} values, expected {}",
                coefficients.len(),
                (n_classes - 1) * n_vectors
            );
        }
        if rho.len() < n_pairs {
            bail!("{OP} node `{name}`: attribute rho has {} values, expected {n_pairs}", rho.len());
        }
        if !prob_a.is_empty() && prob_a.len() < n_pairs {
            bail!(
                "{OP} node `{name}`: attribute prob_a has {} values, expected {n_pairs}",
                prob_a.len()
            );
        }
        let starts = vectors_per_class
            .iter()
            .scan(0, |acc, v| {
                let s = *acc;
                *acc += v;
                Some(s)
            })
            .collect();
        let n_features = support_vectors.len() / n_vectors;
        let svc = Svc { vectors_per_class, starts, n_vectors, support_vectors };
        (SvmKernel::parse(node, OP)?, Some(svc), n_features)
    } else {
        if !coefficients.len().is_multiple_of(n_classes) {
            bail!(
                "{OP} node `{name}`: attribute coefficients has {} values, not a multiple of {n_classes} classes",
                coefficients.len()
            );
        }
        if rho.is_empty() {
            bail!("{OP} node `{name}`: attribute rho is missing");
        }
        (SvmKernel::linear(), None, coefficients.len() / n_classes)
    };
    let weights_all_positive = coefficients.iter().all(|c| *c >= 0.0);
    build(
        node,
        SvmClassifier {
            kernel,
            svc,
            n_features,
            coefficients,
            rho,
            prob_a,
            prob_b,
            labels,
            post_transform: PostTransform::parse(node, OP)?,
            weights_all_positive,
        },
    )
}

/// onnxruntime's `multiclass_probability` (libsvm's pairwise coupling, in f32): class
/// probabilities `p` from the pairwise ones `r [k, k]`.
fn multiclass_probability(k: usize, r: &[f32], p: &mut [f32]) {
    let mut q = vec![0f32; k * k];
    let mut qp = vec![0f32; k];
    let eps = 0.005 / k as f32;
    for i in 0..k {
        p[i] = 1.0 / k as f32;
        for j in 0..i {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = q[j * k + i];
        }
        for j in i + 1..k {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for _ in 0..100 {
        let mut pqp = 0f32;
        for i in 0..k {
            qp[i] = 0.0;
            for j in 0..k {
                qp[i] += q[i * k + j] * p[j];
            }
            pqp += p[i] * qp[i];
        }
        let max_error = qp.iter().map(|v| (v - pqp).abs()).fold(0f32, f32::max);
        if max_error < eps {
            break;
        }
        for i in 0..k {
            let diff = (-qp[i] + pqp) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
}

/// Index of the first maximum.
fn first_max<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

impl SvmClassifier {
    fn n_pairs(&self) -> usize {
        let k = self.labels.len();
        k * (k - 1) / 2
    }

    /// Number of score columns.
    fn n_scores(&self) -> usize {
        let k = self.labels.len();
        match &self.svc {
            Some(_) if self.prob_a.is_empty() => {
                if k > 2 {
                    self.n_pairs()
                } else {
                    2
                }
            }
            _ => k,
        }
    }

    /// Scores of one row into `out`; returns the label index.
    fn row(&self, x: &[f32], out: &mut [f32]) -> usize {
        let k = self.labels.len();
        let have_proba = !self.prob_a.is_empty();
        let mut additional = -1;
        let (maxclass, max_weight) = match &self.svc {
            None => {
                for (c, o) in out.iter_mut().enumerate() {
                    let w = &self.coefficients[c * self.n_features..(c + 1) * self.n_features];
                    *o = self.kernel.eval(x, w) + self.rho[0];
                }
                let m = first_max(out);
                (m, out[m])
            }
            Some(svc) => {
                let kernels: Vec<f32> = svc
                    .support_vectors
                    .chunks(self.n_features)
                    .map(|v| self.kernel.eval(x, v))
                    .collect();
                let mut votes = vec![0usize; k];
                let mut pair_scores = Vec::with_capacity(self.n_pairs());
                let v = svc.n_vectors;
                for i in 0..k.saturating_sub(1) {
                    let (si, ni) = (svc.starts[i], svc.vectors_per_class[i]);
                    for j in i + 1..k {
                        let (sj, nj) = (svc.starts[j], svc.vectors_per_class[j]);
                        let mut sum = 0f64;
                        for m in 0..ni {
                            sum += f64::from(
                                self.coefficients[(j - 1) * v + si + m] * kernels[si + m],
                            );
                        }
                        for m in 0..nj {
                            sum += f64::from(self.coefficients[i * v + sj + m] * kernels[sj + m]);
                        }
                        sum += f64::from(self.rho[pair_scores.len()]);
                        pair_scores.push(sum as f32);
                        votes[if sum > 0.0 { i } else { j }] += 1;
                    }
                }
                if have_proba {
                    let mut probs = vec![0f32; k * k];
                    let mut index = 0;
                    for i in 0..k.saturating_sub(1) {
                        for j in i + 1..k {
                            let val = score_probability(
                                pair_scores[index],
                                self.prob_a[index],
                                self.prob_b[index],
                            );
                            let val = val.clamp(1.0e-7, 1.0 - 1.0e-7);
                            probs[i * k + j] = val;
                            probs[j * k + i] = 1.0 - val;
                            index += 1;
                        }
                    }
                    multiclass_probability(k, &probs, out);
                } else {
                    out[..pair_scores.len()].copy_from_slice(&pair_scores);
                    if k <= 2 {
                        additional = if self.post_transform == PostTransform::None { 2 } else { 0 };
                    }
                }
                (first_max(&votes), 0.0)
            }
        };
        let label = if self.n_pairs() == 1 && !have_proba {
            if (self.weights_all_positive && max_weight >= 0.5)
                || (max_weight > 0.0 && !self.weights_all_positive)
            {
                1
            } else {
                maxclass
            }
        } else {
            maxclass
        };
        // onnxruntime's batched_update_scores_inplace on the scores of this row.
        let n_scores = if additional >= 0 { 1 } else { out.len() };
        if n_scores > 1 {
            self.post_transform.apply_row(out);
        } else if self.post_transform == PostTransform::Probit {
            out[0] = probit(out[0]);
        } else if additional >= 0 {
            let s = out[0];
            (out[0], out[1]) = match additional {
                2 | 3 if self.post_transform == PostTransform::Logistic => {
                    (logistic(-s), logistic(s))
                }
                2 | 3 => (-s, s),
                _ => (1.0 - s, s),
            };
        }
        label
    }

    /// Evaluates on `[N, C]` rows: label indices and scores.
    pub(crate) fn run(
        &self,
        x: &tract_ndarray::Array2<f32>,
    ) -> TractResult<(Vec<usize>, tract_ndarray::Array2<f32>)> {
        if x.ncols() != self.n_features {
            bail!("{OP}: input has {} features, the model {}", x.ncols(), self.n_features);
        }
        let mut out = tract_ndarray::Array2::<f32>::zeros((x.nrows(), self.n_scores()));
        let mut labels = Vec::with_capacity(x.nrows());
        for (row, mut o) in x.rows().into_iter().zip(out.rows_mut()) {
            let o = o.as_slice_mut().ok_or_else(|| format_err!("{OP}: output not contiguous"))?;
            labels.push(self.row(&row.to_vec(), o));
        }
        Ok((labels, out))
    }
}

/// onnxruntime's `sigmoid_probability`: Platt scaling of a pair decision value.
fn score_probability(score: f32, a: f32, b: f32) -> f32 {
    1.0 - logistic(score * a + b)
}

impl Kernel for SvmClassifier {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn output_arity(&self) -> usize {
        2
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        rules_batch(s, inputs, &outputs[0], self.labels.datum_type())?;
        rules_batch_by_k(s, inputs, &outputs[1], DatumType::F32, self.n_scores())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs[0], OP)?;
        Ok(tvec!(
            self.labels.datum_type().fact([n.clone()]),
            f32::fact([n, self.n_scores().to_dim()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = rows_f32(&inputs[0], OP)?;
        let (labels, scores) = self.run(&x)?;
        Ok(tvec!(self.labels.tensor(&labels)?.into_tvalue(), scores.into_tensor().into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupling_of_consistent_pairs_gives_the_class_probabilities() {
        // r[i][j] = p_i / (p_i + p_j) for p = [0.2, 0.3, 0.5].
        let p = [0.2f32, 0.3, 0.5];
        let mut r = [0f32; 9];
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    r[i * 3 + j] = p[i] / (p[i] + p[j]);
                }
            }
        }
        let mut out = [0f32; 3];
        multiclass_probability(3, &r, &mut out);
        for (o, e) in out.iter().zip(p) {
            assert!((o - e).abs() < 1e-3, "{out:?}");
        }
    }
}
