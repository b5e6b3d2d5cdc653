//! A restart keeps keys and serves again.

use edgeserve_tests::Harness;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_keys_and_serves() {
    let mut h = Harness::new();
    h.start();
    let before = h.keys("mlp");
    let body = json!({"data": [[1, 2, 3, 4]]});
    let first: serde_json::Value = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&before.0)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    h.stop();

    h.start();
    assert_eq!(h.keys("mlp"), before, "keys are made on the first start only");
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&before.0)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let second: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(first, second);

    // The store keeps no key in clear text.
    h.stop();
    let mut found = false;
    for entry in walk(&h.dir.path().join("state/store")) {
        let bytes = std::fs::read(&entry).unwrap();
        found |= bytes.windows(before.0.len()).any(|w| w == before.0.as_bytes());
    }
    assert!(!found, "a key is readable in the sled files");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
