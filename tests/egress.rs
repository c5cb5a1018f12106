//! Outbound requests and the environment: no proxy setting routes a request around the address policy.
//!
//! This file sets proxy variables for its whole process, so it holds one test and nothing else.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Server-side request forgery through a proxy: with `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` set, reqwest sends
/// the request to the proxy, which resolves and reaches the target itself, so the resolver that drops private and
/// reserved addresses never runs and a literal address is never seen. Neither the SCIM client nor SP metadata
/// fetches may use a proxy from the environment.
#[tokio::test]
async fn proxy_settings_cannot_bypass_the_address_policy() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let reached = Arc::new(AtomicBool::new(false));
    let flag = reached.clone();
    tokio::spawn(async move {
        while let Ok((_conn, _)) = proxy.accept().await {
            flag.store(true, Ordering::SeqCst);
        }
    });
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        std::env::set_var(var, &proxy_url);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");

    // SCIM with the default policy: `localhost` resolves to loopback only, which the resolver drops.
    let scim = sesame::provisioning::scim::http_client(false).unwrap();
    let sent = scim.get("http://localhost:9/scim/v2/Users").send().await;
    assert!(sent.is_err(), "the SCIM request must fail, not go through the proxy");

    // SP metadata: the cloud metadata address is refused whatever the environment says.
    let fetched = sesame::services::apps::sp_metadata::fetch_url("http://169.254.169.254/latest/meta-data/").await;
    assert!(fetched.is_err());

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!reached.load(Ordering::SeqCst), "a request went to the proxy from the environment");
}
