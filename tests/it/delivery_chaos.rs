//! The chaos test: over a thousand events on sixty tickets, delivered through an Orange
//! simulator that answers a quarter of the incident calls with 429, 500, 503, timeouts and
//! dropped connections (half of them after applying the call). The simulator's journal and
//! state prove every event landed exactly once, in its ticket's order, with one incident per
//! ticket and the credential's rate never exceeded; a 400 waits in the dead letters, with its
//! ticket's later event behind it, until it is replayed fixed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use itsm_bridge::domain::{OrangeCall, OrangeOp, Target};
use itsm_bridge::ops::dlq;
use itsm_bridge::sim::{FaultSettings, JournalEntry, Phase, SimOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::delivery_support::*;

pub const TICKETS: usize = 60;
/// Events per ticket: a create, then updates and notes alternating.
pub const EVENTS: usize = 17;
pub const RATE: u32 = 150;

/// Step `k` of ticket `t`, referenced `CHAOS-{t}`.
pub fn event_call(t: usize, k: usize) -> OrangeCall {
    step_call("CHAOS", t, k)
}

pub fn chaos_sim() -> SimOptions {
    SimOptions {
        rate_limit: Some(RATE),
        timeout_ms: 300,
        journal_capacity: 200_000,
        ..SimOptions::default()
    }
}

pub fn chaos_faults(opts: &SimOptions) -> FaultSettings {
    use itsm_bridge::sim::FaultKind::*;
    let mut f = FaultSettings::from_options(opts);
    f.rate = 0.25;
    // Every kind, 429 the rarest: each one pauses the whole credential for its Retry-After
    // (1 s), which is right and is what makes this test slow.
    f.kinds = vec![
        ServerError,
        Unavailable,
        Timeout,
        Drop,
        ServerError,
        Unavailable,
        Timeout,
        Drop,
        ServerError,
        Unavailable,
        Drop,
        TooManyRequests,
    ];
    f.phase = Phase::Mixed;
    f.path_prefix = Some("/incident/b2b/v1".into());
    f
}

/// The step (`k`) a journaled call carries, from its body.
fn step(e: &JournalEntry) -> Option<(usize, usize)> {
    let b = body(e);
    let s = b.get("text").or_else(|| b.get("description"))?.as_str()?;
    let (t, k) = s.strip_prefix('T')?.split_once(" #")?;
    Some((t.parse().ok()?, k.parse().ok()?))
}

/// Asserts the guarantees on the simulator's journal and state.
pub fn assert_delivered_exactly_once_in_order(sim: &itsm_bridge::sim::SimHandle, tickets: usize) {
    let by_id: HashMap<String, usize> = {
        let d = sim.state.data();
        let mut m = HashMap::new();
        for i in d.incidents.iter() {
            if let Some(t) = i.body["externalReference"]
                .as_str()
                .and_then(|r| r.strip_prefix("CHAOS-"))
            {
                let t: usize = t.parse().expect("ticket number");
                assert!(
                    m.insert(i.body["id"].as_str().unwrap().to_owned(), t)
                        .is_none(),
                    "incident ids are unique"
                );
            }
        }
        m
    };
    // Zero duplicate incidents: exactly one per ticket.
    let mut per_ticket = vec![0; tickets];
    for t in by_id.values() {
        per_ticket[*t] += 1;
    }
    assert!(
        per_ticket.iter().all(|n| *n == 1),
        "one incident per ticket: {per_ticket:?}"
    );

    // Every event applied exactly once, in its ticket's order (journal order).
    let journal = orange_calls(sim);
    let mut seen: Vec<Vec<usize>> = vec![Vec::new(); tickets];
    for e in journal.iter().filter(|e| applied(e)) {
        let parts: Vec<&str> = e
            .path
            .trim_start_matches("/incident/b2b/v1/incidents")
            .split('/')
            .collect();
        match (e.method.as_str(), parts.as_slice()) {
            ("POST", [""]) => {
                let r = body(e)["externalReference"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(t) = r.strip_prefix("CHAOS-") {
                    seen[t.parse::<usize>().unwrap()].push(0);
                }
            }
            ("PATCH", ["", _]) | ("POST", ["", _, "notes"]) => {
                let (t, k) = step(e).expect("a chaos step");
                if t >= tickets {
                    continue; // the dead-letter ticket, checked on its own
                }
                assert_eq!(
                    by_id.get(parts[1]),
                    Some(&t),
                    "step lands on its ticket's incident"
                );
                seen[t].push(k);
            }
            _ => {}
        }
    }
    let expected: Vec<usize> = (0..EVENTS).collect();
    for (t, s) in seen.iter().enumerate() {
        assert_eq!(s, &expected, "ticket {t}: applied steps in journal order");
    }
    // And the state agrees.
    let d = sim.state.data();
    for i in d.incidents.iter() {
        let Some(t) = i.body["externalReference"]
            .as_str()
            .and_then(|r| r.strip_prefix("CHAOS-"))
        else {
            continue;
        };
        let notes: Vec<&str> = i.notes.iter().filter_map(|n| n["text"].as_str()).collect();
        let want: Vec<String> = (1..EVENTS)
            .filter(|k| k % 2 == 1)
            .map(|k| format!("T{t} #{k}"))
            .collect();
        assert_eq!(notes, want, "ticket {t} notes");
        assert_eq!(
            i.body["description"],
            Value::from(format!("T{t} #{}", EVENTS - 1))
        );
    }
}

/// Asserts the rate budget held: no window over `RATE`, and Orange never had to refuse us
/// for rate (every 429 in the journal is an injected one).
pub fn assert_rate_held(sim: &itsm_bridge::sim::SimHandle) -> (usize, f64) {
    let journal = orange_calls(sim);
    let max = max_per_second(&journal);
    assert!(
        max <= RATE as usize,
        "{max} calls in one second, budget {RATE}"
    );
    let refused = journal
        .iter()
        .filter(|e| e.status == 429 && e.fault.is_none())
        .count();
    assert_eq!(refused, 0, "Orange rate-limited the gateway");
    let faults = journal.iter().filter(|e| e.fault.is_some()).count();
    (max, faults as f64 / journal.len() as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_under_faults_arrive_exactly_once_in_order_within_the_rate() {
    let opts = chaos_sim();
    let rig = Rig::start(opts.clone(), "http://127.0.0.1:9", |c| {
        // Above the simulator's 300 ms timeout fault, so its 504 (and journal entry) arrive.
        c.orange.timeout_ms = 1_000;
        c.tenants[0].orange.rate_limit.per_second = RATE;
        c.tenants[0].orange.rate_limit.burst = 1;
        c.delivery.concurrency = 32;
    })
    .await;
    rig.sim.set_faults(chaos_faults(&opts));
    let s = rig.store.as_ref();
    let started = std::time::Instant::now();
    // A mapping mistake on one more ticket: Orange answers 400, its note must wait.
    let bad = OrangeCall {
        op: OrangeOp::CreateIncident,
        body: json!({"description": "no short description", "externalReference": "BAD-1"}),
        external_ref: Some("BAD-1".into()),
        lookups: vec![],
    };
    ingest(s, "BAD-1", 0, vec![bad]).await;
    ingest(s, "BAD-1", 1, vec![event_call(999, 1)]).await;
    // Interleaved like live traffic: step k of every ticket before step k + 1.
    // (Concurrently within a step, as webhooks arrive: the store groups the commits.)
    for k in 0..EVENTS {
        let step = (0..TICKETS).map(|t| async move {
            ingest(s, &format!("CHAOS-{t}"), k, vec![event_call(t, k)]).await
        });
        futures_util::future::join_all(step).await;
    }

    eprintln!("ingested after {:?}", started.elapsed());
    let token = CancellationToken::new();
    let run = tokio::spawn(Arc::clone(&rig.dispatcher).run(token.clone()));
    let settled = rig
        .wait_for(Duration::from_secs(120), |q| {
            // The follower waits for its ticket's link (its create is the dead letter).
            q.in_flight == 0 && q.pending == 0 && q.waiting_link == 1 && q.dead == 1
        })
        .await;
    assert!(
        settled,
        "everything but the dead letter and its follower delivered: {:?}",
        s.queue_stats().await
    );

    eprintln!("settled after {:?}", started.elapsed());
    let dead = dlq::list(s, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let history = dlq::show(s, dead[0].id).await.unwrap().attempts;
    assert_eq!(history.last().unwrap().http_status, Some(400));
    // The mapping is fixed; the replay goes through and the follower after it.
    let fixed = Target::Orange(OrangeCall {
        op: OrangeOp::CreateIncident,
        body: json!({"shortDescription": "fixed", "externalReference": "BAD-1"}),
        external_ref: Some("BAD-1".into()),
        lookups: vec![],
    });
    assert!(
        s.replay(dead[0].id, Some(fixed), time::OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    assert!(
        rig.wait_for(Duration::from_secs(30), |q| q.pending == 0
            && q.in_flight == 0
            && q.dead == 0)
            .await
    );
    token.cancel();
    run.await.unwrap();
    eprintln!(
        "drained after {:?}; {} Orange calls",
        started.elapsed(),
        orange_calls(&rig.sim).len()
    );

    assert_delivered_exactly_once_in_order(&rig.sim, TICKETS);
    let (_, fault_share) = assert_rate_held(&rig.sim);
    assert!(fault_share >= 0.2, "fault share {fault_share}");
    let d = rig.sim.state.data();
    let fixed = d
        .incidents
        .iter()
        .find(|i| i.body["externalReference"] == "BAD-1")
        .expect("replayed");
    assert_eq!(fixed.notes.len(), 1);
}
