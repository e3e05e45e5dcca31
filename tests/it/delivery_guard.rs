//! The duplicate guard end to end: a create whose answer is lost after Orange applied it
//! (the simulator's scripted `drop` in phase `after`), with strangers' objects listed first,
//! under every `unknown_filters` alternative, for incidents, trouble tickets and orders. The
//! ticket is linked to its own object, nothing is created twice, its later update lands on
//! it; when nothing can be verified the delivery is dead-lettered as create-outcome-unknown.

use std::sync::Arc;
use std::time::Duration;

use itsm_bridge::domain::{DeliveryState, OrangeApi, OrangeCall, OrangeOp};
use itsm_bridge::ops::dlq;
use itsm_bridge::sim::{FaultKind, Inferred, Phase, ScriptedFault, SimHandle, SimOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::delivery_chaos::{
    EVENTS, assert_delivered_exactly_once_in_order, chaos_faults, chaos_sim, event_call,
};
use crate::delivery_support::*;

const MODES: [&str; 3] = ["apply", "ignore", "reject"];

/// The create of ticket `r` on `api`, and (where the API has one) its later update.
fn create_of(api: OrangeApi, r: &str) -> OrangeCall {
    match api {
        OrangeApi::Incident => call(
            OrangeOp::CreateIncident,
            json!({"shortDescription": format!("{r} down"), "externalReference": r}),
            Some(r),
        ),
        OrangeApi::TroubleTicket => call(
            OrangeOp::CreateTroubleTicket,
            json!({"description": format!("{r} down"), "externalId": r,
                "relatedEntity": [{"id": "LD000100", "role": "orangeServiceNumber"}]}),
            Some(r),
        ),
        _ => call(
            OrangeOp::SubmitOrder,
            json!({"customerReference": r}),
            Some(r),
        ),
    }
}

fn update_of(api: OrangeApi, r: &str) -> Option<OrangeCall> {
    match api {
        OrangeApi::Incident => Some(call(
            OrangeOp::UpdateIncident,
            json!({"description": format!("update of {r}")}),
            None,
        )),
        OrangeApi::TroubleTicket => Some(call(
            OrangeOp::CommentTroubleTicket,
            json!({"note": {"type": "Comments", "text": format!("update of {r}")}}),
            None,
        )),
        _ => None,
    }
}

fn create_path(api: OrangeApi) -> &'static str {
    match api {
        OrangeApi::Incident => "/incident/b2b/v1/incidents",
        OrangeApi::TroubleTicket => "/troubleticket/wholesale/v1/troubleTickets",
        _ => "/ordering/b2b/v3/requests",
    }
}

/// (id, reference, whether it carries the update) of every object of `api` in the sim.
fn objects(sim: &SimHandle, api: OrangeApi) -> Vec<(String, String, bool)> {
    let d = sim.state.data();
    let row = |o: &Value, field: &str| {
        let r = o[field].as_str().unwrap_or_default().to_owned();
        let updated = o.to_string().contains("update of");
        (o["id"].as_str().unwrap_or_default().to_owned(), r, updated)
    };
    match api {
        OrangeApi::Incident => d
            .incidents
            .iter()
            .map(|i| row(&i.body, "externalReference"))
            .collect(),
        OrangeApi::TroubleTicket => d.tickets.iter().map(|t| row(t, "externalId")).collect(),
        _ => d
            .requests
            .iter()
            .map(|r| row(r, "customerReference"))
            .collect(),
    }
}

async fn lost_create_scenario(api: OrangeApi, mode: &str) {
    let opts = SimOptions {
        inferred: Inferred::from_assignments(&[format!("unknown_filters={mode}")]).unwrap(),
        ..SimOptions::default()
    };
    let rig = Rig::start(opts, "http://127.0.0.1:9", |_| {}).await;
    let s = rig.store.as_ref();
    // Strangers first: a first-item guess would pick one of them.
    for n in 1..=2 {
        let other = format!("OTHER-{n}");
        ingest(s, &other, 0, vec![create_of(api, &other)]).await;
    }
    assert!(rig.drain(DRAIN).await, "{api:?}/{mode}: strangers created");
    // Our create is applied, then its answer is lost.
    lock_script(&rig.sim, api);
    ingest(s, "MINE-1", 0, vec![create_of(api, "MINE-1")]).await;
    if let Some(u) = update_of(api, "MINE-1") {
        ingest(s, "MINE-1", 1, vec![u]).await;
    }
    assert!(rig.drain(DRAIN).await, "{api:?}/{mode}: drained");

    let all = objects(&rig.sim, api);
    let mine: Vec<_> = all.iter().filter(|o| o.1 == "MINE-1").collect();
    assert_eq!(
        mine.len(),
        1,
        "{api:?}/{mode}: no duplicate create: {all:?}"
    );
    let link = s
        .link(&ticket_key("MINE-1"))
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(
        link.orange_id, mine[0].0,
        "{api:?}/{mode}: linked to its own object"
    );
    if update_of(api, "MINE-1").is_some() {
        assert!(
            mine[0].2,
            "{api:?}/{mode}: the update landed on its own object"
        );
    }
    assert!(
        all.iter().filter(|o| o.1 != "MINE-1").all(|o| !o.2),
        "{api:?}/{mode}: no stranger touched: {all:?}"
    );
    assert!(dlq::list(s, None, 10).await.unwrap().is_empty());
}

/// The next create of `api` is applied and its connection dropped before the answer.
fn lock_script(sim: &SimHandle, api: OrangeApi) {
    let mut f = sim.state.faults.lock().unwrap();
    f.script.push(ScriptedFault {
        kind: FaultKind::Drop,
        phase: Phase::After,
        method: Some("POST".into()),
        path_prefix: Some(create_path(api).into()),
        times: 1,
        header: None,
    });
}

/// One test per API: its lost create, under every filter mode.
macro_rules! lost_create_tests {
    ($($name:ident: $api:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                for mode in MODES {
                    lost_create_scenario($api, mode).await;
                }
            }
        )*
    };
}

lost_create_tests! {
    a_lost_incident_create_is_linked_to_its_own_incident_under_every_filter_mode:
        OrangeApi::Incident;
    a_lost_trouble_ticket_create_is_linked_to_its_own_ticket_under_every_filter_mode:
        OrangeApi::TroubleTicket;
    a_lost_order_is_linked_to_its_own_request_under_every_filter_mode: OrangeApi::Ordering;
}

#[tokio::test]
async fn a_lost_create_that_cannot_be_verified_is_dead_lettered_not_guessed_nor_repeated() {
    // Orange keeps no reference on incidents and ignores the filter: nothing can be verified.
    let opts = SimOptions {
        inferred: Inferred::from_assignments(&[
            "unknown_filters=ignore",
            "incident_reference=dropped",
        ])
        .unwrap(),
        ..SimOptions::default()
    };
    let rig = Rig::start(opts, "http://127.0.0.1:9", |_| {}).await;
    let s = rig.store.as_ref();
    ingest(
        s,
        "OTHER-1",
        0,
        vec![create_of(OrangeApi::Incident, "OTHER-1")],
    )
    .await;
    assert!(rig.drain(DRAIN).await);
    lock_script(&rig.sim, OrangeApi::Incident);
    ingest(
        s,
        "MINE-1",
        0,
        vec![create_of(OrangeApi::Incident, "MINE-1")],
    )
    .await;
    assert!(rig.drain(DRAIN).await);

    assert_eq!(rig.sim.state.data().incidents.len(), 2, "no second create");
    assert!(
        s.link(&ticket_key("MINE-1")).await.unwrap().is_none(),
        "no guess"
    );
    let dead = dlq::list(s, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].state, DeliveryState::Dead);
    let history = dlq::show(s, dead[0].id).await.unwrap().attempts;
    let last = history.last().unwrap();
    assert_eq!(last.error_code.as_deref(), Some("create-outcome-unknown"));
    assert!(
        last.error.as_deref().unwrap_or_default().contains("MINE-1"),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chaos_run_holds_when_orange_ignores_the_reference_filter() {
    const TICKETS: usize = 20;
    let opts = SimOptions {
        inferred: Inferred::from_assignments(&["unknown_filters=ignore"]).unwrap(),
        ..chaos_sim()
    };
    let rig = Rig::start(opts.clone(), "http://127.0.0.1:9", |c| {
        c.orange.timeout_ms = 1_000;
        c.tenants[0].orange.rate_limit.per_second = crate::delivery_chaos::RATE;
        c.tenants[0].orange.rate_limit.burst = 1;
        c.delivery.concurrency = 32;
    })
    .await;
    let mut faults = chaos_faults(&opts);
    faults.rate = 0.2;
    rig.sim.set_faults(faults);
    let s = rig.store.as_ref();
    for k in 0..EVENTS {
        let step = (0..TICKETS).map(|t| async move {
            ingest(s, &format!("CHAOS-{t}"), k, vec![event_call(t, k)]).await
        });
        futures_util::future::join_all(step).await;
    }
    let token = CancellationToken::new();
    let run = tokio::spawn(Arc::clone(&rig.dispatcher).run(token.clone()));
    let settled = rig
        .wait_for(Duration::from_secs(120), |q| {
            q.in_flight == 0 && q.pending == 0 && q.dead == 0
        })
        .await;
    token.cancel();
    run.await.unwrap();
    assert!(settled, "all delivered: {:?}", s.queue_stats().await);
    assert_delivered_exactly_once_in_order(&rig.sim, TICKETS);
}
