//! Auth modes of the data plane (issue 17, SPEC §4) through the real daemon and CLI: token
//! mode (issued, bound to its endpoint, expiring, revoked by rotating the signing secret), mode
//! switches that end old credentials at once, and `none` only with explicit consent.

use std::time::Duration;

use edgeserve_tests::Harness;
use serde_json::{json, Value};

async fn score(h: &Harness, endpoint: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = h.client().post(h.score_url(endpoint)).json(&json!({"data": [[1, 2, 3, 4]]}));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn token(h: &Harness, endpoint: &str) -> Value {
    h.cli_json(&["endpoint", "get-credentials", "-n", endpoint])
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mode_issues_expiring_tokens_bound_to_their_endpoint() {
    let mut h = Harness::with_extra_config("[auth]\ntoken_lifetime_s = 3\n");
    h.start();
    let (old_key, _) = h.keys("mlp");
    let (iris_key, _) = h.keys("iris");
    assert_eq!(score(&h, "mlp", Some(&old_key)).await.0, 200);

    // The switch ends the keys at once.
    let shown = tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "update", "-n", "mlp", "--set", "auth_mode=token"])
    });
    assert_eq!(shown["authMode"], "token");
    assert_eq!(score(&h, "mlp", Some(&old_key)).await.0, 401);

    let grant = tokio::task::block_in_place(|| token(&h, "mlp"));
    for field in ["accessToken", "expiryTimeUtc", "refreshAfterTimeUtc"] {
        assert!(grant[field].is_string(), "{grant}");
    }
    assert_eq!(grant["tokenType"], "Bearer");
    assert!(grant.get("primaryKey").is_none(), "{grant}");
    assert!(grant["refreshAfterTimeUtc"].as_str() < grant["expiryTimeUtc"].as_str());
    let access = grant["accessToken"].as_str().unwrap().to_string();
    assert_eq!(score(&h, "mlp", Some(&access)).await.0, 200);

    // Bound to its endpoint; a key is no token and a token no key.
    let (status, body) = score(&h, "iris", Some(&access)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(score(&h, "iris", Some(&iris_key)).await.0, 200);
    let (status, body) = score(&h, "mlp", Some(&iris_key)).await;
    assert_eq!(status, 401, "{body}");
    // Altered: one character of the signature changed.
    let mut altered = access.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(score(&h, "mlp", Some(&altered)).await.0, 401);

    // Keys cannot be regenerated on a token endpoint; rotating the secret revokes every token.
    let (code, err) = tokio::task::block_in_place(|| {
        h.cli_err(&["endpoint", "regenerate-keys", "-n", "mlp", "--key-type", "primary"])
    });
    assert_eq!(code, 1);
    assert!(err.contains("--key-type token-signing"), "{err}");
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "regenerate-keys", "-n", "mlp", "--key-type", "token-signing"])
    });
    assert_eq!(score(&h, "mlp", Some(&access)).await.0, 401);
    let fresh = tokio::task::block_in_place(|| token(&h, "mlp"));
    let fresh = fresh["accessToken"].as_str().unwrap().to_string();
    assert_eq!(score(&h, "mlp", Some(&fresh)).await.0, 200);

    // Expiry (auth.token_lifetime_s = 3).
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    let (status, body) = score(&h, "mlp", Some(&fresh)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");

    // Back to keys: tokens stop at once, and the keys left behind at the first switch do not
    // come back (a key leaked before the switch stays dead); new keys work.
    let again = tokio::task::block_in_place(|| token(&h, "mlp"))["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(score(&h, "mlp", Some(&again)).await.0, 200);
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "update", "-n", "mlp", "--set", "auth_mode=key"])
    });
    assert_eq!(score(&h, "mlp", Some(&again)).await.0, 401);
    assert_eq!(score(&h, "mlp", Some(&old_key)).await.0, 401);
    let (new_key, _) = tokio::task::block_in_place(|| h.keys("mlp"));
    assert_ne!(new_key, old_key);
    assert_eq!(score(&h, "mlp", Some(&new_key)).await.0, 200);
    // And a token issued before is not revived by switching to token mode again.
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "update", "-n", "mlp", "--set", "auth_mode=token"])
    });
    assert_eq!(score(&h, "mlp", Some(&again)).await.0, 401);

    // The traffic log names the mode and identity, never a secret.
    let logs = h.logs();
    assert!(logs.contains("auth_mode=\"token\"") || logs.contains("auth_mode=token"), "{logs}");
    assert!(logs.contains("token:mlp"), "{logs}");
    for secret in [&access, &fresh, &again, &old_key, &iris_key, &new_key] {
        assert!(!logs.contains(secret.as_str()), "a credential reached the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn none_mode_needs_explicit_consent_and_is_warned_about() {
    let mut h = Harness::new();
    h.start();
    let refused = h.write_file("open.json", r#"{"name": "open", "auth_mode": "none"}"#);
    let (code, err) =
        tokio::task::block_in_place(|| h.cli_err(&["endpoint", "create", "-f", &refused]));
    assert_eq!(code, 1);
    assert!(err.contains("allow_unauthenticated = true"), "{err}");
    let file = h.write_file(
        "open.json",
        r#"{"name": "open", "auth_mode": "none", "allow_unauthenticated": true}"#,
    );
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "create", "-f", &file]);
        h.cli_json(&[
            "deployment",
            "create",
            "--name",
            "blue",
            "--endpoint",
            "open",
            "--model",
            "mlp:1",
            "--target",
            "cpu",
            "--all-traffic",
        ]);
    });
    let (status, body) = score(&h, "open", None).await;
    assert_eq!(status, 200, "{body}");
    // The key endpoints still want keys.
    assert_eq!(score(&h, "mlp", None).await.0, 401);
    let (code, err) = tokio::task::block_in_place(|| {
        h.cli_err(&["endpoint", "update", "-n", "open", "--set", "allow_unauthenticated=false"])
    });
    assert_eq!(code, 1, "{err}");
    // Consent lapses when the endpoint leaves `none`, and is asked again with the next switch.
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "update", "-n", "open", "--set", "auth_mode=key"]);
        let shown = h.cli_json(&["endpoint", "show", "-n", "open"]);
        assert_eq!(shown["allowUnauthenticated"], false, "{shown}");
        let (code, err) =
            h.cli_err(&["endpoint", "update", "-n", "open", "--set", "auth_mode=none"]);
        assert_eq!(code, 1, "{err}");
        h.cli_json(&[
            "endpoint",
            "update",
            "-n",
            "open",
            "--set",
            "auth_mode=none",
            "--set",
            "allow_unauthenticated=true",
        ]);
    });
    // Warned about at every start.
    h.stop();
    h.start();
    assert!(h.logs().contains("auth_mode none: anyone on the network may score it"));
    assert_eq!(score(&h, "open", None).await.0, 200);
}
