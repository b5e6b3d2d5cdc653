//! Request decoding, each path on the issue-18 MLP's inputs (784 FP32 values per row, written
//! with 7 decimals as clients print normalised pixels): the seed body through the byte scanner
//! (`codec/scan.rs`) and through the serde visitor it falls back to (a body with an extra
//! member), and a 64-row Open Inference Protocol JSON body through the hot path
//! (`oip::decode_json`) and through the `Value` tree (`oip::decode`). Run with
//! `cargo bench -p edgeserve-daemon --bench decode`; compare the paths within one run.

use criterion::{criterion_group, criterion_main, Criterion};
use edgeserve_accel::{DType, Signature, TensorSpec};
use edgeserve_daemon::codec::{fast, oip};
use std::hint::black_box;

/// `n` values in [0, 2) rounded to 7 decimals, from a fixed sequence.
fn values(n: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let parts: Vec<String> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0;
            format!("{}", (x * 1e7).round() / 1e7)
        })
        .collect();
    parts.join(", ")
}

fn decode(c: &mut Criterion) {
    let spec = TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![-1, 784] };
    let sig = Signature { inputs: vec![spec], outputs: Vec::new(), zipmaps: Default::default() };
    let seed = format!(r#"{{"data": [[{}]]}}"#, values(784)).into_bytes();
    let seed_extra = format!(r#"{{"id": "a", "data": [[{}]]}}"#, values(784)).into_bytes();
    let oip64 = format!(
        r#"{{"inputs": [{{"name": "x", "shape": [64, 784], "datatype": "FP32", "data": [{}]}}]}}"#,
        values(64 * 784)
    )
    .into_bytes();
    let mut g = c.benchmark_group("decode");
    g.bench_function("seed 1x784 scanner", |b| {
        b.iter(|| fast::seed_decode(black_box(&seed), &sig))
    });
    g.bench_function("seed 1x784 serde visitor", |b| {
        b.iter(|| fast::seed_decode(black_box(&seed_extra), &sig))
    });
    g.bench_function("oip json 64x784 hot path", |b| {
        b.iter(|| oip::decode_json(black_box(&oip64), &sig, None).map(|r| r.is_ok()))
    });
    g.bench_function("oip json 64x784 tree", |b| {
        b.iter(|| {
            serde_json::from_slice(black_box(&oip64))
                .map(|v| oip::decode(v, &sig, None).is_ok())
                .is_ok()
        })
    });
    // The route as issue 18 found it, for the "JSON path ≥ 2× today's" target: the body parsed
    // to a tree, the typed read copying `data` through `from_value`, then each element read.
    g.bench_function("oip json 64x784 as issue 18 found it", |b| {
        #[derive(serde::Deserialize)]
        struct Input {
            #[allow(dead_code)]
            name: String,
            shape: Vec<usize>,
            data: serde_json::Value,
        }
        #[derive(serde::Deserialize)]
        struct Request {
            inputs: Vec<Input>,
        }
        fn leaves(v: &serde_json::Value, out: &mut Vec<f32>) {
            match v {
                serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
                x => out.push(x.as_f64().unwrap_or(f64::NAN) as f32),
            }
        }
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(&oip64)).ok()?;
            let req: Request = serde_json::from_value(value).ok()?;
            let mut out = Vec::new();
            leaves(&req.inputs.first()?.data, &mut out);
            Some((req.inputs[0].shape.len(), out.len()))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = decode
}
criterion_main!(benches);
