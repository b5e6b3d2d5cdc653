//! The GPU backend runs power-of-two buckets on PoCL: buckets up to `max_batch_size` are bound
//! at load, and a batch of 3 runs padded to 4 with the CPU target's outputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_close, models_dir};
use edgeserve_accel::gpu::GpuBackend;
use edgeserve_accel::{
    Backend, DType, LoadOptions, LoadedModel, ModelArtifact, Tensor, TensorData,
};

#[test]
fn a_batch_of_three_runs_in_bucket_four_with_the_cpu_outputs() {
    for model in ["mlp", "two_inputs", "iris_forest"] {
        let artifact = ModelArtifact::new(models_dir().join(model));
        let options = LoadOptions { device: 0, max_batch_size: 8 };
        let mut on_gpu = GpuBackend::new(None).load_model(&artifact, &options).unwrap();
        assert_eq!(on_gpu.bound_batch_sizes(), [1, 2, 4, 8], "{model}: buckets bound at load");
        let mut on_cpu = edgeserve_accel::cpu::CpuBackend::new().load(&artifact, &options).unwrap();
        let sig = on_gpu.signature().clone();
        let inputs: Vec<Tensor> = sig
            .inputs
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let shape: Vec<usize> =
                    spec.shape.iter().map(|&d| if d < 0 { 3 } else { d as usize }).collect();
                let n: usize = shape.iter().product();
                let data = match spec.dtype {
                    DType::I64 => TensorData::I64((0..n).map(|i| (i % 3) as i64).collect()),
                    _ => TensorData::F32(
                        (0..n).map(|i| ((i * 7 + k * 3) % 11) as f32 / 5.0 - 1.0).collect(),
                    ),
                };
                Tensor::new(shape, data).unwrap()
            })
            .collect();
        let from_gpu = on_gpu.run(inputs.clone()).unwrap();
        let from_cpu = on_cpu.run(inputs).unwrap();
        for ((spec, g), c) in sig.outputs.iter().zip(&from_gpu).zip(&from_cpu) {
            assert_eq!(g.rows(), 3, "{model}/{}: the padding rows are sliced off", spec.name);
            assert_close(&format!("{model}/{} batch 3", spec.name), g, c, 1e-4);
        }
        let mut sizes = on_gpu.bound_batch_sizes();
        sizes.sort();
        assert_eq!(sizes, [1, 2, 4, 8], "{model}: no plan bound for 3 rows");
    }
}
