//! `Binarizer` (ONNX-ML opset 1): `Y = X > threshold ? 1 : 0`, same type and shape as `X`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{build, Built, Kernel};

const OP: &str = "Binarizer";

/// The parsed `Binarizer`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binarizer {
    threshold: f32,
}

/// Op register builder for `Binarizer`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    build(node, Binarizer { threshold: node.get_attr_opt("threshold")?.unwrap_or(0.0) })
}

impl Binarizer {
    /// Binarizes `x` (compared in f64, the threshold widened from f32).
    pub(crate) fn run(&self, x: &Tensor) -> TractResult<Tensor> {
        let t = f64::from(self.threshold);
        let y = x
            .cast_to::<f64>()?
            .to_plain_array_view::<f64>()?
            .mapv(|v| if v > t { 1.0 } else { 0.0 })
            .into_tensor();
        Ok(y.cast_to_dt(x.datum_type())?.into_owned())
    }
}

impl Kernel for Binarizer {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.run(&inputs[0])?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_input_type() {
        let y = Binarizer { threshold: 0.5 }.run(&tensor1(&[0.2f32, 0.5, 0.7])).unwrap();
        assert_eq!(y, tensor1(&[0f32, 0.0, 1.0]));
        let y = Binarizer { threshold: 1.0 }.run(&tensor1(&[1i64, 2])).unwrap();
        assert_eq!(y, tensor1(&[0i64, 1]));
    }
}
