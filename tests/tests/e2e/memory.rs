//! The daemon's memory with only CPU models: metrics scrapes load no accelerator runtime (the
//! OpenCL ICDs alone would add ~60 MB), so resident memory stays flat across scrapes.

use edgeserve_tests::Harness;
use serde_json::json;

/// The daemon started with `config` (its command line names the harness's unique config path).
fn daemon_pid(config: &std::path::Path) -> u32 {
    let needle = config.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains("edgeserved") && text.contains(&needle)
        })
        .expect("the daemon's process")
}

/// Resident memory in kB (`VmRSS` of /proc/PID/status).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_scrapes_load_no_accelerator_runtime() {
    let mut h = Harness::bare();
    h.start();
    let path = edgeserve_tests::models_dir().join("mlp").display().to_string();
    let key = tokio::task::block_in_place(|| h.try_deploy_cpu("mlp", &path)).unwrap();
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let pid = daemon_pid(&h.config_path);
    let idle = rss_kb(pid);
    let mut text = String::new();
    for _ in 0..10 {
        text = h.metrics().await;
    }
    assert!(text.contains("edgeserve_device_up{target=\"cpu\",index=\"0\"} 1"), "{text}");
    let after = rss_kb(pid);
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        !maps.contains("libpocl") && !maps.contains("libOpenCL"),
        "an OpenCL runtime was loaded"
    );
    assert!(after <= idle + 5 * 1024, "RSS grew from {idle} kB to {after} kB over 10 scrapes");
    assert!(idle <= 40 * 1024, "idle RSS {idle} kB with one CPU model (target: 40 MB)");
}
