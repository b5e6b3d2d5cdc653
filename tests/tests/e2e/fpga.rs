//! The FPGA target end to end (issue 9): the real daemon and CLI, the real XRT libraries, and
//! XRT's no-op shim instead of a card (`XCL_EMULATION_MODE=noop`).

use std::path::{Path, PathBuf};

use edgeserve_accel::fpga::xclbin::builder::XclbinBuilder;
use edgeserve_tests::Harness;
use serde_json::{json, Value};

const VBNV: &str = "xilinx_u250_gen3x16_xdma_4_1_202210_1";
const MANIFEST: &str = "kernel = \"mlp_infer\"\n\
    [[input]]\nname = \"x\"\ndtype = \"f32\"\nshape = [-1, 4]\narg = 0\n\
    [[output]]\nname = \"y\"\ndtype = \"f32\"\nshape = [-1, 3]\narg = 1\n\
    [batch]\narg = 2\n";

/// Writes an FPGA package (`model.xclbin` + `kernel.toml`) into `dir/name`.
fn package(dir: &Path, name: &str, xclbin: &[u8], manifest: &str) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("model.xclbin"), xclbin).unwrap();
    std::fs::write(d.join("kernel.toml"), manifest).unwrap();
    d.display().to_string()
}

/// `XILINX_XRT` for the no-op shim: a folder whose `lib/` is the system's XRT libraries.
fn noop_env(h: &mut Harness) {
    let root: PathBuf = h.dir.path().join("xrt");
    std::fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::symlink("/usr/lib/x86_64-linux-gnu", root.join("lib")).unwrap();
    h.env.push(("XILINX_XRT".into(), root.display().to_string()));
    h.env.push(("XCL_EMULATION_MODE".into(), "noop".into()));
    h.env.push(("EDGESERVE_LOG".into(), "info,edgeserve_accel::fpga=debug".into()));
}

/// Registers a good package as `fmlp:1` and creates the plain endpoint `edge`.
fn register_package_and_endpoint(h: &Harness) -> Value {
    let xclbin = XclbinBuilder::new(VBNV).model_kernel("mlp_infer").build();
    let path = package(h.dir.path(), "pkg", &xclbin, MANIFEST);
    let m = h.cli_json(&["model", "register", "--name", "fmlp", "--version", "1", "--path", &path]);
    h.cli_json(&["endpoint", "create", "--name", "edge", "--transport", "plain"]);
    m
}

/// `deployment create` of `fmlp:1` on FPGA device 0 as `edge/fpga`.
const CREATE_FPGA: [&str; 11] = [
    "deployment",
    "create",
    "--name",
    "fpga",
    "--endpoint",
    "edge",
    "--model",
    "fmlp:1",
    "--target",
    "fpga",
    "--all-traffic",
];

fn fpga_device(h: &Harness) -> Value {
    let devices = h.cli_json(&["device", "list"]);
    devices.as_array().unwrap().iter().find(|d| d["target"] == "fpga").unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn fpga_deployment_scores_on_the_plain_listener_through_xrt() {
    let mut h = Harness::bare();
    noop_env(&mut h);
    h.start();
    let m = register_package_and_endpoint(&h);
    assert_eq!(m["signature"]["inputs"][0]["shape"], json!([-1, 4]), "{m}");
    let d = h.cli_json(&CREATE_FPGA);
    assert_eq!(d["state"], "Succeeded", "{d}");
    let dev = fpga_device(&h);
    assert_eq!(dev["available"], true, "{dev}");
    assert_eq!(dev["memoryBanks"], json!(["bank0"]), "{dev}");

    let (key, _) = h.keys("edge");
    let url = format!("http://{}/api/v1/service/edge/score", h.daemon().plain);
    let client = reqwest::Client::new();
    let body = json!({"data": [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]]});
    let resp = client.post(&url).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let got: Value = resp.json().await.unwrap();
    // The no-op shim computes nothing: the answer has the manifest's shape.
    let rows = got["result"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{got}");
    assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 3), "{got}");
    // Keys are still required on the plain listener; FPGA endpoints are not on the TLS one.
    let resp = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp =
        h.client().post(h.score_url("edge")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // The daemon's stderr is read asynchronously: wait for the request's last XRT call.
    h.wait_for_log("call=xrtBORead", std::time::Duration::from_secs(10));
    let logs = h.logs();
    for call in [
        "xrtDeviceOpen",
        "xrtXclbinAllocRawData",
        "xrtDeviceLoadXclbinHandle",
        "xrtPLKernelOpen",
        "xrtKernelArgGroupId",
        "xrtBOAlloc",
        "xrtRunOpen",
        "xrtRunSetArg",
        "xrtBOWrite",
        "xrtBOSync(to device)",
        "xrtRunStart",
        "xrtRunWaitFor",
        "xrtBOSync(from device)",
        "xrtBORead",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains("XRT call succeeded") && l.contains(&format!("call={call}"))),
            "no successful {call} in the logs:\n{logs}"
        );
    }
    assert!(!key.is_empty() && !logs.contains(&key), "the key must never be logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_fpga_packages_are_refused_at_register_with_the_field_named() {
    let mut h = Harness::bare();
    noop_env(&mut h);
    h.start();
    let good = XclbinBuilder::new(VBNV).model_kernel("mlp_infer");
    let mut wrong_magic = good.build();
    wrong_magic[..8].copy_from_slice(b"xclbin1\0");
    let full = good.build();
    let truncated = &full[..full.len() - 100];
    let mut no_ip = good.clone();
    no_ip.omit.push(edgeserve_accel::fpga::xclbin::kind::IP_LAYOUT);
    let cases: Vec<(&str, Vec<u8>, String, &str)> = vec![
        ("magic", wrong_magic, MANIFEST.into(), "magic is \"xclbin1\\0\", expected \"xclbin2\""),
        ("short", truncated.to_vec(), MANIFEST.into(), "does not match the file size"),
        ("noip", no_ip.build(), MANIFEST.into(), "missing IP_LAYOUT section"),
        (
            "nokernel",
            full.clone(),
            MANIFEST.replace("mlp_infer", "cnn_infer"),
            "names kernel \"cnn_infer\", which the xclbin does not have (it has: mlp_infer)",
        ),
        (
            "badarg",
            full.clone(),
            MANIFEST.replace("arg = 1", "arg = 5"),
            "output y uses argument 5 of kernel mlp_infer, which has 3 arguments",
        ),
        ("nomanifest", full.clone(), String::new(), "kernel.toml"),
    ];
    for (name, bytes, manifest, want) in cases {
        let path = package(h.dir.path(), name, &bytes, &manifest);
        if manifest.is_empty() {
            std::fs::remove_file(Path::new(&path).join("kernel.toml")).unwrap();
        }
        let (code, err) =
            h.cli_err(&["model", "register", "--name", name, "--version", "1", "--path", &path]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}\nshould contain: {want}");
    }
    assert_eq!(h.cli_json(&["model", "list"]), json!([]), "nothing half-registered");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_xrt_or_a_card_fpga_deployments_fail_and_cpu_keeps_serving() {
    for (xilinx_xrt, want) in [
        (Some("empty"), "XRT runtime not found"),
        (None, "XRT finds no FPGA device (xrtDeviceOpen(0): "),
    ] {
        let mut h = Harness::new();
        if let Some(sub) = xilinx_xrt {
            let dir = h.dir.path().join(sub);
            std::fs::create_dir_all(dir.join("lib")).unwrap();
            h.env.push(("XILINX_XRT".into(), dir.display().to_string()));
        }
        h.start();
        let dev = fpga_device(&h);
        assert_eq!(dev["available"], false, "{dev}");
        assert!(dev["reason"].as_str().unwrap().contains(want), "{dev}");

        register_package_and_endpoint(&h);
        let (code, err) = h.cli_err(&CREATE_FPGA);
        assert_eq!(code, 1);
        assert!(err.contains("DeploymentFailed") && err.contains(want), "{err}");
        crate::reference::check_within(&h, "mlp", "mlp", 1e-5).await;
    }
}
