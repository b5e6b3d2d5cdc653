//! Behind a trusted load balancer (`network.trusted_proxies`): failure limits and the traffic
//! log follow the client `X-Forwarded-For` names, so one client's bad key does not get everyone
//! behind the balancer rate limited; from untrusted peers the header changes nothing.

use edgeserve_tests::Harness;
use serde_json::json;

async fn bad_key(h: &Harness, forwarded_for: &str) -> u16 {
    h.client()
        .post(h.score_url("mlp"))
        .bearer_auth("esk_wrong")
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_follow_the_client_a_trusted_balancer_names() {
    let mut h = Harness::with_extra_config("[network]\ntrusted_proxies = [\"127.0.0.1/32\"]\n");
    h.edit_config(|c| c.replace("[limits]\n", "[limits]\nauth_failures_per_minute = 5\n"));
    h.start();
    for _ in 0..5 {
        assert_eq!(bad_key(&h, "203.0.113.7").await, 401);
    }
    assert_eq!(bad_key(&h, "203.0.113.7").await, 429, "the noisy client is limited");
    assert_eq!(bad_key(&h, "203.0.113.8").await, 401, "another client behind the balancer is not");
    // A forged left-most entry does not help: the balancer's own entry (right-most) counts.
    assert_eq!(bad_key(&h, "203.0.113.8, 203.0.113.7").await, 429);
    h.wait_for_log("203.0.113.8", std::time::Duration::from_secs(5));

    // Without trusted proxies the header is ignored: everything is judged as 127.0.0.1.
    h.edit_config(|c| c.replace("trusted_proxies = [\"127.0.0.1/32\"]", "trusted_proxies = []"));
    assert_eq!(h.reload()["ok"], true);
    for _ in 0..5 {
        bad_key(&h, "198.51.100.1").await;
    }
    assert_eq!(bad_key(&h, "198.51.100.2").await, 429, "one peer, one limit");
}
