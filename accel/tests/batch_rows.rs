//! Dynamic batching's premise on the CPU target: a row's outputs do not depend on which other
//! rows share its batch. Each example and exporter model runs its batch-5 reference inputs as
//! one batch, row by row, and in parts; the outputs split back must be bit-identical.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{models_dir, reference, tensor_from_json};
use edgeserve_accel::{Backends, LoadOptions, ModelArtifact, Target, Tensor};

/// Runs `model`'s batch-5 case whole and in the parts `splits`, comparing bit for bit; returns
/// the outputs that differ.
fn rows_are_independent(model: &str) -> Vec<String> {
    let mut differ = Vec::new();
    let artifact = ModelArtifact::new(models_dir().join(model));
    let mut m = Backends::builtin(None)
        .load(Target::Cpu, &artifact, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let sig = m.signature().clone();
    let reference = reference(model);
    let case = reference["cases"].as_array().unwrap().iter().find(|c| c["batch"] == 5).unwrap();
    let inputs: Vec<Tensor> =
        sig.inputs.iter().map(|s| tensor_from_json(&case["inputs"][&s.name])).collect();
    let whole = m.run(inputs.clone()).unwrap();
    for splits in [vec![1, 1, 1, 1, 1], vec![2, 3], vec![4, 1]] {
        let parts: Vec<Vec<Tensor>> = {
            let per_input: Vec<Vec<Tensor>> =
                inputs.iter().map(|t| t.split_rows(&splits).unwrap()).collect();
            (0..splits.len()).map(|i| per_input.iter().map(|p| p[i].clone()).collect()).collect()
        };
        let alone: Vec<Vec<Tensor>> = parts.into_iter().map(|p| m.run(p).unwrap()).collect();
        for (o, spec) in sig.outputs.iter().enumerate() {
            let joined =
                Tensor::concat_rows(&alone.iter().map(|outs| outs[o].clone()).collect::<Vec<_>>())
                    .unwrap();
            if joined != whole[o] {
                differ.push(format!("{model}/{} in parts {splits:?}", spec.name));
            }
        }
    }
    differ
}

#[test]
fn example_models_rows_do_not_depend_on_their_batch_mates() {
    let differ: Vec<String> = ["mlp", "two_inputs", "iris_forest", "cnn"]
        .iter()
        .flat_map(|m| rows_are_independent(m))
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
}

#[test]
fn exporter_models_rows_do_not_depend_on_their_batch_mates() {
    let mut names: Vec<String> = std::fs::read_dir(models_dir().join("exporters"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("reference.json").exists())
        .map(|e| format!("exporters/{}", e.file_name().to_string_lossy()))
        .collect();
    names.sort();
    assert!(names.len() > 20, "{names:?}");
    // tract runs this graph's matrix products with size-dependent kernels: a row's outputs
    // differ in the last bits with its batch mates, and the daemon's load probe turns dynamic
    // batching off for it (daemon/src/batch/probe.rs).
    let known = "exporters/torch_transformer_encoder/";
    let differ: Vec<String> = names
        .iter()
        .flat_map(|m| rows_are_independent(m))
        .filter(|d| !d.starts_with(known))
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
}
