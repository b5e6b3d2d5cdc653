//! `Imputer` (ONNX-ML opset 1): replaces the values equal to `replaced_value_float` (NaN
//! matches NaN; default 0) by `imputed_value_floats`, or for integer inputs those equal to
//! `replaced_value_int64` by `imputed_value_int64s`; imputed values have length 1 or the last
//! dim of `X`. `Y` has the type and shape of `X`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{build, Built, Kernel};

const OP: &str = "Imputer";

/// The parsed `Imputer`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Imputer {
    floats: Vec<f32>,
    replaced_float: f32,
    ints: Vec<i64>,
    replaced_int: i64,
}

/// Op register builder for `Imputer`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let floats: Vec<f32> = node.get_attr_opt_vec("imputed_value_floats")?.unwrap_or_default();
    let ints: Vec<i64> = node.get_attr_opt_vec("imputed_value_int64s")?.unwrap_or_default();
    if floats.is_empty() && ints.is_empty() {
        bail!(
            "{OP} node `{}`: needs attribute imputed_value_floats or imputed_value_int64s",
            node.name
        );
    }
    build(
        node,
        Imputer {
            floats,
            replaced_float: node.get_attr_opt("replaced_value_float")?.unwrap_or(0.0),
            ints,
            replaced_int: node.get_attr_opt("replaced_value_int64")?.unwrap_or(0),
        },
    )
}

fn impute<T: Datum + Copy>(
    x: &Tensor,
    values: &[T],
    is_missing: impl Fn(T) -> bool,
) -> TractResult<Tensor> {
    let mut a = x.to_plain_array_view::<T>()?.to_owned();
    let c = a.shape().last().copied().unwrap_or(1);
    if values.len() != 1 && values.len() != c {
        bail!("{OP}: {} imputed values for {c} features", values.len());
    }
    for (i, v) in a.iter_mut().enumerate() {
        if is_missing(*v) {
            *v = if values.len() == 1 { values[0] } else { values[i % c] };
        }
    }
    Ok(a.into_tensor())
}

impl Imputer {
    /// Imputes `x`.
    pub(crate) fn run(&self, x: &Tensor) -> TractResult<Tensor> {
        let dt = x.datum_type();
        if dt.is_float() {
            if self.floats.is_empty() {
                bail!("{OP}: float input but no imputed_value_floats");
            }
            let x64 = x.cast_to::<f64>()?;
            let values: Vec<f64> = self.floats.iter().map(|v| f64::from(*v)).collect();
            let r = f64::from(self.replaced_float);
            let y = impute::<f64>(&x64, &values, |v| if r.is_nan() { v.is_nan() } else { v == r })?;
            Ok(y.cast_to_dt(dt)?.into_owned())
        } else if dt.is_integer() {
            if self.ints.is_empty() {
                bail!("{OP}: integer input but no imputed_value_int64s");
            }
            let x64 = x.cast_to::<i64>()?;
            let y = impute::<i64>(&x64, &self.ints, |v| v == self.replaced_int)?;
            Ok(y.cast_to_dt(dt)?.into_owned())
        } else {
            bail!("{OP}: unsupported input type {dt:?}")
        }
    }
}

impl Kernel for Imputer {
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
    fn replaces_nan_per_feature_and_ints() {
        let imp = Imputer {
            floats: vec![1.0, 2.0],
            replaced_float: f32::NAN,
            ints: vec![7],
            replaced_int: -1,
        };
        let y = imp.run(&tensor2(&[[f32::NAN, 5.0], [3.0, f32::NAN]])).unwrap();
        assert_eq!(y, tensor2(&[[1f32, 5.0], [3.0, 2.0]]));
        let y = imp.run(&tensor1(&[-1i64, 4])).unwrap();
        assert_eq!(y, tensor1(&[7i64, 4]));
    }
}
