//! Contract of the simulated Orange OAuth v3 endpoint and of the guard in front of every
//! Orange API: recorded bodies, 406, 401 codes 40/41/42, API key, rate limits.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::sim_support::{API_KEY, Sim, header, send, send_json, status_json};

const INCIDENTS: &str = "/incident/b2b/v1/incidents";

/// A token request with only the credentials and headers `with` gives it: the response.
async fn token_with(sim: &Sim, with: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Response {
    let req = sim.http.post(sim.url("/oauth/v3/token"));
    send(with(req).body("grant_type=client_credentials")).await
}

/// A listing of the incidents with only the credentials and API key `with` gives it: the
/// status and JSON body.
async fn incidents_with(
    sim: &Sim,
    with: impl FnOnce(RequestBuilder) -> RequestBuilder,
) -> (u16, Value) {
    send_json(with(sim.http.get(sim.url(INCIDENTS)))).await
}

#[tokio::test]
async fn token_request_returns_a_bearer_with_the_configured_lifetime() {
    let sim = Sim::tuned(|o| o.token_lifetime_secs = 120).await;
    let resp = sim.token_request().send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with('\n'),
        "recorded body starts with a newline"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn token_request_without_accept_json_is_refused_with_406() {
    let sim = Sim::start().await;
    let resp = token_with(&sim, |r| r.basic_auth("sandbox", Some("sandbox-secret"))).await;
    assert_eq!(resp.status(), 406);
}

#[tokio::test]
async fn wrong_client_secret_gets_the_recorded_invalid_client_body() {
    let sim = Sim::start().await;
    let resp = token_with(&sim, |r| {
        r.basic_auth("sandbox", Some("nope"))
            .header("Accept", "application/json")
    })
    .await;
    assert_eq!(
        header(&resp, "www-authenticate").as_deref(),
        Some("Basic realm=\"Authorization Required\"")
    );
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(
        body["error_description"],
        "The requested service needs credentials, but the ones provided were invalid."
    );
}

#[tokio::test]
async fn undecodable_basic_header_gets_unable_to_decode() {
    let sim = Sim::start().await;
    let resp = token_with(&sim, |r| {
        r.header("Authorization", "Basic false")
            .header("Accept", "application/json")
    })
    .await;
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error_description"],
        "Unable to decode Basic authorization."
    );
}

#[tokio::test]
async fn token_requests_beyond_the_per_minute_limit_get_429_with_retry_after() {
    let sim = Sim::tuned(|o| o.token_rate_limit_per_min = 2).await;
    // `Sim::with` already took one token.
    assert_eq!(sim.token_request().send().await.unwrap().status(), 200);
    let resp = sim.token_request().send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(header(&resp, "retry-after").is_some());
}

#[tokio::test]
async fn api_call_without_credentials_gets_401_code_40() {
    let sim = Sim::start().await;
    let (status, body) = incidents_with(&sim, |r| r.header("X-Api-Key", API_KEY)).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(40)));
    assert_eq!(body["message"], "Missing credentials");
}

#[tokio::test]
async fn api_call_with_unknown_token_gets_401_code_41() {
    let sim = Sim::start().await;
    let (status, body) = incidents_with(&sim, |r| {
        r.bearer_auth("forged").header("X-Api-Key", API_KEY)
    })
    .await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(41)));
}

#[tokio::test]
async fn api_call_with_expired_token_gets_401_code_42_and_a_new_token_works() {
    let mut sim = Sim::start().await;
    sim.control("/_sim/tokens/expire", Value::Null).await;
    let (status, body) = sim.orange_read(INCIDENTS).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(42)));
    assert_eq!(body["message"], "Expired credentials");
    assert_eq!(
        body["description"],
        "The requested service needs credentials, and the ones provided were out-of-date."
    );
    sim.token = sim.fresh_token().await;
    assert_eq!(sim.orange_response(INCIDENTS).await.status(), 200);
}

#[tokio::test]
async fn api_call_without_api_key_is_refused_with_401_or_403_as_configured() {
    let sim = Sim::start().await;
    let (status, body) = incidents_with(&sim, |r| r.bearer_auth(&sim.token)).await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(40)));

    let sim = Sim::tuned(|o| o.api_key_forbidden = true).await;
    let (status, body) = incidents_with(&sim, |r| {
        r.bearer_auth(&sim.token).header("X-Api-Key", "wrong")
    })
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(50)));
}

#[tokio::test]
async fn calls_beyond_the_per_credential_rate_limit_get_429_code_53() {
    let sim = Sim::tuned(|o| o.rate_limit = Some(3)).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let resp = sim
            .orange_response("/core-information/b2b/v2/accounts")
            .await;
        if resp.status() == 429 {
            assert!(header(&resp, "retry-after").is_some());
            let (_, body) = status_json(resp).await;
            assert_eq!(body["code"], 53);
            statuses.push(429);
        } else {
            statuses.push(resp.status().as_u16());
        }
    }
    // At most 3 per one-second window: 8 quick calls span at most two windows.
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 6,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn unknown_orange_path_gets_404_code_60_and_wrong_method_405_code_61() {
    let sim = Sim::start().await;
    let (status, body) = sim.orange_read("/incident/b2b/v1/nothing").await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(60)));
    let (status, body) = send_json(sim.orange(Method::DELETE, INCIDENTS)).await;
    assert_eq!((status, body["code"].as_u64()), (405, Some(61)));
}
