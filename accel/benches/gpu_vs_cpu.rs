//! The GPU backend (OpenCL) against the CPU backend (tract) on the same example models and
//! batches, measured in the same run so their ratio means something on a shared machine.
//!
//! `cargo bench -p edgeserve-accel --bench gpu_vs_cpu`; then
//! `python3 scripts/bench-ratios.py` prints GPU time / CPU time per model and batch, with each
//! model's device/host split (which the bench writes to `target/criterion/split.json` and prints).
//! Here the "GPU" is PoCL, OpenCL on the same CPU cores: the ratio says how much the generic
//! kernels cost against tract's tuned CPU code, not how a real GPU would do.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgeserve_accel::{Backend, LoadOptions, LoadedModel, ModelArtifact, Tensor, TensorData};

/// Models, each with the batch sizes measured.
const CASES: &[(&str, &[usize])] = &[
    ("mlp", &[1, 64]),
    ("cnn", &[1, 16]),
    ("heavy", &[1, 16]),
    ("exporters/torch_resnet18", &[1, 8]),
    ("exporters/torch_mobilenet_v3_small", &[1, 8]),
    ("exporters/torch_transformer_encoder", &[1, 8]),
];

fn artifact(model: &str) -> ModelArtifact {
    ModelArtifact::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models").join(model))
}

/// Deterministic inputs of the model's signature at `batch` rows.
fn inputs(model: &dyn LoadedModel, batch: usize) -> Vec<Tensor> {
    model
        .signature()
        .inputs
        .iter()
        .map(|spec| {
            let mut shape: Vec<usize> = spec.shape.iter().map(|&d| d.max(1) as usize).collect();
            shape[0] = batch;
            let n: usize = shape.iter().product();
            let data = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            Tensor::new(shape, TensorData::F32(data)).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn gpu_vs_cpu(c: &mut Criterion) {
    let cpu = edgeserve_accel::cpu::CpuBackend::new();
    let gpu = edgeserve_accel::gpu::GpuBackend::new(None);
    let mut splits = serde_json::Map::new();
    for &(path, batches) in CASES {
        let name = path.rsplit('/').next().unwrap_or(path);
        let options = LoadOptions::default();
        let load = |b: &dyn Backend| {
            b.load(&artifact(path), &options).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let mut on_cpu = load(&cpu);
        let mut on_gpu = load(&gpu);
        if let Some(p) = on_gpu.placement() {
            println!(
                "{name}: {} nodes on the device, {} on the host {:?}",
                p.device_nodes, p.host_nodes, p.host_ops
            );
            splits.insert(
                name.to_string(),
                serde_json::json!({"device": p.device_nodes, "host": p.host_nodes, "hostOps": p.host_ops}),
            );
        }
        let mut group = c.benchmark_group(name);
        for &batch in batches {
            let x = inputs(on_cpu.as_ref(), batch);
            for (label, model) in [("cpu", &mut on_cpu), ("gpu", &mut on_gpu)] {
                // Warm: binds the batch size's buffers, so the loop measures runs only.
                model.run(x.clone()).unwrap_or_else(|e| panic!("{name}/{label}: {e}"));
                group.bench_with_input(BenchmarkId::new(label, batch), &x, |b, x| {
                    b.iter(|| black_box(model.run(x.clone())))
                });
            }
        }
        group.finish();
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/split.json");
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&out, serde_json::Value::Object(splits).to_string());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500));
    targets = gpu_vs_cpu
}
criterion_main!(benches);
