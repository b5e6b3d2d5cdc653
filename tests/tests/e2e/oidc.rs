//! OIDC mode and the token route (issue 17, SPEC §4) with an identity provider made in the
//! test: RSA and EC signing keys, a JWKS file, JWTs signed with jsonwebtoken. Roles decide what
//! a subject may do; every malformed, foreign or forged token is 401.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use edgeserve_tests::Harness;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.factory.test";
const AUDIENCE: &str = "edgeserve-line-3";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// The test's identity provider: its keys and their JWKS.
struct Idp {
    rsa_pem: String,
    rsa_public_pem: String,
    ec_pem: String,
    jwks: Value,
}

impl Idp {
    fn new(dir: &std::path::Path) -> Idp {
        let key = dir.join("idp-rsa.pem");
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let k = key.to_str().unwrap();
        run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k]);
        let modulus = run(&["rsa", "-in", k, "-noout", "-modulus"]);
        let n = hex(modulus.trim().trim_start_matches("Modulus="));
        let rsa_public_pem = run(&["rsa", "-in", k, "-pubout"]);
        let ec = rcgen::KeyPair::generate().unwrap();
        let raw = ec.public_key_raw();
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(&n), "e": "AQAB"},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": b64(&raw[1..33]), "y": b64(&raw[33..65])},
        ]});
        Idp {
            rsa_pem: std::fs::read_to_string(&key).unwrap(),
            rsa_public_pem,
            ec_pem: ec.serialize_pem(),
            jwks,
        }
    }

    fn claims(sub: &str) -> Value {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + 600})
    }

    fn rs256(&self, claims: &Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, claims, &EncodingKey::from_rsa_pem(self.rsa_pem.as_bytes()).unwrap())
            .unwrap()
    }

    fn es256(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("ec-1".into());
        encode(&header, claims, &EncodingKey::from_ec_pem(self.ec_pem.as_bytes()).unwrap()).unwrap()
    }
}

fn start(h: &mut Harness) -> Idp {
    let idp = Idp::new(h.dir.path());
    let jwks = h.write_file("jwks.json", &idp.jwks.to_string());
    h.edit_config(|c| {
        format!(
            "{c}\n[oidc]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{jwks}\"\nclock_skew_s = 5\n"
        )
    });
    h.start();
    idp
}

async fn score(h: &Harness, endpoint: &str, bearer: &str) -> (u16, Value) {
    let resp = h
        .client()
        .post(h.score_url(endpoint))
        .bearer_auth(bearer)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn oidc_endpoint(h: &Harness, name: &str) {
    h.cli_json(&["endpoint", "create", "--name", name, "--auth-mode", "oidc"]);
    h.cli_json(&[
        "deployment",
        "create",
        "--name",
        "blue",
        "--endpoint",
        name,
        "--model",
        "mlp:1",
        "--target",
        "cpu",
        "--all-traffic",
    ]);
}

fn assign(h: &Harness, assignee: &str, role: &str, scope: &str) {
    h.cli_json(&[
        "role",
        "assignment",
        "create",
        "--assignee",
        assignee,
        "--role",
        role,
        "--scope",
        scope,
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_subjects_score_with_a_role_and_forged_tokens_are_refused() {
    let mut h = Harness::new();
    let idp = start(&mut h);
    tokio::task::block_in_place(|| {
        oidc_endpoint(&h, "line");
        oidc_endpoint(&h, "other");
    });
    let alice = idp.rs256(&Idp::claims("alice"), "rsa-1");

    // Authenticated, but no role: 403 naming the action.
    let (status, body) = score(&h, "line", &alice).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("endpoints/score/action"),
        "{body}"
    );

    tokio::task::block_in_place(|| assign(&h, "oidc:alice", "Scorer", "/endpoints/line"));
    assert_eq!(score(&h, "line", &alice).await.0, 200);
    // The role is on `line` only.
    assert_eq!(score(&h, "other", &alice).await.0, 403);
    // EC keys too.
    let alice_ec = idp.es256(&Idp::claims("alice"));
    assert_eq!(score(&h, "line", &alice_ec).await.0, 200);

    // Every forged, foreign or stale token: 401.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let with = |k: &str, v: Value| {
        let mut c = Idp::claims("alice");
        c[k] = v;
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("expired", idp.rs256(&with("exp", json!(now - 120)), "rsa-1")),
        ("not yet valid", idp.rs256(&with("nbf", json!(now + 600)), "rsa-1")),
        ("wrong audience", idp.rs256(&with("aud", json!("another-app")), "rsa-1")),
        ("wrong issuer", idp.rs256(&with("iss", json!("https://evil.test")), "rsa-1")),
        ("unknown kid", idp.rs256(&Idp::claims("alice"), "rsa-9")),
        ("alg none", {
            let header = b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
            let payload = b64(Idp::claims("alice").to_string().as_bytes());
            format!("{header}.{payload}.")
        }),
        ("HS256 keyed with the RSA public key", {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("rsa-1".into());
            encode(
                &header,
                &Idp::claims("alice"),
                &EncodingKey::from_secret(idp.rsa_public_pem.as_bytes()),
            )
            .unwrap()
        }),
        ("tampered payload", {
            let parts: Vec<&str> = alice.split('.').collect();
            let payload = b64(Idp::claims("mallory").to_string().as_bytes());
            format!("{}.{payload}.{}", parts[0], parts[2])
        }),
    ];
    for (what, token) in cases {
        let (status, body) = score(&h, "line", &token).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    // The identity is logged as oidc:<sub>, the token never.
    let logs = h.logs();
    assert!(logs.contains("oidc:alice"), "{logs}");
    assert!(!logs.contains(&alice), "a token reached the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_route_issues_tokens_to_identities_holding_the_token_action() {
    let mut h = Harness::new();
    let idp = start(&mut h);
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "update", "-n", "mlp", "--set", "auth_mode=token"]);
    });
    let route = h.url("/api/v1/service/mlp/token");
    let sensor = idp.rs256(&Idp::claims("sensor-7"), "rsa-1");
    let resp = h.client().post(&route).bearer_auth(&sensor).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("endpoints/token/action"),
        "{body}"
    );

    // A custom role holding only the token action.
    let role = h.write_file(
        "token-role.json",
        &json!({"Name": "Token Getter", "IsCustom": true, "Description": "gets tokens",
                "Actions": ["endpoints/token/action"], "NotActions": [], "AssignableScopes": ["/"]})
        .to_string(),
    );
    tokio::task::block_in_place(|| {
        h.cli_json(&["role", "create", "-f", &role]);
        assign(&h, "oidc:sensor-7", "Token Getter", "/endpoints/mlp");
    });
    let resp = h.client().post(&route).bearer_auth(&sensor).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let grant: Value = resp.json().await.unwrap();
    assert_eq!(grant["tokenType"], "Bearer");
    let token = grant["accessToken"].as_str().unwrap();
    // The token scores; the identity-provider JWT itself does not (the endpoint is token mode).
    assert_eq!(score(&h, "mlp", token).await.0, 200);
    assert_eq!(score(&h, "mlp", &sensor).await.0, 401);
    // No credential at all: 401.
    let resp = h.client().post(&route).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_with_the_token_action_gets_a_token() {
    let mut h = Harness::new();
    h.edit_config(|t| {
        t.replace(
            "cname = \"localhost\"",
            &format!(
                "cname = \"localhost\"\nclient_ca_pem = \"{}/tls/ca.pem\"",
                h.dir.path().display()
            ),
        )
    });
    h.start();
    tokio::task::block_in_place(|| {
        h.cli_json(&["endpoint", "update", "-n", "mlp", "--set", "auth_mode=token"]);
    });
    let identity =
        reqwest::Identity::from_pem(h.pki.client_identity("sensor-9").as_bytes()).unwrap();
    let client = h.client_builder().identity(identity).build().unwrap();
    let route = h.url("/api/v1/service/mlp/token");
    let resp = client.post(&route).send().await.unwrap();
    assert_eq!(resp.status(), 403, "no role yet");
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("endpoints/token/action") && message.contains("cert:sensor-9"),
        "{message}"
    );

    tokio::task::block_in_place(|| assign(&h, "cert:sensor-9", "Data Scientist", "/endpoints/mlp"));
    let resp = client.post(&route).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let grant: Value = resp.json().await.unwrap();
    let token = grant["accessToken"].as_str().unwrap();
    let resp = client
        .post(h.score_url("mlp"))
        .bearer_auth(token)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jwks_is_reread_on_reload_and_a_broken_file_keeps_the_old_keys() {
    let mut h = Harness::new();
    let idp = start(&mut h);
    tokio::task::block_in_place(|| {
        oidc_endpoint(&h, "line");
        assign(&h, "oidc:alice", "Scorer", "/");
    });
    let alice = idp.rs256(&Idp::claims("alice"), "rsa-1");
    assert_eq!(score(&h, "line", &alice).await.0, 200);

    // A broken file: the keys in force stay.
    h.write_file("jwks.json", "{ not json");
    h.signal(nix::sys::signal::Signal::SIGHUP);
    h.wait_for_log("OIDC keys not reloaded", std::time::Duration::from_secs(10));
    assert_eq!(score(&h, "line", &alice).await.0, 200);

    // A rotated provider: the new keys replace the old ones.
    let next = Idp::new(h.dir.path());
    h.write_file("jwks.json", &next.jwks.to_string());
    h.signal(nix::sys::signal::Signal::SIGHUP);
    let rotated = next.rs256(&Idp::claims("alice"), "rsa-1");
    let mut status = 0;
    for _ in 0..50 {
        status = score(&h, "line", &rotated).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(score(&h, "line", &alice).await.0, 401, "the old key is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_endpoint_removes_its_role_assignments() {
    let mut h = Harness::new();
    let idp = start(&mut h);
    tokio::task::block_in_place(|| {
        oidc_endpoint(&h, "line");
        assign(&h, "oidc:alice", "Scorer", "/endpoints/line");
        h.cli_json(&["endpoint", "delete", "-n", "line", "--yes"]);
        oidc_endpoint(&h, "line");
    });
    // The new `line` does not inherit the old one's grants.
    let alice = idp.rs256(&Idp::claims("alice"), "rsa-1");
    assert_eq!(score(&h, "line", &alice).await.0, 403);
    let listed = h.cli_json(&["role", "assignment", "list"]);
    assert!(!listed.to_string().contains("/endpoints/line"), "{listed}");
}
