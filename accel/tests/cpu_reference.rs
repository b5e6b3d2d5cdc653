//! The CPU backend against onnxruntime's reference outputs for every committed example model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_close, cases, models_dir, reference, tempfile_dir, tensor_from_json};
use edgeserve_accel::{
    Backend, Backends, DType, ErrorKind, LoadOptions, ModelArtifact, Target, Tensor, TensorData,
};

fn check_against_reference(model: &str) {
    let dir = models_dir().join(model);
    let reference = reference(model);
    let backends = Backends::builtin(None);
    let mut loaded =
        backends.load(Target::Cpu, &ModelArtifact::new(&dir), &LoadOptions::default()).unwrap();
    let sig = loaded.signature().clone();
    for case in cases(&reference) {
        let inputs: Vec<Tensor> =
            sig.inputs.iter().map(|s| tensor_from_json(&case["inputs"][&s.name])).collect();
        let outputs = loaded.run(inputs).unwrap();
        assert_eq!(outputs.len(), sig.outputs.len());
        for (spec, got) in sig.outputs.iter().zip(&outputs) {
            let want = tensor_from_json(&case["outputs"][&spec.name]);
            assert_close(
                &format!("{model}/{} batch {}", spec.name, case["batch"]),
                got,
                &want,
                1e-5,
            );
        }
    }
}

#[test]
fn mlp_matches_onnxruntime() {
    check_against_reference("mlp");
}

#[test]
fn cnn_matches_onnxruntime() {
    check_against_reference("cnn");
}

#[test]
fn two_inputs_matches_onnxruntime() {
    check_against_reference("two_inputs");
}

#[test]
fn sklearn_forest_matches_onnxruntime() {
    check_against_reference("iris_forest");
}

#[test]
fn signature_has_dynamic_batch_and_names() {
    let backend = edgeserve_accel::cpu::CpuBackend::new();
    let m = backend
        .load(&ModelArtifact::new(models_dir().join("iris_forest")), &LoadOptions::default())
        .unwrap();
    let sig = m.signature();
    assert_eq!(sig.inputs.len(), 1);
    assert_eq!(sig.inputs[0].name, "X");
    assert_eq!(sig.inputs[0].shape, vec![-1, 4]);
    assert_eq!(sig.inputs[0].dtype, DType::F32);
    let outs: Vec<_> = sig.outputs.iter().map(|o| (o.name.as_str(), o.dtype)).collect();
    assert_eq!(outs, vec![("label", DType::I64), ("probabilities", DType::F32)]);
}

#[test]
fn unsupported_op_fails_at_load_naming_op_and_node() {
    common::assert_unsupported_op_is_named(Target::Cpu);
}

/// tract panics typing a GRU without an initial state at a symbolic batch: every target refuses
/// the model with an error naming it, and the caller's thread goes on.
#[test]
fn a_model_tract_panics_on_is_an_invalid_model_on_every_target() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gru_without_initial_state");
    for target in [Target::Cpu, Target::Gpu] {
        let err = Backends::builtin(None)
            .load(target, &ModelArtifact::new(&dir), &LoadOptions::default())
            .err()
            .expect("load must fail");
        assert_eq!(err.kind(), ErrorKind::InvalidModel, "{target}: {err}");
        assert!(err.to_string().contains("tract could not read the graph"), "{target}: {err}");
    }
}

#[test]
fn garbage_file_is_an_invalid_model() {
    let dir = tempfile_dir();
    std::fs::write(dir.join("model.onnx"), b"this is not protobuf at all").unwrap();
    let err = Backends::builtin(None)
        .load(Target::Cpu, &ModelArtifact::new(&dir), &LoadOptions::default())
        .err()
        .expect("load must fail");
    assert_eq!(err.kind(), ErrorKind::InvalidModel);
    assert!(err.to_string().starts_with("invalid model "), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile_dir();
    let err = Backends::builtin(None)
        .load(Target::Cpu, &ModelArtifact::new(&dir), &LoadOptions::default())
        .err()
        .expect("load must fail");
    assert!(err.to_string().contains("model.onnx"), "{err}");
}

#[test]
fn wrong_shape_is_refused_before_running() {
    let mut m = Backends::builtin(None)
        .load(Target::Cpu, &ModelArtifact::new(models_dir().join("mlp")), &LoadOptions::default())
        .unwrap();
    let t = Tensor::new(vec![2, 5], TensorData::F32(vec![0.0; 10])).unwrap();
    let err = m.run(vec![t]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "input x: expected shape [-1,4], got [2,5]");
}

#[test]
fn unknown_device_index_is_refused() {
    let err = Backends::builtin(None)
        .load(
            Target::Cpu,
            &ModelArtifact::new(models_dir().join("mlp")),
            &LoadOptions { device: 3, max_batch_size: 1 },
        )
        .err()
        .expect("load must fail");
    assert_eq!(err.to_string(), "no cpu device with index 3 (1 available)");
}

#[test]
fn cpu_device_is_listed() {
    let devices: Vec<_> =
        Backends::builtin(None).devices().into_iter().filter(|d| d.target == Target::Cpu).collect();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].target, Target::Cpu);
    assert!(devices[0].available);
    assert!(devices[0].memory_bytes > 0);
}

#[test]
fn heavy_matches_onnxruntime() {
    check_against_reference("heavy");
}

#[test]
fn ops_tour_matches_onnxruntime() {
    check_against_reference("ops_tour");
}

#[test]
fn a_model_planned_per_batch_size_may_not_run_on_a_callers_thread() {
    let backend = edgeserve_accel::cpu::CpuBackend::new();
    let load = |name: &str| {
        backend.load(&ModelArtifact::new(models_dir().join(name)), &LoadOptions::default()).unwrap()
    };
    let mut mlp = load("mlp");
    mlp.run(mlp.signature().zeros(3).unwrap()).unwrap();
    assert!(mlp.host_only(), "the MLP runs one symbolic plan for every batch size");
    // Resize sized from Shape(x): its first run switches it to a plan per batch size, and a
    // new size then builds a plan (tens of ms).
    let mut interpolate = load("exporters/torch_interpolate");
    interpolate.run(interpolate.signature().zeros(3).unwrap()).unwrap();
    assert!(!interpolate.host_only(), "planned per batch size");
}
