//! `compute-floor`: the in-process compute floor for bench/run.sh — one example model on the CPU
//! backend (tract), run in a loop at a batch size, no HTTP, no JSON. Prints one JSON line:
//! `{"model","batch","runs","microsPerRun","microsPerRow"}`.
//!
//! `compute-floor MODEL_DIR BATCH [SECONDS]` (default 2 s of runs after a warm-up).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgeserve_accel::{Backend, LoadOptions, ModelArtifact, Tensor, TensorData};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("usage: compute-floor MODEL_DIR BATCH [SECONDS]")?);
    let batch: usize = args.next().context("BATCH missing")?.parse().context("BATCH")?;
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let cpu = edgeserve_accel::cpu::CpuBackend::new();
    let mut model = cpu
        .load(&ModelArtifact::new(dir.clone()), &LoadOptions::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let inputs: Vec<Tensor> = model
        .signature()
        .inputs
        .iter()
        .map(|spec| {
            let mut shape: Vec<usize> = spec.shape.iter().map(|&d| d.max(1) as usize).collect();
            shape[0] = batch;
            let n: usize = shape.iter().product();
            let data = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            Tensor::new(shape, TensorData::F32(data)).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    // Warm-up: binds the batch size's plan.
    for _ in 0..10 {
        model.run(inputs.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < budget {
        model.run(inputs.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        runs += 1;
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / runs as f64;
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    println!(
        "{{\"model\":\"{name}\",\"batch\":{batch},\"runs\":{runs},\"microsPerRun\":{micros:.2},\"microsPerRow\":{:.2}}}",
        micros / batch as f64
    );
    Ok(())
}
