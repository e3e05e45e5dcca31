//! Fair slots against the simulator: tenant `stuck`'s Orange and ServiceNow endpoints hang
//! (scripted timeout faults matched by its own request headers) while tenant `calm`'s
//! deliveries all complete; `stuck` never holds more than its cap of calls.

use std::sync::Arc;
use std::time::Duration;

use itsm_bridge::domain::{
    ItsmCall, NewDelivery, OrangeCall, OrangeOp, SourceName, Target, TenantId, TicketKey,
};
use itsm_bridge::sim::{FaultKind, FaultSettings, HeaderMatch, Phase, ScriptedFault, SimOptions};
use itsm_bridge::store::Store;
use itsm_bridge::worker::Dispatcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::delivery_support::parse_config;

/// How `stuck`'s calls are told apart at the simulator: its `Accept-Language` towards Orange (both share one Orange credential),
/// its Bearer token towards ServiceNow (`calm` uses Basic).
const STUCK_LANGUAGE: &str = "fr";
const STUCK_ITSM_AUTH: &str = "Bearer sandbox-token";

fn config_yaml(dir: &std::path::Path, sim: &str) -> String {
    let tenant = |id: &str, lang: &str, auth: &str| {
        format!(
            "  - id: {id}\n    accept_language: {lang}\n    orange: {{ client_id: sandbox, client_secret: sandbox-secret, api_key: sandbox-api-key, rate_limit: {{ per_second: 1000, burst: 50 }} }}\n    sources:\n      servicenow:\n        auth: [{{ type: basic, username: hook-{id}, password: hook-password-{id} }}]\n        mapping: demo/servicenow-incident.yaml\n    itsm:\n      servicenow:\n        base_url: {sim}\n        auth: {auth}\n        rate_limit: {{ per_second: 1000, burst: 50 }}\n"
        )
    };
    format!(
        "store: {{ url: 'sqlite://{db}' }}\nmappings_dir: {m}\nreload_interval_secs: 0\npoller: {{ enabled: false }}\norange: {{ base_url: {sim}, timeout_ms: 60000 }}\ndelivery: {{ concurrency: 8, lease_secs: 120, idle_poll_ms: 5 }}\ntenants:\n{}{}",
        tenant(
            "stuck",
            STUCK_LANGUAGE,
            "{ type: bearer, token: sandbox-token }"
        ),
        tenant(
            "calm",
            "en",
            "{ type: basic, username: sandbox, password: sandbox }"
        ),
        db = dir.join("gw.db").display(),
        m = crate::support::repo().join("mappings").display(),
    )
}

fn hang(header: &str, value: &str) -> ScriptedFault {
    ScriptedFault {
        kind: FaultKind::Timeout,
        phase: Phase::Before,
        method: None,
        path_prefix: None,
        header: Some(HeaderMatch {
            name: header.into(),
            value: value.into(),
        }),
        times: 10_000,
    }
}

fn key(tenant: &str, ticket: &str) -> TicketKey {
    TicketKey::new(
        &TenantId::parse(tenant).unwrap(),
        &SourceName::parse("servicenow").unwrap(),
        ticket,
    )
}

fn create(tenant: &str, ticket: &str) -> NewDelivery {
    NewDelivery {
        ticket: key(tenant, ticket),
        target: Target::Orange(OrangeCall {
            op: OrangeOp::CreateIncident,
            body: json!({"shortDescription": "link down", "externalReference": ticket}),
            external_ref: Some(ticket.into()),
            lookups: vec![],
        }),
    }
}

fn write_back(tenant: &str, ticket: &str) -> NewDelivery {
    NewDelivery {
        ticket: key(tenant, ticket),
        target: Target::Itsm(ItsmCall::servicenow_patch(
            "incident",
            format!("sys-{ticket}"),
            serde_json::from_value(json!({"work_notes": "from Orange"})).unwrap(),
        )),
    }
}

#[tokio::test]
async fn a_tenant_whose_endpoints_hang_leaves_the_other_tenants_deliveries_flowing() {
    let sim = itsm_bridge::sim::start(SimOptions {
        timeout_ms: 120_000,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    sim.set_faults(FaultSettings {
        script: vec![
            hang("accept-language", STUCK_LANGUAGE),
            hang("authorization", STUCK_ITSM_AUTH),
        ],
        ..FaultSettings::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = parse_config(&config_yaml(dir.path(), &sim.base_url()));
    assert_eq!(config.delivery.tenant_concurrency(), 2);
    let store = itsm_bridge::app::open_store(&config).await.unwrap();
    store.migrate().await.unwrap();
    let stuck = TenantId::parse("stuck").unwrap();
    let calm = TenantId::parse("calm").unwrap();
    // More of stuck's work than there are slots, queued first.
    let mut work = (0..6)
        .map(|i| create("stuck", &format!("S{i}")))
        .collect::<Vec<_>>();
    work.extend((0..6).map(|i| write_back("stuck", &format!("W{i}"))));
    store.enqueue(&stuck, work).await.unwrap();
    store
        .enqueue(
            &calm,
            (0..20).map(|i| create("calm", &format!("C{i}"))).collect(),
        )
        .await
        .unwrap();

    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        Arc::new(crate::support::orange_clients(&config)),
        Arc::new(crate::support::itsm_clients(&config)),
        config.delivery.clone(),
        "fair-test",
    ));
    let token = CancellationToken::new();
    let run = tokio::spawn(dispatcher.clone().run(token.clone()));

    let linked = |store: Arc<dyn Store>, tenant: TenantId| async move {
        store.list_links(&tenant, None, 100).await.unwrap().len()
    };
    let calm_done = async {
        while linked(store.clone(), calm.clone()).await < 20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // Below the ITSM client's 30 s timeout, which would otherwise free stuck's slots.
    tokio::time::timeout(Duration::from_secs(20), calm_done)
        .await
        .expect("every one of calm's deliveries completed while stuck's endpoints hung");

    assert_eq!(
        linked(store.clone(), stuck.clone()).await,
        0,
        "stuck's calls are hanging"
    );
    assert_eq!(
        dispatcher.tenant_in_flight(&stuck),
        2,
        "stuck holds its cap of slots, no more"
    );
    assert_eq!(dispatcher.tenant_in_flight(&calm), 0);
    let queued = store.queue_stats().await.unwrap();
    // All twelve of stuck's deliveries are still queued: two hang in its slots, the rest wait
    // (one may be between a claim and its deferral back to pending at this instant).
    assert_eq!(
        queued.pending + queued.waiting_link + queued.in_flight,
        12,
        "stuck's other work waits in the queue: {queued:?}"
    );
    assert!(
        queued.pending >= 9,
        "no more than one claim beyond stuck's cap at a time: {queued:?}"
    );
    token.cancel();
    // The hung calls are abandoned with the simulator, not waited for.
    drop(sim);
    let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
}
