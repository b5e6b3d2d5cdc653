//! Parity of the ONNX-ML ops with onnxruntime: each `models/exporters/<name>` model that needs
//! only ONNX-ML ops (plus standard ones), and each one-op fixture of `accel/tests/ml_fixtures`
//! (made by its `make_fixtures.py`), runs through tract with [`super::register`], at a symbolic
//! batch, on every case of its `reference.json` (a `null` in float data is a NaN).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;
use tract_onnx::prelude::*;

fn model_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/exporters").join(name)
}

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ml_fixtures").join(name)
}

/// Relative tolerance (with the same absolute floor, 1e-5) for exporter models and fixtures.
const EXPORTER_TOL: f64 = 1e-4;
const FIXTURE_TOL: f64 = 1e-5;

/// ZipMap output name → its class labels as strings, read from the proto.
fn zipmap_labels(proto: &tract_onnx::pb::ModelProto) -> Vec<(String, Vec<String>)> {
    let graph = proto.graph.as_ref().unwrap();
    graph
        .node
        .iter()
        .filter(|n| n.op_type == "ZipMap")
        .map(|n| {
            let labels = n
                .get_attr_opt_vec::<i64>("classlabels_int64s")
                .unwrap()
                .filter(|v| !v.is_empty())
                .map(|v| v.iter().map(|i| i.to_string()).collect())
                .or_else(|| n.get_attr_opt_vec::<String>("classlabels_strings").unwrap())
                .unwrap();
            (n.output[0].clone(), labels)
        })
        .collect()
}

fn close(a: f32, b: f64, tol: f64) -> bool {
    let b32 = b as f32;
    (a - b32).abs() <= (tol as f32 * b32.abs()).max(1e-5) || (a.is_nan() && b.is_nan())
}

fn close64(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= (tol * b.abs()).max(1e-5) || (a.is_nan() && b.is_nan())
}

/// A float of reference data; `null` is NaN.
fn float(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn input_tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> =
        v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data = v["data"].as_array().unwrap();
    match v["dtype"].as_str().unwrap() {
        "f32" => {
            let d: Vec<f32> = data.iter().map(|x| float(x) as f32).collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, d).unwrap().into_tensor()
        }
        "f64" => {
            let d: Vec<f64> = data.iter().map(float).collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, d).unwrap().into_tensor()
        }
        "i64" => {
            let d: Vec<i64> = data.iter().map(|x| x.as_i64().unwrap()).collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, d).unwrap().into_tensor()
        }
        "str" => {
            let d: Vec<String> = data.iter().map(|x| x.as_str().unwrap().to_string()).collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, d).unwrap().into_tensor()
        }
        other => panic!("input dtype {other}"),
    }
}

/// Compares one output; returns a description of the first mismatch.
fn compare(
    name: &str,
    got: &Tensor,
    want: &Value,
    labels: Option<&Vec<String>>,
    tol: f64,
) -> Result<(), String> {
    let data = want["data"].as_array().unwrap();
    let err = |ix: usize, g: String, w: &Value| Err(format!("{name}[{ix}]: got {g}, want {w}"));
    match want["dtype"].as_str().unwrap() {
        "zipmap" => {
            let labels = labels.ok_or(format!("{name}: no ZipMap labels"))?;
            let got = got.cast_to::<f32>().map_err(|e| e.to_string())?;
            let got = got.to_plain_array_view::<f32>().map_err(|e| e.to_string())?;
            let got = got.into_dimensionality::<tract_ndarray::Ix2>().map_err(|e| e.to_string())?;
            if got.nrows() != data.len() || got.ncols() != labels.len() {
                return Err(format!("{name}: shape {:?} for {} rows", got.shape(), data.len()));
            }
            for (r, row) in data.iter().enumerate() {
                for (k, l) in labels.iter().enumerate() {
                    let w = &row[l.as_str()];
                    if !close(got[(r, k)], w.as_f64().unwrap(), tol) {
                        return err(r * labels.len() + k, got[(r, k)].to_string(), w);
                    }
                }
            }
        }
        dt => {
            let shape: Vec<usize> = want["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            if got.shape() != shape.as_slice() {
                return Err(format!("{name}: shape {:?}, want {shape:?}", got.shape()));
            }
            match dt {
                "f32" => {
                    let got = got.cast_to::<f32>().map_err(|e| e.to_string())?;
                    let got = got.to_plain_array_view::<f32>().map_err(|e| e.to_string())?;
                    for (ix, (g, w)) in got.iter().zip(data).enumerate() {
                        if !close(*g, float(w), tol) {
                            return err(ix, g.to_string(), w);
                        }
                    }
                }
                "f64" => {
                    if got.datum_type() != f64::datum_type() {
                        return Err(format!("{name}: type {:?}, want f64", got.datum_type()));
                    }
                    let got = got.to_plain_array_view::<f64>().map_err(|e| e.to_string())?;
                    for (ix, (g, w)) in got.iter().zip(data).enumerate() {
                        if !close64(*g, float(w), tol) {
                            return err(ix, g.to_string(), w);
                        }
                    }
                }
                "i64" => {
                    let got = got.cast_to::<i64>().map_err(|e| e.to_string())?;
                    let got = got.to_plain_array_view::<i64>().map_err(|e| e.to_string())?;
                    for (ix, (g, w)) in got.iter().zip(data).enumerate() {
                        if Some(*g) != w.as_i64() {
                            return err(ix, g.to_string(), w);
                        }
                    }
                }
                "str" => {
                    let got = got.to_plain_array_view::<String>().map_err(|e| e.to_string())?;
                    for (ix, (g, w)) in got.iter().zip(data).enumerate() {
                        if Some(g.as_str()) != w.as_str() {
                            return err(ix, g.clone(), w);
                        }
                    }
                }
                other => return Err(format!("{name}: dtype {other} not compared")),
            }
        }
    }
    Ok(())
}

/// Runs every case of the model in `dir` and compares every output within `tol`.
fn parity_in(dir: PathBuf, tol: f64) {
    let name = dir.display().to_string();
    let reference: Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
    let mut onnx = tract_onnx::onnx();
    super::register(&mut onnx);
    let proto = onnx.proto_model_for_path(dir.join("model.onnx")).unwrap();
    let zipmaps = zipmap_labels(&proto);
    let mut model = onnx.model_for_proto_model(&proto).unwrap();

    // Unset batch dims: a symbolic N on axis 0 of every input.
    let batch = model.symbols.sym("N");
    let case0 = &reference["cases"][0]["inputs"];
    let input_names: Vec<String> =
        model.input_outlets().unwrap().iter().map(|o| model.node(o.node).name.clone()).collect();
    for (ix, input) in input_names.iter().enumerate() {
        let spec = &case0[input.as_str()];
        let dt = match spec["dtype"].as_str().unwrap() {
            "f32" => f32::datum_type(),
            "f64" => f64::datum_type(),
            "i64" => i64::datum_type(),
            "str" => String::datum_type(),
            other => panic!("{name}: input dtype {other}"),
        };
        let mut shape: TVec<TDim> = spec["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d.as_u64().unwrap() as usize).to_dim())
            .collect();
        shape[0] = batch.to_dim();
        model.set_input_fact(ix, InferenceFact::dt_shape(dt, shape)).unwrap();
    }
    let typed = model.into_optimized().unwrap();
    let output_names: Vec<String> = typed
        .output_outlets()
        .unwrap()
        .iter()
        .map(|o| {
            typed
                .outlet_label(*o)
                .map(String::from)
                .unwrap_or_else(|| typed.node(o.node).name.clone())
        })
        .collect();
    let plan = typed.into_runnable().unwrap();

    let mut failures = vec![];
    for case in reference["cases"].as_array().unwrap() {
        let inputs: TVec<TValue> = input_names
            .iter()
            .map(|n| input_tensor(&case["inputs"][n.as_str()]).into_tvalue())
            .collect();
        let outputs = plan.run(inputs).unwrap();
        for (out_name, got) in output_names.iter().zip(outputs.iter()) {
            let want = &case["outputs"][out_name.as_str()];
            assert!(!want.is_null(), "{name}: no reference for output {out_name}");
            let labels = zipmaps.iter().find(|(o, _)| o == out_name).map(|(_, l)| l);
            if let Err(e) = compare(out_name, got, want, labels, tol) {
                failures.push(format!("batch {}: {e}", case["batch"]));
            }
        }
    }
    assert!(failures.is_empty(), "{name}: {failures:#?}");
}

/// Runs every case of `models/exporters/<name>`.
fn parity(name: &str) {
    parity_in(model_dir(name), EXPORTER_TOL);
}

macro_rules! parity_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                parity(stringify!($name));
            }
        )*
    };
}

/// One test per fixture of `accel/tests/ml_fixtures`, in a module to keep the names apart.
macro_rules! fixture_tests {
    ($($name:ident),* $(,)?) => {
        mod fixtures {
            $(
                #[test]
                fn $name() {
                    super::parity_in(super::fixture_dir(stringify!($name)), super::FIXTURE_TOL);
                }
            )*

            /// Every fixture folder has its test.
            #[test]
            fn all_listed() {
                let listed = [$(stringify!($name)),*];
                let dir = super::fixture_dir("");
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let entry = entry.unwrap();
                    if entry.path().join("model.onnx").exists() {
                        let name = entry.file_name().into_string().unwrap();
                        assert!(listed.contains(&name.as_str()), "fixture {name} has no test");
                    }
                }
            }
        }
    };
}

fixture_tests!(
    tree_ensemble_member,
    tree_ensemble_avg2,
    tree_ensemble_f64_max,
    binarizer,
    imputer,
    feature_vectorizer,
    scaler,
    one_hot_encoder_int,
    label_encoder_v1,
    label_encoder_v2,
    label_encoder_v3,
    label_encoder_v4_double,
    label_encoder_v4_str_double,
    label_encoder_v4_mixed,
    svm_clf_linear,
    svm_clf_linear_prob,
    svm_clf_poly,
    svm_clf_poly_prob,
    svm_reg_sigmoid,
);

parity_tests!(
    skl_rf_reg,
    skl_gb_reg,
    skl_et_reg,
    xgb_reg,
    lgbm_reg,
    skl_rf_clf,
    skl_et_clf,
    skl_gb_clf,
    skl_gb_clf3,
    xgb_clf,
    xgb_clf3,
    lgbm_clf,
    lgbm_clf_binary,
    skl_string_labels,
    skl_svr,
    skl_svc,
    skl_pipeline_pca,
    skl_column_transformer,
    skl_isolation_forest,
    skl_logreg,
    skl_linreg,
);
