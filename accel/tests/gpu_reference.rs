//! The GPU backend on PoCL against the CPU backend and onnxruntime's reference outputs, for
//! every committed example model, plus load-time behaviour (refusals, fusion, program cache).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_close, cases, models_dir, reference, tempfile_dir, tensor_from_json};
use edgeserve_accel::gpu::{GpuBackend, ProgramOrigin};
use edgeserve_accel::{Backend, ErrorKind, LoadOptions, ModelArtifact, Target, Tensor, TensorData};

/// GPU and CPU agree within this, and both agree with onnxruntime within it.
const TOL: f64 = 1e-4;

fn gpu() -> GpuBackend {
    GpuBackend::new(None)
}

/// Runs every reference case (batch 1, 5 and 7) on the GPU and the CPU and compares all three.
fn check_parity(model: &str) {
    let artifact = ModelArtifact::new(models_dir().join(model));
    let mut on_gpu = gpu().load_model(&artifact, &LoadOptions::default()).unwrap();
    let mut on_cpu =
        edgeserve_accel::cpu::CpuBackend::new().load(&artifact, &LoadOptions::default()).unwrap();
    use edgeserve_accel::LoadedModel;
    let sig = on_gpu.signature().clone();
    assert_eq!(&sig, on_cpu.signature(), "{model}: GPU and CPU signatures differ");
    let reference = reference(model);
    let mut batches = Vec::new();
    for case in cases(&reference) {
        let inputs: Vec<Tensor> =
            sig.inputs.iter().map(|s| tensor_from_json(&case["inputs"][&s.name])).collect();
        batches.push(case["batch"].as_u64().unwrap());
        let from_gpu = on_gpu.run(inputs.clone()).unwrap();
        let from_cpu = on_cpu.run(inputs).unwrap();
        for ((spec, g), c) in sig.outputs.iter().zip(&from_gpu).zip(&from_cpu) {
            let what = format!("{model}/{} batch {}", spec.name, case["batch"]);
            assert_close(
                &format!("{what} GPU vs onnxruntime"),
                g,
                &tensor_from_json(&case["outputs"][&spec.name]),
                TOL,
            );
            assert_close(&format!("{what} GPU vs CPU"), g, c, TOL);
        }
    }
    assert!(batches.contains(&1) && batches.contains(&7), "{model}: cases cover {batches:?}");
}

#[test]
fn mlp_matches_cpu_and_onnxruntime() {
    check_parity("mlp");
}

#[test]
fn cnn_with_batchnorm_and_global_pool_matches() {
    check_parity("cnn");
}

#[test]
fn two_inputs_with_cast_and_broadcast_matches() {
    check_parity("two_inputs");
}

#[test]
fn sklearn_forest_matches() {
    check_parity("iris_forest");
}

#[test]
fn heavy_matmul_tanh_chain_matches() {
    check_parity("heavy");
}

#[test]
fn cnn_conv_batchnorm_relu_is_fused_at_load() {
    let artifact = ModelArtifact::new(models_dir().join("cnn"));
    let model = gpu().load_model(&artifact, &LoadOptions::default()).unwrap();
    let launches = model.launches();
    assert!(!launches.contains(&"batch_norm"), "BatchNormalization folded into Conv: {launches:?}");
    assert_eq!(launches.iter().filter(|k| k.starts_with("conv2d")).count(), 2, "{launches:?}");
    // Each Relu (tract's max(x, 0)) is applied by its convolution: the only binary launches
    // left are the global pool's mean (a Sum, then a Mul) and the classifier's bias Add.
    assert_eq!(launches.iter().filter(|k| **k == "binary_f32").count(), 2, "{launches:?}");
}

#[test]
fn unsupported_op_fails_at_load_naming_op_and_node() {
    common::assert_unsupported_op_is_named(Target::Gpu);
}

#[test]
fn program_is_compiled_once_then_loaded_from_the_cache() {
    let cache = tempfile_dir().join("opencl");
    let backend = GpuBackend::new(Some(cache.clone()));
    let artifact = ModelArtifact::new(models_dir().join("mlp"));
    let first = backend.load_model(&artifact, &LoadOptions::default()).unwrap();
    assert_eq!(first.program_origin(), ProgramOrigin::Compiled);
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one cached binary: {files:?}");
    assert_eq!(files[0].extension().unwrap(), "clbin");
    let second = backend.load_model(&artifact, &LoadOptions::default()).unwrap();
    assert_eq!(second.program_origin(), ProgramOrigin::Cached);
}

#[test]
fn corrupt_cache_entry_is_rebuilt() {
    let cache = tempfile_dir().join("opencl");
    let backend = GpuBackend::new(Some(cache.clone()));
    let artifact = ModelArtifact::new(models_dir().join("mlp"));
    backend.load_model(&artifact, &LoadOptions::default()).unwrap();
    let entry = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&entry, b"not a device binary").unwrap();
    let model = backend.load_model(&artifact, &LoadOptions::default()).unwrap();
    assert_eq!(model.program_origin(), ProgramOrigin::Compiled);
    assert_ne!(std::fs::read(&entry).unwrap(), b"not a device binary");
}

#[test]
fn unknown_device_index_is_refused() {
    let err = gpu()
        .load(
            &ModelArtifact::new(models_dir().join("mlp")),
            &LoadOptions { device: 9, max_batch_size: 1 },
        )
        .err()
        .expect("load must fail");
    assert!(err.to_string().starts_with("no gpu device with index 9 ("), "{err}");
}

#[test]
fn pocl_device_is_listed_with_platform_and_compute_units() {
    let devices = gpu().devices();
    assert!(!devices.is_empty());
    let d = &devices[0];
    assert!(d.available, "{d:?}");
    assert_eq!(d.target, Target::Gpu);
    assert_eq!(d.platform.as_deref(), Some("Portable Computing Language"));
    assert!(d.compute_units.unwrap_or(0) > 0, "{d:?}");
    assert!(d.memory_bytes > 0);
    assert!(!d.name.is_empty());
}

#[test]
fn wrong_shape_is_refused_before_running() {
    let mut m =
        gpu().load(&ModelArtifact::new(models_dir().join("mlp")), &LoadOptions::default()).unwrap();
    let t = Tensor::new(vec![2, 5], TensorData::F32(vec![0.0; 10])).unwrap();
    let err = m.run(vec![t]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "input x: expected shape [-1,4], got [2,5]");
}

#[test]
fn many_batch_sizes_reuse_bound_buffers() {
    let mut m =
        gpu().load(&ModelArtifact::new(models_dir().join("mlp")), &LoadOptions::default()).unwrap();
    // More distinct batch sizes than an instance keeps bound, then back to the first: every
    // answer stays right after plans are dropped and rebound.
    let mut first = None;
    for batch in (1..=12).chain([1]) {
        let x = Tensor::new(vec![batch, 4], TensorData::F32(vec![0.5; batch * 4])).unwrap();
        let out = m.run(vec![x]).unwrap();
        assert_eq!(out[0].shape(), &[batch, 3]);
        let row: Vec<f32> = match out[0].data() {
            TensorData::F32(v) => v[..3].to_vec(),
            other => panic!("{other:?}"),
        };
        match &first {
            None => first = Some(row),
            Some(r) => assert_eq!(r, &row, "batch {batch}"),
        }
    }
}

#[test]
fn ops_tour_matches() {
    check_parity("ops_tour");
}

#[test]
fn constant_subgraphs_are_folded_at_load() {
    let artifact = ModelArtifact::new(models_dir().join("ops_tour"));
    let model = gpu().load_model(&artifact, &LoadOptions::default()).unwrap();
    let launches = model.launches();
    // Per batch: Clip (tract's Max and Min), Sub, Div and the mean of GlobalAveragePool (a Sum,
    // then a Mul). The Add of two initializers ("mean_folded") was folded by tract at load.
    assert_eq!(launches.iter().filter(|k| **k == "binary_f32").count(), 5, "{launches:?}");
}

#[test]
fn out_of_range_gather_index_is_an_input_error() {
    let artifact = ModelArtifact::new(models_dir().join("ops_tour"));
    let mut model = gpu().load(&artifact, &LoadOptions::default()).unwrap();
    let x = Tensor::new(vec![1, 2, 9, 9], TensorData::F32(vec![0.1; 162])).unwrap();
    let ids = Tensor::new(vec![1, 2], TensorData::I64(vec![3, 10])).unwrap();
    let err = model.run(vec![x.clone(), ids]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("out of range"), "{err}");
    // The instance stays usable.
    let ids = Tensor::new(vec![1, 2], TensorData::I64(vec![3, -1])).unwrap();
    assert_eq!(model.run(vec![x, ids]).unwrap().len(), 4);
}

/// Products whose B and Y rows are contiguous run 8 outputs per work item (`matmul_rows8`), at
/// batch 1 and 32, and agree with the CPU.
#[test]
fn row_blocked_products_agree_with_the_cpu() {
    use edgeserve_accel::LoadedModel;
    let artifact = ModelArtifact::new(models_dir().join("heavy"));
    let options = LoadOptions { device: 0, max_batch_size: 32 };
    let mut on_gpu = gpu().load_model(&artifact, &options).unwrap();
    let mut on_cpu = edgeserve_accel::cpu::CpuBackend::new().load(&artifact, &options).unwrap();
    let rows = 32;
    let x: Vec<f32> = (0..rows * 4).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    let x = Tensor::new(vec![rows, 4], TensorData::F32(x)).unwrap();
    let g = on_gpu.run(vec![x.clone()]).unwrap();
    let c = on_cpu.run(vec![x]).unwrap();
    for batch in [1, 32] {
        let launches = on_gpu.launches_at(batch).unwrap();
        assert!(launches.contains(&"matmul_rows8"), "{launches:?}");
    }
    let scale = match c[0].data() {
        TensorData::F32(v) => v.iter().fold(1e-6f32, |m, x| m.max(x.abs())) as f64,
        other => panic!("{other:?}"),
    };
    assert_close("heavy batch 32 GPU vs CPU", &g[0], &c[0], TOL * scale);
    let cnn = ModelArtifact::new(models_dir().join("cnn"));
    let launches = gpu().load_model(&cnn, &LoadOptions::default()).unwrap().launches();
    assert!(launches.contains(&"conv2d_w4"), "4 output columns per work item: {launches:?}");
}
