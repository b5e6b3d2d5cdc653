//! Helpers shared by the backend tests: example models and onnxruntime's reference outputs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use edgeserve_accel::{Tensor, TensorData};
use serde_json::Value;

/// The committed example models (`models/` at the repository root).
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// A model's `reference.json` (written by `models/make_examples.py` with onnxruntime).
pub fn reference(model: &str) -> Value {
    let path = models_dir().join(model).join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The reference cases of a model, each `{batch, inputs, outputs}`.
pub fn cases(reference: &Value) -> &Vec<Value> {
    let cases = reference["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    cases
}

pub fn tensor_from_json(v: &Value) -> Tensor {
    let shape: Vec<usize> =
        v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data = v["data"].as_array().unwrap();
    let data = match v["dtype"].as_str().unwrap() {
        "f32" => TensorData::F32(data.iter().map(|x| x.as_f64().unwrap() as f32).collect()),
        "f64" => TensorData::F64(data.iter().map(|x| x.as_f64().unwrap()).collect()),
        "f16" => {
            TensorData::F16(data.iter().map(|x| half::f16::from_f64(x.as_f64().unwrap())).collect())
        }
        "i64" => TensorData::I64(data.iter().map(|x| x.as_i64().unwrap()).collect()),
        "str" => TensorData::Str(data.iter().map(|x| x.as_str().unwrap().to_string()).collect()),
        other => panic!("reference dtype {other} not handled"),
    };
    Tensor::new(shape, data).unwrap()
}

/// Same shape and dtype; floats within `tol`, integers equal.
pub fn assert_close(name: &str, got: &Tensor, want: &Tensor, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{name}: shape");
    match (got.data(), want.data()) {
        (TensorData::F32(g), TensorData::F32(w)) => {
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(((a - b) as f64).abs() <= tol, "{name}[{i}]: got {a}, want {b}");
            }
        }
        (TensorData::I64(g), TensorData::I64(w)) => assert_eq!(g, w, "{name}"),
        (g, w) => panic!("{name}: dtype {:?} vs {:?}", g.dtype(), w.dtype()),
    }
}

/// A fresh empty folder under the system temp dir.
pub fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edgeserve-accel-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loading the `unsupported` example on `target` fails at load, naming the op and the node.
pub fn assert_unsupported_op_is_named(target: edgeserve_accel::Target) {
    use edgeserve_accel::{Backends, ErrorKind, LoadOptions, ModelArtifact};
    let err = Backends::builtin(None)
        .load(
            target,
            &ModelArtifact::new(models_dir().join("unsupported")),
            &LoadOptions::default(),
        )
        .err()
        .expect("load must fail");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.to_string(), "unsupported op Frobnicate at node \"attn/3\"");
}

/// A fresh FPGA package folder: a built xclbin with kernel `kernel` (`x`, `y`, `n`) and a
/// `kernel.toml` mapping `x` [-1, 4] and `y` [-1, 3] onto it.
pub fn fpga_package(kernel: &str) -> PathBuf {
    use edgeserve_accel::fpga::xclbin::builder::XclbinBuilder;
    let dir = tempfile_dir();
    std::fs::write(dir.join("model.xclbin"), XclbinBuilder::new("p").model_kernel(kernel).build())
        .unwrap();
    let manifest = format!(
        "kernel = \"{kernel}\"\n[[input]]\nname = \"x\"\ndtype = \"f32\"\nshape = [-1, 4]\narg = 0\n\
         [[output]]\nname = \"y\"\ndtype = \"f32\"\nshape = [-1, 3]\narg = 1\n"
    );
    std::fs::write(dir.join("kernel.toml"), manifest).unwrap();
    dir
}
