//! The GPU target end to end (issue 8): OpenCL on PoCL behind the real daemon and CLI.

use edgeserve_tests::{models_dir, Harness};
use serde_json::Value;

use crate::reference::check_within;

/// Registers `model` from the example folder `dir` and deploys it on GPU device 0 as the only
/// deployment of a new endpoint of the same name.
fn deploy_on_gpu(h: &Harness, model: &str, dir: &str) -> Value {
    let path = models_dir().join(dir).display().to_string();
    h.cli_json(&["model", "register", "--name", model, "--version", "1", "--path", &path]);
    h.cli_json(&["endpoint", "create", "--name", model]);
    let file = h.write_file(
        &format!("{model}.toml"),
        &format!(
            "name = \"gpu\"\nendpoint = \"{model}\"\nmodel = \"{model}:1\"\ntarget = \"gpu\"\n\
             device = 0\n"
        ),
    );
    h.cli_json(&["deployment", "create", "-f", &file, "--all-traffic"])
}

/// `deployment create` of `model` on the GPU as `endpoint/gpu`, expected to be refused; returns
/// the CLI's error text.
fn refused_on_gpu(h: &Harness, endpoint: &str, model: &str, extra: &[&str]) -> String {
    let mut args =
        vec!["deployment", "create", "--name", "gpu", "--endpoint", endpoint, "--model", model];
    args.extend(["--target", "gpu"]);
    args.extend(extra);
    let (code, err) = h.cli_err(&args);
    assert_eq!(code, 1, "{err}");
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn gpu_deployments_score_over_tls_and_restart_from_the_program_cache() {
    let mut h = Harness::bare();
    h.start();
    let d = deploy_on_gpu(&h, "vision", "cnn");
    assert_eq!(d["state"], "Succeeded", "{d}");
    assert_eq!(d["target"], "gpu");
    check_within(&h, "vision", "cnn", 1e-4).await;
    let d = deploy_on_gpu(&h, "forest", "iris_forest");
    assert_eq!(d["state"], "Succeeded", "{d}");
    check_within(&h, "forest", "iris_forest", 1e-4).await;

    // Where the nodes run: the CNN wholly on the device, the forest's tree op on the host.
    let show = h.cli_json(&["deployment", "show", "-n", "gpu", "-e", "vision"]);
    assert_eq!(
        (show["gpuNodes"].as_u64(), show["hostNodes"].as_u64()),
        (Some(9), Some(0)),
        "{show}"
    );
    assert_eq!(show["hostOps"], serde_json::json!([]), "{show}");
    let show = h.cli_json(&["deployment", "show", "-n", "gpu", "-e", "forest"]);
    assert_eq!(show["hostNodes"], 1, "{show}");
    assert_eq!(show["hostOps"], serde_json::json!(["TreeEnsembleClassifier"]), "{show}");
    let logs = h.logs();
    assert!(logs.contains("9 nodes run on the device, 0 on the host"), "{logs}");
    assert!(
        logs.contains("0 nodes run on the device, 1 on the host (TreeEnsembleClassifier)"),
        "{logs}"
    );

    // The program was built once and cached under the state dir; PoCL's own kernel cache was
    // pointed there too (the service user's home is read-only).
    let state = h.dir.path().join("state");
    let cached: Vec<_> = std::fs::read_dir(state.join("cache/opencl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "clbin"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    if std::env::var_os("POCL_CACHE_DIR").is_none() {
        assert!(state.join("cache/pocl").is_dir());
    }

    // A restart loads both deployments again without compiling.
    h.stop();
    let before = h.logs().len();
    h.start();
    let logs = h.logs()[before..].to_string();
    assert!(logs.contains("OpenCL program loaded from cache"), "{logs}");
    assert!(!logs.contains("OpenCL program compiled"), "{logs}");
    check_within(&h, "vision", "cnn", 1e-4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_list_shows_pocl_and_unsupported_models_are_refused_on_gpu() {
    let mut h = Harness::bare();
    h.start();
    let devices = h.cli_json(&["device", "list"]);
    let gpu = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target"] == "gpu")
        .unwrap_or_else(|| panic!("no gpu device in {devices}"));
    assert_eq!(gpu["index"], 0);
    assert_eq!(gpu["available"], true, "{gpu}");
    assert_eq!(gpu["platform"], "Portable Computing Language");
    assert!(gpu["computeUnits"].as_u64().unwrap() > 0, "{gpu}");
    assert!(gpu["memoryBytes"].as_u64().unwrap() > 0, "{gpu}");
    let table = h.cli(&["-o", "table", "device", "list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("Portable Computing Language"));

    let path = models_dir().join("unsupported").display().to_string();
    h.cli_json(&["model", "register", "--name", "odd", "--version", "1", "--path", &path]);
    h.cli_json(&["endpoint", "create", "--name", "odd"]);
    let err = refused_on_gpu(&h, "odd", "odd:1", &[]);
    assert!(
        err.contains("DeploymentFailed")
            && err.contains("unsupported op Frobnicate at node \"attn/3\""),
        "{err}"
    );
    let mlp = models_dir().join("mlp").display().to_string();
    h.cli_json(&["model", "register", "--name", "mlp", "--version", "1", "--path", &mlp]);
    let err = refused_on_gpu(&h, "odd", "mlp:1", &["--device", "7"]);
    assert!(err.contains("no gpu device with index 7"), "{err}");
    let listed = h.cli_json(&["deployment", "list", "-e", "odd"]);
    assert_eq!(listed, serde_json::json!([]), "refused deployments are not kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_driver_cache_degrades_only_the_gpu_target() {
    let mut h = Harness::new();
    // A path under a regular file cannot be created, even by root.
    let blocker = h.dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"").unwrap();
    h.env.push(("POCL_CACHE_DIR".into(), blocker.join("pocl").display().to_string()));
    h.start();
    let logs = h.logs();
    assert!(logs.contains("OpenCL driver cache") && logs.contains("is not writable"), "{logs}");
    // CPU endpoints keep serving; the GPU says why it is not there.
    check_within(&h, "mlp", "mlp", 1e-5).await;
    let devices = h.cli_json(&["device", "list"]);
    let gpu = devices.as_array().unwrap().iter().find(|d| d["target"] == "gpu").unwrap();
    assert_eq!(gpu["available"], false, "{gpu}");
    assert!(gpu["reason"].as_str().unwrap().contains("POCL_CACHE_DIR"), "{gpu}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_opencl_platform_gpu_deployments_fail_and_cpu_keeps_serving() {
    let mut h = Harness::new();
    // The ICD loader finds no vendor file: no platform at all.
    let vendors = h.dir.path().join("no-icds");
    std::fs::create_dir_all(&vendors).unwrap();
    h.env.push(("OCL_ICD_VENDORS".into(), vendors.display().to_string()));
    h.start();
    let devices = h.cli_json(&["device", "list"]);
    let gpu = devices.as_array().unwrap().iter().find(|d| d["target"] == "gpu").unwrap();
    assert_eq!(gpu["available"], false, "{gpu}");
    assert_eq!(gpu["reason"], "no OpenCL platform found (is an ICD installed?)", "{gpu}");
    let err = refused_on_gpu(&h, "mlp", "mlp:1", &[]);
    assert!(err.contains("no OpenCL platform found (is an ICD installed?)"), "{err}");
    check_within(&h, "mlp", "mlp", 1e-5).await;
}

/// Exporter models deploy on the GPU and score like onnxruntime (issue 20): what the kernels lack
/// (an LSTM's `Scan`, ONNX-ML tree ops) runs on the host; upsampling (`Resize`) and the rest of
/// an isolation forest's arithmetic run on the device.
#[tokio::test(flavor = "multi_thread")]
async fn exporter_models_with_host_ops_deploy_and_score_on_gpu() {
    let mut h = Harness::bare();
    h.start();
    for (endpoint, dir, host_op) in [
        ("upsample", "exporters/torch_interpolate", None),
        ("isolation", "exporters/skl_isolation_forest", Some("TreeEnsembleRegressor")),
        ("lstm", "exporters/torch_lstm", Some("Scan")),
    ] {
        let d = deploy_on_gpu(&h, endpoint, dir);
        assert_eq!(d["state"], "Succeeded", "{d}");
        let show = h.cli_json(&["deployment", "show", "-n", "gpu", "-e", endpoint]);
        assert!(show["gpuNodes"].as_u64().unwrap() > 0, "{show}");
        let ops: Vec<&str> =
            show["hostOps"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
        match host_op {
            Some(op) => assert!(ops.contains(&op), "{show}"),
            None => assert_eq!(show["hostNodes"], 0, "{show}"),
        }
        check_within(&h, endpoint, dir, 1e-4).await;
    }
}
