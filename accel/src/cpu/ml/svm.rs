//! The kernels shared by `SVMClassifier` and `SVMRegressor` (attributes `kernel_type`,
//! `kernel_params = [gamma, coef0, degree]`), computed in f32 as onnxruntime does.

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// `kernel_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KernelType {
    /// `LINEAR`: `<x, v>`.
    Linear,
    /// `POLY`: `(gamma <x, v> + coef0) ^ degree`.
    Poly,
    /// `RBF`: `exp(-gamma |x - v|²)`.
    Rbf,
    /// `SIGMOID`: `tanh(gamma <x, v> + coef0)`.
    Sigmoid,
}

/// A parsed SVM kernel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SvmKernel {
    /// The kernel function.
    pub kind: KernelType,
    gamma: f32,
    coef0: f32,
    degree: f32,
}

impl SvmKernel {
    /// Reads `kernel_type` (default `LINEAR`) and `kernel_params`.
    pub(crate) fn parse(node: &NodeProto, op: &str) -> TractResult<SvmKernel> {
        let kind: Option<String> = node.get_attr_opt("kernel_type")?;
        let kind = match kind.as_deref().unwrap_or("LINEAR") {
            "LINEAR" => KernelType::Linear,
            "POLY" => KernelType::Poly,
            "RBF" => KernelType::Rbf,
            "SIGMOID" => KernelType::Sigmoid,
            other => {
                bail!("{op} node `{}`: attribute kernel_type: unknown kernel {other:?}", node.name)
            }
        };
        let params: Vec<f32> = node.get_attr_opt_vec("kernel_params")?.unwrap_or_default();
        let (gamma, coef0, degree) = match params.as_slice() {
            [] => (0.0, 0.0, 0.0),
            [g, c, d, ..] => (*g, *c, *d),
            _ => bail!(
                "{op} node `{}`: attribute kernel_params needs [gamma, coef0, degree]",
                node.name
            ),
        };
        Ok(SvmKernel { kind, gamma, coef0, degree })
    }

    /// A linear kernel (liblinear mode).
    pub(crate) fn linear() -> SvmKernel {
        SvmKernel { kind: KernelType::Linear, gamma: 0.0, coef0: 0.0, degree: 0.0 }
    }

    /// `K(x, v)`; `x` and `v` have the same length.
    pub(crate) fn eval(&self, x: &[f32], v: &[f32]) -> f32 {
        let dot =
            || x.iter().zip(v).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>() as f32;
        match self.kind {
            KernelType::Linear => dot(),
            KernelType::Rbf => {
                let sum: f32 = x.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                (-self.gamma * sum).exp()
            }
            KernelType::Poly => {
                let base = self.gamma * dot() + self.coef0;
                if self.degree == 2.0 {
                    base * base
                } else if self.degree == 3.0 {
                    base * base * base
                } else {
                    base.powf(self.degree)
                }
            }
            KernelType::Sigmoid => (self.gamma * dot() + self.coef0).tanh(),
        }
    }
}
