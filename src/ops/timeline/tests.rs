//! The timeline's layout, on a history built by hand: order, dispositions, write-backs.

use time::macros::datetime;

use super::*;
use crate::domain::{
    Attempt, AttemptOutcome, ItsmCall, Observation, OrangeApi, OrangeCall, OrangeOp, Routing,
};

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn key() -> TicketKey {
    TicketKey::new(&tenant(), &SourceName::parse("servicenow").unwrap(), "abc")
}

fn event(at: Timestamp, routing: Option<Routing>) -> StoredEvent {
    StoredEvent {
        id: EventId::new(),
        tenant: tenant(),
        source: SourceName::parse("servicenow").unwrap(),
        dedupe_key: "sn:abc:0".into(),
        ticket: key(),
        event_type: "insert".into(),
        body: bytes::Bytes::new(),
        headers: vec![],
        received_at: at,
        disposition: Default::default(),
        routing,
        ticket_number: Some("INC0012345".into()),
        discarded: None,
    }
}

fn delivery(id: i64, event: Option<EventId>, seq: i64, at: Timestamp, target: Target) -> Delivery {
    Delivery {
        id: DeliveryId(id),
        tenant: tenant(),
        event_id: event,
        ticket: key(),
        seq,
        target,
        state: DeliveryState::Done,
        attempts: 1,
        next_attempt_at: at,
        created_at: at,
        last_error: None,
        waiting_link: None,
    }
}

fn create() -> Target {
    Target::Orange(OrangeCall {
        op: OrangeOp::CreateIncident,
        body: serde_json::json!({}),
        external_ref: None,
        lookups: vec![],
    })
}

fn patch() -> Target {
    Target::Itsm(ItsmCall::servicenow_patch(
        "incident",
        "abc",
        serde_json::Map::new(),
    ))
}

fn tried(at: Timestamp, status: u16) -> Attempt {
    Attempt {
        at,
        outcome: AttemptOutcome::Success,
        http_status: Some(status),
        error_code: None,
        error: None,
        latency_ms: 40,
    }
}

fn kinds(t: &Timeline) -> Vec<String> {
    t.entries
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn steps_of_one_millisecond_keep_their_causal_order_and_the_rest_sorts_by_time() {
    let t0 = datetime!(2026-12-07 07:00:00 UTC);
    let t1 = datetime!(2026-12-07 07:05:00 UTC);
    let e = event(
        t0,
        Some(Routing {
            routes: vec!["create".into()],
            skipped: None,
        }),
    );
    let h = TicketHistory {
        deliveries: vec![
            delivery(1, Some(e.id), 1, t0, create()),
            delivery(2, None, 2, t1, patch()),
        ],
        attempts: vec![
            (DeliveryId(1), tried(t0, 201)),
            (DeliveryId(2), tried(t1, 200)),
        ],
        link: Some(Link {
            tenant: tenant(),
            source: SourceName::parse("servicenow").unwrap(),
            ticket: key(),
            api: OrangeApi::Incident,
            orange_id: "2611M00001".into(),
            created_at: t0,
        }),
        observations: vec![Observation {
            at: t1,
            change: ObservedChange::Status {
                from: Some("ACKNOWLEDGED".into()),
                to: "IN_PROGRESS".into(),
            },
        }],
        events: vec![e],
        numbers: vec!["INC0012345".into()],
        ..TicketHistory::default()
    };
    let t = build(&tenant(), key(), h);
    assert_eq!(
        kinds(&t),
        [
            "event",
            "call",
            "attempt",
            "link",
            "observed",
            "write_back",
            "attempt"
        ]
    );
    assert_eq!(t.ticket_id, "abc");
    assert_eq!(t.source, "servicenow");
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["entries"][0]["disposition"], "routed");
    assert_eq!(v["entries"][0]["routes"][0], "create");
    assert_eq!(v["entries"][1]["operation"], "create_incident");
    assert_eq!(v["entries"][1]["api"], "orange.incident");
    assert_eq!(v["entries"][2]["httpStatus"], 201);
    assert_eq!(v["entries"][5]["operation"], "servicenow_patch");
    assert_eq!(v["entries"][6]["number"], 1);
}

#[test]
fn an_event_s_disposition_says_what_the_mapping_did() {
    let at = datetime!(2026-12-07 07:00:00 UTC);
    let skipped = event(
        at,
        Some(Routing {
            routes: vec!["echo".into()],
            skipped: Some("route `echo`: written by itsm-bridge".into()),
        }),
    );
    assert_eq!(
        disposition(&skipped, 0),
        Disposition::Skipped {
            reason: "route `echo`: written by itsm-bridge".into()
        }
    );
    assert_eq!(
        disposition(&event(at, None), 2),
        Disposition::Unrecorded { calls: 2 }
    );
    let routed = Disposition::Routed {
        routes: vec!["update".into(), "work note".into()],
        calls: 2,
    };
    assert_eq!(routed.summary(), "route `update`, `work note` → 2 calls");
}
