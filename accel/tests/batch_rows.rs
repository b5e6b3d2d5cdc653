//! Dynamic batching's premise on the CPU target: in a run of a given size, a row's outputs do not
//! depend on the other rows of the run. Each example and exporter model runs its batch-5
//! reference inputs as one batch, then each part of a few splits at its own positions with the
//! other rows zeroed; the part's rows must be bit-identical to the whole run's.
//!
//! A row's *position* may matter, and what does depends on the CPU: tract reduces a row
//! (softmax's sum, say) with SIMD over aligned memory and the unaligned ends apart, so on an AMD
//! EPYC (AVX2) a 3-wide softmax row that straddles a 32-byte boundary sums in another order,
//! while on the Intel machines before it did not. The run size may matter too (tract picks
//! kernels by size). Neither is asserted here: the daemon's load probe
//! (`daemon/src/batch/probe.rs`) checks both on the machine it runs on and turns batching off,
//! or pads to proven sizes, accordingly (on that EPYC: off for `mlp` and
//! `exporters/skl_pipeline_pca`, on for `cnn` and `two_inputs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{models_dir, reference, tensor_from_json};
use edgeserve_accel::{Backends, LoadOptions, ModelArtifact, Target, Tensor};

/// Runs `model`'s batch-5 case whole, then each part of a few splits at its own rows with the
/// others zeroed, comparing bit for bit; returns the outputs that differ.
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
    for parts in [vec![0..1, 1..2, 2..3, 3..4, 4..5], vec![0..2, 2..5], vec![0..4, 4..5]] {
        for part in parts {
            // The part's rows where they stand, zero rows (empty text) everywhere else.
            let keep = |t: &Tensor| -> Tensor {
                let rows: Vec<Tensor> = (0..5)
                    .map(|r| {
                        let row = t.slice_rows(r..r + 1).unwrap();
                        if part.contains(&r) {
                            row
                        } else {
                            t.slice_rows(0..0).unwrap().pad_rows(1).unwrap()
                        }
                    })
                    .collect();
                Tensor::concat_rows(&rows).unwrap()
            };
            let got = m.run(inputs.iter().map(keep).collect()).unwrap();
            for ((spec, w), g) in sig.outputs.iter().zip(&whole).zip(&got) {
                if w.slice_rows(part.clone()).unwrap() != g.slice_rows(part.clone()).unwrap() {
                    differ.push(format!("{model}/{} rows {part:?}", spec.name));
                }
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
    // At a fixed run size every exporter model passes, the transformer encoder too (unpadded
    // parts, a run size of their own, differed on the Intel machines before: tract's kernels by
    // size; the daemon's probe turns batching off for it there).
    let differ: Vec<String> = names.iter().flat_map(|m| rows_are_independent(m)).collect();
    assert!(differ.is_empty(), "{differ:#?}");
}
