//! The ONNX file as exporters write it, read once before tract parses it: unset dimensions
//! made symbolic, the files it references (external data, ONNX IR §External Data) listed and
//! confined to the model's folder, ZipMap outputs noted, and the declared signature read off.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ModelProto, TensorProto, ValueInfoProto};
use tract_onnx::prelude::Framework;

use crate::{AccelError, DType, TensorSpec, ZipMapLabels, DYNAMIC};

/// The name given to an input's unset first dimension: the batch.
pub const BATCH_SYMBOL: &str = "N";

/// A parsed and patched model file.
pub struct OnnxFile {
    /// The model as read from `model.onnx`, with unset input dimensions made symbolic
    /// ([`BATCH_SYMBOL`] for the first) so tract can type the graph.
    pub proto: ModelProto,
    /// Files besides the model file the graph's tensors live in, relative to its folder.
    pub external: Vec<PathBuf>,
    /// ZipMap outputs by graph output name.
    pub zipmaps: BTreeMap<String, ZipMapLabels>,
    /// Float16 inputs and outputs of a graph widened to f32 (see `half_precision`).
    pub f16: super::half_precision::Boundary,
}

/// Reads `path`, patches it for tract and checks its external data files.
///
/// Errors: [`AccelError::ArtifactUnreadable`], [`AccelError::InvalidModel`] (not ONNX, an
/// external data location outside the model's folder, a missing data file).
pub fn read(path: &Path) -> Result<OnnxFile, AccelError> {
    let bytes = std::fs::read(path)
        .map_err(|source| AccelError::ArtifactUnreadable { path: path.into(), source })?;
    let invalid = |reason: String| AccelError::InvalidModel { path: path.into(), reason };
    let mut proto = tract_onnx::onnx()
        .proto_model_for_read(&mut bytes.as_slice())
        .map_err(|e| invalid(format!("not an ONNX model: {e:#}")))?;
    let graph = proto.graph.as_mut().ok_or_else(|| invalid("the model has no graph".into()))?;
    name_unset_dims(graph);
    let f16 = super::half_precision::widen(graph);
    let mut external = Vec::new();
    collect_external(graph, &mut external).map_err(invalid)?;
    external.sort();
    external.dedup();
    let dir = path.parent().unwrap_or(Path::new("."));
    for file in &external {
        if !dir.join(file).is_file() {
            return Err(invalid(format!(
                "its tensors are stored in {} (external data), which is not beside it in {}; \
                 register the folder holding both, or re-save the model with \
                 onnx.save(model, path, save_as_external_data=False)",
                file.display(),
                dir.display()
            )));
        }
    }
    let zipmaps = zipmap_outputs(graph);
    Ok(OnnxFile { proto, external, zipmaps, f16 })
}

/// Gives every input dimension that has neither `dim_value` nor `dim_param` a symbol: the
/// first axis becomes the batch ([`BATCH_SYMBOL`]), others `in{i}_d{axis}` (skl2onnx and
/// onnxmltools write `[None, n]` this way).
fn name_unset_dims(graph: &mut GraphProto) {
    let initializers: std::collections::HashSet<String> =
        graph.initializer.iter().map(|t| t.name.clone()).collect();
    for (real, input) in
        graph.input.iter_mut().filter(|i| !initializers.contains(&i.name)).enumerate()
    {
        if let Some(TypeValue::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            if let Some(shape) = t.shape.as_mut() {
                for (axis, dim) in shape.dim.iter_mut().enumerate() {
                    let unset = match &dim.value {
                        None => true,
                        Some(Dim::DimValue(v)) => *v < 0,
                        Some(Dim::DimParam(p)) => p.is_empty(),
                    };
                    if unset {
                        dim.value = Some(Dim::DimParam(if axis == 0 {
                            BATCH_SYMBOL.to_string()
                        } else {
                            format!("in{real}_d{axis}")
                        }));
                    }
                }
            }
        }
    }
}

/// The `location` of every tensor stored outside the file, checked to stay inside the model's
/// folder (relative, no `..`).
fn collect_external(graph: &GraphProto, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut tensors: Vec<&TensorProto> = graph.initializer.iter().collect();
    for node in &graph.node {
        for attr in &node.attribute {
            tensors.extend(attr.t.iter());
            tensors.extend(attr.tensors.iter());
            for g in attr.g.iter().chain(attr.graphs.iter()) {
                collect_external(g, out)?;
            }
        }
    }
    for t in tensors {
        if t.data_location != Some(1) {
            continue;
        }
        let location = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map(|e| e.value.clone())
            .ok_or_else(|| format!("tensor {} is external but names no location", t.name))?;
        let rel = PathBuf::from(&location);
        let confined =
            rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !confined || location.is_empty() {
            return Err(format!(
                "tensor {} is stored in {location}, outside the model's folder; external data must \
                 be a file beside model.onnx (no absolute paths, no ..)",
                t.name
            ));
        }
        out.push(rel);
    }
    Ok(())
}

/// ZipMap nodes whose output is a graph output, with their class labels.
fn zipmap_outputs(graph: &GraphProto) -> BTreeMap<String, ZipMapLabels> {
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let mut found = BTreeMap::new();
    for node in graph.node.iter().filter(|n| n.op_type == "ZipMap") {
        let Some(out) = node.output.first().filter(|o| outputs.contains(&o.as_str())) else {
            continue;
        };
        let labels = node.attribute.iter().find_map(|a| match a.name.as_str() {
            "classlabels_int64s" => Some(ZipMapLabels::Int64(a.ints.clone())),
            "classlabels_strings" => Some(ZipMapLabels::Strings(
                a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
            )),
            _ => None,
        });
        if let Some(labels) = labels {
            found.insert(out.clone(), labels);
        }
    }
    found
}

/// The HAL dtype of an ONNX element type (`TensorProto.DataType`).
pub fn dtype_of_elem(elem: i32) -> Option<DType> {
    Some(match elem {
        1 => DType::F32,
        2 => DType::U8,
        6 => DType::I32,
        7 => DType::I64,
        8 => DType::Str,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        _ => return None,
    })
}

/// The graph's declared inputs and outputs (initializers excluded), dims as declared:
/// symbols and unset dims are [`DYNAMIC`]. `None` for a tensor whose type is not a tensor or
/// whose dtype the HAL lacks (ZipMap outputs are described as f32 `[-1, classes]`).
pub fn declared(file: &OnnxFile) -> (Vec<Option<TensorSpec>>, Vec<Option<TensorSpec>>) {
    let Some(graph) = file.proto.graph.as_ref() else { return (Vec::new(), Vec::new()) };
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let spec = |v: &ValueInfoProto| -> Option<TensorSpec> {
        if let Some(labels) = file.zipmaps.get(&v.name) {
            let n = match labels {
                ZipMapLabels::Int64(l) => l.len(),
                ZipMapLabels::Strings(l) => l.len(),
            };
            return Some(TensorSpec {
                name: v.name.clone(),
                dtype: DType::F32,
                shape: vec![DYNAMIC, n as i64],
            });
        }
        let TypeValue::TensorType(t) = v.r#type.as_ref()?.value.as_ref()?;
        let shape = t
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(Dim::DimValue(v)) if v >= 0 => v,
                        _ => DYNAMIC,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(TensorSpec { name: v.name.clone(), dtype: dtype_of_elem(t.elem_type)?, shape })
    };
    (
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).map(spec).collect(),
        graph.output.iter().map(spec).collect(),
    )
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{GraphProto, StringStringEntryProto, TensorProto};

    use super::collect_external;

    fn external(location: &str) -> GraphProto {
        GraphProto {
            initializer: vec![TensorProto {
                name: "w".into(),
                data_location: Some(1),
                external_data: vec![StringStringEntryProto {
                    key: "location".into(),
                    value: location.into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn external_data_stays_inside_the_model_folder() {
        let mut found = Vec::new();
        collect_external(&external("model.onnx.data"), &mut found).unwrap();
        collect_external(&external("weights/part1.bin"), &mut found).unwrap();
        assert_eq!(found.len(), 2);
        for escape in ["../secret.bin", "/etc/shadow", "weights/../../x", ""] {
            let err = collect_external(&external(escape), &mut Vec::new()).unwrap_err();
            assert!(err.contains("outside the model's folder"), "{escape}: {err}");
        }
    }
}
