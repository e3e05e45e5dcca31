//! The audit log: recorded durably, read newest first, paged by id, filtered by tenant scope.

use std::sync::Arc;

use itsm_bridge::domain::{NewDelivery, TenantId, TicketKey, Timestamp};
use itsm_bridge::store::{AuditQuery, NewAudit, Store};
use time::Duration;

use super::super::{now, tenant};

pub async fn audit_entries_are_kept_newest_first_and_filtered_by_tenant(s: Arc<dyn Store>) {
    let t0 = now();
    let globex = TenantId::parse("globex").unwrap();
    let entry = |i: i64, tenant: Option<&TenantId>, action: &str| NewAudit {
        at: t0 + Duration::seconds(i),
        actor: format!("op-{i}"),
        action: action.into(),
        tenant: tenant.cloned(),
        target: format!("{i}"),
        outcome: "ok".into(),
        detail: "due now".into(),
    };
    for e in [
        entry(0, None, "sign-in"),
        entry(1, Some(&tenant()), "replay-dead-letter"),
        entry(2, Some(&globex), "discard-dead-letter"),
        entry(3, Some(&tenant()), "link"),
    ] {
        s.record_audit(&e).await.unwrap();
    }
    // The log as seen by `tenants` (`None`: every entry), below `before`, at most `limit`.
    let log = async |tenants: Option<Vec<TenantId>>, before: Option<i64>, limit: u32| {
        let q = AuditQuery {
            tenants,
            before,
            limit,
        };
        s.audit_log(&q).await.unwrap()
    };
    let all = log(None, None, 10).await;
    let actors: Vec<&str> = all.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["op-3", "op-2", "op-1", "op-0"], "newest first");
    let first = &all[3];
    assert_eq!(
        (first.at, first.action.as_str(), first.tenant.as_ref()),
        (t0, "sign-in", None)
    );
    assert_eq!((first.target.as_str(), first.outcome.as_str()), ("0", "ok"));
    assert_eq!(all[2].tenant.as_ref(), Some(&tenant()));
    assert_eq!(all[2].detail, "due now");

    let page = log(None, Some(all[1].id), 1).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].actor, "op-1", "keyset paging below an id");

    let acme = log(Some(vec![tenant()]), None, 10).await;
    let actors: Vec<&str> = acme.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(
        actors,
        ["op-3", "op-1"],
        "a tenant's entries only, none of no tenant"
    );
    let both = log(Some(vec![tenant(), globex]), None, 10).await;
    assert_eq!(both.len(), 3);
    let none = log(Some(vec![]), None, 10).await;
    assert!(none.is_empty(), "an empty scope sees nothing");
}

pub async fn a_tenants_activity_counts_events_and_attempts_per_minute_and_its_queue(
    s: Arc<dyn Store>,
) {
    use itsm_bridge::domain::AttemptOutcome::{Permanent, Success};
    use itsm_bridge::store::Finish;

    use super::super::{done, ticket};
    use super::{LEASE, finish, ingest_notes};

    let t0 = now();
    let (a, b, c) = (ticket("A-1"), ticket("A-2"), ticket("A-3"));
    for (key, t) in [("k1", &a), ("k2", &b)] {
        ingest_notes(&*s, key, t, t0, &[key]).await;
    }
    // A write-back to the ITSM (due at the store's clock): an attempt, not an Orange call.
    let d = ticket("A-4");
    s.enqueue(&tenant(), vec![write_back(&d)]).await.unwrap();
    let at = Timestamp::now_utc() + Duration::seconds(1);
    let mut claimed = s.claim_due("w", at, at + LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let itsm = claimed.iter().position(|x| x.ticket == d).unwrap();
    let itsm = claimed.remove(itsm);
    finish(&*s, itsm.id, "w", t0, Permanent, Finish::Dead).await;
    finish(&*s, claimed[0].id, "w", t0, Success, done()).await;
    finish(&*s, claimed[1].id, "w", t0, Permanent, Finish::Dead).await;
    ingest_notes(&*s, "k3", &c, t0, &["k3"]).await;

    let act = s
        .tenant_activity(&tenant(), t0 - Duration::hours(1))
        .await
        .unwrap();
    let minute = t0.unix_timestamp() / 60;
    assert_eq!(act.minutes.len(), 1, "{act:?}");
    let m = act.minutes[0];
    assert_eq!(
        (m.minute, m.events, m.delivered, m.failed),
        (minute, 3, 1, 2)
    );
    assert_eq!(
        m.orange_calls, 2,
        "the write-back's attempt is no Orange call"
    );
    assert_eq!((act.pending, act.in_flight, act.dead), (1, 0, 2));
    assert_eq!(act.oldest_pending, Some(t0));
    let later = s
        .tenant_activity(&tenant(), t0 + Duration::minutes(2))
        .await
        .unwrap();
    assert!(later.minutes.is_empty(), "nothing in the window: {later:?}");
    let other = TenantId::parse("other").unwrap();
    let none = s
        .tenant_activity(&other, t0 - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(none, Default::default());
}

/// A ServiceNow write-back of `t`.
fn write_back(t: &TicketKey) -> NewDelivery {
    use itsm_bridge::domain::{ItsmCall, Target};

    NewDelivery {
        ticket: t.clone(),
        target: Target::Itsm(ItsmCall::servicenow_patch(
            "incident",
            "abc",
            serde_json::Map::new(),
        )),
    }
}
