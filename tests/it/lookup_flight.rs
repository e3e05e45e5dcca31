//! Core Information lookups are single-flight per (tenant, query): a fresh client (as after a
//! restart) with 64 deliveries needing the same lookup at once sends one GET, counted in the
//! simulator's journal.

use std::sync::Arc;

use itsm_bridge::config::Config;
use itsm_bridge::domain::{Lookup, OrangeCall, OrangeOp, TenantId};
use itsm_bridge::sim::SimOptions;
use serde_json::json;

use crate::sim_support::Sim;

const CORE_INFO: &str = "/core-information/b2b/v2/";

fn call(filter: &str) -> OrangeCall {
    OrangeCall {
        op: OrangeOp::CreateIncident,
        body: json!({"shortDescription": "router down"}),
        external_ref: None,
        lookups: vec![Lookup {
            target: "/servicePoint/id".into(),
            collection: "servicePoints".into(),
            filters: vec![("status".into(), filter.into())],
            field: "id".into(),
            default: Some(serde_json::Value::Null),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_deliveries_needing_the_same_lookup_send_one_request() {
    // Every answer takes a while, so the 64 deliveries all ask before the first answer.
    let sim = Sim::with(SimOptions {
        latency_ms: 300,
        ..SimOptions::default()
    })
    .await;
    let mut config = Config::embedded_default();
    config.point_at_simulator(&url::Url::parse(&sim.handle.base_url()).unwrap());
    config.tenants[0].orange.rate_limit.per_second = 10_000;
    config.tenants[0].orange.rate_limit.burst = 1_000;
    let tenant = TenantId::parse("demo").unwrap();
    let client = crate::support::orange_clients(&config)
        .get(&tenant)
        .unwrap();
    let since = sim.handle.journal(0).last().map_or(0, |e| e.seq);

    let run = |filter: &'static str, n: usize| {
        let client = Arc::clone(&client);
        async move {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let client = Arc::clone(&client);
                    tokio::spawn(async move { client.execute(&call(filter), None).await })
                })
                .collect();
            for t in tasks {
                let done = t.await.expect("task");
                assert!(done.is_ok(), "{done:?}");
            }
        }
    };
    run("ACTIVE", 64).await;
    let lookups = |since: u64| {
        sim.handle
            .journal(since)
            .into_iter()
            .filter(|e| e.method == "GET" && e.path.starts_with(CORE_INFO))
            .map(|e| e.query.unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let sent = lookups(since);
    assert_eq!(sent.len(), 1, "one lookup for 64 deliveries: {sent:?}");
    let creates = sim
        .handle
        .journal(since)
        .into_iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/incidents"))
        .count();
    assert_eq!(creates, 64, "every delivery went on with the shared answer");

    // Another query is another flight; the first is now cached.
    run("INACTIVE", 8).await;
    run("ACTIVE", 8).await;
    let sent = lookups(since);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].contains("status=INACTIVE"), "{sent:?}");
}
