//! `ZipMap` (ONNX-ML opset 1) as an identity on its f32 `[N, C]` input: tract has no sequence
//! or map types, so the daemon renders the `[{label: probability}, ...]` rows itself from the
//! `classlabels_int64s`/`classlabels_strings` it reads in the model proto.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::Built;

/// The hir side of `ZipMap`: output = input, same fact.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZipMap;

/// Op register builder for `ZipMap`.
pub(crate) fn builder(_ctx: &ParsingContext, _node: &NodeProto) -> Built {
    Ok((expand(ZipMap), vec![]))
}

impl Expansion for ZipMap {
    fn name(&self) -> StaticName {
        "ZipMap".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, tract_onnx::tract_core::ops::identity::Identity, inputs)
    }
}
