//! `OneHotEncoder` (ONNX-ML opset 1): `X` (strings with `cats_strings`, or numbers cast to
//! int64 with `cats_int64s`) → `Y` f32 of shape `X.shape + [n_categories]`. A value outside
//! the categories gives a zero row when `zeros = 1` (the default) and an error when `zeros = 0`.

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{build, Built, Kernel};

const OP: &str = "OneHotEncoder";

#[derive(Debug, Clone, PartialEq)]
enum Cats {
    Ints(HashMap<i64, usize>),
    Strings(HashMap<String, usize>),
}

/// The parsed `OneHotEncoder`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OneHotEncoder {
    cats: Cats,
    n: usize,
    zeros: bool,
}

fn index<K: std::hash::Hash + Eq>(keys: impl IntoIterator<Item = K>) -> HashMap<K, usize> {
    let mut map = HashMap::new();
    for (i, k) in keys.into_iter().enumerate() {
        map.entry(k).or_insert(i);
    }
    map
}

/// Op register builder for `OneHotEncoder`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let ints: Option<Vec<i64>> = node.get_attr_opt_vec("cats_int64s")?;
    let strings: Option<Vec<String>> = node.get_attr_opt_vec("cats_strings")?;
    let (cats, n) = match (ints, strings) {
        (Some(i), _) if !i.is_empty() => (Cats::Ints(index(i.iter().copied())), i.len()),
        (_, Some(s)) if !s.is_empty() => {
            let n = s.len();
            (Cats::Strings(index(s)), n)
        }
        _ => bail!("{OP} node `{}`: needs attribute cats_int64s or cats_strings", node.name),
    };
    let zeros = node.get_attr_opt::<i64>("zeros")?.unwrap_or(1) != 0;
    build(node, OneHotEncoder { cats, n, zeros })
}

impl OneHotEncoder {
    /// One-hot encodes `x`.
    pub(crate) fn run(&self, x: &Tensor) -> TractResult<Tensor> {
        let ix: Vec<Result<usize, String>> = match &self.cats {
            Cats::Strings(m) => {
                if x.datum_type() != DatumType::String {
                    bail!("{OP}: string categories but input of type {:?}", x.datum_type());
                }
                x.to_plain_array_view::<String>()?
                    .iter()
                    .map(|k| m.get(k).copied().ok_or_else(|| format!("{k:?}")))
                    .collect()
            }
            Cats::Ints(m) => {
                let x = x.cast_to::<i64>()?;
                x.to_plain_array_view::<i64>()?
                    .iter()
                    .map(|k| m.get(k).copied().ok_or_else(|| k.to_string()))
                    .collect()
            }
        };
        let mut shape = x.shape().to_vec();
        shape.push(self.n);
        let mut y = vec![0f32; ix.len() * self.n];
        for (row, i) in ix.into_iter().enumerate() {
            match i {
                Ok(i) => y[row * self.n + i] = 1.0,
                Err(v) if !self.zeros => bail!("{OP}: unknown category {v} (attribute zeros = 0)"),
                Err(_) => (),
            }
        }
        Ok(tract_ndarray::ArrayD::from_shape_vec(shape, y)?.into_tensor())
    }
}

impl Kernel for OneHotEncoder {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            for ax in 0..rank {
                s.equals(&outputs[0].shape[ax], &inputs[0].shape[ax])?;
            }
            s.equals(&outputs[0].shape[rank], self.n.to_dim())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.n.to_dim());
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.run(&inputs[0])?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_strings_and_handles_unknowns() {
        let mut enc = OneHotEncoder {
            cats: Cats::Strings(index(["a".to_string(), "b".to_string()])),
            n: 2,
            zeros: true,
        };
        let x = tract_ndarray::arr2(&[["b".to_string()], ["c".to_string()]]).into_tensor();
        let y = enc.run(&x).unwrap();
        assert_eq!(y, tract_ndarray::arr3(&[[[0f32, 1.0]], [[0.0, 0.0]]]).into_tensor());
        enc.zeros = false;
        assert!(enc.run(&x).is_err());
    }
}
