//! The record of the last poll cycle: one per tenant and replica, replaced by the replica's
//! next cycle, read latest first, and forgotten when a replica has been silent for a day.

use std::collections::BTreeMap;
use std::sync::Arc;

use itsm_bridge::domain::{TenantId, Timestamp};
use itsm_bridge::store::{CycleOutcome, PollCycle, Store};
use time::Duration;

use super::super::{now, tenant};

fn cycle(replica: &str, outcome: CycleOutcome, ended: Timestamp) -> PollCycle {
    PollCycle {
        tenant: tenant(),
        replica: replica.into(),
        started_at: ended - Duration::milliseconds(250),
        ended_at: ended,
        outcome,
        detail: None,
        orange_calls: 0,
        changes: 0,
        writebacks: 0,
        failed_reads: 0,
        modes: BTreeMap::new(),
    }
}

pub async fn poll_cycles_are_kept_per_tenant_and_replica_latest_first(s: Arc<dyn Store>) {
    let t0 = now();
    assert!(s.poll_cycles(&tenant()).await.unwrap().is_empty());
    let first = PollCycle {
        orange_calls: 7,
        changes: 2,
        writebacks: 3,
        failed_reads: 1,
        modes: BTreeMap::from([
            ("incident".into(), "incremental".into()),
            ("trouble_ticket".into(), "reread".into()),
        ]),
        ..cycle("replica-a", CycleOutcome::Ok, t0)
    };
    s.record_poll_cycle(&first).await.unwrap();
    assert_eq!(s.poll_cycles(&tenant()).await.unwrap(), vec![first]);

    // The replica's next cycle replaces its record; another replica's skip stands beside it.
    let failed = PollCycle {
        detail: Some("orange read failed: 503 \0 upstream".into()),
        ..cycle("replica-a", CycleOutcome::Error, t0 + Duration::seconds(30))
    };
    s.record_poll_cycle(&failed).await.unwrap();
    let skipped = cycle(
        "replica-b",
        CycleOutcome::Skipped,
        t0 + Duration::seconds(31),
    );
    s.record_poll_cycle(&skipped).await.unwrap();
    let got = s.poll_cycles(&tenant()).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], skipped);
    assert_eq!(got[1].outcome, CycleOutcome::Error);
    assert_eq!(
        got[1].detail.as_deref(),
        Some("orange read failed: 503  upstream"),
        "kept as text both backends hold"
    );
    assert_eq!(
        (got[1].orange_calls, got[1].started_at),
        (0, failed.started_at)
    );

    let other = TenantId::parse("other").unwrap();
    assert!(s.poll_cycles(&other).await.unwrap().is_empty());

    // A day later replica-b's cycle forgets replica-a, silent since.
    let later = cycle("replica-b", CycleOutcome::Ok, t0 + Duration::hours(25));
    s.record_poll_cycle(&later).await.unwrap();
    assert_eq!(s.poll_cycles(&tenant()).await.unwrap(), vec![later]);
}
